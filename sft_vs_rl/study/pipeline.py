"""The study: base → Init (SFT) → {more SFT, PPO} at matched compute → ID / OOD evaluation → results and figures.

Every stage calls the library's own trainers (`trl.SFTTrainer` for pretraining, Init and the SFT arm;
[`MultiTurnVerifierPPOTrainer`] with the real multi-turn verifier for the RL arm) and the library's rollout
(`sft_vs_rl.trainers.rollout.run_episodes`) and metrics for evaluation. Each stage writes its output folder and a
`stage.json` (wall time, compute) last; a stage whose `stage.json` exists is skipped, so an interrupted study resumes
where it stopped (`force=True` redoes everything). Within a stage, training resumes from the latest complete checkpoint
(one holding its `sft_vs_rl_checkpoint.json` record, written last): the RL and SFT arms from their own checkpoints, the
base and Init from periodic ones (`_RESUME_CHECKPOINTS` per stage, deleted when the stage is done), evaluation from the
`eval/*.json` files already written. Every file a later step reads is written atomically (`sft_vs_rl.atomic`), and
results name checkpoints relative to `output_dir` (`rl/checkpoint-8`, `init`).

Layout of `output_dir`:

```
base/            the pretrained tiny base (model + tokenizer)           (tiny presets only)
base/trainer/    its periodic checkpoints while it trains
init/            Init: SFT of the base on ID data (periodic checkpoints in init/checkpoint-* while it trains)
rl/checkpoint-*  the RL arm (PPO from Init), `num_checkpoints` checkpoints at equal fractions of `rl_updates`
sft/checkpoint-* the SFT arm (more SFT from Init), saved at each RL checkpoint's compute (within one step below)
eval/*.json      one file per evaluated checkpoint
results.json  results.md  figures/*.png
```

Compute (paper App. C.3, `sft_vs_rl.compute`): SFT `6·N·tokens`; RL `2·N·tokens` for rollouts plus
`(6·epochs + 2)·N·tokens` for scoring and training (the PPO trainer's own counter). GFLOPs in the results are cumulative
*from the start of Init* (Init included, the base's pretraining not), as the paper plots them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sft_vs_rl.atomic import write_json
from sft_vs_rl.models.loading import TINY_PREFIX
from sft_vs_rl.models.record import RECORD_NAME, CheckpointRecord, write_checkpoint_record
from sft_vs_rl.study.presets import StudyPreset, resolve_study_preset
from sft_vs_rl.study.tasks import TaskSpec, task_spec
from sft_vs_rl.study.workers import run_parallel

logger = logging.getLogger(__name__)

__all__ = ["run_study"]

STAGE_FILE = "stage.json"
STUDY_FILE = "study.json"  # what the folder's study is: task, preset, settings, seeds, ablation budgets
_RESUME_CHECKPOINTS = 10
"""Periodic checkpoints of the base and Init stages, only for resuming (a kill loses at most a tenth of the stage)."""
_TRAINING_STATE = ("optimizer*", "scheduler*", "scaler*", "rng_state*", "global_step*")
"""What a checkpoint holds only to be resumed from (the Trainer's and DeepSpeed's names)."""


# ---------------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------------
def _done(path: Path) -> dict[str, Any] | None:
    file = path / STAGE_FILE
    return json.loads(file.read_text()) if file.is_file() else None


def _finish(path: Path, info: dict[str, Any]) -> dict[str, Any]:
    write_json(path / STAGE_FILE, info)
    return info


def _checkpoints(path: Path) -> list[Path]:
    return sorted((p for p in path.glob("checkpoint-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))


def _resume_point(path: Path) -> Path | None:
    """The latest complete checkpoint under `path` (one holding its record, the last file written), after deleting
    the incomplete ones a kill mid-save leaves behind; `None` when there is none (the stage starts from scratch)."""
    for ckpt in _checkpoints(path):
        if not (ckpt / RECORD_NAME).is_file():
            logger.warning("deleting %s: it holds no %s, so its save did not finish", ckpt, RECORD_NAME)
            shutil.rmtree(ckpt)
    complete = _checkpoints(path)
    if complete:
        logger.info("resuming from %s", complete[-1])
    return complete[-1] if complete else None


def _record(spec: TaskSpec, preset: StudyPreset, method: str, **fields: Any) -> CheckpointRecord:
    """The checkpoint record of a study checkpoint: the task's ID config and the model training started from."""
    base = f"{TINY_PREFIX}{spec.kind}:{preset.model}" if preset.pretrained_from_scratch else preset.model
    return CheckpointRecord(task=spec.task, method=method, dataset_config=spec.info.dataset_config("id"),
                            base_model=base, **fields)


def _periodic_saves(steps: int) -> dict[str, Any]:
    """Training arguments of the base and Init stages' resume checkpoints: the last two are kept, so one is always
    complete while the next is written."""
    return {"save_strategy": "steps", "save_steps": max(1, math.ceil(steps / _RESUME_CHECKPOINTS)),
            "save_total_limit": 2}


def _common_args(output_dir: Path, seed: int) -> dict[str, Any]:
    import torch

    cpu = not torch.cuda.is_available()
    return {
        "output_dir": str(output_dir), "seed": seed, "use_cpu": cpu, "bf16": not cpu, "report_to": "none",
        "logging_steps": 1, "save_strategy": "no", "dataloader_num_workers": 0, "disable_tqdm": False,
        "gradient_checkpointing": False,
    }


