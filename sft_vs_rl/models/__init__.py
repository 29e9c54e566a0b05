"""Tiny offline models (Llama / Mllama built from a config, BPE tokenizer trained on task text), the PPO value head,
the one model loader and checkpoint bookkeeping.

>>> from sft_vs_rl.models import build_tiny_model
>>> model, processor = build_tiny_model("mllama", "tiny")  # doctest: +SKIP
"""

from sft_vs_rl.models.checkpoint import CheckpointCompute, count_checkpoint_parameters, read_checkpoint_compute
from sft_vs_rl.models.corpus import corpus_fingerprint, default_corpus
from sft_vs_rl.models.loading import load_model
from sft_vs_rl.models.tiny import KINDS, TINY_PRESETS, TinyModelPreset, build_tiny_model, preset_with, resolve_preset
from sft_vs_rl.models.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer
from sft_vs_rl.models.value_head import ValueHead, default_value_head_widths

__all__ = [
    "CHAT_TEMPLATE",
    "CheckpointCompute",
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
    "resolve_preset",
]
