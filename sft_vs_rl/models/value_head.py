"""The PPO critic: an MLP value head on the shared backbone's last hidden state (paper: 4096→1024→512→1, ReLU).

The paper's `VLMValue` reads the last-layer hidden state at the last prompt token of the same forward pass that
gives the policy log-probs (reference/sftvsrl_spec.md §3.2); `sft_vs_rl.trainers.multiturn_ppo_trainer.add_ppo_forward`
runs that pass. A head is saved as `value_head.safetensors` + `value_head_config.json` ([`ValueHead.save_pretrained`]),
beside the policy in every PPO checkpoint, and loaded with [`ValueHead.from_pretrained`].
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "VALUE_HEAD_CONFIG_NAME",
    "VALUE_HEAD_WEIGHTS_NAME",
    "ValueHead",
    "default_value_head_widths",
]

VALUE_HEAD_WEIGHTS_NAME = "value_head.safetensors"
VALUE_HEAD_CONFIG_NAME = "value_head_config.json"


def default_value_head_widths(hidden_size: int) -> tuple[int, ...]:
    """Return the hidden widths of the value MLP for a backbone of `hidden_size`.

    `(min(1024, 4 * hidden_size), min(512, 2 * hidden_size))`: exactly the paper's 1024 and 512 for any backbone of
    width 256 or more (the 11B model has 4096), and 4× / 2× the width for tiny backbones, whose hidden size is
    smaller than 1024 (hidden 128 → 512, 256; about 0.2 M parameters).

    >>> default_value_head_widths(4096), default_value_head_widths(128)
    ((1024, 512), (512, 256))
    """
    if not isinstance(hidden_size, int) or hidden_size < 1:
        raise ValueError(f"`hidden_size` must be a positive int, got {hidden_size!r}.")
    return (min(1024, 4 * hidden_size), min(512, 2 * hidden_size))


class ValueHead(nn.Module):
    """MLP `hidden_size → widths[0] → ReLU → … → 1` mapping a hidden state to a scalar value.

    Args:
        hidden_size (`int`):
            Width of the backbone's hidden states (`model.config.get_text_config().hidden_size`).
        widths (`tuple[int, ...]`, *optional*):
            Hidden widths; defaults to [`default_value_head_widths`] (paper: `(1024, 512)`).
        seed (`int`, *optional*):
            Seed of the (PyTorch default) initialisation; the global torch RNG is restored afterwards. Without it the
            global RNG draws the weights.

    Example:

    ```python
    >>> head = ValueHead(128, seed=0)
    >>> head(torch.zeros(3, 128)).shape
    torch.Size([3])

    ```
    """

    def __init__(self, hidden_size: int, widths: tuple[int, ...] | None = None, *, seed: int | None = None):
        super().__init__()
        widths = tuple(default_value_head_widths(hidden_size) if widths is None else widths)
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"`widths` must be positive ints, got {widths!r}.")
        self.hidden_size, self.widths = hidden_size, widths
        sizes = (hidden_size, *widths)
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                layers += [nn.Linear(n_in, n_out), nn.ReLU()]
            layers.append(nn.Linear(sizes[-1], 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Map `(..., hidden_size)` hidden states to `(...)` values (computed in the head's dtype)."""
        return self.mlp(hidden_states.to(self.mlp[0].weight.dtype)).squeeze(-1)

    @property
    def config(self) -> dict[str, Any]:
        return {"hidden_size": self.hidden_size, "widths": list(self.widths)}

    def save_pretrained(self, save_directory: str | Path, state_dict: Mapping[str, torch.Tensor] | None = None) -> None:
        """Write `value_head.safetensors` and `value_head_config.json` into `save_directory` (created if needed).

        Args:
            save_directory (`str` or `Path`): folder to write into (a trainer checkpoint folder works).
            state_dict (`Mapping[str, torch.Tensor]`, *optional*): weights to write instead of `self.state_dict()`,
                with the head's own keys (`mlp.0.weight`, ...): the gathered weights of a sharded run (ZeRO-3, FSDP),
                as in `PreTrainedModel.save_pretrained`.
        """
        from safetensors.torch import save_file

        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = self.state_dict() if state_dict is None else state_dict
        state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        save_file(state, str(directory / VALUE_HEAD_WEIGHTS_NAME), metadata={"format": "pt"})
        (directory / VALUE_HEAD_CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ValueHead:
        """Load a head written by [`ValueHead.save_pretrained`] (a PPO trainer checkpoint or output folder holds one).

        >>> ValueHead(8, (4,), seed=0).save_pretrained(tmp_path)  # doctest: +SKIP
        >>> ValueHead.from_pretrained(tmp_path).widths  # doctest: +SKIP
        (4,)
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        for name in (VALUE_HEAD_CONFIG_NAME, VALUE_HEAD_WEIGHTS_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(
                    f"No {name} in {str(directory)!r}; was the value head saved with `ValueHead.save_pretrained` "
                    "(as `MultiTurnVerifierPPOTrainer` does in every checkpoint) there?"
                )
        config = json.loads((directory / VALUE_HEAD_CONFIG_NAME).read_text(encoding="utf-8"))
        head = cls(config["hidden_size"], tuple(config["widths"]))
        head.load_state_dict(load_file(str(directory / VALUE_HEAD_WEIGHTS_NAME)))
        return head
