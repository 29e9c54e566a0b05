import pytest
import torch

from sft_vs_rl.models import (
    ValueHead,
    build_tiny_model,
    default_value_head_widths,
    forward_with_hidden_states,
    gather_positions,
)


@pytest.mark.parametrize(
    "hidden_size, widths",
    [
        (4096, (1024, 512)),  # the paper's head on the 11B model
        (256, (1024, 512)),  # paper widths from width 256 up
        (128, (512, 256)),  # tiny preset: 4x / 2x the width
        (64, (256, 128)),  # nano preset
    ],
)
def test_default_widths(hidden_size, widths):
    assert default_value_head_widths(hidden_size) == widths
    head = ValueHead(hidden_size)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (hidden_size, widths[0]),
        (widths[0], widths[1]),
        (widths[1], 1),
    ]


def test_shapes_and_seed():
    head = ValueHead(16, (8,), seed=0)
    assert head(torch.randn(4, 16)).shape == (4,)
    assert head(torch.randn(2, 5, 16)).shape == (2, 5)
    same, other = ValueHead(16, (8,), seed=0), ValueHead(16, (8,), seed=1)
    x = torch.randn(3, 16)
    assert torch.equal(head(x), same(x))
    assert not torch.equal(head(x), other(x))


def test_save_load(tmp_path):
    head = ValueHead(32, (16, 8), seed=0)
    head.save_pretrained(tmp_path / "ckpt")
    assert {p.name for p in (tmp_path / "ckpt").iterdir()} == {"value_head.safetensors", "value_head_config.json"}
    loaded = ValueHead.from_pretrained(tmp_path / "ckpt")
    assert loaded.widths == (16, 8)
    x = torch.randn(5, 32)
    assert torch.equal(loaded(x), head(x))
    with pytest.raises(FileNotFoundError, match="value_head_config.json"):
        ValueHead.from_pretrained(tmp_path)


@pytest.mark.parametrize("widths", [(0,), (4, -1)])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        ValueHead(8, widths)


@pytest.mark.parametrize("kind", ["llama", "mllama"])
def test_hidden_states_are_the_backbone_output(kind):
    model, processing_class = build_tiny_model(kind, "nano")
    tok = processing_class if kind == "llama" else processing_class.tokenizer
    batch = tok(["Cards: ['A', '10', 'K', '5']", "hi"], padding=True, return_tensors="pt")
    with torch.no_grad():
        outputs, hidden = forward_with_hidden_states(model, **batch)
        expected = model.model(**batch).last_hidden_state  # normed output, the lm_head's input
    torch.testing.assert_close(hidden, expected)
    assert outputs.logits.shape[:2] == batch["input_ids"].shape
    head = ValueHead(model.config.get_text_config().hidden_size, seed=0)
    last_prompt = gather_positions(hidden, batch["input_ids"].shape[1] - 1)  # left padding: same index for all
    assert head(last_prompt).shape == (2,)


def test_gather_positions_checks_bounds():
    h = torch.zeros(2, 3, 4)
    assert gather_positions(h, torch.tensor([1, 2])).shape == (2, 4)
    with pytest.raises(ValueError, match="positions"):
        gather_positions(h, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="positions"):
        gather_positions(h, torch.tensor([0]))
