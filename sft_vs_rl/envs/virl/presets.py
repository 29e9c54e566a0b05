"""Named city presets: one training city style and unseen-city presets, each made of three switchable factors.

A `CityPreset` names a street `layout` (`LAYOUTS`), a landmark `vocabulary` (`landmarks.VOCABULARIES`) and a visual
`style` (`STYLES`). The three factors are independent: `VIRLEnv(city="nyc-like", style="old-town")` keeps the
training streets and names and draws them in the old-town look, so a study can shift one factor at a time.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .landmarks import VOCABULARIES

__all__ = ["CITY_PRESETS", "LAYOUTS", "STYLES", "TRAIN_CITY", "CityPreset", "LayoutSpec", "VisualStyle", "resolve_city"]


@dataclass(frozen=True)
class LayoutSpec:
    """Statistics of a street layout family.

    Args:
        family (`str`): `"grid"`, `"organic"`, `"high_street"` or `"mixed"` (grid district north, organic south).
        extent (`float`): Side of the city square in metres.
        block (`tuple[float, float]`): Mean block length along the two grid axes in metres (grid families).
        block_sd (`float`): Relative standard deviation of block lengths.
        rotation (`float`): Grid rotation in degrees (clockwise from north).
        jitter (`float`): Standard deviation of node positions in metres.
        p_drop (`float`): Probability of removing a street segment (dead ends, T-junctions, superblocks).
        spacing (`float`): Mean distance between junctions of organic layouts in metres.
        street_width (`float`): Road width in metres (rendering and lot set-back).
        lot (`tuple[float, float]`): Range of lot frontage widths in metres.
        p_shop (`float`): Probability that a mid-block lot holds a named place.
        p_corner (`float`): Probability that a corner lot holds a named place (turning-point landmarks).
        diagonal (`bool`): Add a diagonal avenue across the grid (5- and 6-way junctions, oblique headings).
        river (`bool`): A river across the middle of the city that only every third street crosses (bridges).
    """

    family: str
    extent: float = 900.0
    block: tuple[float, float] = (80.0, 120.0)
    block_sd: float = 0.1
    rotation: float = 0.0
    jitter: float = 1.0
    p_drop: float = 0.05
    spacing: float = 65.0
    street_width: float = 12.0
    lot: tuple[float, float] = (10.0, 20.0)
    p_shop: float = 0.6
    p_corner: float = 0.6
    diagonal: bool = False
    river: bool = False


@dataclass(frozen=True)
class VisualStyle:
    """Colours and shapes of a city's rendered street views (used by `render.py`).

    Args:
        sky (`tuple[tuple[int, int, int], tuple[int, int, int]]`): Sky colour at the top and at the horizon.
        ground (`tuple[int, int, int]`): Pavement colour.
        road (`tuple[int, int, int]`): Asphalt colour.
        lane (`tuple[int, int, int]`): Lane-marking colour (double yellow, white dashes, ...).
        facades (`tuple[tuple[int, int, int], ...]`): Facade palette.
        storeys (`tuple[int, int]`): Range of building storeys.
        sign (`str`): Sign form: `"fascia"`, `"blade"`, `"awning"` or `"painted"`.
        sign_colours (`tuple[tuple[int, int, int], ...]`): Sign background palette.
        text (`tuple[int, int, int]`): Sign text colour.
        window (`tuple[int, int, int]`): Window colour.
        haze (`float`): Blend towards the horizon colour with distance, 0 to 1.
        clutter (`int`): Number of trees, lamp posts and cars per view.
    """

    sky: tuple[tuple[int, int, int], tuple[int, int, int]]
    ground: tuple[int, int, int]
    road: tuple[int, int, int]
    lane: tuple[int, int, int]
    facades: tuple[tuple[int, int, int], ...]
    storeys: tuple[int, int]
    sign: str
    sign_colours: tuple[tuple[int, int, int], ...]
    text: tuple[int, int, int]
    window: tuple[int, int, int]
    haze: float = 0.2
    clutter: int = 2


@dataclass(frozen=True)
class CityPreset:
    """A city as three independently switchable factors (keys of `LAYOUTS`, `VOCABULARIES` and `STYLES`)."""

    layout: str
    vocabulary: str
    style: str


LAYOUTS: dict[str, LayoutSpec] = {
    "nyc-like": LayoutSpec("mixed", block=(75.0, 180.0), rotation=29.0, jitter=1.5, p_drop=0.04, diagonal=True),
    "old-town": LayoutSpec("organic", spacing=60.0, street_width=8.0, lot=(7.0, 14.0), p_shop=0.7),
    "high-street": LayoutSpec("high_street", block=(70.0, 90.0), block_sd=0.35, jitter=3.0, p_drop=0.15),
    "tower-grid": LayoutSpec("grid", block=(60.0, 100.0), street_width=10.0, lot=(6.0, 12.0), p_shop=0.8),
    "market": LayoutSpec("grid", block=(55.0, 70.0), block_sd=0.3, rotation=12.0, jitter=6.0, p_drop=0.22,
                         street_width=7.0, lot=(6.0, 10.0), p_shop=0.85),
    "riverside": LayoutSpec("grid", block=(140.0, 140.0), rotation=8.0, street_width=18.0, lot=(18.0, 30.0),
                            p_shop=0.45, p_corner=0.7, river=True),
    "low-rise": LayoutSpec("organic", spacing=80.0, jitter=4.0, street_width=10.0, lot=(10.0, 18.0), p_shop=0.5),
    "square-grid": LayoutSpec("grid", block=(110.0, 110.0), block_sd=0.02, jitter=0.0, p_drop=0.02),
    "bay-grid": LayoutSpec("grid", block=(90.0, 130.0), block_sd=0.05, jitter=0.5, p_drop=0.03, diagonal=True),
    "cast-iron": LayoutSpec("grid", block=(70.0, 160.0), rotation=29.0, jitter=1.0, p_drop=0.05, lot=(8.0, 14.0)),
}  # fmt: skip

_GREY_SKY = ((150, 160, 172), (205, 208, 212))
_BLUE_SKY = ((92, 150, 220), (190, 215, 240))
STYLES: dict[str, VisualStyle] = {
    "nyc-like": VisualStyle(_GREY_SKY, (150, 150, 148), (70, 70, 74), (230, 190, 40),
                            ((140, 70, 55), (120, 130, 140), (95, 110, 130), (160, 95, 70)), (6, 20), "fascia",
                            ((30, 60, 120), (150, 25, 30), (20, 20, 20), (240, 240, 235)), (255, 255, 255),
                            (60, 80, 100), 0.25, 2),
    "old-town": VisualStyle(_BLUE_SKY, (190, 170, 140), (110, 100, 95), (240, 240, 240),
                            ((215, 160, 90), (200, 110, 70), (225, 190, 130), (190, 130, 95)), (4, 6), "fascia",
                            ((60, 45, 35), (235, 225, 200), (40, 70, 50)), (240, 220, 170), (70, 90, 70), 0.1, 1),
    "high-street": VisualStyle(((120, 130, 150), (180, 185, 195)), (160, 155, 150), (60, 60, 62), (245, 245, 245),
                               ((150, 60, 45), (235, 232, 222), (120, 50, 40)), (3, 5), "blade",
                               ((20, 40, 30), (110, 20, 30), (15, 25, 60)), (230, 200, 90), (40, 50, 60), 0.3, 2),
    "tower-grid": VisualStyle(((60, 70, 100), (140, 140, 170)), (120, 120, 125), (50, 50, 55), (240, 240, 240),
                              ((200, 200, 190), (150, 160, 170), (180, 170, 160)), (18, 40), "blade",
                              ((230, 30, 90), (20, 200, 220), (250, 220, 30), (140, 40, 220)), (255, 255, 255),
                              (90, 110, 140), 0.35, 3),
    "market": VisualStyle(((200, 190, 160), (235, 225, 200)), (175, 150, 120), (95, 90, 85), (250, 250, 250),
                          ((190, 190, 185), (210, 200, 170), (170, 160, 150)), (2, 4), "painted",
                          ((250, 200, 0), (0, 160, 80), (230, 50, 30), (0, 90, 200)), (20, 20, 20), (60, 60, 60),
                          0.4, 5),
    "riverside": VisualStyle(_BLUE_SKY, (185, 185, 180), (55, 55, 60), (245, 245, 245),
                             ((120, 170, 200), (90, 130, 160), (200, 210, 215)), (10, 35), "fascia",
                             ((245, 245, 245), (30, 30, 30)), (30, 30, 30), (130, 180, 210), 0.15, 1),
    "low-rise": VisualStyle(((110, 170, 230), (230, 230, 210)), (170, 120, 80), (120, 100, 80), (250, 250, 250),
                            ((230, 210, 120), (120, 190, 170), (220, 140, 120), (200, 200, 200)), (1, 3), "painted",
                            ((20, 120, 60), (200, 30, 30), (30, 60, 160)), (255, 255, 240), (50, 50, 50), 0.3, 4),
    "square-grid": VisualStyle(_BLUE_SKY, (175, 170, 160), (75, 75, 78), (245, 245, 245),
                               ((225, 215, 195), (205, 195, 180), (235, 230, 220)), (5, 8), "awning",
                               ((30, 30, 30), (100, 20, 30), (20, 60, 40)), (240, 230, 210), (50, 60, 70), 0.2, 2),
    "bay-grid": VisualStyle(((140, 175, 215), (225, 230, 235)), (185, 180, 175), (80, 80, 85), (245, 245, 245),
                            ((240, 200, 210), (200, 225, 240), (250, 235, 190), (210, 240, 210)), (2, 4), "awning",
                            ((60, 120, 170), (200, 90, 100), (90, 160, 120)), (255, 255, 255), (120, 140, 160),
                            0.35, 2),
    "cast-iron": VisualStyle(_GREY_SKY, (140, 140, 138), (65, 65, 70), (230, 190, 40),
                             ((110, 115, 120), (170, 160, 140), (90, 90, 95)), (5, 7), "fascia",
                             ((15, 15, 15), (90, 15, 20), (200, 180, 120)), (230, 200, 120), (40, 50, 60), 0.25, 3),
}  # fmt: skip

CITY_PRESETS: dict[str, CityPreset] = {
    "nyc-like": CityPreset("nyc-like", "us-east", "nyc-like"),  # training city
    "old-town": CityPreset("old-town", "italian", "old-town"),  # Milan-like
    "high-street": CityPreset("high-street", "uk", "high-street"),  # London-like
    "tower-grid": CityPreset("tower-grid", "cantonese", "tower-grid"),  # Hong Kong-like
    "market": CityPreset("market", "hindi", "market"),  # New Delhi-like
    "riverside": CityPreset("riverside", "au", "riverside"),  # Melbourne-like
    "low-rise": CityPreset("low-rise", "nigerian", "low-rise"),  # Lagos-like
    "square-grid": CityPreset("square-grid", "argentine", "square-grid"),  # Buenos Aires-like
    "bay-grid": CityPreset("bay-grid", "us-west", "bay-grid"),  # San Francisco-like
    "cast-iron": CityPreset("cast-iron", "us-east-alt", "cast-iron"),  # SoHo-like (near OOD)
}
TRAIN_CITY = "nyc-like"


def _pick(name: str, table: dict, field_name: str, attr: str) -> str:
    """A factor given by its own key, or by a preset name (taking that preset's factor)."""
    if name in table:
        return name
    if name in CITY_PRESETS:
        return getattr(CITY_PRESETS[name], attr)
    close = difflib.get_close_matches(name, list(table) + list(CITY_PRESETS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"`{field_name}={name!r}` is not a known {field_name}. Valid values: {sorted(set(table) | set(CITY_PRESETS))}."
        f"{hint}"
    )


def resolve_city(
    city: str | CityPreset = TRAIN_CITY, layout: str | None = None, vocabulary: str | None = None, style: str | None = None
) -> CityPreset:
    """Resolve a preset name (or a `CityPreset`) and optional per-factor overrides into a `CityPreset`.

    Each override is a key of its own table or a preset name, meaning "this factor of that preset".

    >>> resolve_city("nyc-like", style="old-town")
    CityPreset(layout='nyc-like', vocabulary='us-east', style='old-town')
    """
    if isinstance(city, CityPreset):
        base = city
    elif isinstance(city, str):
        if city not in CITY_PRESETS:
            close = difflib.get_close_matches(city, list(CITY_PRESETS), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"`city={city!r}` is not a preset. Valid values: {sorted(CITY_PRESETS)}.{hint}")
        base = CITY_PRESETS[city]
    else:
        raise TypeError(f"`city` must be a preset name or a `CityPreset`, got {type(city).__name__}.")
    return CityPreset(
        _pick(layout, LAYOUTS, "layout", "layout") if layout is not None else base.layout,
        _pick(vocabulary, VOCABULARIES, "vocabulary", "vocabulary") if vocabulary is not None else base.vocabulary,
        _pick(style, STYLES, "style", "style") if style is not None else base.style,
    )
