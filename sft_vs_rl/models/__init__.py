"""Tiny offline models (Llama / Mllama built from a config, BPE tokenizer trained on task text) and the PPO value head.

>>> from sft_vs_rl.models import build_tiny_model
>>> model, processor = build_tiny_model("mllama", "tiny")  # doctest: +SKIP
"""

from sft_vs_rl.models.corpus import corpus_fingerprint, default_corpus
from sft_vs_rl.models.tiny import KINDS, TINY_PRESETS, TinyModelPreset, build_tiny_model, preset_with, resolve_preset
from sft_vs_rl.models.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer
from sft_vs_rl.models.value_head import ValueHead, default_value_head_widths

__all__ = [
    "CHAT_TEMPLATE",
    "KINDS",
    "SPECIAL_TOKENS",
    "TINY_PRESETS",
    "TinyModelPreset",
    "ValueHead",
    "build_tiny_model",
    "build_tokenizer",
    "corpus_fingerprint",
    "default_corpus",
    "default_value_head_widths",
    "preset_with",
    "resolve_preset",
]
