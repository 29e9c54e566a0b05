"""Mllama (Llama-3.2-Vision) inputs for the log-prob and value passes over prompt + completion tokens.

GRPOTrainer forwards only a whitelist of vision keys, which lacks Mllama's `aspect_ratio_ids`, `aspect_ratio_mask`
and `cross_attention_mask`, so its loss fails with `aspect_ratio_ids must be provided if pixel_values is provided`
(TRL 1.16 has no reference to Mllama). This trainer keeps the per-row image tensors of every transition (see
`rollout.Transition.vision`), pads them to a common number of images when batching, and rebuilds the
`cross_attention_mask` over the whole prompt + completion sequence exactly as `MllamaProcessor` builds it for the
prompt: every token from an image's `<|image|>` token to the end of the sequence attends to that image's tiles.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["collate_vision", "cross_attention_mask"]


def collate_vision(visions: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack per-row Mllama vision tensors, zero-padding the image dimension to the batch's largest image count.

    Args:
        visions (`Sequence[dict[str, torch.Tensor]]`):
            One dict per row with `pixel_values` `(num_images, tiles, 3, S, S)`, `aspect_ratio_ids` `(num_images,)`
            and `aspect_ratio_mask` `(num_images, tiles)`.

    Returns:
        `dict[str, torch.Tensor]`: `pixel_values` `(B, max_images, tiles, 3, S, S)`, `aspect_ratio_ids`
        `(B, max_images)`, `aspect_ratio_mask` `(B, max_images, tiles)`. Padded images have an all-zero
        `aspect_ratio_mask` and no cross-attention, as the processor pads them.

    Example:

    ```python
    >>> row = {"pixel_values": torch.ones(1, 1, 3, 4, 4), "aspect_ratio_ids": torch.tensor([1]),
    ...        "aspect_ratio_mask": torch.tensor([[1]])}
    >>> collate_vision([row, {k: v[:0] for k, v in row.items()}])["aspect_ratio_mask"].tolist()
    [[[1]], [[0]]]
    ```
    """
    max_images = max(v["pixel_values"].shape[0] for v in visions)
    out = {}
    for key in ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask"):
        rows = []
        for v in visions:
            x = v[key]
            pad = max_images - x.shape[0]
            if pad:
                x = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))])
            rows.append(x)
        out[key] = torch.stack(rows)
    return out


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
