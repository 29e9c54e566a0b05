"""The study's text: a rule-varied pretraining corpus for the tiny base, the SFT answers, and held-out hands.

A tiny model knows nothing, so the study first pretrains a *base* that reads rules from its prompt, as a pretrained
model does (DESIGN.md §4, §6):

* GeneralPoints: hands under *both* face-card rules (J/Q/K = 10 and 11/12/13), targets 24 (half of the examples) and
  12-36, each with its rule and target stated in the prompt, answered in the study's answer format.
* V-IRL: routes in every city preset, with *both* action spaces (absolute and relative), each step's prompt as the
  environment shows it, answered with the optimal action.

A share of the examples (`retry_fraction`) holds a failed try, the verifier's own feedback and the corrected answer:
the conversation the multi-turn verification loop builds, so that the base knows the format of a retry.

Held out of all training (corpus, SFT data, RL episodes): GeneralPoints value multisets whose hash falls below
`HELDOUT_FRACTION` (the same hash as the GeneralPoints builder's `is_heldout_hand`, applied to the values under the
hand's own rule), and V-IRL routes in the builder's held-out route pool. `unseen_success` is measured on them.

Every prompt is written by the environments' own prompt functions, and every feedback message by their verifiers.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any

from sft_vs_rl.envs.generalpoints import RANKS, card_values, format_response, is_heldout_multiset, parse_formula
from sft_vs_rl.envs.generalpoints.prompts import format_prompt
from sft_vs_rl.envs.verifier_env import assistant_turn, user_turn

__all__ = [
    "GP_TARGETS",
    "HELDOUT_FRACTION",
    "canonical_solution",
    "gp_answer",
    "gp_corpus",
    "heldout_multiset",
    "scratchpad",
    "seen_multisets",
    "virl_corpus",
]

HELDOUT_FRACTION = 0.1
"""Share of GeneralPoints value multisets (and of V-IRL routes) kept out of every training stage."""

GP_TARGETS = tuple(range(12, 37))
"""Targets of the GeneralPoints corpus (24 on half of the examples, uniform over these otherwise)."""

def heldout_multiset(values: Sequence[int], fraction: float = HELDOUT_FRACTION) -> bool:
    """Whether a GeneralPoints value multiset is held out of all training (a fixed hash of its sorted values).

    The GeneralPoints builder deals from the same pool (`sft_vs_rl.envs.generalpoints.is_heldout_hand`), so its
    train splits (with `heldout_fraction=fraction`) never deal a held-out hand.

    >>> heldout_multiset([1, 10, 10, 5]) == heldout_multiset([10, 5, 1, 10])
    True
    """
    return is_heldout_multiset(values, fraction)


@lru_cache(maxsize=1)
def seen_multisets(fraction: float = HELDOUT_FRACTION) -> frozenset[tuple[int, ...]]:
    """Every 4-value multiset over 1-13 that is *not* held out: the `train_multisets` of `unseen_multiset_success`."""
    return frozenset(
        ms for ms in itertools.combinations_with_replacement(range(1, 14), 4) if not heldout_multiset(ms, fraction)
    )


@cache
def _canonical_table(values: tuple[int, ...]) -> dict[int, str]:
    # One expression table per multiset gives every target at once (a corpus spans 25 targets).
    from sft_vs_rl.envs.generalpoints.solver import solutions_by_value

    return {
        value.numerator: min(formulas, key=lambda s: (len(s), s))
        for value, formulas in solutions_by_value(values).items()
        if value.denominator == 1 and 0 < value.numerator <= 100
    }


def canonical_solution(values: Sequence[int], target: int) -> str | None:
    """The SFT target formula of a hand: the shortest solution (fewest characters), then the first in string order.

    A fixed function of (multiset, target), as in the CPU prototype (tiny_feasibility.md §1). `None` if unsolvable.

    >>> canonical_solution((3, 3, 8, 8), 24)
    '8/(3-8/3)'
    """
    return _canonical_table(tuple(sorted(int(v) for v in values))).get(int(target))


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def scratchpad(formula: str) -> str:
    """The intermediate results of a formula, in evaluation order: the `steps` field of the `"steps"` answer format.

    >>> scratchpad("(10-4)*4")
    '10-4=6, 6*4=24'
    >>> scratchpad("8/(3-8/3)")
    '8/3=8/3, 3-8/3=1/3, 8/1/3=24'
    """
    stack: list[Fraction] = []
    steps = []
    for token in parse_formula(formula).rpn:
        if isinstance(token, int):
            stack.append(Fraction(token))
            continue
        b, a = stack.pop(), stack.pop()
        c = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else Fraction(0)}[token]
        steps.append(f"{_fmt(a)}{token}{_fmt(b)}={_fmt(c)}")
        stack.append(c)
    return ", ".join(steps)


def gp_answer(ranks: Sequence[str], numbers: Sequence[int], formula: str, target: int, answer_format: str) -> str:
    """A GeneralPoints answer: the paper's `ResponseEqn` JSON, or with a `steps` scratchpad before the formula.

    >>> print(gp_answer(["K", "4", "4", "10"], [10, 4, 4, 10], "(10*10-4)/4", 24, "steps"))
    <BLANKLINE>
    {
      "cards": ['K', '4', '4', '10'],
      "number": [10, 4, 4, 10],
      "steps": "10*10=100, 100-4=96, 96/4=24",
      "formula": "(10*10-4)/4=24",
    }
    """
    text = format_response(ranks, numbers, f"{formula}={target}")
    if answer_format == "steps":
        head, sep, tail = text.partition('  "formula"')
        text = f'{head}  "steps": "{scratchpad(formula)}",\n{sep}{tail}'
    elif answer_format != "paper":
        raise ValueError(f"answer_format={answer_format!r} must be 'paper' or 'steps'.")
    return text


def _deal(rng: random.Random) -> list[str]:
    return [RANKS[c % 13] for c in rng.sample(range(52), 4)]


def _wrong_gp_answer(rng: random.Random, ranks, numbers, rule: str, target: int, answer_format: str) -> str:
    """A plausible failed try: a plain sum, the other rule's values, or a solution of another target."""
    kind = rng.randrange(3)
    if kind == 1:
        other = card_values(ranks, "10" if rule == "11-12-13" else "11-12-13")
        formula = canonical_solution(tuple(sorted(other)), target) if other != list(numbers) else None
        if formula is not None:
            return gp_answer(ranks, other, formula, target, answer_format)
    if kind == 2:
        for t in rng.sample(GP_TARGETS, 5):
            formula = canonical_solution(tuple(sorted(numbers)), t)
            if t != target and formula is not None:
                return gp_answer(ranks, numbers, formula, target, answer_format)
    return format_response(ranks, numbers, "+".join(str(n) for n in numbers) + f"={target}")


