"""`SFTComputeCallback`: logs the paper's SFT compute (`6·N·tokens`) from a `transformers` Trainer.

Kept apart from `compute.py` so that the FLOP formulas and `ComputeMeter` import without `transformers`.
"""

from __future__ import annotations

import logging

from transformers import TrainerCallback

from sft_vs_rl.compute import ComputeMeter, count_parameters

logger = logging.getLogger(__name__)

__all__ = ["SFTComputeCallback"]


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
