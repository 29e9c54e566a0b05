"""Per-family vision inputs: split a processor batch by row, collate rows back, rebuild the model's forward inputs."""

import pytest
import torch
from PIL import Image

from sft_vs_rl.models import build_tiny_model
from sft_vs_rl.models.vision_inputs import Gemma3Inputs, MllamaInputs, Qwen2VLInputs, vision_inputs_for

ONE = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Cards?"}]}]
TWO = ONE + [{"role": "assistant", "content": "no"},
             {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Again: cards?"}]}]


def _batch(processor, conversations):
    images = [[Image.new("RGB", (40, 40), (20 * i, 90, 60)) for i in range(len(c) // 2 + 1)] for c in conversations]
    texts = [processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    batch = processor(text=texts, images=images, padding=True, add_special_tokens=False, return_tensors="pt")
    return batch, [len(i) for i in images]


@pytest.mark.parametrize("kind, family",
                         [("mllama", MllamaInputs), ("qwen2_5_vl", Qwen2VLInputs), ("gemma3", Gemma3Inputs)])
def test_split_collate_and_model_inputs_reproduce_the_processor_forward(kind, family):
    model, processor = build_tiny_model(kind, "nano")
    vision = vision_inputs_for(model.config, processor.tokenizer)
    assert isinstance(vision, family)
    # Rows with one and two images (a retry turn carries a second image), in both orders.
    batch, counts = _batch(processor, [ONE, TWO, ONE])
    rows = vision.split(batch, counts)
    collated = vision.collate(rows)
    assert all(v.shape[0] == 3 for v in collated.values())  # indexed by row: shuffling and splitting stay indexing
    with torch.no_grad():
        reference = model(**batch).logits
        rebuilt = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        **vision.model_inputs(batch["input_ids"], collated)).logits
        assert torch.equal(reference, rebuilt)
        # A sub-batch of rows (what a PPO micro-batch is) gives those rows' logits.
        picked = {k: v[[2, 1]] for k, v in collated.items()}
        ids, mask = batch["input_ids"][[2, 1]], batch["attention_mask"][[2, 1]]
        sub = model(input_ids=ids, attention_mask=mask, **vision.model_inputs(ids, picked)).logits
    assert torch.allclose(sub, reference[[2, 1]], atol=1e-5)


def test_other_vision_families_fail_naming_the_supported_ones():
    from transformers import PretrainedConfig

    config = PretrainedConfig()
    config.model_type = "idefics3"
    with pytest.raises(NotImplementedError, match=r"'idefics3' has no input adapter; supported: \['gemma3', 'mllama'"):
        vision_inputs_for(config, None)
