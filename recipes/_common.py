"""Shared plumbing of the recipes: argument fields, model arguments, dataset shaping, Hub push, SFT and RL bodies.

Recipe glue only (the pre-flight Hub check, column selection); models load with `sft_vs_rl.models.load_model` (tiny
specs such as `tiny:llama` included) and the task logic lives in the library (`sft_vs_rl.models`, `sft_vs_rl.data`,
`sft_vs_rl.trainers`, `sft_vs_rl.evaluation`, `sft_vs_rl.hub`). The recipes import it as `_common` (their own folder is
first on `sys.path` under `python`, `accelerate launch` and `torchrun`).
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trl import ScriptArguments

from sft_vs_rl.cli import DEBUG_ENV, USER_ERRORS
from sft_vs_rl.data import sft_columns
from sft_vs_rl.models.loading import TINY_PREFIX
from sft_vs_rl.models.record import CheckpointRecord, read_checkpoint_record, write_checkpoint_record
from sft_vs_rl.tasks import task_of_config

RECIPES = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------------
def run_recipe(make_parser: Callable[[], Any], main: Callable[..., None], argv: list[str] | None = None) -> int:
    """Parse the YAML config and flags, then run `main`; bad input ends in one `recipe: error: ...` line, exit 2.

    Before parsing, every key of the `--config` YAML is checked against the parser's dataclasses, so a misspelt key
    is named with its closest field. `SFT_VS_RL_DEBUG=1` shows the traceback instead.
    """
    argv = sys.argv[1:] if argv is None else argv
    name = Path(sys.argv[0]).name
    try:
        parser = make_parser()
        check_config_keys(parser, argv)
        main(*parser.parse_args_and_config(args=argv))
    except USER_ERRORS as err:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        print(f"{name}: error: {err}\n(set {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2
    return 0


def check_config_keys(parser, argv: list[str]) -> None:
    """Refuse a `--config` YAML key that no dataclass of `parser` knows, naming the key, its closest field, the file."""
    import yaml

    if "--config" not in argv or argv.index("--config") + 1 >= len(argv):
        return
    path = Path(argv[argv.index("--config") + 1])
    if not path.is_file():
        raise ValueError(f"--config {str(path)!r}: no such file; the recipes' configs are under {RECIPES / 'configs'}.")
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise ValueError(f"--config {str(path)!r} must hold a YAML mapping of field: value, not {type(config).__name__}.")
    known = {f.name for cls in parser.dataclass_types for f in fields(cls)} | {"env"}  # `env`: TrlParser's env vars
    unknown = [key for key in config if key not in known]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        owners = ", ".join(cls.__name__ for cls in parser.dataclass_types)
        raise ValueError(
            f"--config {str(path)!r}: unknown key(s) {', '.join(hints)}; every key must be a field of {owners} "
            "(see `--help`). Fix or remove the key."
        )


@dataclass
class RecipeScriptArguments(ScriptArguments):
    """Arguments every recipe shares, on top of `trl.ScriptArguments` (`dataset_name`, `dataset_config`, splits).

    Args:
        dataset_config_kwargs (`dict` or `str`, *optional*):
            Overrides of the dataset config's fields passed to `sft_vs_rl.load_dataset` (sizes, seed, `prompt_style`,
            `canvas_size`, ...), e.g. `{"train_size": 256, "prompt_style": "compact"}`. A JSON string on the command
            line.
        push_dry_run (`str`, *optional*):
            With `--push_to_hub`: write the exact upload tree (weights, processor, model card) to this new or empty
            folder instead of uploading, as `sft-vs-rl push --dry-run DIR` does. No network.
        model_card_method (`str`, *optional*):
            How the model card describes the checkpoint: `"init"`, `"sft"` or `"rl"`. Defaults to the recipe's.
    """

    dataset_config_kwargs: dict | str | None = field(
        default=None,
        metadata={
            "help": "Dataset config overrides for `sft_vs_rl.load_dataset` (sizes, seed, prompt_style, ...), as a "
            'dict in YAML or a JSON string, e.g. \'{"train_size": 256}\'.'
        },
    )
    push_dry_run: str | None = field(
        default=None,
        metadata={
            "help": "With --push_to_hub: write the exact upload tree to this new or empty folder instead of "
            "uploading (no network), as `sft-vs-rl push --dry-run DIR`."
        },
    )
    model_card_method: str | None = field(
        default=None,
        metadata={"help": "Method named on the model card: init, sft or rl (defaults to the recipe's).", "choices": [
            "init", "sft", "rl"]},
    )

    def __post_init__(self):
        if isinstance(self.dataset_config_kwargs, str):
            try:
                self.dataset_config_kwargs = json.loads(self.dataset_config_kwargs)
            except ValueError as err:
                raise ValueError(
                    f"`dataset_config_kwargs` is {self.dataset_config_kwargs!r}, which is not JSON; pass a JSON object, e.g. "
                    '\'{"train_size": 256}\'.'
                ) from err
        if self.dataset_config_kwargs is not None and not isinstance(self.dataset_config_kwargs, dict):
            raise TypeError(f"`dataset_config_kwargs` must be a mapping, got {self.dataset_config_kwargs!r}.")
        if self.dataset_config_kwargs is None:
            self.dataset_config_kwargs = {}


def task_of(dataset_config: str) -> str:
    """Task of a dataset config name, as the model card and results files name it.

    >>> task_of("gp-vl-id"), task_of("virl-l-id")
    ('gp-vl', 'virl-l')
    """
    try:
        return task_of_config(dataset_config)[0]
    except ValueError as err:
        raise ValueError(f"`dataset_config` is {dataset_config!r}: {err}") from None


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------
def model_kwargs(model_args) -> dict[str, Any]:
    """Keyword arguments of `sft_vs_rl.models.load_model` from TRL's `ModelConfig` (the Trainer places the model)."""
    return {"dtype": model_args.dtype, "revision": model_args.model_revision,
            "attn_implementation": model_args.attn_implementation, "device": None}


