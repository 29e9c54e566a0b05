"""Qwen2-VL / Qwen2.5-VL processors without their video processor, for machines without torchvision.

transformers 5.23 ships a PIL image processor for Qwen2-VL (`Qwen2VLImageProcessorPil`), but `Qwen2_5_VLProcessor`
also takes a video processor, and every video processor needs torchvision: building the processor or loading one
with `AutoProcessor` fails without it ("Can't load video processor"). The study has no video, so these subclasses
drop the video attribute and are otherwise the stock processors (same `__call__`, chat template, image token
expansion, saved files). [`load_processor`] uses them only where torchvision is missing.
"""

from __future__ import annotations

from transformers import Qwen2_5_VLProcessor, Qwen2VLProcessor

__all__ = ["ImageOnlyQwen2VLProcessor", "ImageOnlyQwen2_5_VLProcessor", "IMAGE_ONLY_PROCESSORS", "load_processor"]


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` with an image processor and a tokenizer only (no video processor, so no torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """`Qwen2VLProcessor` with an image processor and a tokenizer only (no video processor, so no torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


IMAGE_ONLY_PROCESSORS = {"qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor, "qwen2_vl": ImageOnlyQwen2VLProcessor}
"""`model_type` -> its image-only processor class."""


def load_processor(name: str, model_type: str, *, revision: str | None = None):
    """`AutoProcessor.from_pretrained(name)`, or the image-only Qwen processor where torchvision is missing."""
    from transformers import AutoProcessor
    from transformers.utils import is_torchvision_available

    if model_type in IMAGE_ONLY_PROCESSORS and not is_torchvision_available():
        return IMAGE_ONLY_PROCESSORS[model_type].from_pretrained(name, revision=revision)
    return AutoProcessor.from_pretrained(name, revision=revision)
