"""The one model loader: tiny specs, saved folders (text and Mllama), PEFT adapter folders, pad token, padding side."""

import doctest
import re

import pytest
import torch

from sft_vs_rl.models import build_tiny_model, loading
from sft_vs_rl.models.loading import LLAMA_PAD_TOKEN, load_model, parse_tiny_spec


def test_doctests():
    assert doctest.testmod(loading).failed == 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tiny:llama", ("llama", "tiny")),  # preset defaults to the CPU study size
        ("tiny:mllama:nano", ("mllama", "nano")),  # explicit preset
    ],
)
def test_parse_tiny_spec(spec, expected):
    assert parse_tiny_spec(spec) == expected


@pytest.mark.parametrize("spec", ["tiny:", "tiny:llama:nano:extra"])
def test_bad_tiny_spec_shows_the_form(spec):
    with pytest.raises(ValueError, match="tiny:<kind>"):
        parse_tiny_spec(spec)


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    model, tokenizer = build_tiny_model("llama", "nano")
    model.save_pretrained(folder)
    tokenizer.padding_side = "right"  # saved right-padded: the loader still pads on the side it is asked for
    tokenizer.save_pretrained(folder)
    return folder


def test_tiny_spec_builds_the_same_model_as_build_tiny_model():
    model, tokenizer = load_model("tiny:llama:nano", device=None, seed=3)
    reference, _ = build_tiny_model("llama", "nano", seed=3)
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))
    assert tokenizer.padding_side == "left"


def test_folder_loads_for_generation(llama_folder):
    model, tokenizer = load_model(llama_folder)
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert (tokenizer.padding_side, tokenizer.pad_token) == ("left", LLAMA_PAD_TOKEN)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")  # accelerate's device
    _, right = load_model(llama_folder, padding_side="right", device=None)
    assert right.padding_side == "right"
    assert load_model(llama_folder, dtype="bfloat16", device=None)[0].dtype == torch.bfloat16


def test_missing_pad_token_is_set(tmp_path):
    model, tokenizer = build_tiny_model("llama", "nano")
    tokenizer.pad_token = None  # as Llama-3.2 checkpoints ship
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    _, loaded = load_model(tmp_path, device=None)
    assert loaded.pad_token == LLAMA_PAD_TOKEN


def test_mllama_folder_loads_with_its_processor(tmp_path):
    from transformers import MllamaForConditionalGeneration, MllamaProcessor

    model, processor = build_tiny_model("mllama", "nano")
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded, loaded_processor = load_model(tmp_path, device=None)
    assert isinstance(loaded, MllamaForConditionalGeneration) and isinstance(loaded_processor, MllamaProcessor)
    assert loaded_processor.tokenizer.padding_side == "left"


def test_peft_adapter_folder_is_merged_into_its_base(llama_folder, tmp_path):
    from peft import LoraConfig, get_peft_model

    base, tokenizer = load_model(llama_folder, device=None)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    ids = torch.tensor([[1, 5, 9, 12]])
    with torch.no_grad():
        expected = peft_model(ids).logits
    merged, merged_tokenizer = load_model(tmp_path, device=None)
    assert type(merged).__name__ == "LlamaForCausalLM"  # merged, not a PeftModel
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, expected)
    assert merged_tokenizer.padding_side == "left"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "`model_name_or_path` is not set"),  # nothing named
        ("runs/gp-l/rl/checkpoint-40", "'runs/gp-l/rl/checkpoint-40': no such folder.*tiny:llama"),  # a missing folder
    ],
)
def test_not_a_model(name, message):
    with pytest.raises(ValueError, match=message):
        load_model(name)


def test_folder_without_a_model(tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"`model_name_or_path` is {str(tmp_path)!r}") + ".*tiny:llama"):
        load_model(tmp_path)


def test_bad_padding_side():
    with pytest.raises(ValueError, match="padding_side"):
        load_model("tiny:llama:nano", padding_side="middle")
