"""An offline byte-level BPE tokenizer with the Llama-3 special tokens and a Llama-3.2-Vision-style chat template."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from sft_vs_rl.models.corpus import corpus_fingerprint, default_corpus

logger = logging.getLogger(__name__)

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tokenizer", "chat_template"]

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

# Trained tokenizers (JSON) by (corpus fingerprint, vocab size): BPE training is deterministic, so caching only
# saves time (tests build many models).
_TRAINED: dict[tuple[str, int], str] = {}


@cache
def chat_template() -> str:
    """Return the chat template of the tiny models (`sft_vs_rl/models/chat_template.jinja`).

    It is Llama-3.2-11B-Vision-Instruct's template with `{% generation %}` markers around assistant output, list
    content rendered for every role, and a fixed default date; see the comment at the top of the file.
    """
    return (Path(__file__).parent / "chat_template.jinja").read_text(encoding="utf-8")


CHAT_TEMPLATE = chat_template()


def _train(texts: list[str], vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 1,  # the image token is added after training
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    tokenizer.add_special_tokens([IMAGE_TOKEN])
    bos = SPECIAL_TOKENS[0]
    # Like Llama-3's tokenizer: plain `tokenizer(text)` prepends <|begin_of_text|>. Chat templates write the BOS
    # themselves and are tokenized with `add_special_tokens=False`.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
    )
    return tokenizer.to_str()


def build_tokenizer(corpus: Iterable[str] | None = None, *, vocab_size: int = 1024, padding_side: str = "left"):
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

    min_size = len(SPECIAL_TOKENS) + 256 + 1
    if not isinstance(vocab_size, int) or vocab_size < min_size:
        raise ValueError(
            f"`vocab_size` must be an int of at least {min_size} (special tokens + 256 byte symbols + <|image|>), "
            f"got {vocab_size!r}."
        )
    if padding_side not in ("left", "right"):
        raise ValueError(f"`padding_side` must be 'left' or 'right', got {padding_side!r}.")
    texts = default_corpus() if corpus is None else list(corpus)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("`corpus` must be a non-empty iterable of `str`.")
    key = (corpus_fingerprint(texts), vocab_size)
    if key not in _TRAINED:
        _TRAINED[key] = _train(texts, vocab_size)
        logger.info("Trained a byte-level BPE tokenizer: %d texts, vocab_size<=%d.", len(texts), vocab_size)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_TRAINED[key]),
        bos_token=SPECIAL_TOKENS[0],
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        padding_side=padding_side,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
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
