"""Draw GeneralPoints card images with PIL only (no image or font assets).

The layout follows the original: four cards of aspect 5:7, each `int(canvas / 4 * 0.9)` pixels wide, side by side
and vertically centred on a square `#35654d` (casino-green) canvas; 1200 px is the paper's size. Each card shows
its rank index in two corners and large in the centre, with suit pips; rank glyphs are drawn as strokes and suits
from polygons and ellipses, so no font is involved. A card face is drawn once per (rank, suit, size), at 4x and
downsampled, and cached; an observation is a paste of four cached faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["BACKGROUND", "DEFAULT_CANVAS_SIZE", "PAPER_CANVAS_SIZE", "card_face", "card_layout", "render_hand"]

BACKGROUND = (0x35, 0x65, 0x4D)
"""Canvas colour of the original (`#35654d`)."""
DEFAULT_CANVAS_SIZE = 224
"""Small default canvas for CPU runs (cards of 50x70 px)."""
PAPER_CANVAS_SIZE = 1200
"""Canvas size of the original environment."""

_RED = (200, 20, 30)
_BLACK = (15, 15, 15)
_SUPERSAMPLE = 4

# Rank glyphs as polylines on a 4 x 6 grid (x right, y down).
_GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0, 6), (2, 0), (4, 6)], [(0.8, 3.8), (3.2, 3.8)]],
    "1": [[(0.8, 1.2), (2.2, 0), (2.2, 6)], [(0.8, 6), (3.6, 6)]],
    "2": [[(0, 1.2), (1, 0), (3, 0), (4, 1), (4, 2.2), (0, 6), (4, 6)]],
    "3": [[(0, 0), (4, 0), (1.8, 2.6), (3, 2.6), (4, 3.6), (4, 5), (3, 6), (1, 6), (0, 5)]],
    "4": [[(3, 6), (3, 0), (0, 4.2), (4, 4.2)]],
    "5": [[(4, 0), (0.3, 0), (0, 2.8), (3, 2.5), (4, 3.5), (4, 5), (3, 6), (0, 6)]],
    "6": [[(3.6, 0), (1.2, 0), (0, 1.5), (0, 5), (1, 6), (3, 6), (4, 5), (4, 3.6), (3, 2.7), (1, 2.7), (0, 3.6)]],
    "7": [[(0, 0), (4, 0), (1.4, 6)]],
    "8": [
        [(1, 0), (3, 0), (4, 0.9), (4, 2), (3, 2.9), (1, 2.9), (0, 2), (0, 0.9), (1, 0)],
        [(1, 2.9), (0, 4), (0, 5), (1, 6), (3, 6), (4, 5), (4, 4), (3, 2.9)],
    ],
    "9": [[(4, 2.4), (3, 3.3), (1, 3.3), (0, 2.4), (0, 1), (1, 0), (3, 0), (4, 1), (4, 5), (3, 6), (0.4, 6)]],
    "0": [[(1, 0), (3, 0), (4, 1), (4, 5), (3, 6), (1, 6), (0, 5), (0, 1), (1, 0)]],
    "J": [[(1, 0), (4, 0)], [(3, 0), (3, 5), (2, 6), (1, 6), (0, 5)]],
    "Q": [[(1, 0), (3, 0), (4, 1), (4, 5), (3, 6), (1, 6), (0, 5), (0, 1), (1, 0)], [(2.4, 4.4), (4.3, 6.3)]],
    "K": [[(0, 0), (0, 6)], [(4, 0), (0, 3.8)], [(1.3, 2.7), (4, 6)]],
}


def _draw_rank(draw, rank: str, x: float, y: float, height: float, colour, width: int) -> None:
    """Draw `rank` with its top-left corner at (x, y); glyph cells are 4 x 6 units, `height` pixels tall."""
    unit = height / 6
    chars = ["1", "0"] if rank == "10" else [rank]
    for k, char in enumerate(chars):
        ox = x + k * 5.2 * unit
        for line in _GLYPHS[char]:
            points = [(ox + px * unit, y + py * unit) for px, py in line]
            draw.line(points, fill=colour, width=width, joint="curve")
            r = width / 2
            for px, py in (points[0], points[-1]):
                draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)


def _rank_width(rank: str, height: float) -> float:
    return (9.2 if rank == "10" else 4) * height / 6


def _draw_suit(draw, suit: str, cx: float, cy: float, size: float, colour) -> None:
    """Draw a suit pip centred at (cx, cy), `size` pixels across, from ellipses and polygons."""
    s = size / 2
    if suit == "D":
        draw.polygon([(cx, cy - s), (cx + 0.75 * s, cy), (cx, cy + s), (cx - 0.75 * s, cy)], fill=colour)
    elif suit == "H":
        r = 0.52 * s
        draw.ellipse((cx - 2 * r, cy - s, cx, cy - s + 2 * r), fill=colour)
        draw.ellipse((cx, cy - s, cx + 2 * r, cy - s + 2 * r), fill=colour)
        draw.polygon([(cx - 1.95 * r, cy - s + 1.25 * r), (cx + 1.95 * r, cy - s + 1.25 * r), (cx, cy + s)], fill=colour)
    elif suit == "S":
        r = 0.5 * s
        draw.polygon([(cx, cy - s), (cx + 1.95 * r, cy + 0.1 * s), (cx - 1.95 * r, cy + 0.1 * s)], fill=colour)
        draw.ellipse((cx - 2 * r, cy - 0.25 * s, cx, cy - 0.25 * s + 2 * r), fill=colour)
        draw.ellipse((cx, cy - 0.25 * s, cx + 2 * r, cy - 0.25 * s + 2 * r), fill=colour)
        draw.polygon([(cx, cy + 0.2 * s), (cx + 0.4 * s, cy + s), (cx - 0.4 * s, cy + s)], fill=colour)
    elif suit == "C":
        r = 0.36 * s
        draw.ellipse((cx - r, cy - s, cx + r, cy - s + 2 * r), fill=colour)
        draw.ellipse((cx - 2.1 * r, cy - 0.45 * s, cx - 0.1 * r, cy - 0.45 * s + 2 * r), fill=colour)
        draw.ellipse((cx + 0.1 * r, cy - 0.45 * s, cx + 2.1 * r, cy - 0.45 * s + 2 * r), fill=colour)
        draw.polygon([(cx, cy - 0.2 * s), (cx + 0.4 * s, cy + s), (cx - 0.4 * s, cy + s)], fill=colour)
    else:
        raise ValueError(f"suit {suit!r} is not valid; use one of 'S', 'C', 'H', 'D'")


def card_layout(canvas_size: int) -> tuple[int, int, list[int], int]:
    """Return `(card_width, card_height, x positions, y)` of the four cards on a square canvas.

    >>> card_layout(1200)
    (270, 378, [5, 302, 599, 896], 411)
    """
    width = int(canvas_size / 4 * 0.9)
    height = int(width * 7 / 5)
    gap = width // 10
    x0 = round(canvas_size * 5 / 1200)
    return width, height, [x0 + i * (width + gap) for i in range(4)], (canvas_size - height) // 2


@lru_cache(maxsize=512)
def card_face(rank: str, suit: str, width: int, height: int) -> Image.Image:
    """Draw one card face (`width` x `height`, RGB); cached, so treat the returned image as read-only."""
    from PIL import Image, ImageDraw

    big_w, big_h = width * _SUPERSAMPLE, height * _SUPERSAMPLE
    img = Image.new("RGB", (big_w, big_h), BACKGROUND)
    draw = ImageDraw.Draw(img)
    colour = _RED if suit in ("H", "D") else _BLACK
    radius = big_w // 10
    draw.rounded_rectangle((0, 0, big_w - 1, big_h - 1), radius=radius, fill=(250, 250, 247), outline=(90, 90, 90),
                           width=max(1, big_w // 60))
    stroke = max(2, big_w // 28)
    # Corner indices: rank and a small pip, top-left and (upside down) bottom-right.
    idx_h = big_h * 0.13
    margin = big_w * 0.07
    corner = Image.new("RGBA", (int(_rank_width(rank, idx_h) + 2 * stroke), int(idx_h * 1.9 + 2 * stroke)), (0, 0, 0, 0))
    cdraw = ImageDraw.Draw(corner)
    _draw_rank(cdraw, rank, stroke, stroke, idx_h, colour, stroke)
    pip = idx_h * 0.75
    _draw_suit(cdraw, suit, stroke + _rank_width(rank, idx_h) / 2, stroke + idx_h * 1.5, pip, colour)
    img.paste(corner, (int(margin), int(margin)), corner)
    flipped = corner.rotate(180)
    img.paste(flipped, (int(big_w - margin - corner.width), int(big_h - margin - corner.height)), flipped)
    # Centre: the rank in large strokes above a large suit pip.
    big_rank_h = big_h * 0.3
    rank_w = _rank_width(rank, big_rank_h)
    _draw_rank(draw, rank, (big_w - rank_w) / 2, big_h * 0.2, big_rank_h, colour, int(stroke * 1.6))
    _draw_suit(draw, suit, big_w / 2, big_h * 0.7, big_w * 0.34, colour)
    return img.resize((width, height), Image.LANCZOS)


def render_hand(ranks: Sequence[str], suits: Sequence[str], canvas_size: int = DEFAULT_CANVAS_SIZE) -> Image.Image:
    """Return the GP-VL observation image: four card faces on a square green canvas.

    Args:
        ranks (`Sequence[str]`):
            Plain card names, in hand order (`["A", "10", "K", "5"]`).
        suits (`Sequence[str]`):
            One of `"S"`, `"C"`, `"H"`, `"D"` per card.
        canvas_size (`int`, *optional*, defaults to `224`):
            Side of the square canvas in pixels (1200 in the paper).

    >>> render_hand(["A", "10", "K", "5"], ["S", "C", "S", "C"]).size
    (224, 224)
    """
    try:
        from PIL import Image
    except ImportError as err:  # pragma: no cover - pillow is a core dependency today
        raise ImportError('GP-VL images need Pillow: pip install "sft-vs-rl[vision]"') from err
    if len(ranks) != 4 or len(suits) != 4:
        raise ValueError(f"render_hand needs 4 ranks and 4 suits, got ranks={list(ranks)}, suits={list(suits)}")
    if not isinstance(canvas_size, int) or canvas_size < 64:
        raise ValueError(f"canvas_size={canvas_size!r} is too small; use an int >= 64 (224 default, 1200 paper)")
    width, height, xs, y = card_layout(canvas_size)
    canvas = Image.new("RGB", (canvas_size, canvas_size), BACKGROUND)
    for rank, suit, x in zip(ranks, suits, xs):
        canvas.paste(card_face(rank, suit, width, height), (x, y))
    return canvas
