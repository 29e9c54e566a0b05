"""Import a user's own V-IRL `route_infos.json` (the original collector's format) as text-only `Route`s.

The file is a JSON list `[routes, next_route_index]`; a route record holds `start_place.relocated_geocode`,
`route_results.geocode_list` (turning points and the stop point, `[lat, lng]`), `dest_place.name`, optional
`init_heading` and the `milestone_info` string (reference/virl_spec.md §1.2). The library ships no real route data:
this is for users who have it. Positions become metres around the start (equirectangular, Earth radius 6,371 km),
headings and compass names are read from `milestone_info` as SFTvsRL does, so the instruction and the rail match the
original sentence for sentence. Imported routes carry no city, so they are text only (V-IRL-L).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from .observe import NO_LANDMARK
from .routes import Milestone, Route

__all__ = ["load_route_infos", "parse_milestone_info", "route_from_route_info"]

EARTH_RADIUS = 6_371_000.0
_MAX_FILE_BYTES = 512 * 1024 * 1024


def parse_milestone_info(text: str) -> list[dict[str, str]]:
    """Split a `milestone_info` string into one dict per `{ ... }` block (port of SFTvsRL `parse_navigation_string`).

    >>> parse_milestone_info('{\\n"landmarks": "No landmark nearby",\\n"to_next_intersection_heading": "90 (east)",\\n}')
    [{'landmarks': 'No landmark nearby', 'to_next_intersection_heading': '90 (east)'}]
    """
    if not isinstance(text, str):
        raise TypeError(f"`milestone_info` must be a str, got {type(text).__name__}.")
    result = []
    for block in (b.strip() for b in text.split("}")):
        block = block.lstrip("{").strip()
        if not block:
            continue
        fields = {}
        for line in (ln.strip() for ln in block.split("\n")):
            line = line.rstrip(",")
            if ":" not in line:
                continue
            key, value = (part.strip() for part in line.split(":", 1))
            fields[key.strip("\"'")] = value.strip("\"'")
        if fields:
            result.append(fields)
    return result


def _to_metres(origin, point) -> tuple[float, float]:
    lat0 = math.radians(origin[0])
    x = math.radians(point[1] - origin[1]) * math.cos(lat0) * EARTH_RADIUS
    y = math.radians(point[0] - origin[0]) * EARTH_RADIUS
    return (round(x, 3), round(y, 3))


def route_from_route_info(record: dict[str, Any], index: int | None = None) -> Route:
    """Convert one original route record into a text-only `Route`."""
    try:
        origin = record["start_place"]["relocated_geocode"]
        geocodes = record["route_results"]["geocode_list"]
        info = record["milestone_info"]
        destination = record["dest_place"]["name"]
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"Route record {index} lacks {err}; a V-IRL route record needs 'start_place.relocated_geocode', "
            "'route_results.geocode_list', 'dest_place.name' and 'milestone_info'."
        ) from None
    blocks = parse_milestone_info(info)
    if len(blocks) != len(geocodes) or not blocks:
        raise ValueError(
            f"Route record {index}: 'milestone_info' has {len(blocks)} blocks but 'geocode_list' has {len(geocodes)} "
            "points; they must match one to one."
        )
    milestones = []
    prev = (0.0, 0.0)
    for i, (block, geo) in enumerate(zip(blocks, geocodes)):
        heading_text = block.get("to_next_intersection_heading")
        if heading_text is None or "(" not in heading_text:
            raise ValueError(
                f"Route record {index}, milestone {i + 1}: 'to_next_intersection_heading' is {heading_text!r}; "
                "expected like '212 (southwest)'."
            )
        heading = int(heading_text.split("(")[0].strip())
        direction = heading_text.split("(")[1].split(")")[0]
        xy = _to_metres(origin, geo)
        distance = block.get("distance", "0").split()[0]
        milestones.append(
            Milestone(
                xy=xy, heading=heading, landmarks=block.get("landmarks", NO_LANDMARK),
                distance=int(float(distance)) if distance.replace(".", "", 1).isdigit() else 0,
                direction_name=direction,
            )  # fmt: skip
        )
        prev = xy
    del prev
    return Route(
        start=(0.0, 0.0), milestones=tuple(milestones), destination=str(destination), city=None, index=index,
        init_heading=int(record.get("init_heading", 0) or 0),
    )  # fmt: skip


def load_route_infos(source: str | os.PathLike | list) -> list[Route]:
    """Load an original-format `route_infos.json` (a path, or the already-parsed `[routes, n]` list).

    >>> data = [[{"start_place": {"relocated_geocode": [0.0, 0.0]}, "dest_place": {"name": "Cafe X"},
    ...           "route_results": {"geocode_list": [[0.0005, 0.0]]},
    ...           "milestone_info": '{\\n"landmarks": "The destination Cafe X is on your left",\\n'
    ...                             '"to_next_intersection_heading": "0 (north)",\\n}'}], 1]
    >>> load_route_infos(data)[0].milestones[0].direction
    'north'
    """
    if isinstance(source, (str, os.PathLike)):
        if os.path.getsize(source) > _MAX_FILE_BYTES:
            raise ValueError(f"`{source}` is larger than {_MAX_FILE_BYTES} bytes; is it really a route_infos.json?")
        with open(source, encoding="utf-8") as fh:
            data = json.load(fh)
    else:
        data = source
    if not (isinstance(data, list) and data and isinstance(data[0], list)):
        raise ValueError(
            "A route_infos.json holds a JSON list `[routes, next_route_index]` whose first item is the list of "
            f"route records; got {type(data).__name__}."
        )
    return [route_from_route_info(record, i) for i, record in enumerate(data[0])]
