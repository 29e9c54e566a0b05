"""Tiny offline models (Llama / Mllama built from a config, BPE tokenizer trained on task text), the PPO value head,
the one model loader and checkpoint bookkeeping.

Names are imported lazily, so `sft_vs_rl.models.loading` (the `tiny:` spec, `tokenizer_of`) imports without torch
until a model is asked for.

>>> from sft_vs_rl.models import build_tiny_model
>>> model, processor = build_tiny_model("mllama", "tiny")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY_EXPORTS = {
    "CheckpointCompute": "checkpoint",
    "CheckpointRecord": "record",
    "read_checkpoint_record": "record",
    "write_checkpoint_record": "record",
    "count_checkpoint_parameters": "checkpoint",
    "read_checkpoint_compute": "checkpoint",
    "corpus_fingerprint": "corpus",
    "default_corpus": "corpus",
    "load_model": "loading",
    "KINDS": "tiny",
    "TINY_PRESETS": "tiny",
    "TinyModelPreset": "tiny",
    "build_tiny_model": "tiny",
    "preset_with": "tiny",
    "resolve_preset": "tiny",
    "CHAT_TEMPLATE": "tokenizer",
    "SPECIAL_TOKENS": "tokenizer",
    "build_tokenizer": "tokenizer",
    "ValueHead": "value_head",
    "default_value_head_widths": "value_head",
}

__all__ = [
    "CHAT_TEMPLATE",
    "CheckpointCompute",
    "CheckpointRecord",
    "KINDS",
    "SPECIAL_TOKENS",
    "TINY_PRESETS",
    "TinyModelPreset",
    "ValueHead",
    "build_tiny_model",
    "build_tokenizer",
    "corpus_fingerprint",
    "count_checkpoint_parameters",
    "default_corpus",
    "default_value_head_widths",
    "load_model",
    "preset_with",
    "read_checkpoint_compute",
    "read_checkpoint_record",
    "resolve_preset",
    "write_checkpoint_record",
]

if TYPE_CHECKING:
    from sft_vs_rl.models.checkpoint import CheckpointCompute, count_checkpoint_parameters, read_checkpoint_compute
    from sft_vs_rl.models.corpus import corpus_fingerprint, default_corpus
    from sft_vs_rl.models.loading import load_model
    from sft_vs_rl.models.record import CheckpointRecord, read_checkpoint_record, write_checkpoint_record
    from sft_vs_rl.models.tiny import (
        KINDS,
        TINY_PRESETS,
        TinyModelPreset,
        build_tiny_model,
        preset_with,
        resolve_preset,
    )
    from sft_vs_rl.models.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer
    from sft_vs_rl.models.value_head import ValueHead, default_value_head_widths


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(f"sft_vs_rl.models.{_LAZY_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'sft_vs_rl.models' has no attribute {name!r}")