def _flops_callback_cls():
    from transformers import TrainerCallback

    class FlopsCheckpointCallback(TrainerCallback):
        """Saves a checkpoint at the last logged step whose `flops/total` does not pass each threshold (the step
        after it would), and stops after the last threshold: the SFT arm is checkpointed at the RL arm's compute,
        within one SFT step below it. A resumed run replays the logged compute (`replay`), so it saves where the
        uninterrupted run does."""

        def __init__(self, thresholds: Sequence[float], initial_flops: float = 0.0):
            self._start = (sorted(thresholds), float(initial_flops))
            self.replay([])

        def replay(self, log_history: Sequence[dict[str, Any]]) -> None:
            """Reset, then pass every logged `flops/total` of `log_history` through the decision rule."""
            self.thresholds = list(self._start[0])
            self.saved: dict[int, float] = {}
            # The compute before the first step, so the first step's cost is known when its log arrives (a first
            # step that already lands within one step of a threshold must be saved there, not one step past it).
            self._last: float = self._start[1]
            for entry in log_history:
                if "flops/total" in entry:
                    self._decide(entry["flops/total"], entry["step"])

        def _decide(self, flops: float, step: int) -> bool:
            """Whether the step that logged `flops` is saved (the step after it would pass the next threshold)."""
            if not self.thresholds:
                return False
            step_flops = flops - self._last
            self._last = flops
            if flops + step_flops <= self.thresholds[0]:
                return False
            while self.thresholds and flops + step_flops > self.thresholds[0]:
                self.thresholds.pop(0)
            self.saved[step] = float(flops)
            return True

        def on_train_begin(self, args, state, control, **kwargs):
            # `state.log_history` is the checkpoint's when resuming (the Trainer restores it before this call).
            self.replay(state.log_history)

        def on_log(self, args, state, control, logs=None, **kwargs):
            flops = (logs or {}).get("flops/total")
            if flops is not None and self._decide(flops, state.global_step):
                control.should_save = True
                if not self.thresholds:
                    control.should_training_stop = True

    return FlopsCheckpointCallback


def _record_callback(record: CheckpointRecord, offset_flops: float = 0.0, *, count_compute: bool = True,
                     prune: bool = False):
    """A `CheckpointRecordCallback` that writes `record` into every saved checkpoint (`count_compute=False` keeps its
    own `gflops`, for the base) and, with `prune=True`, then deletes the resume-only state (optimizer, scheduler, RNG)
    of the earlier checkpoints: only the latest complete one is ever resumed from, and a large model's optimizer
    state is several times its weights."""
    from sft_vs_rl.evaluation.callbacks import CheckpointRecordCallback

    class StudyRecordCallback(CheckpointRecordCallback):
        def on_save(self, args, state, control, **kwargs):
            super().on_save(args, state, control, **kwargs)
            if prune and state.is_world_process_zero:
                latest = f"checkpoint-{state.global_step}"
                for ckpt in _checkpoints(Path(args.output_dir)):
                    if ckpt.name != latest:
                        for item in (i for pattern in _TRAINING_STATE for i in ckpt.glob(pattern)):
                            if item.is_dir():
                                shutil.rmtree(item)
                            else:
                                item.unlink()

    return StudyRecordCallback(record, offset_flops=offset_flops, count_compute=count_compute)


# ---------------------------------------------------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------------------------------------------------
def _stage_base(spec: TaskSpec, preset: StudyPreset, out: Path, seed: int,
                callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Stage 1: a tiny model built offline and pretrained from scratch (full-sequence loss) on the rule-varied corpus,
    resuming from its latest periodic checkpoint. `callbacks` are extra `TrainerCallback`s (e.g.
    `benchmarks/throughput.py`'s step timer)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sft_vs_rl.evaluation import SFTComputeCallback
    from sft_vs_rl.models import build_tiny_model, preset_with

    start = time.time()
    rows = spec.corpus(preset, seed=seed)
    texts = [item["text"] for conv in rows["messages"][: preset.tokenizer_texts] for m in conv
             for item in m["content"] if "text" in item]
    model_preset = preset_with(preset.model, image_size=preset.image_size) if preset.image_size else preset.model
    model, tokenizer = build_tiny_model(spec.kind, model_preset, vocab_corpus=texts, vocab_size=preset.vocab_size,
                                        seed=seed)
    corpus_s = time.time() - start
    dataset = Dataset.from_dict(rows)
    resume = _resume_point(out / "trainer")
    args = SFTConfig(
        **_common_args(out / "trainer", seed) | _periodic_saves(preset.pretrain_steps),
        max_steps=preset.pretrain_steps,
        per_device_train_batch_size=preset.pretrain_batch_size, learning_rate=preset.pretrain_lr,
        warmup_steps=preset.pretrain_warmup, lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1}, weight_decay=0.1, adam_beta2=0.95, max_grad_norm=1.0,
        max_length=preset.max_length, include_num_input_tokens_seen="non_padding",
        # A text base learns the whole stream; a VLM base learns what follows each image (the answer), as image-text
        # pretraining does: on the whole sequence the cards' ranks were a sliver of the loss, beside the long rules
        # prompt, and the base never learned to read them (reference: the GP-VL notes in README's study section).
        assistant_only_loss=spec.visual,
        packing=preset.pretrain_packing and not spec.visual, packing_strategy="wrapped",
    )
    compute = SFTComputeCallback()
    record = _record(spec, preset, "base", gflops=0.0)  # GFLOPs are counted from the start of Init
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[compute, _record_callback(record, count_compute=False), *callbacks])
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    write_checkpoint_record(out, dataclasses.replace(record, step=trainer.state.global_step))
    meter = compute.meter(trainer.state)
    gate = _recognition_gate(spec, preset, trainer.model, tokenizer) if spec.visual and spec.is_gp else None
    info = _finish(out, {"stage": "base", "wall_s": time.time() - start, "corpus_s": corpus_s,
                         "steps": trainer.state.global_step, "examples": len(rows["messages"]),
                         "n_params": meter.n_params, "gflops": meter.total_gflops,
                         "final_loss": _last_loss(trainer), "resumed_from": resume.name if resume else None,
                         "recognition_gate": gate})
    shutil.rmtree(out / "trainer", ignore_errors=True)
    return info


