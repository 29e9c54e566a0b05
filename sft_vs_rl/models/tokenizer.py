"""An offline byte-level BPE tokenizer with a model family's special tokens and chat template.

`"llama"` (the default): the Llama-3 special tokens and a Llama-3.2-Vision-style template; `"qwen2_vl"`: Qwen2-VL /
Qwen2.5-VL's ChatML tokens (`<|im_start|>`, `<|im_end|>`, `<|vision_start|>`, `<|image_pad|>`, ...) and template;
`"gemma3"`: Gemma 3's turn and image tokens and template.
Each family's facts live in one `TokenizerFamily` row of `TOKENIZER_FAMILIES`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sft_vs_rl.models.corpus import corpus_fingerprint, default_corpus

logger = logging.getLogger(__name__)

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "TOKENIZER_FAMILIES", "TokenizerFamily", "build_tokenizer", "chat_template"]

SPECIAL_TOKENS = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|finetune_right_pad_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
)
"""Llama-3 special tokens, ids 0-7 in this order; `<|image|>` is added last, as in Llama-3.2-Vision."""

IMAGE_TOKEN = "<|image|>"


@dataclass(frozen=True)
class TokenizerFamily:
    """The special tokens and chat template of one model family.

    Args:
        special_tokens (`tuple[str, ...]`): special tokens with the lowest ids, in this order.
        image_token (`str`): the per-image token, added after BPE training (the last id).
        bos_token (`str` or `None`): prepended to plain text (Llama-3 does, Qwen does not).
        eos_token (`str`): end of an assistant turn (generation stops there).
        pad_token (`str`): padding.
        template_file (`str`): chat template, a file next to this module.
        extra_tokens (`dict[str, str]`): more named special tokens the family's processor reads off the tokenizer
            (Gemma 3's `boi_token` / `eoi_token`).
    """

    special_tokens: tuple[str, ...]
    image_token: str
    bos_token: str | None
    eos_token: str
    pad_token: str
    template_file: str
    extra_tokens: tuple[tuple[str, str], ...] = ()


TOKENIZER_FAMILIES: dict[str, TokenizerFamily] = {
    "llama": TokenizerFamily(SPECIAL_TOKENS, IMAGE_TOKEN, SPECIAL_TOKENS[0], "<|eot_id|>", "<|finetune_right_pad_id|>",
                             "chat_template.jinja"),
    # Qwen2-VL and Qwen2.5-VL share their tokens (the 7B's tokenizer_config.json); <|image_pad|> is the image token.
    "qwen2_vl": TokenizerFamily(
        ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>"),
        "<|image_pad|>", None, "<|im_end|>", "<|endoftext|>", "chat_template_qwen2_vl.jinja",
    ),
    # Gemma 3: <start_of_image> in the prompt, expanded by the processor to <image_soft_token> x mm_tokens_per_image.
    "gemma3": TokenizerFamily(
        ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>"),
        "<image_soft_token>", "<bos>", "<end_of_turn>", "<pad>", "chat_template_gemma3.jinja",
        extra_tokens=(("boi_token", "<start_of_image>"), ("eoi_token", "<end_of_image>")),
    ),
}

# Trained tokenizers (JSON) by (corpus fingerprint, vocab size): BPE training is deterministic, so caching only
# saves time (tests build many models).
_TRAINED: dict[tuple[str, int, str], str] = {}


@cache
def chat_template(family: str = "llama") -> str:
    """Return the chat template of the tiny models of `family` (`sft_vs_rl/models/chat_template*.jinja`).

    `"llama"`: Llama-3.2-11B-Vision-Instruct's template with `{% generation %}` markers around assistant output, list
    content rendered for every role, and a fixed default date; `"qwen2_vl"`: Qwen2.5-VL-Instruct's ChatML template
    with the same markers. See the comment at the top of each file.
    """
    return (Path(__file__).parent / _family(family).template_file).read_text(encoding="utf-8")


def _family(name: str) -> TokenizerFamily:
    if name not in TOKENIZER_FAMILIES:
        raise ValueError(f"Unknown tokenizer `family` {name!r}; valid values are {sorted(TOKENIZER_FAMILIES)}.")
    return TOKENIZER_FAMILIES[name]


CHAT_TEMPLATE = chat_template()


def _train(texts: list[str], vocab_size: int, family: TokenizerFamily) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,  # the image token is added after training
        special_tokens=list(family.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_special_tokens([family.image_token])
    bos = family.bos_token
    if bos is not None:
        # Like Llama-3's tokenizer: plain `tokenizer(text)` prepends <|begin_of_text|>. Chat templates write the BOS
        # themselves and are tokenized with `add_special_tokens=False`.
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
        )
    return tokenizer.to_str()


def build_tokenizer(
    corpus: Iterable[str] | None = None, *, vocab_size: int = 1024, padding_side: str = "left", family: str = "llama"
):
    """Train a byte-level BPE tokenizer offline and wrap it as a `PreTrainedTokenizerFast`.

    The tokenizer has the Llama-3 special tokens (`<|begin_of_text|>`, `<|end_of_text|>`, `<|finetune_right_pad_id|>`
    (padding), `<|start_header_id|>`, `<|end_header_id|>`, `<|eom_id|>`, `<|eot_id|>` (end of sequence),
    `<|python_tag|>`, and `<|image|>` as the last id), prepends `<|begin_of_text|>` to plain text like Llama-3, and
    carries the chat template of [`chat_template`]. Training is deterministic: the same corpus and `vocab_size` give
    the same vocabulary, and the trained tokenizer is cached in-process.

    Args:
        corpus (`Iterable[str]`, *optional*):
            Training text. Defaults to [`~sft_vs_rl.models.corpus.default_corpus`] (the library's task text).
        vocab_size (`int`, *optional*, defaults to `1024`):
            Largest vocabulary, special tokens included. BPE stops earlier when the corpus has no more pairs to
            merge, so `len(tokenizer)` can be smaller.
        padding_side (`str`, *optional*, defaults to `"left"`):
            `"left"` for generation (TRL's GRPO requires it); collators for training pad on the right themselves.
        family (`str`, *optional*, defaults to `"llama"`):
            Special tokens and chat template (`TOKENIZER_FAMILIES`): `"llama"` as described above, `"qwen2_vl"`
            (ChatML, `<|im_end|>` ends a turn, `<|endoftext|>` pads, `<|image_pad|>` last, no BOS) or `"gemma3"`
            (`<start_of_turn>` / `<end_of_turn>`, role `model`, `<image_soft_token>` last).

    Returns:
        `transformers.PreTrainedTokenizerFast`: a fresh tokenizer object (safe to modify).

    Example:

    ```python
    >>> tok = build_tokenizer(["Cards: ['A', '10', 'K', '5']"], vocab_size=300)
    >>> tok.decode(tok("Cards: ['A', '10']")["input_ids"], skip_special_tokens=True)
    "Cards: ['A', '10']"

    ```
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    spec = _family(family)
    min_size = len(spec.special_tokens) + 256 + 1
    if not isinstance(vocab_size, int) or vocab_size < min_size:
        raise ValueError(
            f"`vocab_size` must be an int of at least {min_size} (special tokens + 256 byte symbols + {spec.image_token}), "
            f"got {vocab_size!r}."
        )
    if padding_side not in ("left", "right"):
        raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}.")
    texts = default_corpus() if corpus is None else list(corpus)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("`corpus` must be a non-empty iterable of `str`.")
    key = (corpus_fingerprint(texts), vocab_size, family)
    if key not in _TRAINED:
        _TRAINED[key] = _train(texts, vocab_size, spec)
        logger.info("Trained a byte-level BPE tokenizer: %d texts, vocab_size<=%d.", len(texts), vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_TRAINED[key]),
        bos_token=spec.bos_token,
        eos_token=spec.eos_token,
        pad_token=spec.pad_token,
        extra_special_tokens={"image_token": spec.image_token, **dict(spec.extra_tokens)},
        padding_side=padding_side,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = chat_template(family)
    if family == "llama":
        _add_tool_call_parser(tokenizer)
    return tokenizer


# Response parser for tool calls, a copy of `trl.chat_template_utils.llama3_template` (TRL 1.16; a test checks they
# stay equal). Our template writes tool calls exactly like TRL's bundled llama3_2.jinja, but TRL recognises bundled
# templates by exact string, so we set the parser ourselves; copied rather than imported because `import trl` takes
# seconds.
LLAMA3_RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "fields": {
        "tool_calls": {
            "open_pattern": '\\{"name":\\s*"(?P<name>[^"]+)",\\s*"parameters":\\s*',
            "close_pattern": "\\}<\\|eot_id\\|>\\s*",
            "repeats": True,
            "content": "json",
            "transform": {"type": "function", "function": {"name": "{name}", "arguments": "{content}"}},
        },
        "content": {"close_pattern": "<\\|eot_id\\|>\\s*", "content": "text"},
    },
}


def _add_tool_call_parser(tokenizer) -> None:
    tokenizer.response_template = LLAMA3_RESPONSE_TEMPLATE
