"""Tiny Llama / Mllama / Qwen2.5-VL models built offline from a config, for CPU runs and tests (DESIGN.md §4).

`build_tiny_model` gives the same architectures as the paper's model (`MllamaForConditionalGeneration`, and
`LlamaForCausalLM` for text-only work) and as the VLM most peers train today (`Qwen2_5_VLForConditionalGeneration`),
with a tokenizer trained offline on task text in the family's own special tokens and chat template (see
`tokenizer.py`) and, for the vision kinds, the family's processor with its PIL image processor (no torchvision) and a
small square image (Mllama: one tile; Qwen2.5-VL: a fixed pixel count, so every image gives the same patch grid).
Nothing is downloaded. The presets live in one table, `TINY_PRESETS`, like minGPT's `model_type` table; the sizes
come from reference/tiny_feasibility.md §2 and §8 (the 1.1 M-parameter Llama learned GeneralPoints in minutes).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sft_vs_rl.models.tokenizer import build_tokenizer

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "TINY_PRESETS", "TinyModelPreset", "build_tiny_model", "preset_with", "resolve_preset"]

KINDS = ("llama", "mllama", "qwen2_5_vl", "gemma3")
"""`"llama"`: `LlamaForCausalLM` + tokenizer; `"mllama"`: `MllamaForConditionalGeneration` + `MllamaProcessor`;
`"qwen2_5_vl"`: `Qwen2_5_VLForConditionalGeneration` + a `Qwen2_5_VLProcessor` without its video processor (see
`processors.py`); `"gemma3"`: `Gemma3ForConditionalGeneration` + `Gemma3Processor`."""


@dataclass(frozen=True)
class TinyModelPreset:
    """Sizes of a tiny model. Text fields apply to every kind; vision fields to Mllama and Qwen2.5-VL (whose vision
    tower has `vision_num_hidden_layers` windowed and `vision_num_global_layers` full-attention blocks, and merges
    2 x 2 patches into one token); `cross_attention_layers` and `vision_intermediate_layers` to Mllama only.

    Args:
        hidden_size (`int`): width of the text model.
        intermediate_size (`int`): MLP width of the text model.
        num_hidden_layers (`int`): self-attention layers of the text model (Mllama adds its cross-attention layers).
        num_attention_heads (`int`): attention heads.
        num_key_value_heads (`int`): key/value heads (grouped-query attention when fewer than the heads).
        cross_attention_layers (`tuple[int, ...]`):
            Mllama: positions of the cross-attention layers in the text stack of
            `num_hidden_layers + len(cross_attention_layers)` layers (the 11B model has one every 5 layers from 3).
        vision_hidden_size (`int`): width of the vision encoder.
        vision_intermediate_size (`int`): MLP width of the vision encoder.
        vision_num_hidden_layers (`int`): local vision layers.
        vision_num_global_layers (`int`): global (gated) vision layers.
        vision_attention_heads (`int`): vision attention heads.
        vision_intermediate_layers (`tuple[int, ...]`):
            Local layers whose outputs are concatenated to the vision output (the 11B model uses 5 of 32).
        image_size (`int`): side of the square tile in pixels; the processor resizes every image to it (1 tile).
        patch_size (`int`): vision patch side in pixels (`image_size` must be a multiple).
        vocab_size (`int`): target BPE vocabulary (the model's `vocab_size` is the trained tokenizer's length).
        max_position_embeddings (`int`): longest sequence (RoPE, so it costs no parameters).
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    cross_attention_layers: tuple[int, ...]
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_num_hidden_layers: int
    vision_num_global_layers: int
    vision_attention_heads: int
    vision_intermediate_layers: tuple[int, ...]
    image_size: int
    patch_size: int
    vocab_size: int = 1024
    max_position_embeddings: int = 4096


