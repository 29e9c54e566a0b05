"""The PPO critic: an MLP value head on the shared backbone's last hidden state (paper: 4096→1024→512→1, ReLU).

The paper's `VLMValue` reads the last-layer hidden state at the last prompt token of the same forward pass that
gives the policy log-probs (reference/sftvsrl_spec.md §3.2). `forward_with_hidden_states` runs that forward pass
(`output_hidden_states=True`) and returns the outputs together with the last-layer hidden states, for
`LlamaForCausalLM` and `MllamaForConditionalGeneration` alike (also under PEFT / DDP wrappers, which pass the
keyword through); `gather_positions` then picks one position per row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "VALUE_HEAD_CONFIG_NAME",
    "VALUE_HEAD_WEIGHTS_NAME",
    "ValueHead",
    "default_value_head_widths",
    "forward_with_hidden_states",
    "gather_positions",
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

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write `value_head.safetensors` and `value_head_config.json` into `save_directory` (created if needed)."""
        from safetensors.torch import save_file

        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / VALUE_HEAD_WEIGHTS_NAME), metadata={"format": "pt"})
        (directory / VALUE_HEAD_CONFIG_NAME).write_text(json.dumps(self.config, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ValueHead:
        """Load a head written by [`ValueHead.save_pretrained`]."""
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path = directory / VALUE_HEAD_CONFIG_NAME
        if not config_path.is_file():
            raise FileNotFoundError(
                f"No {VALUE_HEAD_CONFIG_NAME} in {str(directory)!r}; was the value head saved with "
                "`ValueHead.save_pretrained` there?"
            )
        config = json.loads(config_path.read_text(encoding="utf-8"))
        head = cls(config["hidden_size"], tuple(config["widths"]))
        head.load_state_dict(load_file(str(directory / VALUE_HEAD_WEIGHTS_NAME)))
        return head


def forward_with_hidden_states(model: nn.Module, **inputs: Any) -> tuple[Any, torch.Tensor]:
    """Run `model(**inputs, output_hidden_states=True)` and return `(outputs, last_hidden_states)`.

    Works for `LlamaForCausalLM` and `MllamaForConditionalGeneration` (pass `pixel_values`, `aspect_ratio_ids`,
    `aspect_ratio_mask`, `cross_attention_mask` for the latter), and for wrapped models. The returned hidden states
    are `outputs.hidden_states[-1]`, shape `(batch, seq_len, hidden_size)`. In transformers 5.23 this is the
    normed output of the text stack (after the final RMSNorm, the lm_head's input) for both classes, equal to
    `model.model(...).last_hidden_state` (a test checks it). The
    logits in `outputs` are the usual ones, so one pass serves both the policy and the critic, as in the paper.
    Do not pass TRL's `fused_lm_head=True`: its output has no hidden states.
    """
    outputs = model(**inputs, output_hidden_states=True, use_cache=False)
    hidden_states = getattr(outputs, "hidden_states", None)
    if not hidden_states:
        raise ValueError(
            f"{type(model).__name__} returned no hidden states with `output_hidden_states=True`; the value head "
            "needs a model whose forward supports it (LlamaForCausalLM, MllamaForConditionalGeneration)."
        )
    return outputs, hidden_states[-1]


def gather_positions(hidden_states: torch.Tensor, positions: torch.Tensor | int) -> torch.Tensor:
    """Pick one position per row: `(batch, seq_len, hidden)`, `(batch,)` → `(batch, hidden)`.

    With left-padded prompts the last prompt token of every row is at `prompt_length - 1` (an int).

    >>> h = torch.arange(12.0).reshape(2, 3, 2)
    >>> gather_positions(h, torch.tensor([0, 2])).tolist()
    [[0.0, 1.0], [10.0, 11.0]]
    """
    batch, seq_len, _ = hidden_states.shape
    if isinstance(positions, int):
        positions = torch.full((batch,), positions, dtype=torch.long, device=hidden_states.device)
    positions = positions.to(device=hidden_states.device, dtype=torch.long)
    if positions.shape != (batch,) or bool(((positions < 0) | (positions >= seq_len)).any()):
        raise ValueError(f"`positions` must be {batch} indices in [0, {seq_len}), got {positions.tolist()}.")
    return hidden_states[torch.arange(batch, device=hidden_states.device), positions]