_GATE_SEED = 4000  # the gate's hands: held-out multisets, dealt apart from every evaluation split


def _recognition_gate(spec: TaskSpec, preset: StudyPreset, model, processor) -> dict[str, Any]:
    """GP-VL base quality gate: the share of held-out hands whose cards the base lists right in its first greedy
    answer (the paper's recognition), in black (ID) and red (visual OOD) suits; chance is about 13⁻⁴. Raises when
    `preset.base_recognition_threshold` is set and either colour is below it (the base does not see, so nothing the
    arms do to recognition could be read)."""
    from transformers import GenerationConfig

    from sft_vs_rl.evaluation.runner import evaluate
    from sft_vs_rl.models.loading import tokenizer_of

    tokenizer = tokenizer_of(processor)
    config = GenerationConfig(max_new_tokens=preset.max_new_tokens, do_sample=False,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    gate: dict[str, Any] = {"episodes": preset.base_gate_episodes, "threshold": preset.base_recognition_threshold}
    model.eval()
    for colour, split in (("black", "id-unseen"), ("red", "ood-visual")):
        rows = spec.eval_dataset(preset, split, preset.base_gate_episodes, seed=_GATE_SEED)
        evaluation = evaluate(model, rows, processor=processor, task=spec.task, split=split.replace("-unseen", ""),
                              method="base", step=0, gflops=0.0, batch_size=preset.eval_batch,
                              generation_config=config, verify_iterations=1, progress=False)
        gate[colour] = evaluation.record.metrics["recognition"].value
    logger.info("base recognition gate: black %.1f%%, red %.1f%% of held-out hands read right (threshold %s)",
                100 * gate["black"], 100 * gate["red"], gate["threshold"])
    low = [c for c in ("black", "red") if gate["threshold"] is not None and gate[c] < gate["threshold"]]
    if low:
        raise RuntimeError(
            f"The base reads the cards of {', '.join(f'{100 * gate[c]:.1f}% of {c}' for c in low)} held-out hands, "
            f"below base_recognition_threshold={gate['threshold']}: it does not see well enough for the study's "
            "recognition results to mean anything. Pretrain longer (--set pretrain_steps=...), or lower the "
            "threshold (--set base_recognition_threshold=...) to go on anyway."
        )
    return gate


def _last_loss(trainer) -> float | None:
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses[-1] if losses else None


def _sft(model_path: str, dataset, out: Path, *, steps: int, batch: int, lr: float, seed: int,
         preset: StudyPreset, initial_flops: float = 0.0, callbacks: Sequence[Any] = (),
         saves: dict[str, Any] | None = None, resume: Path | None = None):
    """One `trl.SFTTrainer` run on prompt-completion pairs (loss on the completion only), logging `flops/total`, saving
    full checkpoints (optimizer and RNG states too, so they resume exactly) as `saves` or the `callbacks` say, and
    resuming from `resume`. `callbacks` come after the compute callback, so their `on_log` sees `flops/total`."""
    from trl import SFTConfig, SFTTrainer

    from sft_vs_rl.evaluation import SFTComputeCallback
    from sft_vs_rl.models import load_model

    model, tokenizer = load_model(model_path)
    image_rows = "messages" in dataset.column_names
    args = SFTConfig(
        **_common_args(out, seed) | (saves or {}), max_steps=steps, per_device_train_batch_size=batch,
        learning_rate=lr,
        warmup_steps=0.03, lr_scheduler_type="constant_with_warmup", max_length=preset.max_length,
        include_num_input_tokens_seen="non_padding",
        # Image rows are whole conversations (`sft_columns`): the loss is on the answer only, as for text pairs. They
        # are tokenized in the collator, so there are no lengths to group by (GP-VL prompts have one length anyway).
        assistant_only_loss=image_rows,
        train_sampling_strategy="group_by_length" if preset.group_by_length and not image_rows else "random",
    )
    compute = SFTComputeCallback(initial_flops=initial_flops)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[compute, *callbacks])
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return trainer, compute


def _probe_prompts(dataset, size: int) -> tuple[list[list[dict[str, Any]]], list[list[Any]] | None]:
    """The first `size` prompts of an SFT dataset (the user turns before the answer) and their images (`None` for
    prompt-completion text rows; image rows are conversations, see `sft_vs_rl.data.sft_columns`)."""
    rows = dataset.select(range(min(size, len(dataset))))
    if "messages" in rows.column_names:
        return [conversation[:-1] for conversation in rows["messages"]], list(rows["images"])
    return list(rows["prompt"]), None


