"""Cards, face-card rules and the deal of a solvable GeneralPoints hand.

A hand is four cards. A card is a rank (`"A"`, `"2"` ... `"10"`, `"J"`, `"Q"`, `"K"`, the "plain card" names the
model sees and must write back) and a suit (`"S"`, `"C"`, `"H"`, `"D"`).

**Deal.** `deal_hand` draws the hand from a precomputed table of rank multisets (1,820 of them), weighted by how
likely each is under the chosen sampling, restricted to hands that can make the target (`solver.is_solvable`). This
is exactly rejection sampling "draw, keep if solvable", done in one draw:

* `sampling="distinct"` (default, the paper's text): 4 distinct cards of a 52-card deck, so a rank appears at most
  four times; a multiset with rank counts `c_r` has weight `prod C(4, c_r)`.
* `sampling="independent"` (the original code): each rank drawn uniformly from 1..13 with replacement, weight
  `4! / prod c_r!`.
* `require_face_card=True` (the original's rule-OOD mode, default for `face_rule="11-12-13"`): at least one J, Q or
  K. With `sampling="independent"` this reproduces the original draw exactly (three ranks from 1..13, a fourth from
  J/Q/K, shuffled); with `"distinct"` it conditions the distinct-card draw on holding a face card.

The card order is then shuffled. Suits come from the suit colour: `"black"` (S, C; train and ID), `"red"` (H, D;
visual OOD) or `"mixed"` (all four). Under `"distinct"` a rank dealt twice gets two different suits when the colour
has enough of them; a rank dealt three or four times under a two-suit colour necessarily repeats a suit in the
picture (the rank distribution is the full deck's). Under `"independent"` each suit is drawn independently, as in
the original.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from sft_vs_rl.envs.generalpoints.solver import is_solvable
from sft_vs_rl.envs.heldout import in_heldout_pool

__all__ = [
    "FACE_RULES",
    "RANKS",
    "SAMPLINGS",
    "SUITS",
    "SUIT_COLOURS",
    "card_value",
    "card_values",
    "check_choice",
    "deal_hand",
    "normalize_rank",
    "numbers_rule",
]

RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
"""Plain card names in rank order (index + 1 is the rank number)."""

SUITS: tuple[str, ...] = ("S", "C", "H", "D")
"""Spades, clubs (black); hearts, diamonds (red)."""

SUIT_COLOURS: dict[str, tuple[str, ...]] = {"black": ("S", "C"), "red": ("H", "D"), "mixed": ("H", "S", "D", "C")}
"""Suits dealt for each suit colour: black for train/ID, red for the visual OOD split."""

FACE_RULES: dict[str, str] = {
    "10": "'J', 'Q', and 'K' count as '10'.",
    "11-12-13": "'J', 'Q', and 'K' count as '11', '12', and '13' respectively.",
}
"""Face-card rules and the original prompt's wording of each (the stray final period is the original's)."""

SAMPLINGS: tuple[str, ...] = ("distinct", "independent")

_RANK_INDEX = {r: i + 1 for i, r in enumerate(RANKS)}
_VALUES_10 = {r: min(i, 10) for r, i in _RANK_INDEX.items()}


def check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    """Raise a `ValueError` naming the field, its bad value, the valid values and the closest one."""
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not supported; choose one of {list(choices)}.{hint}")


def normalize_rank(rank: str | int) -> str:
    """Return the plain card name of `rank`: a name in `RANKS` (any case) or a rank number 1..13.

    >>> normalize_rank("k"), normalize_rank(1), normalize_rank("10")
    ('K', 'A', '10')
    """
    if isinstance(rank, (int, np.integer)) and not isinstance(rank, bool) and 1 <= int(rank) <= 13:
        return RANKS[int(rank) - 1]
    if isinstance(rank, str) and rank.strip().upper() in _RANK_INDEX:
        return rank.strip().upper()
    raise ValueError(f"card rank {rank!r} is not valid; use one of {list(RANKS)} or a rank number 1..13")


def card_value(rank: str, face_rule: str = "10") -> int:
    """Value of a card under the face-card rule: A=1, 2..10 as written, J/Q/K = 10 or 11/12/13.

    >>> card_value("K"), card_value("K", "11-12-13"), card_value("A")
    (10, 13, 1)
    """
    index = _RANK_INDEX[rank]
    return min(index, 10) if face_rule == "10" else index


def card_values(ranks: Sequence[str], face_rule: str = "10") -> list[int]:
    """Values of a hand under the face-card rule, in hand order."""
    values = _VALUES_10 if face_rule == "10" else _RANK_INDEX
    return [values[r] for r in ranks]


def _weight(counts: Counter, sampling: str, require_face_card: bool) -> int:
    if require_face_card and not any(r >= 11 for r in counts):
        return 0
    if sampling == "distinct":
        return math.prod(math.comb(4, c) for c in counts.values())
    if not require_face_card:
        return math.factorial(4) // math.prod(math.factorial(c) for c in counts.values())
    # Original OOD draw: an ordered triple from 1..13 plus one face card; count the (triple, face) pairs.
    total = 0
    for face in (11, 12, 13):
        if counts[face]:
            rest = counts.copy()
            rest[face] -= 1
            total += math.factorial(3) // math.prod(math.factorial(c) for c in rest.values())
    return total


@lru_cache(maxsize=64)
def _deal_table(
    face_rule: str, target: int, sampling: str, require_face_card: bool
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """(solvable rank multisets, cumulative weights) for one deal configuration."""
    hands: list[tuple[int, ...]] = []
    cumulative: list[int] = []
    total = 0
    for ms in itertools.combinations_with_replacement(range(1, 14), 4):
        weight = _weight(Counter(ms), sampling, require_face_card)
        if weight == 0:
            continue
        values = [min(r, 10) if face_rule == "10" else r for r in ms]
        if not is_solvable(values, target):
            continue
        total += weight
        hands.append(ms)
        cumulative.append(total)
    if not hands:
        raise ValueError(
            f"no hand can make target={target} under face_rule={face_rule!r}, sampling={sampling!r}, "
            f"require_face_card={require_face_card}; choose another target"
        )
    return tuple(hands), tuple(cumulative)


def deal_hand(
    np_random: np.random.Generator,
    face_rule: str = "10",
    target: int = 24,
    suit_colour: str = "black",
    sampling: str = "distinct",
    require_face_card: bool | None = None,
) -> tuple[list[str], list[str]]:
    """Deal a solvable hand: `(ranks, suits)`, both of length 4, in hand order.

    Args:
        np_random (`np.random.Generator`):
            Source of randomness (an environment's `self.np_random`).
        face_rule (`str`, *optional*, defaults to `"10"`):
            `"10"` or `"11-12-13"`.
        target (`int`, *optional*, defaults to `24`):
            Only hands that can make this value are dealt.
        suit_colour (`str`, *optional*, defaults to `"black"`):
            `"black"`, `"red"` or `"mixed"`.
        sampling (`str`, *optional*, defaults to `"distinct"`):
            `"distinct"` (4 distinct cards of a 52-card deck) or `"independent"` (ranks with replacement, the
            original code).
        require_face_card (`bool`, *optional*):
            Deal only hands holding a J, Q or K. Defaults to `True` for `face_rule="11-12-13"` (the original's
            rule-OOD mode) and `False` otherwise.

    >>> deal_hand(np.random.default_rng(0))
    (['5', 'J', 'Q', '3'], ['C', 'C', 'C', 'C'])
    """
    if face_rule not in FACE_RULES or suit_colour not in SUIT_COLOURS or sampling not in SAMPLINGS:
        check_choice("face_rule", face_rule, tuple(FACE_RULES))
        check_choice("suit_colour", suit_colour, tuple(SUIT_COLOURS))
        check_choice("sampling", sampling, SAMPLINGS)
    if require_face_card is None:
        require_face_card = face_rule == "11-12-13"
    hands, cumulative = _deal_table(face_rule, int(target), sampling, bool(require_face_card))
    u = np_random.random(8).tolist()
    ranks = list(hands[bisect.bisect_right(cumulative, u[0] * cumulative[-1])])
    for i in (3, 2, 1):  # Fisher-Yates shuffle of the sorted multiset
        j = int(u[i] * (i + 1))
        ranks[i], ranks[j] = ranks[j], ranks[i]
    colour = SUIT_COLOURS[suit_colour]
    n = len(colour)
    if sampling == "independent":
        suits = [colour[int(x * n)] for x in u[4:]]
    else:
        suits = []
        for i, rank in enumerate(ranks):
            used = [suits[k] for k in range(i) if ranks[k] == rank]
            options = [s for s in colour if s not in used] if used else colour
            options = options or colour
            suits.append(options[int(u[4 + i] * len(options))])
    return [RANKS[r - 1] for r in ranks], suits


def is_heldout_multiset(values: Sequence[int], heldout_fraction: float) -> bool:
    """Whether a value multiset belongs to the held-out (test) pool: a fixed hash of its sorted values.

    >>> is_heldout_multiset([1, 10, 10, 5], 0.2) == is_heldout_multiset([10, 5, 1, 10], 0.2)
    True
    """
    key = ",".join(str(v) for v in sorted(int(v) for v in values))
    return in_heldout_pool("generalpoints-heldout-v1", key, heldout_fraction)


def is_heldout_hand(ranks: Sequence[str], heldout_fraction: float) -> bool:
    """Whether a hand belongs to the held-out (test) pool: its values under J/Q/K = 10 (`is_heldout_multiset`).

    The pool depends only on the hand's ID problem, never on a seed or a config, so no test hand of any config
    shares its numbers with a training hand of any config.

    >>> is_heldout_hand(["A", "10", "K", "5"], 0.2) == is_heldout_hand(["5", "J", "A", "Q"], 0.2)
    True
    """
    return is_heldout_multiset(card_values(ranks, "10"), heldout_fraction)


def numbers_rule(used: Sequence[int] | None, ranks: Sequence[str]) -> str | None:
    """Which face rule an answer's numbers follow: the `FACE_RULES` key whose card values equal `used` as a multiset,
    `"neither"`, or `None` when the hand has no J/Q/K (the rules then agree and the question is moot).

    >>> numbers_rule([10, 10, 3, 4], ["J", "K", "3", "4"]), numbers_rule([11, 13, 3, 4], ["J", "K", "3", "4"])
    ('10', '11-12-13')
    """
    if not any(normalize_rank(r) in ("J", "Q", "K") for r in ranks):
        return None
    used_sorted = sorted(used) if used is not None else None
    for rule in FACE_RULES:
        if used_sorted == sorted(card_values(ranks, rule)):
            return rule
    return "neither"