def load_start_model(model_args, seed: int, method: str):
    """The model a recipe trains from. A missing folder that a recipe config writes is named with that config (RL
    starts from the SFT recipe's output)."""
    from sft_vs_rl.models import load_model

    name = model_args.model_name_or_path
    try:
        return load_model(name, seed=seed, **model_kwargs(model_args))
    except ValueError as err:
        writers = _configs_writing(name) if not Path(name).exists() else []
        if not writers:
            raise
        script = f"recipes/{'_'.join(writers[0].stem.split('_')[:2])}.py"  # sft_gp_l_lora.yaml → sft_gp.py
        config = writers[0].relative_to(RECIPES.parent)
        raise ValueError(
            f"`model_name_or_path` is {name!r}, which does not exist yet: {config} writes it. The {method} recipe "
            f"starts from that checkpoint, so run `python {script} --config {config}` first, or start from a tiny "
            "model built offline with `--model_name_or_path tiny:llama` (`tiny:mllama` for a vision config)."
        ) from err


def _configs_writing(output_dir: str) -> list[Path]:
    """The recipe configs whose `output_dir` is `output_dir`."""
    import yaml

    target = Path(output_dir)
    found = []
    for path in sorted((RECIPES / "configs").glob("*/*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(config, dict) and config.get("output_dir") and Path(config["output_dir"]) == target:
            found.append(path)
    return found


def start_record(model_args) -> CheckpointRecord | None:
    """The checkpoint record of the model a recipe starts from (`None` for a tiny spec, a Hub id or a folder
    written elsewhere)."""
    name = model_args.model_name_or_path
    return read_checkpoint_record(name) if Path(name).is_dir() else None


def run_record(script_args, model_args, method: str, start: CheckpointRecord | None) -> CheckpointRecord:
    """The record every checkpoint of a recipe's run shares: task, method, dataset config and the root base model
    (the starting checkpoint's own base model, from its record `start`, when it has one)."""
    base = start.base_model if start is not None else model_args.model_name_or_path
    return CheckpointRecord(task=task_of(script_args.dataset_config), method=script_args.model_card_method or method,
                            dataset_config=script_args.dataset_config, base_model=base)


# ---------------------------------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------------------------------
def load_task_dataset(script_args, split: str):
    """One split of the recipe's dataset (`sft_vs_rl.load_dataset`, built offline and cached)."""
    from sft_vs_rl import load_dataset

    return load_dataset(script_args.dataset_name, script_args.dataset_config, split=split,
                        **script_args.dataset_config_kwargs)


def dataset_env_kwargs(dataset, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Environment kwargs that replay the dataset's episodes (its `env_kwargs` column), updated by `overrides`."""
    kwargs = {}
    if "env_kwargs" in dataset.column_names and len(dataset):
        kwargs = {k: v for k, v in dataset[0]["env_kwargs"].items() if v is not None}
    kwargs.update(overrides or {})
    return kwargs


def check_enough_episodes(dataset, training_args) -> None:
    """Refuse a training split smaller than one PPO update: the sampler would yield no batch and train nothing."""
    needed = training_args.per_device_train_batch_size * training_args.steps_per_generation * training_args.world_size
    if len(dataset) < needed:
        raise ValueError(
            f"The training split has {len(dataset)} episodes, fewer than one PPO update takes "
            f"(per_device_train_batch_size × steps_per_generation × processes = {needed}), so nothing would be "
            "trained. Raise `train_size` in `dataset_config_kwargs` (V-IRL: with `train_rows: episodes`, one row per "
            "route) or lower the batch sizes."
        )


# ---------------------------------------------------------------------------------------------------------------------
# Hub
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class PushPlan:
    """Where the final checkpoint goes: a Hub repository, or a dry-run folder holding the exact upload tree."""

    repo_id: str
    dry_run: str | None


def plan_push(script_args, training_args) -> PushPlan | None:
    """Check `--push_to_hub` before training, so an offline push or a bad target fails in seconds, not after the run.

    Turns the Trainer's own push off: the recipe pushes once at the end with `sft_vs_rl.hub` (model card, value head,
    dry run), as `sft-vs-rl push` does.
    """
    if not training_args.push_to_hub:
        if script_args.push_dry_run is not None:
            raise ValueError(
                f"`push_dry_run` is {script_args.push_dry_run!r} but `push_to_hub` is off; add --push_to_hub."
            )
        return None
    from sft_vs_rl.hub import check_hub_reachable

    repo_id = training_args.hub_model_id
    if not repo_id or "/" not in repo_id:
        raise ValueError(
            f"`hub_model_id` is {repo_id!r}; with --push_to_hub name the destination repository as ORG/NAME, e.g. "
            "--hub_model_id me/gp-l-init."
        )
    dry_run = script_args.push_dry_run
    if dry_run is not None:
        target = Path(dry_run)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ValueError(f"`push_dry_run` is {dry_run!r}, which is not a new or empty folder; pick another.")
    elif training_args.process_index == 0:
        check_hub_reachable()  # raises HubUnreachableError naming the cause and the --push_dry_run fix
    training_args.push_to_hub = False
    return PushPlan(repo_id=repo_id, dry_run=dry_run)


def push_checkpoint(plan: PushPlan, checkpoint_dir: str, card: dict[str, Any]) -> Any:
    """Upload `checkpoint_dir` with its model card (or write the dry-run tree); call on the main process only."""
    import tempfile

    from sft_vs_rl.hub import push_folder
    from sft_vs_rl.model_card import prepare_model_upload

    with tempfile.TemporaryDirectory(prefix="sft_vs_rl_upload_") as tmp:
        tree = prepare_model_upload(checkpoint_dir, os.path.join(tmp, "upload"), card)
        return push_folder(
            tree, plan.repo_id, dry_run=plan.dry_run,
            commit_message=f"Upload {card['method']} checkpoint with sft-vs-rl",
        )


def card_context(script_args, record: CheckpointRecord, training: dict[str, Any]) -> dict[str, Any]:
    """Model card fields of a recipe's final checkpoint (`sft_vs_rl.model_card.ModelCardContext`) from its run's
    `record`."""
    base = record.base_model
    return {
        "task": record.task,
        "method": record.method,
        "base_model": None if base is None or base.startswith(TINY_PREFIX) else base,
        "datasets": [f"{script_args.dataset_name}:{script_args.dataset_config}"],
        "training": training,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Recipe bodies (one per method; the task scripts only add their defaults)
# ---------------------------------------------------------------------------------------------------------------------
def run_sft(script_args, training_args, model_args) -> None:
    """Body of `sft_gp.py` / `sft_virl.py`: `trl.SFTTrainer` on the dataset's optimal single-turn answers.

    Saves the final model, processor and `trainer_state.json` (step and `flops/total`, the paper's `6·N·tokens`
    counted on from `script_args.initial_flops`) to `output_dir`, then pushes if `--push_to_hub` asked for it.
    """
    from trl import SFTTrainer, get_peft_config

    from sft_vs_rl.evaluation import CheckpointRecordCallback, SFTComputeCallback

    push = plan_push(script_args, training_args)  # before any long work: an offline push fails now
    # SFT of a base (a tiny spec, a Hub model, a `base` record) is Init; SFT of an Init or SFT checkpoint is the arm.
    start = start_record(model_args)
    method = "sft" if start is not None and start.method in ("init", "sft") else "init"
    initial_flops = script_args.initial_flops
    if initial_flops is None:  # counted on from the starting checkpoint's record
        initial_flops = start.gflops * 1e9 if start is not None and start.gflops else 0.0
    records = CheckpointRecordCallback(run_record(script_args, model_args, method, start))

    # Model
    model, processor = load_start_model(model_args, training_args.seed, "SFT")

    # Dataset
    train_dataset = sft_columns(load_task_dataset(script_args, script_args.dataset_train_split))
    if "messages" in train_dataset.column_names:
        training_args.assistant_only_loss = True  # vision rows are conversations: train the answer only

    # Training
    # The paper's SFT compute, 6·N·tokens, counted from the non-padding tokens the Trainer sees (`flops/total`)
    training_args.include_num_input_tokens_seen = "non_padding"
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
        callbacks=[SFTComputeCallback(initial_flops=initial_flops), records],
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    _save(trainer, processor, training_args, records, "SFT checkpoint")

    if push is not None and trainer.accelerator.is_main_process:
        keys = (
            "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
            "lr_scheduler_type", "warmup_steps",
        )
        _push(trainer, push, script_args, training_args, records.record, keys)
    trainer.accelerator.wait_for_everyone()


def run_rl(script_args, training_args, model_args, *, env_id: str) -> None:
    """Body of `rl_gp.py` / `rl_virl.py`: multi-turn verifier PPO on the dataset's training episodes.

    The episodes are replayed in `env_id` (unless `training_args.env_id` names another) with the dataset's own
    environment kwargs (its `env_kwargs` column) updated by `training_args.env_kwargs`; the rows' `options` column
    names each episode, and the environment's `action_key` the graded answer field (`training_args.action_key`
    overrides it). Saves the policy, value head and processor to `output_dir`, then pushes if `--push_to_hub` asked
    for it.
    """
    from trl import get_peft_config

    from sft_vs_rl import MultiTurnVerifierPPOTrainer
    from sft_vs_rl.evaluation import CheckpointRecordCallback

    push = plan_push(script_args, training_args)  # before any long work: an offline push fails now
    # The PPO trainer counts its own compute; the starting checkpoint's (its record's) is added in the records.
    start = start_record(model_args)
    offset = start.gflops * 1e9 if start is not None and start.gflops else 0.0
    records = CheckpointRecordCallback(run_record(script_args, model_args, "rl", start), offset_flops=offset)

    # Model
    model, processor = load_start_model(model_args, training_args.seed, "RL")

    # Dataset: the ID training episodes, replayed in the environment
    train_dataset = load_task_dataset(script_args, script_args.dataset_train_split)
    check_enough_episodes(train_dataset, training_args)
    training_args.env_id = training_args.env_id or env_id
    training_args.env_kwargs = dataset_env_kwargs(train_dataset, training_args.env_kwargs)

    # Training
    trainer = MultiTurnVerifierPPOTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
        callbacks=[records],
    )
    trainer.accelerator.print(f"Environment {training_args.env_id} with {training_args.env_kwargs}")
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    _save(trainer, processor, training_args, records, "RL checkpoint (policy + value head)")

    if push is not None and trainer.accelerator.is_main_process:
        keys = ("learning_rate", "num_ppo_epochs", "gamma", "gae_lambda", "clip_coef", "vf_coef", "temperature",
                "num_envs")
        extra = {"verify_iterations": training_args.env_kwargs.get("verify_iterations")}
        _push(trainer, push, script_args, training_args, records.record, keys, extra)
    trainer.accelerator.wait_for_everyone()


def _save(trainer, processor, training_args, records, what: str) -> None:
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the model card reads the step and `flops/total` from it
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(training_args.output_dir)
        # Last: what the checkpoint is (task, method, base model, step, compute), read by eval, push and the card.
        write_checkpoint_record(training_args.output_dir, records.record_at(trainer.state))
    trainer.accelerator.print(f"Saved the {what} to {training_args.output_dir}")


def _push(trainer, push: PushPlan, script_args, training_args, record: CheckpointRecord, keys: tuple[str, ...],
          extra: dict[str, Any] | None = None) -> None:
    values = training_args.to_dict()  # JSON-ready (enums as their values)
    training = {k: values[k] for k in keys} | (extra or {})
    result = push_checkpoint(push, training_args.output_dir, card_context(script_args, record, training))
    where = f"dry run written to {result.dry_run_dir}" if result.dry_run_dir else f"pushed: {result.commit_url}"
    trainer.accelerator.print(f"{len(result.paths)} files for {result.repo_id}; {where}")
