"""Seeded synthetic street graphs with named places on lots (the V-IRL city substitute).

Coordinates are local metres, `x` east and `y` north; bearings are compass degrees (0 = north, clockwise), as in
V-IRL. A city depends only on `(layout, vocabulary, seed)`: the street graph and lots draw from a layout stream and
the names from a vocabulary stream, so swapping the vocabulary keeps the streets and lots (one factor at a time).
Styles only change rendering.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from dataclasses import dataclass

import numpy as np

from .landmarks import CATEGORIES, DESTINATION_CATEGORIES, VOCABULARIES, make_name
from .presets import LAYOUTS, CityPreset, LayoutSpec, resolve_city

__all__ = ["City", "Place", "bearing", "city_rng", "generate_city"]

LANDMARK_RADIUS = 18.0  # metres; V-IRL collector: landmark within 18 m of the turning point ...
MIN_PROMINENCE = 10  # ... with at least 10 reviews, the most reviewed one wins.


@dataclass(frozen=True)
class Place:
    """A named place on a lot.

    Args:
        pid (`int`): Index in `City.places`.
        name (`str`): Sign text (unique in its city).
        category (`str`): One of `landmarks.CATEGORIES`.
        xy (`tuple[float, float]`): Facade centre in metres.
        prominence (`int`): Synthetic review count; landmark choice prefers prominent places.
        edge (`tuple[int, int]`): Street segment (node ids, smaller first) whose frontage the lot faces.
        along (`float`): Distance from `edge[0]` along the segment in metres.
        width (`float`): Frontage width in metres.
        variant (`int`): Sprite variant (facade colour, storeys) drawn from a stable hash of the name.
    """

    pid: int
    name: str
    category: str
    xy: tuple[float, float]
    prominence: int
    edge: tuple[int, int]
    along: float
    width: float
    variant: int


@dataclass(frozen=True, eq=False)
class City:
    """A street graph with places. Build it with `generate_city`.

    Args:
        preset (`CityPreset`): The layout, vocabulary and style it was built from.
        seed (`int`): Generator seed.
        nodes (`np.ndarray`): Junction positions, shape `(N, 2)`.
        adjacency (`tuple[tuple[int, ...], ...]`): Sorted neighbour ids per node.
        places (`tuple[Place, ...]`): All named places.
        node_landmark (`tuple[int, ...]`): Per node, the pid of its landmark (most prominent place within 18 m with
            prominence >= 10) or -1.
        edge_destinations (`dict[tuple[int, int], tuple[int, ...]]`): Destination-category pids per street segment.
        cells (`dict[tuple[int, int], tuple[int, ...]]`): Spatial hash of places (30 m cells) for rendering.
        points (`tuple[tuple[float, float], ...]`): `nodes` as Python floats (fast scalar access for route walks).
        bearings (`tuple[tuple[float, ...], ...]`): Per node, the bearing towards each neighbour in `adjacency`.
    """

    preset: CityPreset
    seed: int
    nodes: np.ndarray
    adjacency: tuple[tuple[int, ...], ...]
    places: tuple[Place, ...]
    node_landmark: tuple[int, ...]
    edge_destinations: dict[tuple[int, int], tuple[int, ...]]
    cells: dict[tuple[int, int], tuple[int, ...]]
    points: tuple[tuple[float, float], ...] = ()
    bearings: tuple[tuple[float, ...], ...] = ()

    @property
    def layout(self) -> LayoutSpec:
        return LAYOUTS[self.preset.layout]

    def places_near(self, xy: tuple[float, float], radius: float) -> list[Place]:
        """Places whose facade centre lies within `radius` metres of `xy`, sorted by pid."""
        cx, cy = int(xy[0] // CELL), int(xy[1] // CELL)
        reach = int(radius // CELL) + 1
        found = []
        for i in range(cx - reach, cx + reach + 1):
            for j in range(cy - reach, cy + reach + 1):
                for pid in self.cells.get((i, j), ()):
                    p = self.places[pid]
                    if math.hypot(p.xy[0] - xy[0], p.xy[1] - xy[1]) <= radius:
                        found.append(p)
        found.sort(key=lambda p: p.pid)
        return found

    def describe(self) -> dict:
        """Layout statistics: node-degree histogram, segment-length quantiles, 8-bin heading histogram, place count."""
        degrees = [len(a) for a in self.adjacency]
        lengths, headings = [], [0] * 8
        for u, nbrs in enumerate(self.adjacency):
            for v in nbrs:
                b = bearing(self.nodes[u], self.nodes[v])
                headings[int((b + 22.5) // 45) % 8] += 1
                if u < v:
                    lengths.append(float(np.hypot(*(self.nodes[v] - self.nodes[u]))))
        total = sum(headings)
        return {
            "nodes": len(degrees),
            "degree_histogram": {d: degrees.count(d) for d in sorted(set(degrees))},
            "segment_length_quantiles": [round(float(q), 1) for q in np.quantile(lengths, [0.1, 0.5, 0.9])],
            "heading_histogram": [round(h / total, 3) for h in headings],
            "places": len(self.places),
            "landmark_rate": round(sum(p >= 0 for p in self.node_landmark) / len(self.node_landmark), 3),
        }


CELL = 30.0


def bearing(a, b) -> float:
    """Compass bearing in degrees `[0, 360)` from point `a` to point `b` (0 = north, clockwise).

    >>> bearing((0, 0), (1, 1))
    45.0
    """
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0


def city_rng(*key) -> random.Random:
    """A `random.Random` seeded from a tuple key through `blake2b` (stable across runs and processes, order-free:
    each key is its own stream, never the salted built-in `hash`)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "little"))