TINY_PRESETS: dict[str, TinyModelPreset] = {
    # 0.2 M parameters: pipeline smoke tests (tiny_feasibility.md §8 "smoke").
    "nano": TinyModelPreset(
        hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        cross_attention_layers=(1,), vision_hidden_size=32, vision_intermediate_size=128,
        vision_num_hidden_layers=1, vision_num_global_layers=1, vision_attention_heads=2,
        vision_intermediate_layers=(0,), image_size=32, patch_size=8,
    ),
    # 1.2 M parameters: the CPU study model (tiny_feasibility.md §8 "tiny", h128 L4).
    "tiny": TinyModelPreset(
        hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
        cross_attention_layers=(3,), vision_hidden_size=64, vision_intermediate_size=256,
        vision_num_hidden_layers=2, vision_num_global_layers=1, vision_attention_heads=4,
        vision_intermediate_layers=(0,), image_size=64, patch_size=8,
    ),
    # 5 M parameters: grouped-query attention and two cross-attention layers, like the 11B model.
    "small": TinyModelPreset(
        hidden_size=256, intermediate_size=768, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4,
        cross_attention_layers=(3, 7), vision_hidden_size=128, vision_intermediate_size=512,
        vision_num_hidden_layers=4, vision_num_global_layers=1, vision_attention_heads=4,
        vision_intermediate_layers=(1, 3), image_size=112, patch_size=14,
    ),
}  # fmt: skip


