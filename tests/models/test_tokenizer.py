import pytest

from sft_vs_rl.models import tokenizer as tokenizer_module
from sft_vs_rl.models.corpus import default_corpus
from sft_vs_rl.models.tokenizer import LLAMA3_RESPONSE_TEMPLATE, SPECIAL_TOKENS, build_tokenizer

SYSTEM_HEADER = "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_training_is_deterministic(monkeypatch):
    texts = default_corpus(seed=3, num_examples=50)
    monkeypatch.setattr(tokenizer_module, "_TRAINED", {})
    first = build_tokenizer(texts, vocab_size=400)
    monkeypatch.setattr(tokenizer_module, "_TRAINED", {})  # train again, not from the cache
    second = build_tokenizer(texts, vocab_size=400)
    assert first.get_vocab() == second.get_vocab()
    assert first.backend_tokenizer.to_str() == second.backend_tokenizer.to_str()
    assert len(tokenizer_module._TRAINED) == 1
    # The cache hands out fresh objects: changing one does not change the next.
    first.padding_side = "right"
    assert build_tokenizer(texts, vocab_size=400).padding_side == "left"


def test_default_corpus_is_deterministic():
    assert default_corpus() == default_corpus()
    assert default_corpus(seed=1) != default_corpus(seed=0)


def test_special_tokens(tok):
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert tok.convert_tokens_to_ids("<|image|>") == len(tok) - 1
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (
        "<|begin_of_text|>",
        "<|eot_id|>",
        "<|finetune_right_pad_id|>",
    )
    assert tok.padding_side == "left"
    assert len(tok) <= 1024


def test_any_text_round_trips(tok):
    # Byte-level BPE: text far from the corpus still encodes and decodes exactly.
    text = "Zürich → 8/(3-8/3)=24 ♠♥ 日本"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id  # like Llama-3, plain text gets <|begin_of_text|>
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_left_padding(tok):
    batch = tok(["Cards: ['A', '10', 'K', '5']", "hi"], padding=True)
    assert batch["input_ids"][1][0] == tok.pad_token_id
    assert batch["attention_mask"][1][0] == 0


@pytest.mark.parametrize(
    "messages, has_system_header",
    [
        # text-only prompt (GP-L, V-IRL-L): Llama-3.2-Vision writes the "Cutting Knowledge Date" system turn
        ([{"role": "user", "content": "Cards: ['A', '10', 'K', '5']"}], True),
        # same, content as a list of items (the environments' format)
        ([{"role": "user", "content": [{"type": "text", "text": "Cards"}]}], True),
        # an image anywhere: no system turn (GP-VL, V-IRL-VL)
        ([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Cards"}]}], False),
    ],
)
def test_system_header_only_without_images(tok, messages, has_system_header):
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|begin_of_text|>")
    assert (SYSTEM_HEADER in text) == has_system_header
    assert "Today Date: 26 Jul 2024" in text or not has_system_header
    assert text.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert text.count("<|image|>") == (0 if has_system_header else 1)


def test_chat_template_renders_turns(tok):
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "\n{\"formula\": \"1+2\"}"}]},
        {"role": "user", "content": [{"type": "text", "text": "You failed this trial because illegal characters."}]},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n\n{\"formula\": \"1+2\"}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nYou failed this trial because illegal characters.<|eot_id|>"
    )


def test_system_message_with_image_is_an_error(tok):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Cards"}]},
    ]
    with pytest.raises(Exception, match="incompatible with system messages"):
        tok.apply_chat_template(messages, tokenize=False)


def test_chat_tokenization_has_one_bos(tok):
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=True, return_dict=False)
    assert ids.count(tok.bos_token_id) == 1


def test_assistant_mask_covers_answer_and_eot(tok):
    messages = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": [{"type": "text", "text": "A1"}]},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "A1<|eot_id|>A2<|eot_id|>"


def test_trl_training_and_tool_checks(tok):
    # What TRL 1.16 checks before SFT `assistant_only_loss=True` and GRPO `tools` / `environment_factory`.
    from trl.chat_template_utils import (
        get_training_chat_template,
        is_chat_template_prefix_preserving,
        is_chat_template_stop_token_trained,
        llama3_template,
        supports_tool_calling,
    )

    assert is_chat_template_stop_token_trained(tok)
    assert supports_tool_calling(tok)
    assert is_chat_template_prefix_preserving(tok)
    assert get_training_chat_template(tok) is None  # no patching needed
    assert LLAMA3_RESPONSE_TEMPLATE == llama3_template


def test_tool_call_render_and_parse(tok):
    call = {"type": "function", "function": {"name": "submit", "arguments": {"formula": "(1+6)*3+10"}}}
    messages = [
        {"role": "user", "content": "Cards"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "name": "submit", "content": "Correct solution."},
    ]
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, tools=[])
    assert '{"name": "submit", "parameters": {"formula": "(1+6)*3+10"}}<|eot_id|>' in text
    assert "<|start_header_id|>ipython<|end_header_id|>\n\nCorrect solution.<|eot_id|>" in text
    prefix = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    parsed = tok.parse_response('{"name": "submit", "parameters": {"formula": "1+2"}}<|eot_id|>', prefix=prefix)
    assert parsed["tool_calls"][0]["function"] == {"name": "submit", "arguments": {"formula": "1+2"}}


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"vocab_size": 100}, ValueError),  # smaller than specials + 256 bytes
        ({"padding_side": "middle"}, ValueError),
        ({"corpus": []}, TypeError),
        ({"corpus": [1, 2]}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        build_tokenizer(**kwargs)
