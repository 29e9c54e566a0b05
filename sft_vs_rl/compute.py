"""Compute accounting as in the paper, so SFT and RL can be compared at equal compute.

The paper (App. C.3, reference `sftvsrl_spec.md` §3.4) plots every curve against training compute in GFLOPs with
the usual dense-transformer estimates (Kaplan et al., 2020):

* training (forward + backward) costs `6·N·D` FLOPs for `D` tokens: 2·N for the forward pass, 4·N for the backward;
* inference (a forward pass: generation, old log-probs, values) costs `2·N·D` FLOPs;
* `X_SFT = 6·N·(D_init + D_SFT)` and `X_RL = 6·N·(D_init + D_RL) + 2·N·D_buffer`.

`N` is the parameter count. The paper uses the full count of the HF checkpoint (≈10.7B for
Llama-3.2-11B-Vision), so [`count_parameters`] includes the embeddings by default. Kaplan et al. exclude them
(`transformers`' `floating_point_ops` does too), which matters for tiny models where the embeddings are most of the
weights; pass `include_embeddings=False` for that convention, and use the same choice for every run you compare.

The paper estimates `D_buffer ≈ λ·D_RL` with λ = 6 (GeneralPoints) or 5.1 (V-IRL) ([`paper_rl_flops`]). The library
counts the tokens the rollouts really process instead ([`ComputeMeter.add_inference_tokens`]): every generation and
scoring forward pass adds its prompt + response tokens once (a KV cache processes each token once).

Units: FLOPs (floating-point operations, not per second); [`to_gflops`] divides by 1e9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

from sft_vs_rl.tasks import get_task

__all__ = [
    "PAPER_BUFFER_RATIO",
    "VISION_TOKENS_PER_IMAGE",
    "ComputeMeter",
    "count_parameters",
    "inference_flops",
    "paper_rl_flops",
    "to_gflops",
    "training_flops",
]

PAPER_BUFFER_RATIO = {"gp": 6.0, "virl": 5.1}
"""λ of the paper's estimate `D_buffer ≈ λ·D_RL` (App. C.3): 6 for GeneralPoints, 5.1 for V-IRL."""

VISION_TOKENS_PER_IMAGE = 1600
"""Tokens the original code adds per image to its compute counter ("llama 3.2 has 1601 visual tokens")."""


def training_flops(n_params: int, tokens: int | float) -> float:
    """FLOPs of training (forward + backward) on `tokens` tokens: `6·N·D` (paper App. C.3; Kaplan et al., 2020).

    >>> training_flops(1_000, 10)
    60000.0
    """
    return 6.0 * n_params * tokens


def inference_flops(n_params: int, tokens: int | float) -> float:
    """FLOPs of a forward pass over `tokens` tokens: `2·N·D` (paper App. C.3).

    >>> inference_flops(1_000, 10)
    20000.0
    """
    return 2.0 * n_params * tokens


def to_gflops(flops: float) -> float:
    """Convert FLOPs to GFLOPs (1e9 FLOPs), the unit of the paper's x-axes.

    >>> to_gflops(3e9)
    3.0
    """
    return flops / 1e9


def paper_rl_flops(n_params: int, init_tokens: int, rl_tokens: int, task: str) -> float:
    """The paper's RL compute estimate `6·N·(D_init + D_RL) + 2·N·λ·D_RL`, with λ from [`PAPER_BUFFER_RATIO`].

    Args:
        n_params (`int`): Parameter count `N`.
        init_tokens (`int`): Tokens of the SFT that produced the Init checkpoint (`D_init`).
        rl_tokens (`int`): Tokens trained on during RL (`D_RL`).
        task (`str`): a task of `sft_vs_rl.tasks` (its family selects λ: 6 for GeneralPoints, 5.1 for V-IRL).

    >>> paper_rl_flops(1, 0, 10, "gp-l")
    180.0
    """
    lam = PAPER_BUFFER_RATIO[get_task(task).family]
    return training_flops(n_params, init_tokens + rl_tokens) + inference_flops(n_params, lam * rl_tokens)


def count_parameters(model: torch.nn.Module, *, include_embeddings: bool = True) -> int:
    """Count the parameters `N` of `model` (shared/tied tensors once).

    Args:
        model (`torch.nn.Module`):
            The model (a value head attached as a submodule is counted too).
        include_embeddings (`bool`, *optional*, defaults to `True`):
            Count the input/output embedding matrices. `True` matches the paper's N ≈ 10.7B; `False` matches
            Kaplan et al. and `transformers`' `floating_point_ops`.
    """
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    if not include_embeddings:
        embeddings = {}
        for getter in ("get_input_embeddings", "get_output_embeddings"):
            module = getattr(model, getter)() if callable(getattr(model, getter, None)) else None
            if module is not None and getattr(module, "weight", None) is not None:
                embeddings[id(module.weight)] = module.weight.numel()
        total -= sum(embeddings.values())
    return total


@dataclass
class ComputeMeter:
    """Running FLOP count of one training run, in the paper's accounting.

    `train_tokens` counts the tokens that went through a forward + backward pass, `inference_tokens` those of
    forward-only passes (generation, old log-probs, values); [`metrics`] gives the values to log. `initial_flops` carries the compute already spent on the starting checkpoint (the Init's SFT), so
    SFT and RL curves that start from the same Init share one x-axis.

    Args:
        n_params (`int`):
            Parameter count `N` (see [`count_parameters`]).
        initial_flops (`float`, *optional*, defaults to `0.0`):
            FLOPs spent before this run (`6·N·D_init` for runs that start from Init).
        train_tokens (`int`, *optional*, defaults to `0`):
            Tokens trained on so far.
        inference_tokens (`int`, *optional*, defaults to `0`):
            Tokens processed by forward-only passes so far.

    >>> ComputeMeter(n_params=1_000_000, train_tokens=500, inference_tokens=1_000).metrics()["flops/total"]
    5000000000.0
    """

    n_params: int
    initial_flops: float = 0.0
    train_tokens: int = 0
    inference_tokens: int = 0

    def __post_init__(self) -> None:
        if self.n_params <= 0:
            raise ValueError(f"ComputeMeter.n_params must be a positive parameter count, got {self.n_params!r}.")
        for name in ("initial_flops", "train_tokens", "inference_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"ComputeMeter.{name} must be ≥ 0, got {getattr(self, name)!r}.")

    @property
    def train_flops(self) -> float:
        """FLOPs of this run's training passes, `6·N·D_train`."""
        return training_flops(self.n_params, self.train_tokens)

    @property
    def inference_flops(self) -> float:
        """FLOPs of this run's forward-only passes, `2·N·D_inference`."""
        return inference_flops(self.n_params, self.inference_tokens)

    @property
    def total_flops(self) -> float:
        """`initial_flops` + training + inference FLOPs."""
        return self.initial_flops + self.train_flops + self.inference_flops

    @property
    def total_gflops(self) -> float:
        """[`total_flops`] in GFLOPs."""
        return to_gflops(self.total_flops)

    def metrics(self) -> dict[str, float]:
        """Values to log: `flops/total`, `flops/train`, `flops/inference` (FLOPs) and `flops/total_gflops`."""
        return {
            "flops/total": self.total_flops,
            "flops/train": self.train_flops,
            "flops/inference": self.inference_flops,
            "flops/total_gflops": self.total_gflops,
        }
