"""Tests for the exact 24-game solver and its solvability tables."""

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_vs_rl.envs.generalpoints.formula import evaluate_formula, parse_formula
from sft_vs_rl.envs.generalpoints.solver import is_solvable, solvable_multisets, solve, solve_original


def test_published_solvable_counts():
    # The commonly quoted 24-game figures (cited in this environment's design issue): 1,362 of the 1,820 multisets
    # of 1..13 and 566 of the 715 multisets of 1..10 can make 24. Recomputed here by exhaustive exact search, and
    # cross-checked against the independent brute force of the original code (test below).
    all_13 = list(itertools.combinations_with_replacement(range(1, 14), 4))
    all_10 = list(itertools.combinations_with_replacement(range(1, 11), 4))
    assert (len(all_13), len(all_10)) == (1820, 715)
    table = solvable_multisets(24)
    assert len(table) == 1362
    assert sum(1 for ms in all_10 if ms in table) == 566


def test_table_agrees_with_solve_for_every_multiset():
    table = solvable_multisets(24)
    for ms in itertools.combinations_with_replacement(range(1, 14), 4):
        assert bool(solve(ms)) == (ms in table), ms


CASES = [
    ([4, 3, 2, 10], True),  # the spec's example hand
    ([3, 3, 8, 8], True),  # only 8/(3-8/3): needs exact fractions
    ([1, 1, 1, 1], False),  # too small
    ([13, 13, 13, 13], False),  # no way
    ([1, 5, 5, 5], True),  # 5*(5-1/5)
]


@pytest.mark.parametrize(("numbers", "solvable"), CASES)
def test_known_hands(numbers, solvable):
    assert is_solvable(numbers) is solvable
    assert bool(solve(numbers)) is solvable


def test_fraction_solutions_listed():
    assert solve([3, 3, 8, 8]) == ["8/(3-8/3)"]
    assert "5*(5-1/5)" in solve([1, 5, 5, 5])


def test_distinct_strings_and_minimal_parentheses():
    solutions = solve([1, 2, 3, 4])
    assert len(solutions) == len(set(solutions))
    assert "(1+2)+3" not in "".join(solutions)  # associativity duplicates are merged
    assert "1*2*3*4" in solutions and "4*3*2*1" in solutions  # commutative orders are both listed


def test_other_targets_and_sizes():
    assert solve([6, 4], target=10) == ["4+6", "6+4"]
    assert solve([5], target=5) == ["5"]
    assert is_solvable([2, 3, 4, 5], target=14)


def test_bad_numbers():
    with pytest.raises(ValueError, match="positive"):
        solve([0, 1, 2, 3])
    with pytest.raises(ValueError, match="1 to 4"):
        solve([1, 2, 3, 4, 5])


def test_table_agrees_with_original_brute_force_on_a_sample():
    # The original's Rosetta-code search (permutations x operators x 7 bracketings) is an independent solver.
    table = solvable_multisets(24)
    for ms in list(itertools.combinations_with_replacement(range(1, 14), 4))[::91]:
        assert bool(solve_original(ms)) == (ms in table), ms


def test_solve_original_reproduces_redundant_brackets():
    solutions = solve_original([10, 6, 3, 1])
    assert "(1*3)*10-6" in solutions and "1*3*10-6" in solutions
    for formula in solutions:
        assert evaluate_formula(formula) == 24


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 13), min_size=4, max_size=4), st.sampled_from([24, 10, 1, 36]))
def test_solutions_are_correct_and_use_the_hand(numbers, target):
    for formula in solve(numbers, target=target):
        assert evaluate_formula(formula) == Fraction(target)
        assert sorted(parse_formula(formula).numbers) == sorted(numbers)