def _choose(value: Any, field: str, valid: Iterable[str]) -> str:
    valid = list(valid)
    if isinstance(value, str) and value in valid:
        return value
    hint = difflib.get_close_matches(str(value), valid, n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ValueError(f"Unknown `{field}` {value!r}; valid values are {valid}.{suggestion}")


def resolve_preset(preset: str | TinyModelPreset) -> TinyModelPreset:
    """Return the `TinyModelPreset` named `preset` (or `preset` itself), checking its geometry.

    >>> resolve_preset("tiny").hidden_size
    128
    """
    if not isinstance(preset, TinyModelPreset):
        preset = TINY_PRESETS[_choose(preset, "preset", TINY_PRESETS)]
    if preset.image_size % preset.patch_size:
        raise ValueError(
            f"`image_size` ({preset.image_size}) must be a multiple of `patch_size` ({preset.patch_size}); "
            "change one with `dataclasses.replace(preset, image_size=...)`."
        )
    layers = preset.num_hidden_layers + len(preset.cross_attention_layers)
    if any(not 0 <= i < layers for i in preset.cross_attention_layers):
        raise ValueError(
            f"`cross_attention_layers` {preset.cross_attention_layers} must index the {layers}-layer Mllama text stack."
        )
    if any(not 0 <= i < preset.vision_num_hidden_layers for i in preset.vision_intermediate_layers):
        raise ValueError(
            f"`vision_intermediate_layers` {preset.vision_intermediate_layers} must index the "
            f"{preset.vision_num_hidden_layers} local vision layers."
        )
    return preset


def _llama_config(preset: TinyModelPreset, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(**_text_fields(preset, tokenizer), tie_word_embeddings=True)


def _text_fields(preset: TinyModelPreset, tokenizer) -> dict[str, Any]:
    """The language model's sizes and special-token ids, as every family's text config names them."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": preset.hidden_size,
        "intermediate_size": preset.intermediate_size,
        "num_hidden_layers": preset.num_hidden_layers,
        "num_attention_heads": preset.num_attention_heads,
        "num_key_value_heads": preset.num_key_value_heads,
        "max_position_embeddings": preset.max_position_embeddings,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _mllama_config(preset: TinyModelPreset, tokenizer):
    from transformers import MllamaConfig

    vision = {
        "hidden_size": preset.vision_hidden_size,
        "intermediate_size": preset.vision_intermediate_size,
        "num_hidden_layers": preset.vision_num_hidden_layers,
        "num_global_layers": preset.vision_num_global_layers,
        "attention_heads": preset.vision_attention_heads,
        "intermediate_layers_indices": list(preset.vision_intermediate_layers),
        # The projector input is the last layer concatenated with the intermediate layers.
        "vision_output_dim": preset.vision_hidden_size * (1 + len(preset.vision_intermediate_layers)),
        "image_size": preset.image_size,
        "patch_size": preset.patch_size,
        "max_num_tiles": 1,
        "supported_aspect_ratios": [[1, 1]],
    }
    # `vocab_size = len(tokenizer)` keeps <|image|> inside the lm_head range (the 11B model puts it one past the end,
    # so a label equal to it crashes the loss; ecosystem_api.md pitfall 7).
    text = {
        **_text_fields(preset, tokenizer),
        "num_hidden_layers": preset.num_hidden_layers + len(preset.cross_attention_layers),
        "cross_attention_layers": list(preset.cross_attention_layers),
    }
    return MllamaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids("<|image|>")
    )


QWEN_MERGE_SIZE = 2
"""Qwen2-VL / Qwen2.5-VL merge 2 x 2 vision patches into one language-model token (the released models' value)."""


def _qwen2_5_vl_config(preset: TinyModelPreset, tokenizer):
    from transformers import Qwen2_5_VLConfig

    if preset.image_size % (preset.patch_size * QWEN_MERGE_SIZE):
        raise ValueError(
            f"Qwen2.5-VL merges {QWEN_MERGE_SIZE} x {QWEN_MERGE_SIZE} patches: `image_size` ({preset.image_size}) must "
            f"be a multiple of {QWEN_MERGE_SIZE} x `patch_size` ({preset.patch_size})."
        )
    depth = preset.vision_num_hidden_layers + preset.vision_num_global_layers
    vision = {
        "depth": depth,
        "hidden_size": preset.vision_hidden_size,
        "intermediate_size": preset.vision_intermediate_size,
        "num_heads": preset.vision_attention_heads,
        "out_hidden_size": preset.hidden_size,
        "patch_size": preset.patch_size,
        "spatial_merge_size": QWEN_MERGE_SIZE,
        "temporal_patch_size": 2,
        # Windows of 2 x 2 merged tokens; the last `vision_num_global_layers` blocks attend over the whole image.
        "window_size": 2 * QWEN_MERGE_SIZE * preset.patch_size,
        "fullatt_block_indexes": list(range(preset.vision_num_hidden_layers, depth)),
    }
    # M-RoPE splits each head's rotary half into (time, height, width) sections; Qwen2.5-VL's 128-dim heads use
    # (16, 24, 24), the same 1 : 1.5 : 1.5 shape is kept here.
    half = preset.hidden_size // preset.num_attention_heads // 2
    t = half // 4
    h = (half - t) // 2
    text = {
        **_text_fields(preset, tokenizer),
        "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [t, h, half - t - h]},
    }
    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLConfig(
        vision_config=vision, text_config=text, image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=True,
    )


def _qwen2_5_vl_processor(preset: TinyModelPreset, tokenizer):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from sft_vs_rl.models.processors import ImageOnlyQwen2_5_VLProcessor

    pixels = preset.image_size * preset.image_size
    # min = max pixels: every image is resized to `image_size` x `image_size` (the GP and V-IRL renders are square).
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels, max_pixels=pixels, patch_size=preset.patch_size, merge_size=QWEN_MERGE_SIZE,
        temporal_patch_size=2,
    )
    return ImageOnlyQwen2_5_VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                        chat_template=tokenizer.chat_template)


GEMMA3_TOKENS_PER_SIDE = 2
"""Tiny Gemma 3: the vision tower's patch grid is average-pooled to 2 x 2 soft tokens per image (the 4B: 16 x 16)."""


def _gemma3_config(preset: TinyModelPreset, tokenizer):
    from transformers import Gemma3Config

    side = preset.image_size // preset.patch_size
    if side % GEMMA3_TOKENS_PER_SIDE:
        raise ValueError(
            f"Gemma 3 pools the {side} x {side} patch grid to {GEMMA3_TOKENS_PER_SIDE} x {GEMMA3_TOKENS_PER_SIDE} "
            "tokens: `image_size` / `patch_size` must be a multiple of it."
        )
    head_dim = preset.hidden_size // preset.num_attention_heads
    text = {
        **_text_fields(preset, tokenizer),
        "head_dim": head_dim,
        "query_pre_attn_scalar": head_dim,
        # Gemma 3 interleaves 5 sliding-window layers with 1 global one; a tiny stack keeps its last layer global.
        "layer_types": ["sliding_attention"] * (preset.num_hidden_layers - 1) + ["full_attention"],
        "sliding_window": 512,
    }
    vision = {
        "hidden_size": preset.vision_hidden_size,
        "intermediate_size": preset.vision_intermediate_size,
        "num_hidden_layers": preset.vision_num_hidden_layers + preset.vision_num_global_layers,
        "num_attention_heads": preset.vision_attention_heads,
        "image_size": preset.image_size,
        "patch_size": preset.patch_size,
        "vision_use_head": False,
    }
    ids = tokenizer.convert_tokens_to_ids
    return Gemma3Config(
        text_config=text, vision_config=vision, mm_tokens_per_image=GEMMA3_TOKENS_PER_SIDE**2,
        boi_token_index=ids("<start_of_image>"), eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"), tie_word_embeddings=True,
    )


def _gemma3_processor(preset: TinyModelPreset, tokenizer):
    from transformers import Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    image_processor = Gemma3ImageProcessorPil(size={"height": preset.image_size, "width": preset.image_size})
    return Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template,
                           image_seq_length=GEMMA3_TOKENS_PER_SIDE**2)


