"""What differs per VLM family in the inputs of a forward pass over prompt + completion tokens: one adapter each.

The rollout generates with the processor's own output; the PPO trainer then scores and trains on turns that it
shuffles, splits and re-batches by row. Each adapter turns a processor batch into per-row vision tensors
([`VisionInputs.split`]), stacks rows into tensors indexed by row ([`VisionInputs.collate`], so that shuffling and
micro-batching stay plain indexing), and builds the model's keyword arguments for a batch of prompt + completion ids
([`VisionInputs.model_inputs`]). The trainer and the rollout hold no family names: they ask [`vision_inputs_for`].

* **Mllama** (Llama-3.2-Vision): `pixel_values` `(images, tiles, 3, S, S)`, `aspect_ratio_ids`, `aspect_ratio_mask`
  per row; the dense `cross_attention_mask` is rebuilt over the whole sequence exactly as `MllamaProcessor` builds it
  for the prompt (every token from an image's `<|image|>` token on attends to that image's tiles). GRPOTrainer's
  whitelist of vision keys lacks Mllama's, which is why TRL alone cannot train it.
* **Qwen2-VL / Qwen2.5-VL**: `pixel_values` are the patches of all images of a batch in one `(patches, dim)` tensor
  with `image_grid_thw` `(images, 3)`; rows are padded to `(rows, max patches, dim)` and `(rows, max images, 3)`
  (zero grids mark padding) and concatenated back for the forward. M-RoPE positions come from `mm_token_type_ids`,
  which is `1` at every `<|image_pad|>` token of the ids.
* **Gemma 3**: one `(3, S, S)` image per `<start_of_image>`; rows are padded to `(rows, max images, 3, S, S)` and
  the real images (counted from the ids) concatenated back. `token_type_ids` is `1` at every `<image_soft_token>`
  (the image tokens attend to each other bidirectionally, which Gemma 3 needs in training).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

__all__ = ["Gemma3Inputs", "MllamaInputs", "Qwen2VLInputs", "VisionInputs", "collate_vision", "cross_attention_mask",
           "vision_inputs_for"]


def _pad_rows(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack tensors of different first dimension, zero-padding it to the longest."""
    width = max(r.shape[0] for r in rows)
    return torch.stack([torch.cat([r, r.new_zeros((width - r.shape[0], *r.shape[1:]))]) if r.shape[0] < width else r
                        for r in rows])