def _stage_init(spec, preset, base_path: str, out: Path, seed: int) -> dict[str, Any]:
    """Stage 2: Init = SFT of the base on ID data only, resuming from its latest periodic checkpoint; with
    `init_format_threshold`, stopped at the first check where that share of answers has the task's format."""
    from sft_vs_rl.compute import to_gflops
    from sft_vs_rl.evaluation import FormatCriterionCallback
    from sft_vs_rl.evaluation.kl import PROBE_SIZE

    start = time.time()
    dataset = spec.sft_dataset(preset)
    data_s = time.time() - start
    resume = _resume_point(out)
    record = _record(spec, preset, "init")
    callbacks = [_record_callback(record)]
    criterion = None
    if preset.init_format_threshold is not None:
        prompts, images = _probe_prompts(dataset, PROBE_SIZE)
        criterion = FormatCriterionCallback(
            prompts, spec.has_answer_format, threshold=preset.init_format_threshold, every=preset.init_check_every,
            max_new_tokens=preset.max_new_tokens, batch_size=preset.eval_batch, images=images)
        callbacks.append(criterion)
    trainer, compute = _sft(base_path, dataset, out, steps=preset.init_steps, batch=preset.init_batch_size,
                            lr=preset.init_lr, seed=seed, preset=preset, callbacks=callbacks,
                            saves=_periodic_saves(preset.init_steps), resume=resume)
    trainer.save_model(str(out))
    trainer.processing_class.save_pretrained(str(out))
    meter = compute.meter(trainer.state)
    write_checkpoint_record(out, dataclasses.replace(record, step=trainer.state.global_step,
                                                     gflops=to_gflops(meter.total_flops)))
    info = _finish(out, {"stage": "init", "wall_s": time.time() - start, "data_s": data_s,
                         "steps": trainer.state.global_step, "tokens": int(trainer.state.num_input_tokens_seen),
                         "flops": meter.total_flops, "n_params": meter.n_params, "final_loss": _last_loss(trainer),
                         "resumed_from": resume.name if resume else None,
                         "format_checks": [{"step": step, "format_rate": rate} for step, rate in criterion.history]
                         if criterion else None,
                         # met at its last check (which may be the step cap itself)
                         "stopped_by_format": bool(criterion and criterion.history
                                                   and criterion.history[-1][1] >= criterion.threshold)})
    for ckpt in _checkpoints(out):  # resume-only: the stage's output is the model in `out` itself
        shutil.rmtree(ckpt)
    return info