# ----------------------------------------------------------------------------------------------------------------------
# Street graphs


def _lattice(spec: LayoutSpec, rng: random.Random, extent_x: float, extent_y: float, warp: float = 0.0):
    """Jittered lattice with per-row/column spacings, an optional sinusoidal warp; returns (points, edges)."""
    a, b = spec.block

    def cuts(length, mean):
        out, t = [0.0], 0.0
        while t < length:
            t += max(0.4 * mean, rng.gauss(mean, spec.block_sd * mean))
            out.append(t)
        return out

    xs, ys = cuts(extent_x, a), cuts(extent_y, b)
    index, points, edges = {}, [], set()
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            wy = warp * math.sin(x / 220.0) if warp else 0.0
            index[i, j] = len(points)
            points.append((x + rng.gauss(0, spec.jitter), y + wy + rng.gauss(0, spec.jitter)))
    for i in range(len(xs)):
        for j in range(len(ys)):
            if i + 1 < len(xs):
                edges.add((index[i, j], index[i + 1, j]))
            if j + 1 < len(ys):
                edges.add((index[i, j], index[i, j + 1]))
    edges = {e for e in edges if rng.random() >= spec.p_drop}
    return points, edges


def _organic(spec: LayoutSpec, rng: random.Random, extent_x: float, extent_y: float):
    """Dart-throwing junctions joined by a pruned Gabriel graph (planar, many 3-way junctions, oblique streets)."""
    r = spec.spacing * 0.75
    target = int(extent_x * extent_y / (spec.spacing**2))
    grid: dict[tuple[int, int], list[int]] = {}
    points: list[tuple[float, float]] = []
    for _ in range(target * 30):
        if len(points) >= target:
            break
        p = (rng.uniform(0, extent_x), rng.uniform(0, extent_y))
        ci, cj = int(p[0] // r), int(p[1] // r)
        if any(
            math.hypot(points[k][0] - p[0], points[k][1] - p[1]) < r
            for di in (-1, 0, 1)
            for dj in (-1, 0, 1)
            for k in grid.get((ci + di, cj + dj), ())
        ):
            continue
        grid.setdefault((ci, cj), []).append(len(points))
        points.append(p)
    arr = np.asarray(points)
    d2 = ((arr[:, None, :] - arr[None, :, :]) ** 2).sum(-1)
    near = np.argsort(d2, axis=1)[:, 1:10]
    edges = set()
    for i in range(len(points)):
        for j in near[i][:6]:
            j = int(j)
            mid = (arr[i] + arr[j]) / 2
            rad2 = d2[i, j] / 4
            if all(((arr[k] - mid) ** 2).sum() >= rad2 for k in near[i] if k != j):  # Gabriel condition
                edges.add((min(i, j), max(i, j)))
    edges = {e for e in edges if d2[e] < (2.2 * spec.spacing) ** 2 and rng.random() >= spec.p_drop + 0.3}
    return points, edges


def _rotate(points, degrees: float, centre):
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    # Rotating the lattice clockwise by `degrees` turns its "north" axis into bearing `degrees`.
    return [
        (centre[0] + (x - centre[0]) * c + (y - centre[1]) * s, centre[1] - (x - centre[0]) * s + (y - centre[1]) * c)
        for x, y in points
    ]


def _add_diagonal(points, edges, rng: random.Random, extent: float):
    """Split every segment that a straight avenue crosses and chain the crossings (Broadway-style)."""
    angle = math.radians(rng.uniform(35, 55))
    p0 = np.array([extent * 0.1, extent * 0.1])
    d = np.array([math.sin(angle), math.cos(angle)])
    pts = [np.asarray(p, float) for p in points]
    crossings, new_edges = [], set()
    for u, v in edges:
        a, b = pts[u], pts[v]
        m = np.array([[d[0], a[0] - b[0]], [d[1], a[1] - b[1]]])
        if abs(np.linalg.det(m)) < 1e-9:
            new_edges.add((u, v))
            continue
        s, t = np.linalg.solve(m, a - p0)
        if 0.15 < t < 0.85 and s > 0:
            k = len(pts)
            pts.append(a + t * (b - a))
            crossings.append((s, k))
            new_edges |= {(u, k), (v, k)}
        else:
            new_edges.add((u, v))
    crossings.sort()
    for (_, k1), (_, k2) in zip(crossings, crossings[1:]):
        if np.hypot(*(pts[k1] - pts[k2])) < 200:
            new_edges.add((k1, k2))
    return [tuple(p) for p in pts], new_edges


def _street_graph(spec: LayoutSpec, rng: random.Random):
    e = spec.extent
    if spec.family == "grid":
        points, edges = _lattice(spec, rng, e, e)
    elif spec.family == "organic":
        points, edges = _organic(spec, rng, e, e)
    elif spec.family == "high_street":
        points, edges = _lattice(spec, rng, e * 1.4, e * 0.45, warp=25.0)
    elif spec.family == "mixed":
        points, edges = _lattice(spec, rng, e, e * 0.6)
        points = [(x, y + e * 0.45) for x, y in points]
        lower, lower_edges = _organic(spec, rng, e, e * 0.45)
        off = len(points)
        points = points + lower
        edges = edges | {(u + off, v + off) for u, v in lower_edges}
        # Stitch the seam: each southern-edge grid node joins its nearest organic node.
        arr = np.asarray(points)
        for u in range(off):
            if arr[u, 1] < e * 0.45 + spec.block[1] * 0.6:
                d = np.hypot(*(arr[off:] - arr[u]).T)
                v = int(np.argmin(d)) + off
                if d[v - off] < 2.5 * spec.spacing:
                    edges.add((u, v))
    else:
        raise ValueError(f"`family={spec.family!r}` is not a layout family. Use 'grid', 'organic', 'high_street' or 'mixed'.")
    if spec.river:  # only every third street crossing the river's line keeps its bridge
        y_river = e * 0.5 + 0.37 * spec.block[1]
        crossing = sorted(
            ((points[u][0] + points[v][0]) / 2, u, v)
            for u, v in edges
            if (points[u][1] - y_river) * (points[v][1] - y_river) < 0
        )
        edges = edges - {(u, v) for i, (_, u, v) in enumerate(crossing) if i % 3 != 1}
    if spec.family in ("grid", "mixed") and spec.rotation:
        points = _rotate(points, spec.rotation, (e / 2, e / 2))
    if spec.diagonal:
        points, edges = _add_diagonal(points, edges, rng, e)
    return _clean(points, edges)


def _clean(points, edges):
    """Drop segments shorter than 25 m, keep the largest connected component, renumber nodes."""
    arr = np.asarray(points, float)
    edges = {(min(u, v), max(u, v)) for u, v in edges if u != v and np.hypot(*(arr[u] - arr[v])) >= 25.0}
    adj: dict[int, set[int]] = {}
    for u, v in edges:
        adj.setdefault(u, set()).add(v)
        adj.setdefault(v, set()).add(u)
    best: set[int] = set()
    seen: set[int] = set()
    for start in sorted(adj):
        if start in seen:
            continue
        comp, stack = {start}, [start]
        while stack:
            for w in adj[stack.pop()]:
                if w not in comp:
                    comp.add(w)
                    stack.append(w)
        seen |= comp
        if len(comp) > len(best):
            best = comp
    order = sorted(best)
    new = {old: i for i, old in enumerate(order)}
    nodes = np.round(arr[order], 2)
    adjacency = tuple(tuple(sorted(new[w] for w in adj[old])) for old in order)
    return nodes, adjacency


# ----------------------------------------------------------------------------------------------------------------------
# Lots and places


def _places(nodes, adjacency, spec: LayoutSpec, vocab_name: str, seed: int):
    lot_rng = city_rng("lots", seed, spec)
    name_rng = city_rng("names", seed, vocab_name)
    vocab = VOCABULARIES[vocab_name]
    weights = vocab.weights()
    setback = spec.street_width / 2 + 4.0
    places: list[Place] = []
    used: set[str] = set()
    for u, nbrs in enumerate(adjacency):
        for v in nbrs:
            if v < u:
                continue
            a, b = nodes[u], nodes[v]
            length = float(np.hypot(*(b - a)))
            dx, dy = (b - a) / length
            normal = (dy, -dx)  # right-hand side of u -> v
            for side in (1, -1):
                s = 9.0
                while s <= length - 9.0:
                    width = lot_rng.uniform(*spec.lot)
                    corner = s < 14.0 or s > length - 14.0
                    has_place = lot_rng.random() < (spec.p_corner if corner else spec.p_shop)
                    prominence = int(lot_rng.lognormvariate(2.0, 1.2))
                    u_cat = lot_rng.random()
                    if has_place:
                        category = _weighted(CATEGORIES, weights, u_cat)
                        for _ in range(20):
                            name = make_name(vocab, category, name_rng)
                            if name not in used:
                                break
                        else:
                            name = None
                        if name is not None:
                            used.add(name)
                            xy = (
                                round(float(a[0] + dx * s + normal[0] * side * setback), 2),
                                round(float(a[1] + dy * s + normal[1] * side * setback), 2),
                            )
                            variant = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=2).digest(), "little")
                            places.append(Place(len(places), name, category, xy, prominence, (u, v), s, width, variant))
                    s += width
    return tuple(places)


