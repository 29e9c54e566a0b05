"""Checkpoint bookkeeping read from public files only: parameter counts from safetensors headers, step and compute
from `trainer_state.json`.

Both trainers log their compute into the Trainer's `log_history` (`trainer_state.json`, saved in every
`checkpoint-N/`): `SFTComputeCallback` logs `flops/total` (its `initial_flops` included); the PPO trainer logs
`flops/total` (rollout + training, its own run only: add the Init's compute yourself) and `env/episodes_total`.
Nothing here loads weights.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from sft_vs_rl.compute import to_gflops
from sft_vs_rl.models.value_head import VALUE_HEAD_WEIGHTS_NAME

__all__ = ["CheckpointCompute", "count_checkpoint_parameters", "read_checkpoint_compute"]

_TRAINER_STATE = "trainer_state.json"  # transformers.trainer_callback.TRAINER_STATE_NAME (a heavy import for a name)
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the safetensors format caps its JSON header at 100 MB


@dataclass(frozen=True)
class CheckpointCompute:
    """What a Trainer checkpoint's `trainer_state.json` says about its training so far.

    Args:
        step (`int`, *optional*): `global_step`.
        flops (`float`, *optional*): the last logged `flops/total`, in FLOPs.
        episodes (`float`, *optional*): the last logged `env/episodes_total` (episodes finished by the PPO rollout;
            `None` for SFT checkpoints).

    Each field is `None` when the file or the entry is absent.
    """

    step: int | None = None
    flops: float | None = None
    episodes: float | None = None

    @property
    def gflops(self) -> float | None:
        """[`flops`] in GFLOPs, the unit of the results files."""
        return None if self.flops is None else to_gflops(self.flops)


def read_checkpoint_compute(checkpoint_dir: str | Path) -> CheckpointCompute:
    """Step, compute and finished episodes of a Trainer checkpoint (or final output folder), from `trainer_state.json`.

    The values are the last `flops/total` and `env/episodes_total` in `log_history`, as logged by
    [`SFTComputeCallback`] or the PPO trainer (which logs every cumulative counter at every logging step, so a
    checkpoint's last entry is its compute at the save).

    >>> read_checkpoint_compute("no/such/folder")
    CheckpointCompute(step=None, flops=None, episodes=None)
    """
    path = Path(checkpoint_dir) / _TRAINER_STATE
    if not path.is_file():
        return CheckpointCompute()
    state = json.loads(path.read_text(encoding="utf-8"))
    history = state.get("log_history", [])
    flops = [entry["flops/total"] for entry in history if "flops/total" in entry]
    episodes = [entry["env/episodes_total"] for entry in history if "env/episodes_total" in entry]
    return CheckpointCompute(
        step=state.get("global_step"),
        flops=float(flops[-1]) if flops else None,
        episodes=float(episodes[-1]) if episodes else None,
    )


def count_checkpoint_parameters(checkpoint_dir: str | Path, *, include_value_head: bool = True) -> int:
    """Count the parameters stored in a checkpoint's `*.safetensors` files without loading any weights.

    Reads only each file's JSON header (tensor shapes). Tied weights are stored once by `save_pretrained`, so they
    count once. A PEFT checkpoint holds only its adapter weights, so only those are counted.

    Args:
        checkpoint_dir (`str` or `Path`):
            Folder holding the `*.safetensors` files.
        include_value_head (`bool`, *optional*, defaults to `True`):
            Count the PPO value head (`value_head.safetensors`) too.

    Raises:
        `FileNotFoundError`: the folder holds no `*.safetensors` file.
        `ValueError`: a file is not a valid safetensors file.
    """
    files = sorted(Path(checkpoint_dir).glob("*.safetensors"))
    if not include_value_head:
        files = [f for f in files if f.name != VALUE_HEAD_WEIGHTS_NAME]
    if not files:
        raise FileNotFoundError(
            f"count_checkpoint_parameters: no *.safetensors file in {str(checkpoint_dir)!r}; save the model with "
            "`save_pretrained(..., safe_serialization=True)`."
        )
    total = 0
    for path in files:
        with open(path, "rb") as handle:
            raw = handle.read(8)
            if len(raw) != 8:
                raise ValueError(f"{path}: too short to be a safetensors file.")
            (length,) = struct.unpack("<Q", raw)
            if length > _MAX_SAFETENSORS_HEADER:
                raise ValueError(f"{path}: safetensors header length {length} exceeds the format's 100 MB cap.")
            header = json.loads(handle.read(length))
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            count = 1
            for dim in entry["shape"]:
                count *= int(dim)
            total += count
    return total
