"""Training callbacks: `SFTComputeCallback` logs the paper's SFT compute (`6·N·tokens`) from a `transformers` Trainer;
`CheckpointRecordCallback` writes the checkpoint record (`sft_vs_rl.models.record`) into every checkpoint it saves;
`FormatCriterionCallback` stops an SFT run (the study's Init) once the model's answers have the task's format.

Kept apart from `compute.py` so that the FLOP formulas and `ComputeMeter` import without `transformers`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from sft_vs_rl.compute import ComputeMeter, count_parameters, to_gflops
from sft_vs_rl.models.record import CheckpointRecord, write_checkpoint_record

logger = logging.getLogger(__name__)

__all__ = ["CheckpointRecordCallback", "FormatCriterionCallback", "SFTComputeCallback"]


class SFTComputeCallback(TrainerCallback):
    """A `transformers` callback that logs the paper's SFT compute, `6·N·tokens`, as `flops/total`.

    Tokens are the non-padding input tokens the Trainer counts itself (`state.num_input_tokens_seen`, the sum of
    every batch's attention mask, gathered over processes), so the count needs
    `include_num_input_tokens_seen="non_padding"` in the training arguments. Because it is a pure function of
    `num_input_tokens_seen`, which `trainer_state.json` saves, resumed runs keep counting correctly.

    On every log the callback adds `flops/total` (FLOPs, `initial_flops` included), `flops/train` and
    `flops/total_gflops` to the logged values and to `state.log_history`, so checkpoints carry the compute of each
    step. Callbacks see `logs` in order: to reach reporting integrations (TensorBoard, W&B) too, put it first with
    `trainer.callback_handler.callbacks.insert(0, callback)`.

    Image tokens of vision models are not in the attention mask (Mllama's cross-attention), so vision-encoder
    compute is not counted; `N` still includes the vision tower when the model is counted whole.

    Args:
        n_params (`int`, *optional*):
            Parameter count `N`. Defaults to [`count_parameters`]`(model)` at the start of training.
        initial_flops (`float`, *optional*, defaults to `0.0`):
            FLOPs spent before this run (e.g. `6·N·D_init` for SFT that continues from Init).
        include_embeddings (`bool`, *optional*, defaults to `True`):
            Passed to [`count_parameters`] when `n_params` is not given.

    Example:

    ```python
    >>> from trl import SFTConfig, SFTTrainer
    >>> args = SFTConfig(output_dir="out", include_num_input_tokens_seen="non_padding", use_cpu=True, bf16=False)
    >>> trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, callbacks=[SFTComputeCallback()])
    ```
    """

    def __init__(
        self, n_params: int | None = None, initial_flops: float = 0.0, include_embeddings: bool = True
    ) -> None:
        if initial_flops < 0:
            raise ValueError(f"SFTComputeCallback: initial_flops must be ≥ 0, got {initial_flops!r}.")
        self.n_params = n_params
        self.initial_flops = float(initial_flops)
        self.include_embeddings = include_embeddings

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if args.include_num_input_tokens_seen != "non_padding":
            raise ValueError(
                "SFTComputeCallback counts tokens from `state.num_input_tokens_seen`, but "
                f"include_num_input_tokens_seen={args.include_num_input_tokens_seen!r}; set "
                'include_num_input_tokens_seen="non_padding" in the training arguments.'
            )
        if self.n_params is None:
            if model is None:
                raise ValueError("SFTComputeCallback: pass n_params=… (the Trainer gave the callback no model).")
            self.n_params = count_parameters(model, include_embeddings=self.include_embeddings)
            logger.info("SFTComputeCallback: N = %d parameters", self.n_params)

    def meter(self, state) -> ComputeMeter:
        """The compute so far as a [`ComputeMeter`] (needs training to have started)."""
        if self.n_params is None:
            raise ValueError("SFTComputeCallback.meter: n_params is unknown until training begins.")
        return ComputeMeter(
            n_params=self.n_params, initial_flops=self.initial_flops, train_tokens=int(state.num_input_tokens_seen)
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = self.meter(state).metrics()
        values = {k: values[k] for k in ("flops/total", "flops/train", "flops/total_gflops")}
        if logs is not None:
            logs.update(values)
        if state.log_history:
            state.log_history[-1].update(values)


class CheckpointRecordCallback(TrainerCallback):
    """Writes a [`CheckpointRecord`] into every `checkpoint-N/` the Trainer saves, with that checkpoint's step and
    cumulative compute.

    The compute is the last `flops/total` in `state.log_history` (logged by [`SFTComputeCallback`] or by the PPO
    trainer) plus `offset_flops`: pass `0` for SFT runs (their `flops/total` already counts `initial_flops`) and the
    starting checkpoint's compute for PPO (whose counter covers its own run only). `on_save` runs after the Trainer
    finished writing the folder, so the record is the last file of a complete checkpoint.

    Args:
        record (`CheckpointRecord`): the fields every checkpoint of the run shares (task, method, dataset config,
            base model); `step` and `gflops` are filled in per checkpoint.
        offset_flops (`float`, *optional*, defaults to `0.0`): FLOPs added to the logged `flops/total`.
        count_compute (`bool`, *optional*, defaults to `True`): fill `gflops` from the log; `False` keeps the
            record's own (the study's base, whose pretraining is not counted: 0).
    """

    def __init__(self, record: CheckpointRecord, offset_flops: float = 0.0, count_compute: bool = True) -> None:
        self.record = record
        self.offset_flops = float(offset_flops)
        self.count_compute = count_compute

    def record_at(self, state) -> CheckpointRecord:
        """The record of the run's state now (its step and cumulative compute)."""
        if not self.count_compute:
            return dataclasses.replace(self.record, step=state.global_step)
        flops = [entry["flops/total"] for entry in state.log_history if "flops/total" in entry]
        gflops = to_gflops(self.offset_flops + flops[-1]) if flops else None
        return dataclasses.replace(self.record, step=state.global_step, gflops=gflops)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if folder.is_dir():
            write_checkpoint_record(folder, self.record_at(state))


class FormatCriterionCallback(TrainerCallback):
    """Stop training at the first check where a share `threshold` of greedy answers to fixed probe prompts have the
    task's answer format (`has_format`, e.g. `sft_vs_rl.envs.generalpoints.has_answer_format`).

    The paper's reason for its Init SFT is a stable output format, so the study stops Init by this criterion rather
    than at a step count chosen without one. Every `every` optimizer steps the model answers `prompts` (chat
    messages) greedily; the share with the format is logged as `init/format_rate` in `state.log_history` and kept in
    `history` as `(step, rate)`; when it reaches `threshold`, training stops (the caller saves the model).

    Args:
        prompts (`Sequence[list[dict]]`): probe conversations, each the user turns before the first answer.
        has_format (`Callable[[str], bool]`): whether one answer has the format.
        threshold (`float`): share of formatted answers that ends training, in (0, 1].
        every (`int`): optimizer steps between checks.
        max_new_tokens (`int`): answer length.
        batch_size (`int`, *optional*, defaults to `64`): prompts per `generate` call.
        images (`Sequence[list]`, *optional*): the images of each prompt (image tasks; the trainer's
            `processing_class` is then the model's processor).
    """

    def __init__(self, prompts: Sequence[list[dict[str, Any]]], has_format: Callable[[str], bool], *,
                 threshold: float, every: int, max_new_tokens: int, batch_size: int = 64,
                 images: Sequence[list[Any]] | None = None):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"FormatCriterionCallback: threshold={threshold!r} must be in (0, 1].")
        if every < 1:
            raise ValueError(f"FormatCriterionCallback: every={every!r} must be a positive number of steps.")
        if images is not None and len(images) != len(prompts):
            raise ValueError(f"FormatCriterionCallback: {len(images)} image lists for {len(prompts)} prompts; give "
                             "one list per prompt.")
        self.prompts, self.has_format = list(prompts), has_format
        self.images = None if images is None else list(images)
        self.threshold, self.every, self.max_new_tokens, self.batch_size = threshold, every, max_new_tokens, batch_size
        self.history: list[tuple[int, float]] = []

    def format_rate(self, model: Any, processing_class: Any) -> float:
        """Share of the probe prompts whose greedy answer has the format."""
        import torch

        from sft_vs_rl.models.loading import tokenizer_of

        tokenizer = tokenizer_of(processing_class)
        was_training, side = model.training, tokenizer.padding_side
        model.eval()
        tokenizer.padding_side = "left"
        answers: list[str] = []
        try:
            with torch.no_grad():
                for start in range(0, len(self.prompts), self.batch_size):
                    chunk = self.prompts[start : start + self.batch_size]
                    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                             for p in chunk]
                    if self.images is None:
                        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
                    else:
                        batch = processing_class(text=texts, images=self.images[start : start + self.batch_size],
                                                 return_tensors="pt", padding=True, add_special_tokens=False)
                    batch = {k: v.to(model.device) for k, v in batch.items()}
                    out = model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
                    answers += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        finally:
            tokenizer.padding_side = side
            model.train(was_training)
        return sum(self.has_format(a) for a in answers) / max(1, len(answers))

    def on_step_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        if state.global_step % self.every or model is None or processing_class is None:
            return control
        rate = self.format_rate(model, processing_class)
        self.history.append((state.global_step, rate))
        state.log_history.append({"init/format_rate": rate, "step": state.global_step})
        logger.info("format criterion at step %d: %.1f%% of answers formatted (stop at %.0f%%)", state.global_step,
                    100 * rate, 100 * self.threshold)
        if rate >= self.threshold:
            control.should_training_stop = True
        return control
