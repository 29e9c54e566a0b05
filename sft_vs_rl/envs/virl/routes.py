"""Routes by constrained random walk, and the SFTvsRL "rail": instruction sentences and one expected action per
position.

A `Route` is small, JSON-able data (`to_dict` / `from_dict`): the start, the milestones (turning points and the stop
point, with their V-IRL milestone records) and the city it came from. An *episode* of a route adds two draws, the
initial heading and which forward points are kept; `build_episode` turns (route, draws) into the numbered
instruction and the rail, following SFTvsRL's `_parse_instruction_and_rail` (reference/virl_spec.md §1.3-§1.4).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..heldout import in_heldout_pool
from .city import City, bearing, city_rng
from .observe import NO_LANDMARK, NO_LANDMARKS, compass_name, oracle_observation, relation_name, relative_turn_word

__all__ = [
    "Episode", "Milestone", "RailStep", "Route", "build_episode", "draw_episode", "is_heldout_route", "route_for_index",
    "sample_route",
]

CANDIDATES_PER_SEGMENT = 5  # SFTvsRL `straight_line_length`
DROP_RATE = 0.5  # SFTvsRL `drop_rate`
END_GAP = 8.0  # forward points must lie more than 8 m from both segment ends
SHORT_SEGMENT = 5.0  # segments of 5 m or less get no forward points (and, in the original, shift the sentences)
MIN_SEGMENT = 20.0  # generator: every segment of a synthetic route is longer than this
MILESTONE_TEMPLATE = (
    '{{\n"intersection_idx": "{idx}",\n"landmarks": "{landmarks}",\n"distance": "{distance} meters",\n'
    '"human_heading": "{human_heading}",\n"to_next_intersection_heading": "{heading} ({direction})",\n}}\n'
)


class Milestone(NamedTuple):
    """One V-IRL milestone record: a turning point, or the stop point when it is the last one.

    Args:
        xy (`tuple[float, float]`): Position in metres (for imported routes, metres around the start).
        heading (`int`): `int(bearing)` from the previous point to this one (`to_next_intersection_heading`).
        landmarks (`str`): `"<name> is on your <relation>"`, `"No landmark nearby"`, or for the stop point
            `"The destination <name> is on your <relation>"`.
        landmark (`str`, *optional*): The landmark's name (or the destination's), `None` without one.
        landmark_xy (`tuple[float, float]`, *optional*): Where that place stands.
        distance (`int`): Metres from the previous point.
        direction_name (`str`, *optional*): Compass name as written in an imported record.
    """

    xy: tuple[float, float]
    heading: int
    landmarks: str
    landmark: str | None = None
    landmark_xy: tuple[float, float] | None = None
    distance: int = 0
    direction_name: str | None = None

    @property
    def direction(self) -> str:
        """Compass name of `heading` (imported routes keep the name written in their record)."""
        return self.direction_name or compass_name(self.heading)


@dataclass(frozen=True)
class Route:
    """A route: a start point and its milestones, the last one being the stop point at the destination.

    Args:
        start (`tuple[float, float]`): Start position in metres.
        milestones (`tuple[Milestone, ...]`): Turning points, then the stop point.
        destination (`str`): Name of the destination place.
        city (`dict`, *optional*): `{"layout", "vocabulary", "style", "seed"}` of the synthetic city the route was
            drawn in (needed to render views), `None` for imported routes.
        index (`int`, *optional*): Route index within its city (`route_for_index`), if any.
        init_heading (`int`, *optional*, defaults to `0`): Initial heading; 0 means "draw one per episode", as in the
            original data (`init_heading` is always 0 there).
    """

    start: tuple[float, float]
    milestones: tuple[Milestone, ...]
    destination: str
    city: dict[str, Any] | None = field(default=None, compare=True, hash=False)
    index: int | None = None
    init_heading: int = 0

    def milestone_info(self) -> str:
        """The V-IRL `milestone_info` string (`SINGLE_INTERSECTION_GIVEN_DIRECTION_TEMPLATE` blocks)."""
        blocks = []
        for i, m in enumerate(self.milestones):
            nxt = self.milestones[i + 1].heading if i + 1 < len(self.milestones) else m.heading
            blocks.append(
                MILESTONE_TEMPLATE.format(
                    idx=i + 1, landmarks=m.landmarks, distance=m.distance, human_heading=nxt, heading=m.heading,
                    direction=m.direction,
                )  # fmt: skip
            )
        return "".join(blocks)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; `Route.from_dict(route.to_dict()) == route`."""
        return {
            "start": list(self.start),
            "milestones": [
                {
                    "xy": list(m.xy), "heading": m.heading, "landmarks": m.landmarks, "landmark": m.landmark,
                    "landmark_xy": None if m.landmark_xy is None else list(m.landmark_xy), "distance": m.distance,
                    "direction_name": m.direction_name,
                }  # fmt: skip
                for m in self.milestones
            ],
            "destination": self.destination,
            "city": None if self.city is None else dict(self.city),
            "index": self.index,
            "init_heading": self.init_heading,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Route:
        """Inverse of `to_dict`."""
        if not isinstance(data, dict) or "milestones" not in data or "start" not in data:
            raise ValueError(
                "`route` must be a `Route` or a dict made by `Route.to_dict()` (keys 'start', 'milestones', ...), "
                f"got {type(data).__name__} with keys {sorted(data) if isinstance(data, dict) else None}."
            )
        milestones = tuple(
            Milestone(
                xy=tuple(m["xy"]), heading=int(m["heading"]), landmarks=m["landmarks"], landmark=m.get("landmark"),
                landmark_xy=None if m.get("landmark_xy") is None else tuple(m["landmark_xy"]),
                distance=int(m.get("distance", 0)), direction_name=m.get("direction_name"),
            )  # fmt: skip
            for m in data["milestones"]
        )
        if not milestones:
            raise ValueError("`route['milestones']` is empty; a route needs at least the stop point.")
        return cls(
            start=tuple(data["start"]), milestones=milestones, destination=data.get("destination", ""),
            city=data.get("city"), index=data.get("index"), init_heading=int(data.get("init_heading", 0)),
        )  # fmt: skip


class RailStep(NamedTuple):
    """One rail position and its ground truth.

    Args:
        kind (`str`): `"start"`, `"forward"`, `"turn"` or `"stop"`.
        xy (`tuple[float, float]`): Position.
        heading (`int`): Agent heading at this position (the views are rendered around it).
        action_absolute (`str`): Expected action with absolute directions.
        action_relative (`str`): Expected action with relative directions.
        landmark (`str`): Landmark part of the observation.
        intersection (`bool`): Whether the observation flags an intersection (turning points only).
        instruction (`str`): The instruction sentence being executed.
        instruction_index (`int`): Its 1-based number.
    """

    kind: str
    xy: tuple[float, float]
    heading: int
    action_absolute: str
    action_relative: str
    landmark: str
    intersection: bool
    instruction: str
    instruction_index: int

    @property
    def observation(self) -> str:
        """The oracle observation line, e.g. `"Aritzia is on your left front; You observe an intersection"`."""
        return oracle_observation(self.landmark, self.intersection)

    def action(self, action_space: str) -> str:
        return self.action_absolute if action_space == "absolute" else self.action_relative


@dataclass(frozen=True)
class Episode:
    """One episode of a route: the numbered instruction and the rail.

    Args:
        route (`Route`): The route.
        init_heading (`int`): Initial heading drawn for this episode.
        sentences (`tuple[str, ...]`): Instruction sentences (2 per milestone).
        rail (`tuple[RailStep, ...]`): Rail positions, the last one being `stop()`.
    """

    route: Route
    init_heading: int
    sentences: tuple[str, ...]
    rail: tuple[RailStep, ...]

    @property
    def instruction(self) -> str:
        """`"1. ...\\n2. ...\\n"`, exactly as SFTvsRL numbers it."""
        return "".join(f"{i + 1}. {s}\n" for i, s in enumerate(self.sentences))


# ----------------------------------------------------------------------------------------------------------------------
# Route sampling


def _wrap(deg: float) -> float:
    return (deg + 180.0) % 360.0 - 180.0


def _dist(a, b) -> float:
    return math.hypot(b[0] - a[0], b[1] - a[1])


def sample_route(
    city: City,
    rng: random.Random,
    num_milestones: tuple[int, int] = (2, 8),
    p_straight: float = 0.5,
    max_tries: int = 200,
    index: int | None = None,
) -> Route:
    """Draw a route in `city` by a constrained random walk.

    The walk starts mid-segment, goes straight through a junction with probability `p_straight` (when a street
    continues within 20°), otherwise turns (no U-turns, no revisited junction; every turn is a milestone, and turns
    of 20-45° give the "slightly" words). After `K - 1` turns it stops in front of a destination-category place on the
    final street, at least 20 m past the last turn. Every segment is longer than 20 m. Generate, then validate:
    failed walks are retried up to `max_tries` times.

    Args:
        city (`City`): From `generate_city`.
        rng (`random.Random`): Source of every draw.
        num_milestones (`tuple[int, int]`, *optional*, defaults to `(2, 8)`): Inclusive range of K, the number of
            milestones (turning points plus the destination). The paper's VLN mini routes have K in {2, 3}.
        p_straight (`float`, *optional*, defaults to `0.5`): Probability of going straight at a junction.
        max_tries (`int`, *optional*, defaults to `200`): Walks tried before giving up.
        index (`int`, *optional*): Stored in `Route.index`.

    >>> from sft_vs_rl.envs.virl import generate_city
    >>> route = sample_route(generate_city("nyc-like"), random.Random(0), num_milestones=(3, 3))
    >>> len(route.milestones), route.milestones[-1].landmarks.startswith("The destination ")
    (3, True)
    """
    lo, hi = num_milestones
    if not (isinstance(lo, int) and isinstance(hi, int) and 2 <= lo <= hi):
        raise ValueError(f"`num_milestones={num_milestones!r}` must be two ints (lo, hi) with 2 <= lo <= hi.")
    k = rng.randint(lo, hi)
    for _ in range(max_tries):
        route = _walk(city, rng, k, p_straight, index)
        if route is not None:
            return route
    raise RuntimeError(
        f"No route with {k} milestones found in {max_tries} walks in city {city.preset}; lower `num_milestones` "
        "or use a larger layout."
    )


def _walk(city: City, rng: random.Random, k: int, p_straight: float, index):
    points, adj, bearings = city.points, city.adjacency, city.bearings
    u = rng.randrange(len(adj))
    j = rng.randrange(len(adj[u]))
    v = adj[u][j]
    a, b = points[u], points[v]
    if _dist(a, b) < 40.0:
        return None
    t = rng.uniform(0.2, 0.8)
    start = (round(a[0] + t * (b[0] - a[0]), 2), round(a[1] + t * (b[1] - a[1]), 2))
    prev_point, came, cur, incoming = start, u, v, bearings[u][j]
    visited = {u, v}
    milestones: list[Milestone] = []
    while len(milestones) < k - 1:
        here = points[cur]
        straight, turns = [], []
        for w, out in zip(adj[cur], bearings[cur]):
            if w in visited:
                continue
            delta = abs(_wrap(out - incoming))
            if delta < 20.0:
                straight.append((w, out))
            elif delta <= 150.0:
                turns.append((w, out))
        long_enough = _dist(prev_point, here) > MIN_SEGMENT
        if straight and (not turns or not long_enough or rng.random() < p_straight):
            nxt, incoming = rng.choice(straight)
        elif turns and long_enough:
            nxt, incoming = rng.choice(turns)
            heading = int(bearing(prev_point, here))
            pid = city.node_landmark[cur]
            if pid >= 0:
                place = city.places[pid]
                text = f"{place.name} is on your {relation_name(bearing(here, place.xy), heading)}"
                milestones.append(Milestone(here, heading, text, place.name, place.xy, int(_dist(prev_point, here))))
            else:
                milestones.append(Milestone(here, heading, NO_LANDMARK, None, None, int(_dist(prev_point, here))))
            prev_point = here
        else:
            return None
        came, cur = cur, nxt
        visited.add(nxt)
    # Destination: a destination-category place on the current street (or the next ones straight ahead).
    for _ in range(3):
        a, b = points[came], points[cur]
        length = _dist(a, b)
        key = (min(came, cur), max(came, cur))
        options = []
        for pid in city.edge_destinations.get(key, ()):
            p = city.places[pid]
            along = p.along if key[0] == came else length - p.along
            stop_along = along + rng.uniform(-3.0, 3.0)
            stop = (a[0] + (b[0] - a[0]) * stop_along / length, a[1] + (b[1] - a[1]) * stop_along / length)
            if _dist(prev_point, stop) > MIN_SEGMENT and 6.0 < stop_along < length - 6.0:
                options.append((p, (round(stop[0], 2), round(stop[1], 2))))
        if options:
            place, stop = rng.choice(options)
            heading = int(bearing(prev_point, stop))
            text = f"The destination {place.name} is on your {relation_name(bearing(stop, place.xy), heading)}"
            milestones.append(Milestone(stop, heading, text, place.name, place.xy, int(_dist(prev_point, stop))))
            spec = city.preset
            return Route(
                start, tuple(milestones), place.name,
                {"layout": spec.layout, "vocabulary": spec.vocabulary, "style": spec.style, "seed": city.seed},
                index,
            )  # fmt: skip
        ahead = [
            w for w, out in zip(adj[cur], bearings[cur]) if w not in visited and abs(_wrap(out - incoming)) < 20.0
        ]
        if not ahead:
            return None
        came, cur = cur, ahead[0]
        incoming = bearing(points[came], points[cur])
        visited.add(cur)
    return None


def route_for_index(city: City, index: int, num_milestones: tuple[int, int] = (2, 8)) -> Route:
    """Route number `index` of `city`: a pure function of (city, index, num_milestones), independent of any order.

    >>> from sft_vs_rl.envs.virl import generate_city
    >>> city = generate_city("nyc-like")
    >>> route_for_index(city, 3) == route_for_index(city, 3)
    True
    """
    spec = city.preset
    rng = city_rng("route", spec.layout, spec.vocabulary, city.seed, index, num_milestones)
    return sample_route(city, rng, num_milestones=num_milestones, index=index)


# ----------------------------------------------------------------------------------------------------------------------
# Episodes: instruction and rail


def draw_episode(route: Route, rng: random.Random) -> tuple[int, tuple[tuple[bool, ...], ...]]:
    """Draw an episode's initial heading (uniform integer 0-359 unless the route fixes one) and forward-point mask.

    The mask holds, per segment, whether each of the 5 interpolated candidates survives the 50% drop.
    """
    heading = route.init_heading if route.init_heading else rng.randint(0, 359)
    mask = tuple(
        tuple(rng.random() >= DROP_RATE for _ in range(CANDIDATES_PER_SEGMENT)) for _ in range(len(route.milestones))
    )
    return heading, mask


def build_episode(
    route: Route,
    init_heading: int,
    forward_mask: Sequence[Sequence[bool]] | None = None,
    *,
    wrap_turns: bool = True,
    fix_short_segments: bool = True,
    distance=None,
) -> Episode:
    """Build the instruction sentences and the rail of one episode (a port of SFTvsRL `_parse_instruction_and_rail`).

    Args:
        route (`Route`): The route.
        init_heading (`int`): The agent's initial heading (0-359).
        forward_mask (`Sequence[Sequence[bool]]`, *optional*): Per segment, which of the 5 candidates are kept
            (from `draw_episode`); all kept when omitted.
        wrap_turns (`bool`, *optional*, defaults to `True`): Wrap the heading change to [-180, 180) before choosing
            the relative word. `False` is the original's behaviour (quirk 1).
        fix_short_segments (`bool`, *optional*, defaults to `True`): Keep sentence numbers in step after a segment of
            5 m or less. `False` reproduces the original's off-by-one (only imported routes can have such segments).
        distance (`Callable`, *optional*): Distance between two points in metres (Euclidean by default).
    """
    dist = distance or _dist
    ms = route.milestones
    k = len(ms)
    headings = [init_heading] + [m.heading for m in ms]
    sentences: list[str] = []
    prev = init_heading
    rel_words = []
    for i, m in enumerate(ms):
        rel = relative_turn_word(m.heading, prev, wrap=wrap_turns)
        rel_words.append(rel)
        prev = m.heading
        if i == k - 1:
            sentences.append(f"Turn {rel} to face {m.direction}.")
            sentences.append(f"Move forward until you reach destination where {m.landmarks}.")
        else:
            sentences.append(f"{'First, turn' if i == 0 else 'Turn'} {rel} to face {m.direction}.")
            if m.landmarks == NO_LANDMARK:
                sentences.append("Move forward until you reach next intersection.")
            else:
                sentences.append(f"Move forward until you reach next intersection where {m.landmarks}.")
    abs_actions = [f"turn_direction({m.direction})" for m in ms] + ["stop()"]
    rel_actions = [f"turn_direction({w})" for w in rel_words] + ["stop()"]
    landmarks = [NO_LANDMARKS] + [m.landmarks for m in ms]
    points = [route.start] + [m.xy for m in ms]
    rail: list[RailStep] = []
    sentence_idx = 0

    last_sentence = len(sentences) - 1

    def sentence(i: int) -> str:  # the original indexes past the end only with its short-segment bug
        return sentences[i] if i < last_sentence else sentences[last_sentence]

    for idx, point in enumerate(points):
        prev_point = points[idx - 1] if idx else point
        seg = dist(prev_point, point)
        if seg > SHORT_SEGMENT:
            keep = forward_mask[idx - 1] if forward_mask is not None else (True,) * CANDIDATES_PER_SEGMENT
            for i in range(CANDIDATES_PER_SEGMENT):
                if not keep[i]:
                    continue
                f = (i + 1) / CANDIDATES_PER_SEGMENT
                q = (prev_point[0] * (1 - f) + point[0] * f, prev_point[1] * (1 - f) + point[1] * f)
                if dist(prev_point, q) > END_GAP and dist(point, q) > END_GAP:
                    rail.append(
                        RailStep("forward", q, headings[idx], "forward()", "forward()", NO_LANDMARKS, False,
                                 sentence(sentence_idx), sentence_idx + 1)
                    )  # fmt: skip
            sentence_idx += 1
        elif idx > 0 and fix_short_segments:
            sentence_idx += 1
        last = idx == k
        if last:
            sentence_idx -= 1  # stop() shares the final "Move forward until you reach destination" sentence
        rail.append(
            RailStep("stop" if last else ("start" if idx == 0 else "turn"), point, headings[idx], abs_actions[idx],
                     rel_actions[idx], landmarks[idx], 0 < idx < k, sentence(sentence_idx), sentence_idx + 1)
        )  # fmt: skip
        sentence_idx += 1
    return Episode(route, init_heading, tuple(sentences), tuple(rail))


def is_heldout_route(route: dict, heldout_fraction: float) -> bool:
    """Whether a route (a `Route.to_dict()`) belongs to the held-out (test) pool: a fixed hash of its city and path.

    The pool depends only on the route's content, never on a seed, an index or a config, so no test route of any
    config is a training route of any config.
    """
    key = json.dumps([route["city"], route["start"], [m["xy"] for m in route["milestones"]]], sort_keys=True)
    return in_heldout_pool("virl-heldout-v1", key, heldout_fraction)