def build_tiny_model(
    kind: str = "llama",
    preset: str | TinyModelPreset = "tiny",
    *,
    vocab_corpus: Iterable[str] | None = None,
    vocab_size: int | None = None,
    seed: int = 0,
):
    """Build a tiny Llama, Mllama or Qwen2.5-VL model and its tokenizer / processor, fully offline and deterministic.

    The tokenizer is a byte-level BPE trained on `vocab_corpus` with the Llama-3 special tokens and a
    Llama-3.2-Vision-style chat template (text-only prompts get the "Cutting Knowledge Date" system header, image
    prompts do not; `{% generation %}` markers for assistant-only loss). It pads on the left, ends sequences with
    `<|eot_id|>` and pads with `<|finetune_right_pad_id|>`; the model's `generation_config` carries the same ids.
    Save both with `save_pretrained(dir)` and reload with `from_pretrained(dir)` (`AutoProcessor` /
    `AutoTokenizer`, `AutoModelForCausalLM` / `MllamaForConditionalGeneration`).

    Args:
        kind (`str`, *optional*, defaults to `"llama"`):
            `"llama"` (`LlamaForCausalLM`, returns a `PreTrainedTokenizerFast`), `"mllama"`
            (`MllamaForConditionalGeneration`, returns a `MllamaProcessor` with one tile of `image_size` pixels) or
            `"qwen2_5_vl"` (`Qwen2_5_VLForConditionalGeneration`, returns a `Qwen2_5_VLProcessor` that resizes every
            image to `image_size` squared pixels; the tokenizer has Qwen's ChatML tokens and template) or `"gemma3"`
            (`Gemma3ForConditionalGeneration`, returns a `Gemma3Processor`; 4 soft tokens per image).
        preset (`str` or `TinyModelPreset`, *optional*, defaults to `"tiny"`):
            A name in `TINY_PRESETS` (`"nano"`, `"tiny"`, `"small"`) or a `TinyModelPreset`, e.g.
            `dataclasses.replace(TINY_PRESETS["tiny"], image_size=112, patch_size=14)`.
        vocab_corpus (`Iterable[str]`, *optional*):
            Tokenizer training text. Defaults to [`~sft_vs_rl.models.corpus.default_corpus`].
        vocab_size (`int`, *optional*):
            Target BPE vocabulary; defaults to the preset's `vocab_size`. The model's `vocab_size` is
            `len(tokenizer)`, which can be smaller when BPE runs out of merges.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the weight initialisation. The global torch RNG is restored afterwards.

    Returns:
        `tuple`: `(model, processing_class)`; the model is float32, in eval mode.

    Example:

    ```python
    >>> model, tokenizer = build_tiny_model("llama", "nano")
    >>> model.config.vocab_size == len(tokenizer), tokenizer.padding_side
    (True, 'left')

    ```
    """
    import torch

    kind = _choose(kind, "kind", KINDS)
    preset = resolve_preset(preset)
    if not isinstance(seed, int):
        raise TypeError(f"`seed` must be an int, got {seed!r}.")
    family = {"qwen2_5_vl": "qwen2_vl", "gemma3": "gemma3"}.get(kind, "llama")
    tokenizer = build_tokenizer(vocab_corpus, vocab_size=vocab_size or preset.vocab_size, family=family)
    if kind == "gemma3":
        from transformers import Gemma3ForConditionalGeneration

        config, model_cls = _gemma3_config(preset, tokenizer), Gemma3ForConditionalGeneration
        processing_class = _gemma3_processor(preset, tokenizer)
    elif kind == "qwen2_5_vl":
        from transformers import Qwen2_5_VLForConditionalGeneration

        config, model_cls = _qwen2_5_vl_config(preset, tokenizer), Qwen2_5_VLForConditionalGeneration
        processing_class = _qwen2_5_vl_processor(preset, tokenizer)
    elif kind == "llama":
        from transformers import LlamaForCausalLM

        config, model_cls, processing_class = _llama_config(preset, tokenizer), LlamaForCausalLM, tokenizer
    else:
        from transformers import MllamaForConditionalGeneration, MllamaProcessor
        from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

        config, model_cls = _mllama_config(preset, tokenizer), MllamaForConditionalGeneration
        image_processor = MllamaImageProcessorPil(
            size={"height": preset.image_size, "width": preset.image_size}, max_image_tiles=1
        )
        processing_class = MllamaProcessor(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
        )
    # Weight init draws from the global torch RNG; fork it so that the build is seeded without changing the
    # caller's RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config)
    if kind == "mllama":
        _open_gates(model)
    model.eval()
    generation_config = model.generation_config
    generation_config.bos_token_id = tokenizer.bos_token_id
    generation_config.eos_token_id = tokenizer.eos_token_id
    generation_config.pad_token_id = tokenizer.pad_token_id
    logger.info("Built a tiny %s (%s): %d parameters.", kind, _preset_name(preset), model.num_parameters())
    return model, processing_class


