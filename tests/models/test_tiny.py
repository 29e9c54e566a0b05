import dataclasses

import pytest
import torch
from PIL import Image

from sft_vs_rl.models import TINY_PRESETS, build_tiny_model, preset_with, resolve_preset

CHAT = [{"role": "user", "content": [{"type": "text", "text": "Cards: ['A', '10', 'K', '5']"}]}]
IMAGE_CHAT = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Cards?"}]}]


def _card_image():
    return Image.new("RGB", (120, 60), (53, 101, 77))  # not square, not the tile size: the processor resizes


def _mllama_inputs(processor, messages=IMAGE_CHAT, n=1):
    texts = [processor.apply_chat_template(messages, add_generation_prompt=True)] * n
    return processor(
        images=[[_card_image()]] * n, text=texts, add_special_tokens=False, padding=True, return_tensors="pt"
    )


@pytest.fixture(scope="module")
def llama():
    return build_tiny_model("llama", "nano")


@pytest.fixture(scope="module")
def mllama():
    return build_tiny_model("mllama", "nano")


@pytest.mark.parametrize(
    "kind, preset, low, high",
    [
        ("llama", "tiny", 0.9e6, 1.4e6),  # the CPU study size (tiny_feasibility.md §8)
        ("mllama", "tiny", 1.2e6, 2.2e6),  # + one cross-attention layer, untied lm_head, vision tower
        ("qwen2_5_vl", "tiny", 1.0e6, 2.0e6),  # + a 3-block vision tower and its patch merger
        ("gemma3", "tiny", 1.0e6, 2.0e6),  # + a 3-layer SigLIP tower and its pooled projector
    ],
)
def test_tiny_preset_sizes(kind, preset, low, high):
    model, _ = build_tiny_model(kind, preset)
    assert low < model.num_parameters() < high


