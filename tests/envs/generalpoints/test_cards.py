"""Tests for card values, rank names and the solvable-hand deal."""

from collections import Counter

import numpy as np
import pytest

from sft_vs_rl.envs.generalpoints.cards import (
    RANKS,
    SUIT_COLOURS,
    card_value,
    card_values,
    deal_hand,
    normalize_rank,
)
from sft_vs_rl.envs.generalpoints.solver import is_solvable

VALUES = [
    ("A", "10", 1),  # ace is always 1
    ("A", "11-12-13", 1),
    ("10", "10", 10),
    ("J", "10", 10),  # face cards count 10 under the ID rule
    ("Q", "10", 10),
    ("K", "10", 10),
    ("J", "11-12-13", 11),  # and 11/12/13 under the rule-OOD variant
    ("Q", "11-12-13", 12),
    ("K", "11-12-13", 13),
    ("7", "11-12-13", 7),
]


@pytest.mark.parametrize(("rank", "rule", "value"), VALUES)
def test_card_value(rank, rule, value):
    assert card_value(rank, rule) == value
    assert card_values([rank], rule) == [value]


def test_normalize_rank():
    assert [normalize_rank(r) for r in ("a", " k ", 10, "10", 1)] == ["A", "K", "10", "10", "A"]
    for bad in ("T", "1", 0, 14, "Jack", True):
        with pytest.raises(ValueError, match="card rank"):
            normalize_rank(bad)


@pytest.mark.parametrize("sampling", ["distinct", "independent"])
@pytest.mark.parametrize("rule", ["10", "11-12-13"])
@pytest.mark.parametrize("colour", ["black", "red", "mixed"])
def test_deals_are_solvable_and_well_formed(sampling, rule, colour):
    rng = np.random.default_rng(0)
    for _ in range(200):
        ranks, suits = deal_hand(rng, face_rule=rule, suit_colour=colour, sampling=sampling)
        assert len(ranks) == len(suits) == 4
        assert set(ranks) <= set(RANKS)
        assert set(suits) <= set(SUIT_COLOURS[colour])
        assert is_solvable(card_values(ranks, rule))
        if rule == "11-12-13":  # require_face_card defaults to True for the rule-OOD variant
            assert any(r in ("J", "Q", "K") for r in ranks)


def test_require_face_card_can_be_switched():
    rng = np.random.default_rng(1)
    hands = [deal_hand(rng, face_rule="11-12-13", require_face_card=False)[0] for _ in range(300)]
    assert any(not any(r in ("J", "Q", "K") for r in h) for h in hands)
    hands = [deal_hand(rng, face_rule="10", require_face_card=True)[0] for _ in range(100)]
    assert all(any(r in ("J", "Q", "K") for r in h) for h in hands)


def test_distinct_sampling_never_repeats_a_card_in_mixed_colour():
    rng = np.random.default_rng(2)
    for _ in range(500):
        ranks, suits = deal_hand(rng, suit_colour="mixed", sampling="distinct")
        assert len(set(zip(ranks, suits))) == 4
        assert max(Counter(ranks).values()) <= 4


def test_deal_distribution_close_to_rejection_sampling():
    # The weighted table draw must match "draw 4 distinct cards, keep if solvable" (here: the share of hands
    # holding a pair or better), estimated by direct rejection sampling.
    rng = np.random.default_rng(3)
    n = 4000
    table = [deal_hand(rng)[0] for _ in range(n)]
    direct = []
    while len(direct) < n:
        cards = rng.choice(52, size=4, replace=False)
        ranks = [RANKS[c % 13] for c in cards]
        if is_solvable(card_values(ranks)):
            direct.append(ranks)

    def paired(hands):
        return np.mean([max(Counter(h).values()) >= 2 for h in hands])

    assert abs(paired(table) - paired(direct)) < 0.04


def test_deal_is_deterministic():
    a = [deal_hand(np.random.default_rng(7)) for _ in range(3)]
    b = [deal_hand(np.random.default_rng(7)) for _ in range(3)]
    assert a == b


def test_bad_choices_name_the_field():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="suit_colour='blak'.*Did you mean 'black'"):
        deal_hand(rng, suit_colour="blak")
    with pytest.raises(ValueError, match="sampling"):
        deal_hand(rng, sampling="with_replacement")
    with pytest.raises(ValueError, match="no hand can make target"):
        deal_hand(rng, target=100000)


@pytest.mark.parametrize("rule", ["10", "11-12-13"])
def test_independent_sampling_matches_the_original_draw(rule):
    # The original: ranks with replacement; in rule-OOD mode three from 1..13 and a fourth from J/Q/K, shuffled;
    # redrawn until solvable. Compare the share of hands with two or more face cards.
    rng = np.random.default_rng(4)
    n = 4000
    table = [deal_hand(rng, face_rule=rule, sampling="independent")[0] for _ in range(n)]
    direct = []
    while len(direct) < n:
        draw = list(rng.integers(1, 14, size=4))
        if rule == "11-12-13":
            draw[3] = int(rng.integers(11, 14))
        ranks = [RANKS[r - 1] for r in draw]
        if is_solvable(card_values(ranks, rule)):
            direct.append(ranks)

    def faces(hands):
        return np.mean([sum(r in ("J", "Q", "K") for r in h) >= 2 for h in hands])

    assert abs(faces(table) - faces(direct)) < 0.04