def _stage_rl(spec, preset, init_path: str, init_flops: float, out: Path, seed: int,
              verify_iterations: int, log_gradient_norms: bool = False,
              callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Stage 3b: PPO from Init on ID episodes with the multi-turn verifier; `num_checkpoints` checkpoints, saved
    between PPO updates, so a resumed run continues exactly (the trainer saves its rollout's live episodes). The
    per-update diagnostics (`sft_vs_rl.trainers.diagnostics`) go into `stage.json`; `callbacks` are extra
    `TrainerCallback`s."""
    from sft_vs_rl.models import load_model, read_checkpoint_compute
    from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer
    from sft_vs_rl.trainers.diagnostics import per_update_diagnostics

    start = time.time()
    micro = preset.rl_micro_batch
    steps_per_generation = max(1, preset.rl_turns_per_update // micro)
    steps_per_update = preset.rl_epochs * preset.rl_mini_batches
    max_steps = preset.rl_updates * steps_per_update
    save_every = max(1, preset.rl_updates // preset.num_checkpoints) * steps_per_update  # checkpoints between updates
    dataset = spec.rl_dataset(preset, num_rows=preset.rl_updates * micro * steps_per_generation + micro, seed=seed)
    data_s = time.time() - start
    common = _common_args(out, seed) | {"save_strategy": "steps", "save_steps": save_every}
    args = MultiTurnVerifierPPOConfig(
        **common, env_id=spec.env_id, env_kwargs=spec.env_kwargs(preset, "id", verify_iterations),
        num_envs=preset.rl_num_envs, per_device_train_batch_size=micro, steps_per_generation=steps_per_generation,
        num_mini_batches=preset.rl_mini_batches, num_ppo_epochs=preset.rl_epochs, max_steps=max_steps,
        learning_rate=preset.rl_lr, lr_scheduler_type="constant_with_warmup", temperature=preset.rl_temperature,
        max_completion_length=preset.max_new_tokens, cache_implementation=preset.cache_implementation,
        ratio_level=preset.rl_ratio_level, vf_clip_coef=preset.rl_vf_clip, reward_scale=preset.rl_reward_scale,
        value_learning_rate=preset.rl_value_lr,
        warmup_steps=preset.rl_warmup_updates * steps_per_update, log_gradient_norms=log_gradient_norms,
        **preset.rl_extra_config,
    )
    model, tokenizer = load_model(init_path)
    resume = _resume_point(out)
    # The environment's own `action_key` splits thought / action; the rows' `options` column names the episodes.
    trainer = MultiTurnVerifierPPOTrainer(
        model=model, args=args, processing_class=tokenizer, train_dataset=dataset,
        callbacks=[_record_callback(_record(spec, preset, "rl"), offset_flops=init_flops, prune=True), *callbacks],
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    checkpoints = {}
    for ckpt in _checkpoints(out):
        compute = read_checkpoint_compute(ckpt)  # the trainer's own flops/total: the Init's compute is added here
        checkpoints[ckpt.name] = {"step": compute.step, "flops": init_flops + compute.flops,
                                  "episodes": compute.episodes}
    updates = per_update_diagnostics(trainer.state.log_history, args.optimizer_steps_per_update)
    return _finish(out, {"stage": "rl", "wall_s": time.time() - start, "data_s": data_s, "resumed": bool(resume),
                         "resumed_from": resume.name if resume else None, "steps": trainer.state.global_step,
                         "checkpoints": checkpoints, "train_verify_iterations": verify_iterations, "updates": updates})


def _stage_sft(spec, preset, init: dict[str, Any], init_path: str, rl: dict[str, Any], out: Path,
               seed: int) -> dict[str, Any]:
    """Stage 3a: more SFT from Init, checkpointed at each RL checkpoint's compute (within one SFT step below it),
    resuming from its latest complete checkpoint."""
    start = time.time()
    dataset = spec.sft_dataset(preset)
    thresholds = sorted(c["flops"] for c in rl["checkpoints"].values())
    per_step = init["flops"] / max(init["steps"], 1) * preset.sft_batch_size / preset.init_batch_size
    max_steps = math.ceil(1.5 * (thresholds[-1] - init["flops"]) / per_step) + 5
    resume = _resume_point(out)
    flops_cb = _flops_callback_cls()(thresholds, initial_flops=init["flops"])
    if resume is not None:
        state = json.loads((resume / "trainer_state.json").read_text())
        flops_cb.replay(state["log_history"])
    if resume is not None and not flops_cb.thresholds:  # killed after its last checkpoint: nothing left to train
        steps = state["global_step"]
    else:
        trainer, _ = _sft(init_path, dataset, out, steps=max_steps, batch=preset.sft_batch_size, lr=preset.sft_lr,
                          seed=seed, preset=preset, initial_flops=init["flops"], resume=resume,
                          callbacks=[flops_cb, _record_callback(_record(spec, preset, "sft"), prune=True)])
        steps = trainer.state.global_step
    if flops_cb.thresholds:  # the budget estimate fell short: save what was reached
        logger.warning("SFT arm stopped at %d steps before reaching the RL compute %s", steps, flops_cb.thresholds)
    checkpoints = {f"checkpoint-{step}": {"step": step, "flops": flops} for step, flops in flops_cb.saved.items()}
    return _finish(out, {"stage": "sft", "wall_s": time.time() - start, "steps": steps, "checkpoints": checkpoints,
                         "matched_to": thresholds, "resumed": resume is not None,
                         "resumed_from": resume.name if resume else None})


def _train_seed_arms(task: str, preset: StudyPreset, init_path: str, init: dict[str, Any], rl_dir: Path,
                     sft_dir: Path, seed: int) -> dict[str, dict[str, Any]]:
    """One seed's RL arm, then the SFT arm at its compute (a job of `StudyPlan.train`); their stage infos."""
    spec, stages = task_spec(task), _Stages()
    rl = stages.run(rl_dir.name, rl_dir, _stage_rl, spec, preset, init_path, init["flops"], rl_dir, seed,
                    spec.verify_iterations)
    stages.run(sft_dir.name, sft_dir, _stage_sft, spec, preset, init, init_path, rl, sft_dir, seed)
    return stages.infos


def _train_rl_arm(task: str, preset: StudyPreset, start: str, start_flops: float, path: Path, seed: int,
                  budget: int) -> dict[str, dict[str, Any]]:
    """An RL arm alone (an ablation budget, or RL from the base): a job of `StudyPlan.train`; its stage info."""
    spec, stages = task_spec(task), _Stages()
    stages.run(path.name, path, _stage_rl, spec, preset, start, start_flops, path, seed, budget)
    return stages.infos


_EVALUATORS: dict[tuple[Any, ...], Any] = {}  # one `_Evaluator` per worker process (its splits load once)


def _evaluate_checkpoint(task: str, preset: StudyPreset, eval_dir: Path, reference: str,
                         call: tuple[Any, ...]) -> None:
    """Evaluate one checkpoint into `eval_dir` (a job of `StudyPlan.evaluate`)."""
    key = (task, str(eval_dir), reference)  # one study per process: its preset is the same for every call
    if key not in _EVALUATORS:
        _EVALUATORS[key] = _Evaluator(task_spec(task), preset, eval_dir, reference=reference)
    _EVALUATORS[key].evaluate(*call)


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------------
class _Evaluator:
    """Evaluates checkpoints on every split with `sft_vs_rl.evaluation.runner.evaluate` (the library's batched
    multi-turn rollout; greedy decoding, plus a sampled pass at the RL temperature on `eval_sampled_episodes`
    episodes; the paper's verification budget: 5 tries for GP, 2 per position for V-IRL).
    Records name a checkpoint inside the study folder (`eval_dir`'s parent) by its path relative to that folder."""

    def __init__(self, spec: TaskSpec, preset: StudyPreset, eval_dir: Path, reference: str | None = None):
        self.spec, self.preset, self.eval_dir = spec, preset, eval_dir
        self.splits = {split: spec.eval_dataset(preset, split, preset.eval_episodes) for split in spec.eval_splits()}
        self.reference_path, self._reference, self._probe = reference, None, None

    def _kl_from_init(self, model, tokenizer):
        """`kl_from_init` of a text checkpoint: `probe_kl` against the Init on the first `PROBE_SIZE` ID SFT pairs."""
        from sft_vs_rl.evaluation.kl import PROBE_SIZE, probe_kl
        from sft_vs_rl.models import load_model

        if self._reference is None:
            self._reference = load_model(self.reference_path)[0].eval()
            data = self.spec.sft_dataset(self.preset)
            self._probe = data.select(range(min(PROBE_SIZE, len(data))))
        return probe_kl(model, self._reference, tokenizer, self._probe, batch_size=self.preset.eval_batch)

    def _name(self, checkpoint: str) -> str:
        """`checkpoint` relative to the study folder (`rl/checkpoint-8`), or as given (a Hub id)."""
        root, path = self.eval_dir.parent.resolve(), Path(checkpoint).resolve()
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else checkpoint

    def evaluate(self, name: str, checkpoint: str, method: str, step: int, gflops: float,
                 train_verify_iterations: int | None = None) -> list[dict[str, Any]]:
        path = self.eval_dir / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text())["records"]
        from transformers import GenerationConfig

        from sft_vs_rl.evaluation import episode_success
        from sft_vs_rl.evaluation.runner import evaluate
        from sft_vs_rl.models import load_model
        from sft_vs_rl.models.loading import tokenizer_of
        from sft_vs_rl.study.corpus import seen_multisets

        start = time.time()
        model, processor = load_model(checkpoint)
        tokenizer = tokenizer_of(processor)
        config = GenerationConfig(max_new_tokens=self.preset.max_new_tokens, do_sample=False,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                                  cache_implementation=self.preset.cache_implementation)
        sampled_config = GenerationConfig(**config.to_diff_dict() | {
            "do_sample": True, "temperature": self.preset.rl_temperature, "top_k": 0, "top_p": 1.0})

        def play(rows, split, generation_config):
            return evaluate(
                model, rows, processor=processor, task=self.spec.task, split=split.replace("-unseen", ""),
                method=method, step=step, gflops=gflops, checkpoint=self._name(checkpoint),
                batch_size=self.preset.eval_batch,
                generation_config=generation_config, train_multisets=seen_multisets() if self.spec.is_gp else None,
            )

        results = {split: play(rows, split, config) for split, rows in self.splits.items()}
        sampled = {}
        if self.preset.eval_sampled_episodes:
            sampled = {split: play(rows.select(range(min(len(rows), self.preset.eval_sampled_episodes))), split,
                                   sampled_config)
                       for split, rows in self.splits.items() if split != "id-unseen"}
        records = []
        for split, evaluation in results.items():
            if split == "id-unseen":
                continue
            metrics = dict(evaluation.record.metrics)
            if split in sampled:  # the policy as the RL arm samples it, beside the greedy one
                headline = "success" if self.spec.is_gp else "step_accuracy"
                metrics[f"sampled/{headline}"] = sampled[split].record.metrics[headline]
            if self.spec.is_gp:  # one graded turn per try (V-IRL episodes have a turn per position)
                metrics["first_try_success"] = episode_success(evaluation.episodes, verify_iterations=1)
            if split == "id" and "id-unseen" in results:
                # ID hands are all from the training pool; the held-out hands are a split of their own.
                metrics["unseen_success"] = results["id-unseen"].record.metrics["success"]
            if split == "id" and self.reference_path and not self.spec.visual:
                metrics["kl_from_init"] = self._kl_from_init(model, tokenizer)
            record = dataclasses.replace(evaluation.record, metrics=metrics,
                                         train_verify_iterations=train_verify_iterations)
            records.append(record.to_dict())
        write_json(path, {"records": records, "wall_s": time.time() - start}, indent=1)
        logger.info("eval %-16s %5.1f s  %s", name, time.time() - start, _summary(records))
        return records


def _summary(records: list[dict[str, Any]]) -> str:
    parts = []
    for r in records:
        key = "step_accuracy" if "step_accuracy" in r["metrics"] else "success"
        parts.append(f"{r['split']} {100 * (r['metrics'][key]['value'] or 0):.1f}%")
        if "unseen_success" in r["metrics"] and r["split"] == "id":
            parts.append(f"id-unseen {100 * (r['metrics']['unseen_success']['value'] or 0):.1f}%")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------------------------------
def run_study(
    task: str,
    preset: str | StudyPreset = "smoke",
    output_dir: str | Path = "runs/study",
    *,
    seeds: Sequence[int] = (0,),
    verify_iterations: Sequence[int] | None = None,
    rl_from_base: bool = False,
    force: bool = False,
    num_threads: int | None = 2,
    workers: int = 1,
    **overrides: Any,
) -> Path:
    """Run (or resume) the SFT-versus-RL study of one task and write `results.json`, `results.md` and the figures.

    Args:
        task (`str`): `"gp-l"`, `"gp-vl"`, `"virl-l"` or `"virl-vl"`.
        preset (`str` or `StudyPreset`, *optional*, defaults to `"smoke"`): `"smoke"`, `"tiny"` or `"paper"`.
        output_dir (`str` or `Path`, *optional*): where every stage writes (see the module docstring).
        seeds (`Sequence[int]`, *optional*, defaults to `(0,)`): seeds of the SFT and RL arms (the base and Init are
            shared); the first seed's arms are `sft/` and `rl/`, the others `sft-seed{s}/` and `rl-seed{s}/`.
        verify_iterations (`Sequence[int]`, *optional*): RL training budgets of the verification-iteration ablation
            (paper Fig. 10: 1 3 5 10); each extra budget trains an RL arm `rl-viter{v}/` (first seed). Evaluation
            always uses the task's budget (5 for GP, 2 for V-IRL).
        rl_from_base (`bool`, *optional*, defaults to `False`): also train an RL arm `rl-from-base/` straight from the
            base, without Init (paper Fig. 9), with the main RL arm's settings and budget (first seed); its records go
            to `results.json`'s metadata (`rl_from_base_records`) and a section of `results.md`.
        force (`bool`, *optional*, defaults to `False`): delete `output_dir` first and redo every stage.
        num_threads (`int`, *optional*, defaults to `2`): `torch.set_num_threads` on CPU (`None` leaves it).
        workers (`int`, *optional*, defaults to `1`): processes for the stages after Init (each seed's RL + SFT arms,
            the ablation arms, RL from the base) and for evaluation, sharing `num_threads` threads
            (`sft_vs_rl.study.workers`); 1 runs everything in this process.
        overrides: `StudyPreset` fields to change (e.g. `rl_updates=8`, `answer_format="steps"`).

    Returns:
        `Path` of `results.json`.
    """
    import torch

    spec = task_spec(task)
    preset_obj = resolve_study_preset(preset, task, **overrides)
    preset_name = preset if isinstance(preset, str) else "custom"
    out = Path(output_dir)
    settings = json.loads(json.dumps(_preset_dict(preset_obj)))  # as study.json holds them (tuples as lists)
    check_output_dir(out, task, preset_name, settings, force=force)
    if force and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    if num_threads and not torch.cuda.is_available():
        torch.set_num_threads(num_threads)
    plan = StudyPlan(spec, preset_obj, out, list(seeds) or [0], verify_iterations, rl_from_base)
    write_json(out / STUDY_FILE, {"task": task, "preset": preset_name, "settings": settings, "seeds": plan.seeds,
                                  "verify_iterations": plan.budgets, "rl_from_base": rl_from_base})
    if workers < 1:
        raise ValueError(f"`workers` is {workers!r}; it must be a positive number of processes (1: no parallelism).")
    stages = _Stages()
    threads = num_threads or torch.get_num_threads()
    plan.train(stages, workers=workers, threads=threads)
    start = time.time()
    main, per_seed, from_base = plan.evaluate(stages.infos, workers=workers, threads=threads)
    stages.infos["eval"] = {"wall_s": time.time() - start}
    logger.info("stage %-14s done in %6.1f s", "eval", stages.infos["eval"]["wall_s"])
    return _write_results(plan, preset_name, stages.infos, main, per_seed, from_base)


class _Stages:
    """Runs each stage once: a stage whose folder holds a finished `stage.json` is skipped (a study resumes)."""

    def __init__(self) -> None:
        self.infos: dict[str, dict[str, Any]] = {}

    def run(self, name: str, path: Path, fn, *args) -> dict[str, Any]:
        info = _done(path)
        if info is None:
            logger.info("stage %s: running", name)
            info = fn(*args)
            logger.info("stage %-14s done in %6.1f s", name, info["wall_s"])
        else:
            logger.info("stage %-14s skipped (found %s)", name, path / STAGE_FILE)
        self.infos[name] = info
        return info


@dataclass
class StudyPlan:
    """The stages of one study and where they write: base → Init → per seed {RL, SFT at RL's compute} → the
    verification-iteration ablation's RL arms → RL from the base without Init (optional) → evaluation of every
    checkpoint."""

    spec: TaskSpec
    preset: StudyPreset
    out: Path
    seeds: list[int]
    extra_budgets: Sequence[int] | None = None
    rl_from_base: bool = False

    @property
    def budgets(self) -> list[int]:
        """RL training budgets: the task's own first, then the ablation's."""
        return list(dict.fromkeys([self.spec.verify_iterations, *(self.extra_budgets or [])]))

    @property
    def base_path(self) -> str:
        return str(self.out / "base") if self.preset.pretrained_from_scratch else self.preset.model

    def arms(self) -> list[tuple[int, Path, Path]]:
        """`(seed, rl_dir, sft_dir)` of every seed; the first seed's arms are `rl/` and `sft/`."""
        return [(seed, self.out / f"rl{s}", self.out / f"sft{s}")
                for seed, s in ((seed, "" if i == 0 else f"-seed{seed}") for i, seed in enumerate(self.seeds))]

    def ablation(self) -> list[tuple[int, Path]]:
        """`(budget, rl_dir)` of the verification-iteration ablation (first seed)."""
        return [(v, self.out / f"rl-viter{v}") for v in self.budgets[1:]]

    def train(self, stages: _Stages, *, workers: int = 1, threads: int = 2) -> None:
        """Base and Init here, then the independent arms (in `workers` processes when more than one)."""
        spec, preset, out = self.spec, self.preset, self.out
        if preset.pretrained_from_scratch:
            stages.run("base", out / "base", _stage_base, spec, preset, out / "base", self.seeds[0])
        init = stages.run("init", out / "init", _stage_init, spec, preset, self.base_path, out / "init", self.seeds[0])
        task, init_path = spec.task, str(out / "init")
        jobs = [(_train_seed_arms, (task, preset, init_path, init, rl_dir, sft_dir, seed))
                for seed, rl_dir, sft_dir in self.arms()]
        jobs += [(_train_rl_arm, (task, preset, init_path, init["flops"], path, self.seeds[0], v))
                 for v, path in self.ablation()]
        if self.rl_from_base:  # paper Fig. 9; the base's pretraining is not counted, so it starts at 0 GFLOPs
            jobs.append((_train_rl_arm, (task, preset, self.base_path, 0.0, out / "rl-from-base", self.seeds[0],
                                         spec.verify_iterations)))
        for infos in run_parallel(jobs, workers=workers, threads=threads):
            stages.infos.update(infos)

    def evaluate(self, infos: dict[str, dict[str, Any]], *, workers: int = 1,
                 threads: int = 2) -> tuple[list[dict], dict[int, list[dict]], list[dict]]:
        """Records of every checkpoint: the main list (base, Init, the first seed's arms, the ablation), each
        seed's own (Init and that seed's arms), and the RL-from-base arm's (empty without it). With `workers` > 1
        the checkpoints are first evaluated in that many processes (each writes its `eval/*.json`), then read here."""
        reference = str(self.out / "init")
        evaluator = _Evaluator(self.spec, self.preset, self.out / "eval", reference=reference)
        calls: list[tuple[Any, ...]] = []  # (name, checkpoint, method, step, gflops, budget), in reading order

        def checkpoints(path: Path, method: str, budget: int | None) -> list[tuple[Any, ...]]:
            found = [(f"{path.name}-{c['step']}", str(path / ckpt), method, c["step"], c["flops"] / 1e9, budget)
                     for ckpt, c in sorted(infos[path.name]["checkpoints"].items(), key=lambda kv: kv[1]["step"])]
            calls.extend(found)
            return found

        def read(found: list[tuple[Any, ...]]) -> list[dict]:
            return [record for call in found for record in evaluator.evaluate(*call)]

        base = [("base", self.base_path, "base", 0, 0.0, None)] if self.preset.pretrained_from_scratch else []
        init = [("init", reference, "init", 0, infos["init"]["flops"] / 1e9, None)]
        arms = [(seed, checkpoints(rl_dir, "rl", self.spec.verify_iterations) + checkpoints(sft_dir, "sft", None))
                for seed, rl_dir, sft_dir in self.arms()]
        ablation = [checkpoints(path, "rl", v) for v, path in self.ablation()]
        from_base = checkpoints(self.out / "rl-from-base", "rl", self.spec.verify_iterations) if self.rl_from_base \
            else []
        pending = [call for call in base + init + calls if not (self.out / "eval" / f"{call[0]}.json").is_file()]
        if workers > 1 and len(pending) > 1:
            run_parallel([(_evaluate_checkpoint, (self.spec.task, self.preset, self.out / "eval", reference, call))
                          for call in pending], workers=workers, threads=threads)
        main, init_records = read(base), read(init)
        main += init_records
        per_seed = {}
        for i, (seed, found) in enumerate(arms):
            per_seed[seed] = init_records + read(found)
            if i == 0:
                main += per_seed[seed][len(init_records):]
        for found in ablation:
            main += read(found)
        return main, per_seed, read(from_base)



def _write_results(plan: StudyPlan, preset_name: str, stages: dict[str, dict[str, Any]], main: list[dict],
                   per_seed: dict[int, list[dict]], from_base: list[dict] = ()) -> Path:
    """`results.json` (records + metadata: settings, stage summaries, RL diagnostics), `results.md` and figures."""
    from sft_vs_rl.evaluation import ResultRecord, Results, save_results
    from sft_vs_rl.study.report import write_report

    kept = ("wall_s", "steps", "gflops", "flops", "n_params", "examples", "final_loss", "format_checks",
            "stopped_by_format")
    metadata = {"task": plan.spec.task, "preset": preset_name, "seeds": plan.seeds,
                "verify_iterations": plan.spec.verify_iterations, "train_verify_iterations": plan.budgets,
                "gflops_from": "start of Init (base pretraining not counted)",
                "decoding": "greedy", "settings": _preset_dict(plan.preset),
                "stages": {k: {kk: vv for kk, vv in v.items() if kk in kept} for k, v in stages.items()}}
    metadata["rl_diagnostics"] = {name: info["updates"] for name, info in stages.items()
                                  if name.startswith("rl") and info.get("updates")}
    if len(plan.seeds) > 1:
        metadata["seed_records"] = {str(s): recs for s, recs in per_seed.items()}
    if from_base:
        metadata["rl_from_base_records"] = list(from_base)
    results = Results(records=[ResultRecord.from_dict(r) for r in main], metadata=metadata)
    path = save_results(results, plan.out / "results.json")
    write_report(results, plan.out)
    return path


def check_output_dir(out: Path, task: str, preset: str, settings: dict[str, Any], *, force: bool = False) -> None:
    """Refuse an output folder that holds something else: another study (another task, preset or settings: its
    stages would be resumed as if they were this study's), or files that are not a study at all (`force` would
    delete them). Adding seeds or ablation budgets to a study is a resume, not another study."""
    manifest = out / STUDY_FILE
    if not out.exists() or not any(out.iterdir()):
        return
    if not manifest.is_file():
        raise ValueError(
            f"`output_dir` is {str(out)!r}, a folder that holds files but no {STUDY_FILE}, so not a study"
            f"{' (--force would delete them)' if force else ''}; name a new or empty folder."
        )
    if force:
        return
    held = json.loads(manifest.read_text(encoding="utf-8"))
    old_settings, absent = held.get("settings", {}), "<absent>"
    differ = [(key, held.get(key), new) for key, new in (("task", task), ("preset", preset)) if held.get(key) != new]
    differ += [(f"settings.{key}", old_settings.get(key, absent), settings.get(key, absent))
               for key in sorted(set(settings) | set(old_settings))
               if old_settings.get(key, absent) != settings.get(key, absent)]
    if differ:
        shown = ", ".join(f"{key} {old!r} → {new!r}" for key, old, new in differ[:6])
        raise ValueError(
            f"`output_dir` {str(out)!r} holds another study ({held.get('task')}, preset {held.get('preset')}); this "
            f"one differs in {shown}{' …' if len(differ) > 6 else ''}. Its stages would be resumed as this study's: "
            "name another --output-dir, or pass --force to delete it and start over."
        )


def _preset_dict(preset: StudyPreset) -> dict[str, Any]:
    d = dataclasses.asdict(preset)
    d.pop("task_overrides", None)
    return d