def gp_corpus(
    size: int,
    seed: int = 0,
    *,
    prompt_style: str = "compact",
    answer_format: str = "paper",
    retry_fraction: float = 0.2,
    heldout_fraction: float = HELDOUT_FRACTION,
) -> list[list[dict[str, Any]]]:
    """Rule-varied GeneralPoints conversations for pretraining the base (chat messages, user turns first).

    Each example draws a rule (J/Q/K = 10 or 11/12/13, 50/50), a target (24 with probability 0.5, else uniform on
    12-36) and 4 distinct cards, keeps it only if solvable and not held out, and answers with the canonical solution.

    >>> conv = gp_corpus(1, seed=0)[0]
    >>> [m["role"] for m in conv][:2]
    ['user', 'assistant']
    """
    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv

    rng = random.Random(seed)
    envs: dict[tuple[str, int], GeneralPointsEnv] = {}
    out = []
    while len(out) < size:
        rule = "10" if rng.random() < 0.5 else "11-12-13"
        target = 24 if rng.random() < 0.5 else rng.choice(GP_TARGETS)
        ranks = _deal(rng)
        numbers = card_values(ranks, rule)
        if heldout_multiset(numbers, heldout_fraction):
            continue
        formula = canonical_solution(tuple(sorted(numbers)), target)
        if formula is None:
            continue
        answer = gp_answer(ranks, numbers, formula, target, answer_format)
        if rng.random() < retry_fraction:
            key = (rule, target)
            if key not in envs:
                envs[key] = GeneralPointsEnv(face_rule=rule, target=target, prompt_style=prompt_style,
                                             require_face_card=False)
            env = envs[key]
            env.reset(seed=0, options={"ranks": ranks})
            wrong = _wrong_gp_answer(rng, ranks, numbers, rule, target, answer_format)
            _, _, terminated, truncated, info = env.step(wrong)
            if not (terminated or truncated):
                out.append([*info["messages"], assistant_turn(answer)])
                continue
        prompt = format_prompt(ranks, rule, target, prompt_style=prompt_style)
        out.append([user_turn(prompt), assistant_turn(answer)])
    return out


def virl_corpus(
    size: int,
    seed: int = 0,
    *,
    prompt_style: str = "compact",
    num_milestones: tuple[int, int] = (2, 3),
    retry_fraction: float = 0.2,
    cities: Sequence[str] | None = None,
    action_spaces: Sequence[str] = ("absolute", "relative"),
    heldout_fraction: float = HELDOUT_FRACTION,
) -> list[list[dict[str, Any]]]:
    """V-IRL conversations for pretraining the base: random rail positions of routes in many cities, both action spaces.

    Each example picks a city preset and an action space, plays a random route along the optimal actions up to a
    random position and answers there with the optimal action. Routes of the builder's held-out pool are skipped.
    """
    from sft_vs_rl.envs.virl import CITY_PRESETS, VIRLEnv, is_heldout_route

    rng = random.Random(seed)
    cities = list(cities or CITY_PRESETS)
    envs: dict[tuple[str, str], VIRLEnv] = {}
    out = []
    while len(out) < size:
        key = (rng.choice(cities), rng.choice(list(action_spaces)))
        if key not in envs:
            envs[key] = VIRLEnv(city=key[0], action_space=key[1], prompt_style=prompt_style,
                                num_milestones=tuple(num_milestones))
        env = envs[key]
        _, info = env.reset(seed=rng.randrange(2**31))
        if is_heldout_route(info["episode"]["route"], heldout_fraction):
            continue
        for _ in range(rng.randrange(info["num_positions"])):
            _, _, _, _, info = env.step(env.optimal_response())
        answer = env.optimal_response()
        messages = info["messages"]
        if rng.random() < retry_fraction:
            expected = info["expected_action"]
            choices = ["forward()", "stop()", "turn_direction(north)", "turn_direction(left)"]
            wrong = answer.replace(f'"{expected}"', f'"{rng.choice([c for c in choices if c != expected])}"')
            _, _, terminated, truncated, info = env.step(wrong)
            if terminated or truncated:
                continue
            messages = info["messages"]
        out.append([*messages, assistant_turn(answer)])
    return out
