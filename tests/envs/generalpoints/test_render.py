"""Tests for the PIL card renderer."""

import numpy as np
import pytest

from sft_vs_rl.envs.generalpoints.render import BACKGROUND, card_face, card_layout, render_hand


def _ink(image):
    """Pixels of the drawn ink (not card white, not table green), as an (n, 3) array."""
    a = np.asarray(image).reshape(-1, 3).astype(int)
    white = a.min(axis=1) > 200
    green = (np.abs(a - np.array(BACKGROUND)).sum(axis=1)) < 30
    return a[~white & ~green]


@pytest.mark.parametrize("size", [128, 224, 1200])
def test_size_and_background(size):
    image = render_hand(["A", "10", "K", "5"], ["S", "C", "S", "C"], size)
    assert image.size == (size, size) and image.mode == "RGB"
    assert image.getpixel((0, 0)) == BACKGROUND
    assert image.getpixel((size - 1, size - 1)) == BACKGROUND


def test_red_suits_are_red_and_black_suits_black():
    red = _ink(render_hand(["A", "10", "K", "5"], ["H", "D", "H", "D"], 224))
    black = _ink(render_hand(["A", "10", "K", "5"], ["S", "C", "S", "C"], 224))
    strong_red = (red[:, 0] > 120) & (red[:, 1] < 90)
    assert strong_red.mean() > 0.3
    assert ((black[:, 0] > 120) & (black[:, 1] < 90)).sum() == 0


def test_cards_differ_by_rank_and_suit():
    faces = {(r, s): np.asarray(card_face(r, s, 50, 70)) for r in ("A", "10", "K") for s in ("S", "C")}
    keys = list(faces)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert not np.array_equal(faces[a], faces[b]), (a, b)


def test_faces_are_cached():
    assert card_face("Q", "H", 50, 70) is card_face("Q", "H", 50, 70)


def test_layout_matches_original():
    assert card_layout(1200) == (270, 378, [5, 302, 599, 896], 411)


def test_bad_input():
    with pytest.raises(ValueError, match="4 ranks and 4 suits"):
        render_hand(["A"], ["S"])
    with pytest.raises(ValueError, match="canvas_size"):
        render_hand(["A"] * 4, ["S"] * 4, canvas_size=10)
    with pytest.raises(ValueError, match="suit"):
        render_hand(["A"] * 4, ["X"] * 4)