class VisionInputs:
    """The vision inputs of one model family (subclasses name their `model_types`).

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the model's tokenizer; its `image_token` marks image positions.
    """

    model_types: ClassVar[tuple[str, ...]] = ()
    keys: ClassVar[tuple[str, ...]] = ()
    """Keys of the collated per-row tensors (and of the processor's output they come from)."""

    def __init__(self, tokenizer):
        image_token = getattr(tokenizer, "image_token", None)
        if image_token is None:
            raise ValueError(f"The tokenizer of this {self.model_types[0]} model has no `image_token`.")
        self.image_token_id = tokenizer.convert_tokens_to_ids(image_token)

    def split(self, encoded: Any, num_images: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        """Per-row vision tensors (on CPU) of a processor batch whose row `i` holds `num_images[i]` images."""
        raise NotImplementedError

    def collate(self, rows: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Stack per-row vision tensors into tensors whose first dimension is the row."""
        return {key: _pad_rows([r[key] for r in rows]) for key in self.keys}

    def model_inputs(self, input_ids: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Keyword arguments of the model's forward for `input_ids` `(B, L)` and the collated rows in `batch`."""
        raise NotImplementedError


class MllamaInputs(VisionInputs):
    """Mllama (Llama-3.2-Vision): per-row image tensors and a rebuilt dense cross-attention mask."""

    model_types = ("mllama",)
    keys = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")

    def split(self, encoded, num_images):
        return [{key: encoded[key][i, :n].cpu() for key in self.keys} for i, n in enumerate(num_images)]

    def collate(self, rows):
        return collate_vision(rows)

    def model_inputs(self, input_ids, batch):
        kwargs = {key: batch[key] for key in self.keys}
        kwargs["cross_attention_mask"] = cross_attention_mask(input_ids, batch["aspect_ratio_mask"],
                                                              self.image_token_id)
        return kwargs


class Qwen2VLInputs(VisionInputs):
    """Qwen2-VL and Qwen2.5-VL: flat patches and per-image grids, padded per row; `mm_token_type_ids` from the ids."""

    model_types = ("qwen2_vl", "qwen2_5_vl")
    keys = ("pixel_values", "image_grid_thw")

    def split(self, encoded, num_images):
        grids = encoded["image_grid_thw"].cpu()
        patches = grids.prod(-1).tolist()
        if len(patches) != sum(num_images):
            raise ValueError(f"The processor returned {len(patches)} images for a batch of {sum(num_images)}.")
        rows, image, offset = [], 0, 0
        pixel_values = encoded["pixel_values"].cpu()
        for n in num_images:
            count = sum(patches[image : image + n])
            rows.append({"pixel_values": pixel_values[offset : offset + count],
                         "image_grid_thw": grids[image : image + n]})
            image, offset = image + n, offset + count
        return rows

    def model_inputs(self, input_ids, batch):
        grids = batch["image_grid_thw"]  # (B, max images, 3); padded images have a zero grid
        patches = grids.prod(-1)  # (B, max images)
        pixel_values = torch.cat([batch["pixel_values"][i, : int(n)] for i, n in enumerate(patches.sum(-1))])
        return {
            "pixel_values": pixel_values,
            "image_grid_thw": grids[patches > 0],
            "mm_token_type_ids": (input_ids == self.image_token_id).long(),
        }


class Gemma3Inputs(VisionInputs):
    """Gemma 3: fixed-size images padded per row; `token_type_ids` from the ids."""

    model_types = ("gemma3",)
    keys = ("pixel_values",)

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        self.boi_token_id = tokenizer.convert_tokens_to_ids(tokenizer.boi_token)

    def split(self, encoded, num_images):
        pixel_values = encoded["pixel_values"].cpu()
        offsets = [0, *torch.tensor(list(num_images)).cumsum(0).tolist()]
        return [{"pixel_values": pixel_values[a:b]} for a, b in zip(offsets, offsets[1:])]

    def model_inputs(self, input_ids, batch):
        counts = (input_ids == self.boi_token_id).sum(-1).tolist()  # images per row
        return {
            "pixel_values": torch.cat([batch["pixel_values"][i, :n] for i, n in enumerate(counts)]),
            "token_type_ids": (input_ids == self.image_token_id).long(),
        }


_FAMILIES: tuple[type[VisionInputs], ...] = (MllamaInputs, Qwen2VLInputs, Gemma3Inputs)


def vision_inputs_for(config, tokenizer) -> VisionInputs:
    """The [`VisionInputs`] adapter of a model's config (`config.model_type`), or a clear error for other families.

    Args:
        config (`PretrainedConfig`): the model's config.
        tokenizer (`PreTrainedTokenizerBase`): its tokenizer (for the image token's id).
    """
    for family in _FAMILIES:
        if config.model_type in family.model_types:
            return family(tokenizer)
    supported = sorted(t for f in _FAMILIES for t in f.model_types)
    raise NotImplementedError(
        f"Vision model type {config.model_type!r} has no input adapter; supported: {supported}. Add a "
        "`VisionInputs` subclass in `sft_vs_rl/models/vision_inputs.py` (split, collate, model_inputs)."
    )


def collate_vision(visions: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack per-row Mllama vision tensors, zero-padding the image dimension to the batch's largest image count.

    Args:
        visions (`Sequence[dict[str, torch.Tensor]]`):
            One dict per row with `pixel_values` `(num_images, tiles, 3, S, S)`, `aspect_ratio_ids` `(num_images,)`
            and `aspect_ratio_mask` `(num_images, tiles)`.

    Returns:
        `dict[str, torch.Tensor]`: `pixel_values` `(B, max_images, tiles, 3, S, S)`, `aspect_ratio_ids`
        `(B, max_images)`, `aspect_ratio_mask` `(B, max_images, tiles)`. Padded images are zeros with only their
        first tile marked in `aspect_ratio_mask`, and no token attends to them, as the processor pads them.

    Example:

    ```python
    >>> row = {"pixel_values": torch.ones(1, 1, 3, 4, 4), "aspect_ratio_ids": torch.tensor([1]),
    ...        "aspect_ratio_mask": torch.tensor([[1]])}
    >>> collate_vision([row, {k: v[:0] for k, v in row.items()}])["aspect_ratio_mask"].tolist()
    [[[1]], [[1]]]
    ```
    """
    batch = {key: _pad_rows([v[key] for v in visions]) for key in MllamaInputs.keys}
    # The processor marks the first tile of a padding image as real (the original code pads aspect ratios with
    # (1, 1)); an all-zero mask changes the vision tower's output for that image and, through it, the logits.
    batch["aspect_ratio_mask"][:, :, 0] = 1
    return batch


def cross_attention_mask(input_ids: torch.Tensor, aspect_ratio_mask: torch.Tensor, image_token_id: int) -> torch.Tensor:
    """Build Mllama's dense `cross_attention_mask` for (left-padded) token ids.

    Args:
        input_ids (`torch.Tensor` of shape `(B, L)`):
            Prompt + completion ids.
        aspect_ratio_mask (`torch.Tensor` of shape `(B, num_images, max_tiles)`):
            Which tiles of each image are real; its row sums are the tile counts.
        image_token_id (`int`):
            Id of `<|image|>`.

    Returns:
        `torch.Tensor` of shape `(B, L, num_images, max_tiles)` (int64, on the device of `input_ids`).
    """
    from transformers.models.mllama.processing_mllama import (
        convert_sparse_cross_attention_mask_to_dense,
        get_cross_attention_token_mask,
    )

    num_images, max_tiles = aspect_ratio_mask.shape[1], aspect_ratio_mask.shape[2]
    num_tiles = aspect_ratio_mask.sum(-1).tolist()  # (B, num_images)
    token_masks = [get_cross_attention_token_mask(ids, image_token_id) for ids in input_ids.tolist()]
    # Pad the image list of rows with fewer images so the dense array has `num_images` slots.
    token_masks = [m + [[]] * (num_images - len(m)) for m in token_masks]
    dense = convert_sparse_cross_attention_mask_to_dense(
        token_masks, num_tiles=num_tiles, max_num_tiles=max_tiles, length=input_ids.shape[1]
    )
    return torch.from_numpy(dense).to(input_ids.device)
