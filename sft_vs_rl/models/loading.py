"""The one model loader: `(model, processor)` from a tiny spec, a checkpoint folder, a Hub id or a PEFT adapter folder.

The recipes, the evaluation runner and the study all load through [`load_model`], so a checkpoint is read the same way
for training and for evaluation:

* `tiny:<kind>[:<preset>]` (`tiny:llama`, `tiny:mllama:nano`): `build_tiny_model(kind, preset, seed=seed)`, built
  offline;
* a checkpoint folder or a Hub id: `from_pretrained`, image-text models (Mllama, …) as `AutoModelForImageTextToText`
  with their `AutoProcessor`, text models as `AutoModelForCausalLM` with their `AutoTokenizer`;
* a PEFT adapter folder (`adapter_config.json`, no `config.json`): its base model, loaded as above, with the adapters
  merged in, and the processor saved beside the adapters.

Every processor pads on `padding_side` (generation needs `"left"`, the default) and has a pad token: Llama-3.2
checkpoints ship none, so the reserved `<|finetune_right_pad_id|>` is set, or the end-of-sequence token for a
vocabulary without it. transformers and peft are imported on first use, so `import sft_vs_rl.models` stays as cheap
as it was.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["LLAMA_PAD_TOKEN", "TINY_PREFIX", "is_image_text", "load_model", "parse_tiny_spec", "tokenizer_of"]

TINY_PREFIX = "tiny:"
"""Prefix of a tiny offline model spec, `tiny:<kind>[:<preset>]` (see `sft_vs_rl.models.build_tiny_model`)."""

LLAMA_PAD_TOKEN = "<|finetune_right_pad_id|>"
"""Llama-3's reserved fine-tuning pad token, set as the pad token of tokenizers that have none."""

_NOT_A_MODEL_HINT = (
    "Name a checkpoint folder (one holding config.json, or a PEFT adapter_config.json), a Hub model id such as "
    "'meta-llama/Llama-3.2-11B-Vision-Instruct', or `tiny:llama` / `tiny:mllama:nano` to build a tiny model offline."
)


def parse_tiny_spec(name: str) -> tuple[str, str]:
    """`"tiny:<kind>[:<preset>]"` → `(kind, preset)`; the preset defaults to `"tiny"`.

    >>> parse_tiny_spec("tiny:llama"), parse_tiny_spec("tiny:mllama:nano")
    (('llama', 'tiny'), ('mllama', 'nano'))
    """
    parts = name[len(TINY_PREFIX) :].split(":") if name.startswith(TINY_PREFIX) else []
    if len(parts) not in (1, 2) or not parts[0]:
        raise ValueError(
            f"`model_name_or_path` is {name!r}; a tiny model spec reads `tiny:<kind>` or `tiny:<kind>:<preset>`, "
            "e.g. `tiny:llama` or `tiny:mllama:nano`."
        )
    return parts[0], parts[1] if len(parts) == 2 else "tiny"


