"""PIL rendering of V-IRL-VL observations: a 2x2 grid of street views drawn from the same geometry as the text.

Each view is a pinhole camera (2.5 m high, pitch 0, 90° field of view) at the rail position. Places are billboards
at their true bearing and distance: the upper facade as flat shapes, the storefront and sign as a cached sprite with
the place's name (drawn once per place and style, with a small mip pyramid, then resized per draw). The renderer
returns a draw log with the box of every place it drew, so tests and a landmark-recognition metric can check that
"X is on your left" puts X in the left view.

Layouts (quirk 3 of reference/virl_spec.md §1.11): `"prompt"` (default) draws what the prompt says,
`[front, right / back, left]` at heading +0/+90/+180/+270; `"paper_code"` draws what the SFTvsRL code renders,
heading -135/-45/+45/+135 pasted row by row.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .city import City, bearing
from .presets import STYLES, VisualStyle

__all__ = ["DEFAULT_TILE_SIZE", "VIEW_LAYOUTS", "DrawnPlace", "render_views"]

DEFAULT_TILE_SIZE = 96
SEPARATOR = 5  # black pixels between tiles, as in the original
CAMERA_HEIGHT = 2.5
VIEW_RADIUS = 60.0
NEAR = 1.5
VIEW_LAYOUTS: dict[str, tuple[tuple[str, float], ...]] = {
    "prompt": (("front", 0.0), ("right", 90.0), ("back", 180.0), ("left", 270.0)),
    "paper_code": (("left behind", -135.0), ("left front", -45.0), ("right front", 45.0), ("right behind", 135.0)),
}
_SIGN_W, _SIGN_H = 128, 64  # canonical storefront sprite; world size 12 m x 6 m
_LADDER = 1.06
_LOG_LADDER = math.log(_LADDER)
_STOREFRONT_M = 6.0


@dataclass(frozen=True)
class DrawnPlace:
    """Where the renderer drew one place: canvas pixel box `(x0, y0, x1, y1)` of its storefront and sign."""

    pid: int
    name: str
    tile: int
    view: str
    box: tuple[int, int, int, int]
    distance: float


@functools.lru_cache(maxsize=65536)
def _colour(name: str, palette):
    h = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=2).digest(), "little")
    return palette[h % len(palette)]


@functools.lru_cache(maxsize=8)
def _font(size: int):
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=64)
def _background(style: VisualStyle, tile: int) -> Image.Image:
    img = Image.new("RGB", (tile, tile), style.ground)
    draw = ImageDraw.Draw(img)
    (r0, g0, b0), (r1, g1, b1) = style.sky
    half = tile // 2
    for y in range(half):
        t = y / max(1, half - 1)
        draw.line([(0, y), (tile, y)], fill=(int(r0 + (r1 - r0) * t), int(g0 + (g1 - g0) * t), int(b0 + (b1 - b0) * t)))
    return img


_SPRITES: OrderedDict[tuple, tuple[Image.Image, ...]] = OrderedDict()
_SIZED: OrderedDict[tuple, Image.Image] = OrderedDict()
_MAX_SPRITES, _MAX_SIZED = 8192, 32768


def _sprite_pyramid(name: str, style: VisualStyle) -> tuple[Image.Image, ...]:
    key = (name, style)
    hit = _SPRITES.get(key)
    if hit is not None:
        return hit
    sign_bg = _colour(name, style.sign_colours)
    facade = _colour(name[::-1], style.facades)
    img = Image.new("RGB", (_SIGN_W, _SIGN_H), facade)
    d = ImageDraw.Draw(img)
    d.rectangle([12, 30, _SIGN_W - 12, _SIGN_H - 1], fill=style.window)  # shop window and door
    d.rectangle([_SIGN_W // 2 - 8, 34, _SIGN_W // 2 + 8, _SIGN_H - 1], fill=tuple(c // 2 for c in facade))
    if style.sign == "awning":
        d.polygon([(0, 26), (_SIGN_W, 26), (_SIGN_W - 6, 32), (6, 32)], fill=sign_bg)
    if style.sign == "blade":
        d.rectangle([0, 0, _SIGN_W - 1, 27], fill=facade)
        d.rectangle([_SIGN_W - 30, 0, _SIGN_W - 1, 27], fill=sign_bg)  # colour code of the hanging blade
        d.rectangle([2, 2, _SIGN_W - 34, 25], fill=sign_bg)
        box = (4, 2, _SIGN_W - 34)
    else:
        d.rectangle([0, 0, _SIGN_W - 1, 25 if style.sign != "painted" else 27], fill=sign_bg)
        box = (3, 2, _SIGN_W - 3)
    words = name.split()
    lines, cur = [], ""
    font = _font(11)
    for w in words:  # wrap to two lines
        trial = f"{cur} {w}".strip()
        if cur and d.textlength(trial, font=font) > box[2] - box[0]:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    lines.append(cur)
    for i, line in enumerate(lines[:2]):
        d.text((box[0], box[1] + 11 * i), line, fill=style.text, font=font)
    pyramid = [img]
    while pyramid[-1].width > 16:
        pyramid.append(pyramid[-1].reduce(2))
    result = tuple(pyramid)
    _SPRITES[key] = result
    if len(_SPRITES) > _MAX_SPRITES:
        _SPRITES.popitem(last=False)
    return result


def _sized(name: str, style: VisualStyle, w: int, h: int) -> Image.Image:
    key = (name, style, w, h)
    hit = _SIZED.get(key)
    if hit is not None:
        return hit
    pyramid = _sprite_pyramid(name, style)
    level = pyramid[0]
    for im in pyramid:  # smallest level still at least as large as the target
        if im.width >= w and im.height >= h:
            level = im
    out = level.resize((w, h), Image.BILINEAR)
    _SIZED[key] = out
    if len(_SIZED) > _MAX_SIZED:
        _SIZED.popitem(last=False)
    return out


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _street_directions(city: City, xy) -> tuple[list[float], float | None]:
    """Bearings of the streets leaving `xy`, and the distance to the nearest junction if within 25 m."""
    nodes, adj = city.nodes, city.adjacency
    best, best_d = None, 1e9
    dirs: list[float] = []
    junction = None
    # nearest junction
    d2 = ((nodes[:, 0] - xy[0]) ** 2 + (nodes[:, 1] - xy[1]) ** 2)
    j = int(d2.argmin())
    if d2[j] < 25.0**2:
        junction = math.sqrt(float(d2[j]))
        dirs.extend(bearing(nodes[j], nodes[w]) for w in adj[j])
    # street we stand on: the incident segment of the nearest junction closest to xy
    for w in adj[j]:
        ax, ay = nodes[j]
        bx, by = nodes[w]
        vx, vy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((xy[0] - ax) * vx + (xy[1] - ay) * vy) / (vx * vx + vy * vy)))
        d = math.hypot(ax + t * vx - xy[0], ay + t * vy - xy[1])
        if d < best_d:
            best, best_d = (j, w), d
    if best is not None and junction is None:
        b = bearing(nodes[best[0]], nodes[best[1]])
        dirs.extend([b, (b + 180.0) % 360.0])
    return dirs, junction


def render_views(
    city: City,
    xy: tuple[float, float],
    heading: float,
    style: VisualStyle | str | None = None,
    tile_size: int = DEFAULT_TILE_SIZE,
    layout: str = "prompt",
) -> tuple[Image.Image, list[DrawnPlace]]:
    """Render the 2x2 street-view grid seen from `xy` facing `heading`.

    Args:
        city (`City`): The city (from `generate_city`).
        xy (`tuple[float, float]`): Camera position in metres.
        heading (`float`): Agent heading in compass degrees.
        style (`VisualStyle` or `str`, *optional*): A `VisualStyle` or a key of `STYLES`; defaults to the city's.
        tile_size (`int`, *optional*, defaults to `96`): Side of one view in pixels; the canvas is
            `2 * tile_size + 5` pixels square.
        layout (`str`, *optional*, defaults to `"prompt"`): `"prompt"` or `"paper_code"` (see module docstring).

    Returns:
        `(image, drawn)`: the RGB canvas and one `DrawnPlace` per place drawn (far to near).

    >>> from sft_vs_rl.envs.virl import generate_city
    >>> image, drawn = render_views(generate_city("nyc-like"), (400.0, 500.0), 90, tile_size=64)
    >>> image.size
    (133, 133)
    """
    if not isinstance(tile_size, int) or tile_size < 16:
        raise ValueError(f"`tile_size={tile_size!r}` must be an int >= 16 (pixels per view).")
    if layout not in VIEW_LAYOUTS:
        raise ValueError(f"`layout={layout!r}` must be one of {sorted(VIEW_LAYOUTS)}.")
    style = STYLES[style or city.preset.style] if not isinstance(style, VisualStyle) else style
    tile = tile_size
    canvas = Image.new("RGB", (2 * tile + SEPARATOR, 2 * tile + SEPARATOR), (0, 0, 0))
    places = [(p, math.hypot(p.xy[0] - xy[0], p.xy[1] - xy[1]), bearing(xy, p.xy))
              for p in city.places_near(xy, VIEW_RADIUS)]
    street_dirs, junction = _street_directions(city, xy)
    drawn: list[DrawnPlace] = []
    for t_idx, (view, offset) in enumerate(VIEW_LAYOUTS[layout]):
        view_heading = heading + offset
        img = _background(style, tile).copy()
        draw = ImageDraw.Draw(img)
        _draw_streets(draw, street_dirs, view_heading, city.layout.street_width / 2.0, style, tile)
        if junction is not None and junction < 15.0:  # crosswalk stripes: the visual intersection cue
            _draw_crosswalk(draw, junction, tile)
        origin = ((t_idx % 2) * (tile + SEPARATOR), (t_idx // 2) * (tile + SEPARATOR))
        for z, p, x, d in _places_in_view(places, view_heading):
            box = _draw_place(img, draw, p, z, x, style, tile)
            if box is not None:
                x0, y0, x1, y1 = box
                drawn.append(DrawnPlace(p.pid, p.name, t_idx, view,
                                        (x0 + origin[0], y0 + origin[1], x1 + origin[0], y1 + origin[1]), d))
        canvas.paste(img, origin)
    return canvas, drawn


def _project(tile: int, z: float, x: float) -> tuple[float, float]:
    """Pixel of the ground point `z` metres ahead and `x` to the right (90° field of view: focal length tile/2)."""
    f = c = tile / 2.0
    return c + f * x / z, c + f * CAMERA_HEIGHT / z


def _draw_streets(draw, street_dirs: list[float], view_heading: float, road_half: float, style: VisualStyle,
                  tile: int) -> None:
    """Road surface and lane marking of every street leaving the position within ±80° of the view."""
    for b in street_dirs:
        rel = math.radians(_wrap(b - view_heading))
        if abs(rel) > math.radians(80):
            continue
        c, s = math.cos(rel), math.sin(rel)
        poly = []
        for along, lateral in ((3.0, -road_half), (120.0, -road_half), (120.0, road_half), (3.0, road_half)):
            z, x = along * c - lateral * s, along * s + lateral * c
            poly.append(_project(tile, max(z, 0.6), x))
        draw.polygon(poly, fill=style.road)
        pts = [_project(tile, along * c, along * s) for along in (4.0, 60.0) if along * c > 0.6]
        if len(pts) == 2:
            draw.line(pts, fill=style.lane, width=max(1, tile // 64))


def _draw_crosswalk(draw, junction: float, tile: int) -> None:
    """Crosswalk stripes `junction` metres ahead."""
    y0 = int(_project(tile, max(junction + 4.0, 2.0), 0.0)[1])
    for i in range(0, tile, max(4, tile // 12)):
        draw.rectangle([i, y0, i + max(1, tile // 24), y0 + max(1, tile // 32)], fill=(235, 235, 235))


def _places_in_view(places, view_heading: float) -> list[tuple[float, Any, float, float]]:
    """`(depth, place, lateral, distance)` of the places within ±70° of the view and beyond `NEAR`, far to near."""
    items = []
    for p, d, b in places:
        rel = _wrap(b - view_heading)
        if abs(rel) > 70.0:
            continue
        r = math.radians(rel)
        z, x = d * math.cos(r), d * math.sin(r)
        if z >= NEAR:
            items.append((z, p, x, d))
    items.sort(key=lambda it: (-it[0], it[1].pid))
    return items


def _draw_place(img: Image.Image, draw, p, z: float, x: float, style: VisualStyle,
                tile: int) -> tuple[int, int, int, int] | None:
    """Draw one place (facade, windows, storefront sprite) at depth `z`; the sprite's box in the view, if visible."""
    width_m = min(p.width, 14.0)
    f = tile / 2.0
    u, bottom = _project(tile, z, x)
    w = f * width_m / z
    top_sign = bottom - f * _STOREFRONT_M / z
    lo, hi = style.storeys
    storeys = lo + p.variant % (hi - lo + 1)
    top = bottom - f * (storeys * 3.2) / z
    x0, x1 = int(u - w / 2), int(u + w / 2)
    if x1 <= 0 or x0 >= tile or x1 - x0 < 1:
        return None
    y_top, y_sign = max(int(top), -1), int(top_sign)
    if y_sign > y_top:
        draw.rectangle([x0, y_top, x1, y_sign], fill=_colour(p.name[::-1], style.facades))
        win = max(1, int(w / 6))
        if y_sign - win > y_top + win:
            for wx in (x0 + win, x1 - 2 * win):
                draw.rectangle([wx, y_top + win, wx + win, y_sign - win], fill=style.window)
    # Sprite sizes snap to a 6% ladder so that resized sprites are reused across positions.
    sh = max(1, round(_LADDER ** round(math.log(max(bottom - top_sign, 1.0)) / _LOG_LADDER)))
    sw = max(1, round(sh * width_m / _STOREFRONT_M))
    x0, x1 = int(u - sw / 2), int(u - sw / 2) + sw
    if sh >= 3:
        img.paste(_sized(p.name, style, sw, sh), (x0, int(bottom) - sh))
    else:  # a few pixels: the sign colour is all that could be seen
        draw.rectangle([x0, int(bottom) - sh, x1 - 1, int(bottom) - 1], fill=_colour(p.name, style.sign_colours))
    y_s = int(bottom) - sh
    box = (max(0, x0), max(0, y_s), min(tile, x1), min(tile, y_s + sh))
    return box if box[2] > box[0] and box[3] > box[1] else None


def drawn_by_name(drawn: list[DrawnPlace]) -> dict[str, Any]:
    """Group a draw log by place name: `{name: [(view, box), ...]}`."""
    out: dict[str, list] = {}
    for item in drawn:
        out.setdefault(item.name, []).append((item.view, item.box))
    return out
