"""Exact solver for the 24 game over any multiset of card values.

There are only 1,820 multisets of four values in 1..13, so every question the environment asks is answered from
small caches:

* `is_solvable(numbers, target)` looks the sorted hand up in a frozenset of solvable multisets, built once per
  target by `solvable_multisets` (values only, exact `Fraction` arithmetic, well under a second).
* `solve(numbers, target)` lists every distinct solution string; results are cached per multiset.
* `solve_original(numbers, target)` reproduces the original code's solution list (Rosetta-code brute force over
  permutations, operator triples and seven bracket placements); used by `compat="sftvsrl"` feedback only.

**Distinct solutions.** `solve` enumerates every binary expression tree over the multiset (every ordered split into
a left and a right sub-multiset, every operator), evaluates it exactly and prints it with the fewest parentheses
that keep its value under the usual left-associative reading. Two trees that print the same string (for example
`(1+2)+3` and `1+(2+3)`, both `1+2+3`) count once. Commutative reorderings (`2*12` and `12*2`) are different
strings and are both listed, so that whichever order a model writes is a known solution.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from fractions import Fraction
from functools import cache, lru_cache

from sft_vs_rl.envs.generalpoints.formula import FormulaError, evaluate_rpn, parse_formula

__all__ = ["is_solvable", "solvable_multisets", "solve", "solve_original"]

_OPS = "+-*/"
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, None: 3}


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def _sub_multisets(ms: tuple[int, ...]) -> Iterable[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every split of a sorted multiset into a non-empty left part and a non-empty right part (ordered)."""
    seen = set()
    n = len(ms)
    for mask in range(1, (1 << n) - 1):
        left = tuple(ms[i] for i in range(n) if mask >> i & 1)
        if left in seen:
            continue
        seen.add(left)
        right = tuple(ms[i] for i in range(n) if not mask >> i & 1)
        yield left, right


@cache
def _values(ms: tuple[int, ...]) -> frozenset[Fraction]:
    """Every value an expression over the sorted multiset `ms` can take (exact)."""
    if len(ms) == 1:
        return frozenset((Fraction(ms[0]),))
    out = set()
    for left, right in _sub_multisets(ms):
        for a in _values(left):
            for b in _values(right):
                for op in _OPS:
                    v = _apply(op, a, b)
                    if v is not None:
                        out.add(v)
    return frozenset(out)


def _reaches(ms: tuple[int, ...], target: Fraction) -> bool:
    """Whether some expression over `ms` equals `target`, by inverting the top operator."""
    for left, right in _sub_multisets(ms):
        rights = _values(right)
        for a in _values(left):
            # a op b == target  <=>  b in {target-a, a-target, target/a, a/target} (a, b != 0 where they divide)
            if target - a in rights or a - target in rights:
                return True
            if a != 0 and target / a in rights:
                return True
            if a != 0 and target != 0 and a / target in rights:  # b = a/target must be non-zero
                return True
    return False


@lru_cache(maxsize=16)
def solvable_multisets(target: int = 24, max_value: int = 13, size: int = 4) -> frozenset[tuple[int, ...]]:
    """Return every sorted multiset of `size` values in `1..max_value` that can make `target`.

    >>> len(solvable_multisets(24, max_value=13))
    1362
    """
    goal = Fraction(target)
    return frozenset(
        ms
        for ms in itertools.combinations_with_replacement(range(1, max_value + 1), size)
        if _reaches(ms, goal)
    )


def is_solvable(numbers: Sequence[int], target: int = 24) -> bool:
    """Whether the four card values can make `target` (exact arithmetic, cached table).

    >>> is_solvable([1, 1, 1, 1]), is_solvable([8, 3, 8, 3])
    (False, True)
    """
    key = tuple(sorted(numbers))
    if len(key) == 4 and 1 <= key[0] and key[-1] <= 13:
        return key in solvable_multisets(target)
    if len(key) == 1:
        return key[0] == target
    return _reaches(key, Fraction(target))


def _combine(left: tuple[str, str | None], right: tuple[str, str | None], op: str) -> tuple[str, str]:
    ls, lop = left
    rs, rop = right
    prec = _PREC[op]
    if _PREC[lop] < prec:
        ls = f"({ls})"
    if _PREC[rop] < prec or (_PREC[rop] == prec and op in "-/"):
        rs = f"({rs})"
    return f"{ls}{op}{rs}", op


@lru_cache(maxsize=1024)
def _expressions(ms: tuple[int, ...]) -> dict[Fraction, set[tuple[str, str | None]]]:
    """Value -> set of (minimal-parenthesis string, top operator) over the sorted multiset `ms`."""
    if len(ms) == 1:
        return {Fraction(ms[0]): {(str(ms[0]), None)}}
    out: dict[Fraction, set[tuple[str, str | None]]] = {}
    for left, right in _sub_multisets(ms):
        lexp, rexp = _expressions(left), _expressions(right)
        for a, lstrs in lexp.items():
            for b, rstrs in rexp.items():
                for op in _OPS:
                    v = _apply(op, a, b)
                    if v is None:
                        continue
                    bucket = out.setdefault(v, set())
                    for ls in lstrs:
                        for rs in rstrs:
                            bucket.add(_combine(ls, rs, op))
    return out