def load_model(
    model_name_or_path: str | Path,
    *,
    padding_side: str = "left",
    dtype: Any = "auto",
    device: Any = "auto",
    revision: str | None = None,
    attn_implementation: str | None = None,
    seed: int = 0,
) -> tuple[Any, Any]:
    """Load a model and its tokenizer / processor, ready to generate or to hand to a Trainer.

    Args:
        model_name_or_path (`str` or `Path`):
            `tiny:<kind>[:<preset>]` (built offline with [`build_tiny_model`]), a checkpoint folder, a Hub model id,
            or a PEFT adapter folder (merged into its base model).
        padding_side (`str`, *optional*, defaults to `"left"`):
            Padding side of the tokenizer; batched generation needs `"left"`.
        dtype (`str` or `torch.dtype`, *optional*, defaults to `"auto"`):
            `"auto"` keeps the saved dtype; a name such as `"bfloat16"` or a `torch.dtype` converts; `None` uses
            transformers' default. Tiny models are built in float32 whatever is asked.
        device (`str` or `torch.device`, *optional*, defaults to `"auto"`):
            `"auto"` moves the model to accelerate's device (`PartialState().device`); `None` leaves it where it was
            loaded (on the CPU), for a Trainer to place; anything else is passed to `model.to`.
        revision (`str`, *optional*):
            Hub revision (branch, tag or commit) of the model and its processor.
        attn_implementation (`str`, *optional*):
            Attention implementation passed to `from_pretrained` (e.g. `"sdpa"`).
        seed (`int`, *optional*, defaults to `0`):
            Weight initialisation seed of a tiny model.

    Returns:
        `tuple`: `(model, processor)`, the model in eval mode (a Trainer switches it to train mode).

    Raises:
        `ValueError`: `model_name_or_path` is empty, a malformed tiny spec, or neither a model folder nor a Hub id.

    Example:

    ```python
    >>> model, tokenizer = load_model("tiny:llama:nano", device=None)
    >>> tokenizer.padding_side, tokenizer.pad_token
    ('left', '<|finetune_right_pad_id|>')

    ```
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"`padding_side` is {padding_side!r}; choose 'left' (generation) or 'right'.")
    name = str(model_name_or_path)
    if not name:
        raise ValueError(
            "`model_name_or_path` is not set; name a checkpoint folder, a Hub id, or a tiny offline model such as "
            "`tiny:llama`."
        )
    if name.startswith(TINY_PREFIX):
        from sft_vs_rl.models.tiny import build_tiny_model

        kind, preset = parse_tiny_spec(name)
        model, processor = build_tiny_model(kind, preset, seed=seed)
    else:
        folder = Path(name)
        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            model, processor = _load_merged_adapter(folder, dtype=dtype, revision=revision,
                                                    attn_implementation=attn_implementation, seed=seed)
        else:
            model, processor = _from_pretrained(name, dtype=dtype, revision=revision,
                                                attn_implementation=attn_implementation)
    _prepare_tokenizer(tokenizer_of(processor), padding_side)
    if device == "auto":
        from accelerate import PartialState

        device = PartialState().device
    if device is not None:
        model.to(device)
    return model.eval(), processor


def is_image_text(config) -> bool:
    """Whether a config (or a `model_type` string) belongs to an image-text-to-text model (Mllama, Qwen2-VL, …)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    model_type = config if isinstance(config, str) or config is None else config.model_type
    return model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _looks_like_hub_id(name: str) -> bool:
    """`name` or `org/name` of letters, digits, `-`, `_`, `.` (huggingface_hub's repo id rule), not a path."""
    return re.fullmatch(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*", name) is not None and ".." not in name


def _not_a_model(name: str) -> str:
    """Why `name` is neither a model folder nor a loadable Hub id: which of the two it looks like, and the fix."""
    folder = Path(name)
    if folder.is_dir():
        held = sorted(p.name for p in folder.iterdir())[:8]
        checkpoints = sorted(p.name for p in folder.glob("checkpoint-*"))
        more = f" It holds Trainer checkpoints {checkpoints}: name one of them." if checkpoints else ""
        return (f"`model_name_or_path` is {name!r}, a folder without config.json or adapter_config.json (it holds "
                f"{held}), so not a saved model.{more} {_NOT_A_MODEL_HINT}")
    if folder.exists():
        return f"`model_name_or_path` is {name!r}, a file, not a model folder. {_NOT_A_MODEL_HINT}"
    if not _looks_like_hub_id(name):
        return (f"`model_name_or_path` is {name!r}: no such folder (and not a Hub id, which reads ORG/NAME). If an "
                "earlier step writes it (the SFT recipe writes the checkpoint the RL recipe starts from; a study "
                f"writes base/ and init/), run that step first. {_NOT_A_MODEL_HINT}")
    from huggingface_hub import constants

    offline = " (HF_HUB_OFFLINE=1 is set)" if constants.HF_HUB_OFFLINE else ""
    return (f"`model_name_or_path` is {name!r}: no such local folder, and as a Hub model id it cannot be loaded here"
            f"{offline}: the Hub is unreachable or the id does not exist, and it is not in the local cache. Download "
            f"it where the Hub is reachable (`hf download {name}`), or {_NOT_A_MODEL_HINT[0].lower()}"
            f"{_NOT_A_MODEL_HINT[1:]}")


def _from_pretrained(name: str, *, dtype: Any, revision: str | None, attn_implementation: str | None):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer

    from sft_vs_rl.models.processors import load_processor

    try:
        config = AutoConfig.from_pretrained(name, revision=revision)
    except (OSError, ValueError) as err:
        raise ValueError(_not_a_model(name)) from err
    if isinstance(dtype, str) and dtype != "auto":
        dtype = getattr(torch, dtype)
    kwargs: dict[str, Any] = {"revision": revision, "dtype": dtype}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    image_text = is_image_text(config)
    try:
        if image_text:
            processor = load_processor(name, config.model_type, revision=revision)
        else:
            processor = AutoTokenizer.from_pretrained(name, revision=revision)
    except (OSError, ValueError, TypeError, KeyError) as err:
        what = "processor (preprocessor_config.json, tokenizer files)" if image_text else "tokenizer (tokenizer.json)"
        raise ValueError(
            f"`model_name_or_path` is {name!r}: it holds a model (config.json) but no {what} that loads. Save the "
            "processor beside the weights, `processor.save_pretrained(folder)` (the recipes and the study do), or "
            "copy it from the run's output folder."
        ) from err
    model_cls = AutoModelForImageTextToText if image_text else AutoModelForCausalLM
    return model_cls.from_pretrained(name, **kwargs), processor


def _load_merged_adapter(folder: Path, *, seed: int, **kwargs: Any):
    """A LoRA output folder (e.g. a `*_lora.yaml` SFT run): its base model with the adapters merged in."""
    from peft import PeftConfig, PeftModel
    from transformers import AutoTokenizer

    from sft_vs_rl.models.processors import load_processor

    base_name = PeftConfig.from_pretrained(str(folder)).base_model_name_or_path
    if not base_name:
        raise ValueError(
            f"`model_name_or_path` is {str(folder)!r}, a PEFT adapter folder whose adapter_config.json names no "
            "`base_model_name_or_path` (adapters trained on an in-memory `tiny:` model). Train without --use_peft, "
            "or merge the adapters into a saved base model first."
        )
    base, _ = load_model(base_name, device=None, seed=seed, **kwargs)
    model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
    # The recipes save the processor (tokenizer and chat template as trained) beside the adapters.
    if is_image_text(model.config):
        return model, load_processor(str(folder), model.config.model_type)
    return model, AutoTokenizer.from_pretrained(str(folder))


def tokenizer_of(processor):
    """The tokenizer of a processor, or the tokenizer itself."""
    from transformers import ProcessorMixin

    return processor.tokenizer if isinstance(processor, ProcessorMixin) else processor


def _prepare_tokenizer(tokenizer, padding_side: str) -> None:
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is not None:
        return
    # Llama-3.2 checkpoints ship no pad token; the reserved fine-tune pad token is the usual choice.
    if LLAMA_PAD_TOKEN in tokenizer.get_vocab():
        tokenizer.pad_token = LLAMA_PAD_TOKEN
    elif tokenizer.eos_token is not None:
        logger.info("The tokenizer has no pad token and no %s; padding with its eos token %r.", LLAMA_PAD_TOKEN,
                    tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    else:
        raise ValueError(
            f"The tokenizer has no pad token, no {LLAMA_PAD_TOKEN} and no eos token to pad with; set "
            "`tokenizer.pad_token` before saving the checkpoint."
        )
