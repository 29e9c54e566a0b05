"""Direction names and the observation strings of the V-IRL rail, verbatim from SFTvsRL.

Strings kept exactly as the original (quirk 5 of reference/virl_spec.md §1.11): "No landmarks nearby" at the start
and forward points, "No landmark nearby" at turning points without a landmark, and the capital in
"... destination where The destination X is on your left." The released SFT inits were trained on them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "COMPASS",
    "INTERSECTION",
    "NO_LANDMARK",
    "NO_LANDMARKS",
    "RELATIONS",
    "compass_name",
    "observation_action_sequence",
    "oracle_observation",
    "relation_name",
    "relative_turn_word",
]

COMPASS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")
RELATIVE_WORDS = ("left", "right", "slightly left", "slightly right")
# 45° bins of (bearing to the place - agent heading), clockwise from straight ahead.
RELATIONS = ("front", "right front", "right", "right behind", "behind", "left behind", "left", "left front")
NO_LANDMARKS = "No landmarks nearby"
NO_LANDMARK = "No landmark nearby"
INTERSECTION = "You observe an intersection"
VISUAL_OBSERVATION = "You observe an image of 4 views"


def compass_name(heading: float) -> str:
    """Nearest of the 8 compass names to a bearing in degrees.

    >>> compass_name(212), compass_name(22)
    ('southwest', 'north')
    """
    return COMPASS[int((heading % 360 + 22.5) // 45) % 8]


def relation_name(place_bearing: float, heading: float) -> str:
    """Nearest 45° relation of a place seen at `place_bearing` by an agent facing `heading`.

    >>> relation_name(300, 0), relation_name(95, 0)
    ('left front', 'right')
    """
    return RELATIONS[int(((place_bearing - heading) % 360 + 22.5) // 45) % 8]


def relative_turn_word(new_heading: int, old_heading: int, wrap: bool = True) -> str:
    """The instruction's relative word for turning from `old_heading` to `new_heading` (integer degrees).

    SFTvsRL computes `delta = new - old` without wrapping (quirk 1: 350 -> 10 reads "left"); `wrap=True`
    (default) first wraps `delta` to `[-180, 180)`. Thresholds as in the original: `left` below -45, `right` above
    45, `slightly left` in [-45, 0] (0 included), `slightly right` in (0, 45].

    >>> relative_turn_word(10, 350), relative_turn_word(10, 350, wrap=False)
    ('slightly right', 'left')
    """
    delta = new_heading - old_heading
    if wrap:
        delta = (delta + 180) % 360 - 180
    if delta < -45:
        return "left"
    if delta > 45:
        return "right"
    if delta <= 0:
        return "slightly left"
    return "slightly right"


def oracle_observation(landmark: str, intersection: bool) -> str:
    """The oracle observation line of one rail position: `"<landmark part>; <intersection part>"`.

    >>> oracle_observation("No landmarks nearby", False)
    'No landmarks nearby; '
    """
    return f"{landmark}; {INTERSECTION if intersection else ''}"


def observation_action_sequence(
    observations: Sequence[str], actions: Sequence[str], visual: bool = False, intersection: bool = False
) -> str:
    """The `O_i` / `A_i` history of the prompt: past (observation, action) pairs, then the current observation.

    `observations` holds one more entry than `actions` (the current position). With `visual=True` the current line
    reads `"You observe an image of 4 views; "` plus the intersection flag; past lines stay textual.

    >>> print(observation_action_sequence(["No landmarks nearby; ", "X is on your left; "], ["forward()"]), end="")
    O_1: No landmarks nearby; 
    A_1: forward()
    O_2: X is on your left; 
    A_2: 
    """  # noqa: W291
    lines = []
    for i, (obs, act) in enumerate(zip(observations, actions)):
        lines.append(f"O_{i + 1}: {obs}\nA_{i + 1}: {act}\n")
    n = len(observations)
    if n > len(actions):
        current = f"{VISUAL_OBSERVATION}; {INTERSECTION if intersection else ''}" if visual else observations[-1]
        lines.append(f"O_{n}: {current}\nA_{n}: \n")
    return "".join(lines)