@lru_cache(maxsize=4096)
def _solve_sorted(ms: tuple[int, ...], target: int) -> tuple[str, ...]:
    if len(ms) > 4:
        raise ValueError(f"solve() takes at most 4 numbers, got {len(ms)}: {list(ms)}")
    goal = Fraction(target)
    if len(ms) == 1:
        return (str(ms[0]),) if ms[0] == target else ()
    if len(ms) < 4 and goal not in _values(ms):
        return ()
    if len(ms) == 4 and not is_solvable(ms, target):
        return ()
    found: set[str] = set()
    for left, right in _sub_multisets(ms):
        lexp, rexp = _expressions(left), _expressions(right)
        for a, lstrs in lexp.items():
            for op in _OPS:
                # The b that makes `a op b == goal`.
                if op == "+":
                    b = goal - a
                elif op == "-":
                    b = a - goal
                elif op == "*":
                    if a == 0:
                        continue
                    b = goal / a
                else:
                    if goal == 0:
                        continue
                    b = a / goal
                    if b == 0:
                        continue
                rstrs = rexp.get(b)
                if rstrs:
                    for ls in lstrs:
                        for rs in rstrs:
                            found.add(_combine(ls, rs, op)[0])
    return tuple(sorted(found))


def solve(numbers: Sequence[int], target: int = 24) -> list[str]:
    """Return every distinct formula over `numbers` (each used once) that equals `target`, sorted; `[]` if none.

    Formulas carry no spaces and no `=` part, and use the fewest parentheses (see the module docstring for what
    "distinct" means).

    Args:
        numbers (`Sequence[int]`):
            One to four positive card values (after the face-card rule).
        target (`int`, *optional*, defaults to `24`):
            Value to reach.

    >>> solve([4, 3, 2, 10])[:3]
    ['(10+2-4)*3', '(10-(4-2))*3', '(10-4+2)*3']
    >>> "8/(3-8/3)" in solve([3, 3, 8, 8])
    True
    """
    values = [int(n) for n in numbers]
    if not 1 <= len(values) <= 4 or any(v < 1 for v in values):
        raise ValueError(f"numbers must hold 1 to 4 positive integers, got {list(numbers)!r}")
    return list(_solve_sorted(tuple(sorted(values)), int(target)))


def solutions_by_value(numbers: Sequence[int]) -> dict[Fraction, tuple[str, ...]]:
    """Return every value the `numbers` (each used once) can make, with its formulas, sorted.

    The table behind `solve` for one multiset and every target at once: `solutions_by_value(ns)[Fraction(t)]` holds
    the same strings as `solve(ns, t)`. Use it when many targets of one hand are needed (a corpus over targets).

    >>> solutions_by_value([3, 8])[Fraction(24)]
    ('3*8', '8*3')
    """
    values = tuple(sorted(int(n) for n in numbers))
    if not 1 <= len(values) <= 4 or any(v < 1 for v in values):
        raise ValueError(f"numbers must hold 1 to 4 positive integers, got {list(numbers)!r}")
    return {value: tuple(sorted(text for text, _ in exprs)) for value, exprs in _expressions(values).items()}


# Bracket insertion points of the original (Rosetta-code) solver for 4 numbers: an infix list
# [n0, op, n1, op, n2, op, n3] gets "(" and ")" inserted at these successive positions.
_ORIGINAL_BRACKETS = ((), (0, 4), (0, 6), (2, 6), (2, 8), (4, 8), (0, 4, 6, 10))


@lru_cache(maxsize=4096)
def _solve_original_sorted(ms: tuple[int, ...], target: int) -> tuple[str, ...]:
    found: list[str] = []
    seen = set()
    for perm in sorted(set(itertools.permutations(ms))):
        for ops in itertools.product(_OPS, repeat=3):
            infix = [str(perm[0]), ops[0], str(perm[1]), ops[1], str(perm[2]), ops[2], str(perm[3])]
            for brackets in _ORIGINAL_BRACKETS:
                expr = list(infix)
                for point, char in zip(brackets, "()" * (len(brackets) // 2)):
                    expr.insert(point, char)
                text = "".join(expr)
                try:
                    value = evaluate_rpn(parse_formula(text).rpn)
                except FormulaError:
                    continue
                if value == target and text not in seen:
                    seen.add(text)
                    found.append(text)
    return tuple(found)


def solve_original(numbers: Sequence[int], target: int = 24) -> list[str]:
    """Return the original code's solution strings for four numbers (with its redundant bracketings).

    Used only for `compat="sftvsrl"` feedback, whose prefix check compares answers with these strings.

    >>> solve_original([10, 6, 3, 1])[:3]
    ['1*3*10-6', '(1*3)*10-6', '(1*3*10)-6']
    """
    values = tuple(sorted(int(n) for n in numbers))
    if len(values) != 4:
        raise ValueError(f"solve_original() takes exactly 4 numbers, got {list(numbers)!r}")
    return list(_solve_original_sorted(values, int(target)))