MLLAMA_OPEN_GATE = 1.0
"""Initial value of a tiny Mllama's tanh gates (tanh(1) = 0.76): cross-attention, and the vision encoder's global
layers and tile embeddings."""


def _open_gates(model) -> None:
    """Open a from-scratch Mllama's gates. transformers initialises every tanh gate to 0, the right start for grafting
    vision onto a *pretrained* language model (the image path starts silent); a model trained from scratch, though,
    then barely learns to look: with the gates at 0 the image path's output is near zero, so its gradient is too. A
    nano Mllama pretrained 600 steps on the GP-VL image corpus kept its cross-attention gate at -0.001 and answered
    every image the same (logits differing by 3e-6 between two hands; 0 % of cards read)."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.numel() == 1 and name.rsplit(".", 1)[-1] in (
                "cross_attn_attn_gate", "cross_attn_mlp_gate", "gate_attn", "gate_ffn", "gate"
            ):
                param.fill_(MLLAMA_OPEN_GATE)


def _preset_name(preset: TinyModelPreset) -> str:
    names = [name for name, p in TINY_PRESETS.items() if p == preset]
    return names[0] if names else "custom"


def preset_with(preset: str | TinyModelPreset, **changes: Any) -> TinyModelPreset:
    """Return a preset with some fields changed (`dataclasses.replace` with a clear error for unknown fields).

    >>> preset_with("tiny", image_size=112, patch_size=14).image_size
    112
    """
    preset = resolve_preset(preset)
    fields = [f.name for f in dataclasses.fields(TinyModelPreset)]
    for name in changes:
        _choose(name, "TinyModelPreset field", fields)
    return resolve_preset(dataclasses.replace(preset, **changes))
