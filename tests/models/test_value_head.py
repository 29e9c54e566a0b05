import pytest
import torch

from sft_vs_rl.models import ValueHead, default_value_head_widths


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
    (tmp_path / "ckpt" / "value_head.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="value_head.safetensors"):
        ValueHead.from_pretrained(tmp_path / "ckpt")


def test_save_given_state_dict(tmp_path):
    # the trainer passes the head's part of the (gathered) model state dict, as under ZeRO-3 / FSDP
    head, other = ValueHead(16, (8,), seed=0), ValueHead(16, (8,), seed=1)
    head.save_pretrained(tmp_path, state_dict=other.state_dict())
    loaded = ValueHead.from_pretrained(tmp_path)
    x = torch.randn(2, 16)
    assert torch.equal(loaded(x), other(x)) and not torch.equal(loaded(x), head(x))


@pytest.mark.parametrize("widths", [(0,), (4, -1)])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        ValueHead(8, widths)