def _weighted(items, weights, u: float):
    total = sum(weights)
    acc = 0.0
    for item, w in zip(items, weights):
        acc += w / total
        if u < acc:
            return item
    return items[-1]


@functools.lru_cache(maxsize=32)
def _generate(layout: str, vocabulary: str, style: str, seed: int) -> City:
    spec = LAYOUTS[layout]
    nodes, adjacency = _street_graph(spec, city_rng("streets", seed, spec))
    places = _places(nodes, adjacency, spec, vocabulary, seed)
    cells: dict[tuple[int, int], list[int]] = {}
    for p in places:
        cells.setdefault((int(p.xy[0] // CELL), int(p.xy[1] // CELL)), []).append(p.pid)
    frozen_cells = {k: tuple(v) for k, v in cells.items()}
    city = City(CityPreset(layout, vocabulary, style), seed, nodes, adjacency, places, (), {}, frozen_cells)
    node_landmark = []
    for xy in nodes:
        best = [p for p in city.places_near(tuple(xy), LANDMARK_RADIUS) if p.prominence >= MIN_PROMINENCE]
        node_landmark.append(max(best, key=lambda p: (p.prominence, -p.pid)).pid if best else -1)
    dests: dict[tuple[int, int], list[int]] = {}
    for p in places:
        if p.category in DESTINATION_CATEGORIES:
            dests.setdefault(p.edge, []).append(p.pid)
    object.__setattr__(city, "node_landmark", tuple(node_landmark))
    object.__setattr__(city, "edge_destinations", {k: tuple(v) for k, v in dests.items()})
    points = tuple((float(x), float(y)) for x, y in nodes)
    object.__setattr__(city, "points", points)
    object.__setattr__(
        city, "bearings", tuple(tuple(bearing(points[u], points[v]) for v in nbrs) for u, nbrs in enumerate(adjacency))
    )
    return city


def generate_city(
    city: str | CityPreset = "nyc-like",
    seed: int = 0,
    *,
    layout: str | None = None,
    vocabulary: str | None = None,
    style: str | None = None,
) -> City:
    """Build (or fetch from a small cache) the synthetic city `city` with generator seed `seed`.

    Args:
        city (`str` or `CityPreset`, *optional*, defaults to `"nyc-like"`):
            A key of `CITY_PRESETS` or a `CityPreset`.
        seed (`int`, *optional*, defaults to `0`):
            Generator seed. The same `(preset, seed)` always gives the same city.
        layout, vocabulary, style (`str`, *optional*):
            Override one factor: a key of `LAYOUTS` / `VOCABULARIES` / `STYLES`, or a preset name.

    >>> city = generate_city("old-town", seed=1)
    >>> city.preset.vocabulary, len(city.places) > 100
    ('italian', True)
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"`seed` must be an int, got {seed!r}.")
    preset = resolve_city(city, layout, vocabulary, style)
    return _generate(preset.layout, preset.vocabulary, preset.style, seed)