def test_llama_forward_and_generate(llama):
    model, tok = llama
    assert model.config.vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|eot_id|>")
    assert model.generation_config.pad_token_id == tok.pad_token_id
    prompts = [tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False), "hi"]
    batch = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
    logits = model(**batch).logits
    assert logits.shape == (*batch["input_ids"].shape, len(tok))
    out = model.generate(**batch, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (2, batch["input_ids"].shape[1] + 4)
    # Left padding: the batched row equals the same prompt alone.
    alone = tok(prompts[1:], add_special_tokens=False, return_tensors="pt")
    out_alone = model.generate(**alone, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out[1, -4:].tolist() == out_alone[0, -4:].tolist()


def test_mllama_processor_geometry(mllama):
    model, processor = mllama
    preset = TINY_PRESETS["nano"]
    inputs = _mllama_inputs(processor, n=2)
    assert inputs["pixel_values"].shape == (2, 1, 1, 3, preset.image_size, preset.image_size)
    assert inputs["cross_attention_mask"].shape[-2:] == (1, 1)
    assert model.config.vision_config.image_size == processor.image_processor.size["height"]
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert model.config.image_token_index == processor.tokenizer.convert_tokens_to_ids("<|image|>")
    assert processor.tokenizer.padding_side == "left"


def test_mllama_forward_and_generate(mllama):
    model, processor = mllama
    inputs = _mllama_inputs(processor, n=2)
    assert (inputs["input_ids"] == model.config.image_token_index).sum() == 2
    logits = model(**inputs).logits
    assert logits.shape == (*inputs["input_ids"].shape, len(processor.tokenizer))
    out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (2, inputs["input_ids"].shape[1] + 3)
    # Text-only turns through the processor (retry turns carry no image).
    text = processor.apply_chat_template(CHAT, add_generation_prompt=True)
    text_inputs = processor(text=[text], add_special_tokens=False, return_tensors="pt")
    assert model(**text_inputs).logits.shape[1] == text_inputs["input_ids"].shape[1]


def test_a_fresh_mllama_looks_at_its_image(mllama):
    # Built from scratch, its tanh gates start open (transformers' 0 would silence the image path, so a base trained
    # from scratch never learns to look): two different card images give different next-token logits.
    from sft_vs_rl.envs.generalpoints.render import render_hand
    from sft_vs_rl.models.tiny import MLLAMA_OPEN_GATE

    model, processor = mllama
    gates = {n: p.item() for n, p in model.named_parameters() if p.numel() == 1}
    assert gates and set(gates.values()) == {MLLAMA_OPEN_GATE}
    text = processor.apply_chat_template(IMAGE_CHAT, add_generation_prompt=True)
    logits = []
    for ranks, suit in ((["A", "2", "3", "4"], "S"), (["K", "Q", "9", "8"], "H")):
        inputs = processor(images=[[render_hand(ranks, [suit] * 4, 64)]], text=[text], add_special_tokens=False,
                           return_tensors="pt")
        with torch.no_grad():
            logits.append(model(**inputs).logits[0, -1])
    assert (logits[0] - logits[1]).abs().max() > 1e-3


def test_mllama_chat_template_tokenized_with_image(mllama):
    _, processor = mllama
    out = processor.apply_chat_template(
        [IMAGE_CHAT[0], {"role": "assistant", "content": [{"type": "text", "text": "A"}]}],
        images=[_card_image()],
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids, mask = out["input_ids"][0], out["assistant_masks"][0]
    tok = processor.tokenizer
    assert ids.count(tok.bos_token_id) == 1
    assert "Cutting Knowledge Date" not in tok.decode(ids)
    assert tok.decode([i for i, m in zip(ids, mask, strict=True) if m]) == "A<|eot_id|>"
    assert out["pixel_values"].shape[-1] == TINY_PRESETS["nano"].image_size


@pytest.mark.parametrize("kind", ["llama", "mllama"])
def test_save_reload_round_trip(kind, llama, mllama, tmp_path):
    from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer, MllamaForConditionalGeneration

    model, processing_class = llama if kind == "llama" else mllama
    model.save_pretrained(tmp_path)
    processing_class.save_pretrained(tmp_path)
    if kind == "llama":
        model2, pc2 = AutoModelForCausalLM.from_pretrained(tmp_path), AutoTokenizer.from_pretrained(tmp_path)
        inputs = pc2(["Cards: ['A', '10']", "hi"], padding=True, return_tensors="pt")
        tok2 = pc2
    else:
        model2, pc2 = MllamaForConditionalGeneration.from_pretrained(tmp_path), AutoProcessor.from_pretrained(tmp_path)
        inputs = _mllama_inputs(pc2)
        tok2 = pc2.tokenizer
    assert type(model2) is type(model)
    assert tok2.get_vocab() == (processing_class if kind == "llama" else processing_class.tokenizer).get_vocab()
    assert tok2.padding_side == "left"
    assert pc2.chat_template == processing_class.chat_template
    assert tok2.response_template is not None  # tool-call parser survives saving
    assert model2.generation_config.eos_token_id == tok2.eos_token_id
    model2.eval()
    with torch.no_grad():
        torch.testing.assert_close(model2(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


def test_build_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, _ = build_tiny_model("llama", "nano", seed=0)
    b, _ = build_tiny_model("llama", "nano", seed=0)
    c, _ = build_tiny_model("llama", "nano", seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_custom_preset_and_corpus():
    preset = preset_with("nano", image_size=56, patch_size=14, vocab_size=300)
    model, processor = build_tiny_model("mllama", preset, vocab_corpus=["turn_direction(north)"] * 3)
    assert len(processor.tokenizer) <= 300
    assert processor.image_processor.size == {"height": 56, "width": 56}
    assert model.config.vision_config.image_size == 56
    assert model(**_mllama_inputs(processor)).logits.shape[-1] == len(processor.tokenizer)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: build_tiny_model("lama"), r"Unknown `kind` 'lama'.*\['llama', 'mllama', 'qwen2_5_vl', 'gemma3'\].*Did you mean 'llama'"),
        (lambda: build_tiny_model("llama", "tiyn"), r"Unknown `preset` 'tiyn'.*Did you mean 'tiny'"),
        (lambda: preset_with("tiny", hiden_size=3), r"Did you mean 'hidden_size'"),
        (lambda: preset_with("tiny", image_size=60), r"multiple of `patch_size`"),
        (
            lambda: resolve_preset(dataclasses.replace(TINY_PRESETS["tiny"], cross_attention_layers=(9,))),
            r"cross_attention_layers",
        ),
    ],
)
def test_errors_name_the_field_and_suggest(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_qwen2_5_vl_uses_its_own_chat_format_and_reloads_without_torchvision(tmp_path):
    from sft_vs_rl.models.loading import load_model

    model, processor = build_tiny_model("qwen2_5_vl", "nano")
    tok = processor.tokenizer
    assert (tok.eos_token, tok.pad_token, tok.padding_side) == ("<|im_end|>", "<|endoftext|>", "left")
    assert model.config.get_text_config().vocab_size == len(tok)
    assert model.generation_config.eos_token_id == tok.eos_token_id
    text = processor.apply_chat_template(IMAGE_CHAT, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Cards?<|im_end|>\n"
                         "<|im_start|>assistant\n")
    batch = processor(text=[text], images=[[_card_image()]], add_special_tokens=False, return_tensors="pt")
    # 32 x 32 pixels in 8-pixel patches, 2 x 2 merged: the prompt holds one <|image_pad|> per merged patch.
    assert (batch["input_ids"] == tok.convert_tokens_to_ids("<|image_pad|>")).sum() == batch["image_grid_thw"].prod() // 4
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_model(str(tmp_path))
    assert type(loaded_processor).__name__ == "ImageOnlyQwen2_5_VLProcessor"
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)
