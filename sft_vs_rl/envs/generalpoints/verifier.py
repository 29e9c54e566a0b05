"""Parse and grade GeneralPoints answers: pure functions that return a `Verdict`.

Reward table (the paper's, App. A.3; `reference/sftvsrl_spec.md` §1.6):

| verdict kind        | reward          | when                                                                          |
|---------------------|-----------------|-------------------------------------------------------------------------------|
| `"correct"`         | +5              | the formula uses each card value once and equals the target (ends the episode) |
| `"no_solution"`     | -1              | valid formula, right numbers, wrong value (or a division by zero)            |
| `"incorrect_number"`| -2 per kind     | numbers not on the cards or used too often (-2), card numbers unused (-2)    |
| `"illegal_formula"` | -3              | no formula, a character outside the grammar, or a syntax error              |
| `"incorrect_vision"`| -1.5            | GP-VL only: the `cards` field is not the dealt hand (as a multiset)           |
| `"step_limit"`      | -1              | the retry budget is spent (added by the environment, see `GeneralPointsEnv`) |

Checks run in this order: recognition (VL), formula syntax, numbers, value. Feedback follows the original messages
(`', '.join(messages) + '.'`), e.g. `you used invalid numbers: [7], you didn't use numbers: [1].`

**Corrections to the original, default mode.** Arithmetic is exact, so `8/(3-8/3)` is correct (the original's
float `eval` gave 23.99999999999999 and reward 0). A wrong value is told `your formula does not match any
solution.`, never which prefix of a known solution the answer shares (that is process supervision). An unclosed
parenthesis is a syntax error (-3), not the original's +1 "partial solution". Spaces inside the formula are allowed.

**`compat="sftvsrl"`** reproduces the original grading: the original tokenizer (spaces are illegal characters),
its syntax walk whose -3 penalties accumulate with the number penalties, float equality (evaluated by our parser
with Python's float semantics, never `eval`), +1 `partial solution.` for an unparsable formula that starts a
solution, the `<prefix> is partially correct ...` feedback, and reward 0 with feedback `.` when a listed solution's
float value misses the target.

**Parsing (both modes).** Answers are cut to `MAX_RESPONSE_CHARS` and read by `parse_response`, which accepts
strict JSON, the original's single-quoted / trailing-comma format, code fences and prose around the object. Cards
are compared as a multiset after normalising each item (quotes and spaces stripped, upper-cased, ints written as
digits), so `'A'`, `"A"` and `a` match, and `10` matches `'10'`. This fixes the original's pitfall where strictly
valid JSON or unquoted numeric cards always failed recognition (spec §5.1); it is not reproduced under `compat`.
`'T'`, `'1'` or `'Jack'` are not the plain card names and do not match.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from sft_vs_rl.envs.generalpoints.cards import FACE_RULES, card_values, check_choice
from sft_vs_rl.envs.generalpoints.formula import FormulaError, evaluate_rpn, formula_numbers, parse_formula
from sft_vs_rl.envs.generalpoints.solver import solve_original
from sft_vs_rl.envs.verifier_env import MAX_RESPONSE_CHARS, Verdict

__all__ = [
    "COMPAT_MODES",
    "REWARDS",
    "ParsedResponse",
    "has_answer_format",
    "parse_response",
    "verify",
    "verify_formula",
]

REWARDS: dict[str, float] = {
    "correct": 5.0,
    "partial": 1.0,
    "no_solution": -1.0,
    "incorrect_vision": -1.5,
    "incorrect_number": -2.0,
    "illegal_formula": -3.0,
    "step_limit": -1.0,
}
"""The paper's reward table, keyed by verdict kind (`"partial"` occurs only under `compat="sftvsrl"`)."""

COMPAT_MODES: tuple[str | None, ...] = (None, "sftvsrl")


class ParsedResponse(NamedTuple):
    """Fields read from a model answer; `None` where a field is missing.

    Args:
        cards (`list[str] | None`):
            The `cards` field, each item normalised (see module docstring).
        numbers (`list[str] | None`):
            The `number` field as strings (parsed but not graded, as in the original).
        formula (`str | None`):
            The `formula` field, verbatim.
    """

    cards: list[str] | None
    numbers: list[str] | None
    formula: str | None


_FORMULA_RE = re.compile(r"""["']formula["']\s*:\s*(?:"([^"\n]{0,512})"|'([^'\n]{0,512})'|([^,\n}]{1,512}))""")
_LIST_RE = {
    key: re.compile(r"""["']""" + key + r"""s?["']\s*:\s*\[([^\]\n]{0,256})\]""") for key in ("cards", "number")
}


_ITEM_STRIP = " \t\r\n'\""


def _normalize_item(item: Any) -> str:
    return str(item).strip(_ITEM_STRIP).upper()


def _split_list(body: str) -> list[str]:
    return [x for x in (part.strip(_ITEM_STRIP).upper() for part in body.split(",")) if x]


def _as_list(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [_normalize_item(x) for x in value]
    if isinstance(value, str):
        return _split_list(value.strip().strip("[]"))
    return None


def parse_response(response: str) -> ParsedResponse:
    """Read `cards`, `number` and `formula` from a model answer, tolerantly and within bounded time.

    Strict JSON is tried first (on the span from the first `{` to the last `}`); otherwise each field is found by a
    bounded regular expression, which accepts the original's single-quoted, trailing-comma format, code fences and
    prose around the object. Never evaluates anything.

    >>> parse_response('''{"cards": ['A', '3', 'K', '6'], "number": [1, 3, 10, 6], "formula": "(1+6)*3+10=24",}''')
    ParsedResponse(cards=['A', '3', 'K', '6'], numbers=['1', '3', '10', '6'], formula='(1+6)*3+10=24')
    """
    return _extract(response, cards=True, numbers=True)


def has_answer_format(response: str) -> bool:
    """Whether an answer has the paper's format: `cards`, `number` and `formula` fields, the formula well-formed
    (right or wrong). The study's Init criterion (the paper's reason for Init is a stable output format).

    >>> has_answer_format('{"cards": ["A", "3", "K", "6"], "number": [1, 3, 10, 6], "formula": "(1+6)*3+10=24"}')
    True
    >>> has_answer_format('{"cards": ["A", "3", "K", "6"], "formula": "(1+6)*3+"}')
    False
    """
    parsed = parse_response(response)
    return bool(parsed.cards) and bool(parsed.numbers) and formula_numbers(parsed.formula) is not None


def _extract(response: str, cards: bool, numbers: bool) -> ParsedResponse:
    """`parse_response`, reading only the fields asked for (the formula always)."""
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}; decode model output first")
    text = response[:MAX_RESPONSE_CHARS]
    start, end = text.find("{"), text.rfind("}")
    # The original's own format (single quotes, trailing comma) is never valid JSON: go straight to the regexes.
    if 0 <= start < end and "'" not in text[start:end]:
        try:
            obj = json.loads(text[start : end + 1])
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict) and ("formula" in obj or "cards" in obj):
            formula = obj.get("formula")
            return ParsedResponse(
                _as_list(obj.get("cards")) if cards else None,
                _as_list(obj.get("number", obj.get("numbers"))) if numbers else None,
                None if formula is None else str(formula),
            )
    match = _FORMULA_RE.search(text)
    formula = None
    if match is not None:
        formula = next(g for g in match.groups() if g is not None).strip(" \t'\"")
    lists = []
    for key, wanted in (("cards", cards), ("number", numbers)):
        found = _LIST_RE[key].search(text) if wanted else None
        lists.append(None if found is None else _split_list(found.group(1)))
    return ParsedResponse(lists[0], lists[1], formula)


def _join(messages: list[str]) -> str:
    return ", ".join(messages) + "."


def _number_errors(used: Sequence[int], card_nums: Sequence[int]) -> list[str]:
    """The original's number messages: invalid or overused numbers (one kind), then unused numbers."""
    if sorted(used) == sorted(card_nums):
        return []
    have, want = Counter(used), Counter(card_nums)
    messages = []
    invalid = [n for n in have if n not in want]
    over = [n for n in have if have[n] > want[n]]
    if invalid:
        messages.append(f"you used invalid numbers: {invalid}")
    elif over:
        messages.append(f"you used numbers: {over} too many times")
    under = [n for n in want if want[n] > have[n]]
    if under:
        messages.append(f"you didn't use numbers: {under}")
    return messages


def _verdict(kind: str, reward: float, feedback: str, recognized: bool | None, formula: str | None) -> Verdict:
    return Verdict(
        reward=reward,
        feedback=feedback,
        success=kind == "correct",
        metrics={"kind": kind, "recognized_correctly": recognized, "formula": formula},
    )


def verify_formula(
    formula: str | None,
    numbers: Sequence[int],
    target: int = 24,
    compat: str | None = None,
    recognized_correctly: bool | None = None,
) -> Verdict:
    """Grade a formula against the hand's card values (after the face-card rule).

    Args:
        formula (`str`, *optional*):
            The answer's formula (`None` when the answer has none: illegal formula).
        numbers (`Sequence[int]`):
            Card values of the hand.
        target (`int`, *optional*, defaults to `24`):
            Value the formula must reach.
        compat (`str`, *optional*):
            `"sftvsrl"` reproduces the original grading (module docstring).
        recognized_correctly (`bool`, *optional*):
            Copied into `Verdict.metrics` (GP-VL).

    >>> verify_formula("4*3+2+10=24", [4, 3, 2, 10]).reward
    5.0
    >>> verify_formula("(10-6)*3+7", [10, 6, 3, 1]).feedback
    "you used invalid numbers: [7], you didn't use numbers: [1]."
    """
    card_nums = [int(n) for n in numbers]
    if compat == "sftvsrl":
        return _verify_formula_sftvsrl(formula, card_nums, target, recognized_correctly)
    if compat is not None:
        check_choice("compat", compat, ("sftvsrl",))
    if formula is None:
        return _verdict("illegal_formula", -3.0, "no formula found in the answer.", recognized_correctly, None)
    try:
        parsed = parse_formula(formula)
    except FormulaError as err:
        return _verdict("illegal_formula", -3.0, f"{err}.", recognized_correctly, formula)
    errors = _number_errors(parsed.numbers, card_nums)
    if errors:
        return _verdict("incorrect_number", -2.0 * len(errors), _join(errors), recognized_correctly, formula)
    try:
        value = evaluate_rpn(parsed.rpn, exact=True)
    except FormulaError:
        return _verdict("no_solution", -1.0, "your formula divides by zero.", recognized_correctly, formula)
    if value == target:
        return _verdict("correct", 5.0, "Correct solution.", recognized_correctly, formula)
    return _verdict(
        "no_solution", -1.0, "your formula does not match any solution.", recognized_correctly, formula
    )


_ORIGINAL_TOKEN = re.compile(r"\d+|[+\-*/()]")


def _verify_formula_sftvsrl(
    formula: str | None, card_nums: list[int], target: int, recognized: bool | None
) -> Verdict:
    """The original `step_rewards` grading, re-implemented without `eval` (spec §1.6, steps 1-6)."""
    # The original read a missing formula as the string "None" and kept the part before "=".
    text = ("None" if formula is None else formula).split("=")[0]
    tokens = _ORIGINAL_TOKEN.findall(text)
    if "".join(tokens) != text:
        return _verdict("illegal_formula", -3.0, "illegal characters.", recognized, formula)
    reward = 0.0
    messages: list[str] = []
    prev = None  # token kinds: "num", "op", "(", ")"
    open_parens = 0
    for tok in tokens:
        kind = "num" if tok[0].isdigit() else "op" if tok in "+-*/" else tok
        if kind == "num" and prev not in (None, "op", "("):
            messages.append("invalid sequence after number")
        elif kind == "op" and prev not in ("num", ")"):
            messages.append("invalid sequence after operator")
        elif kind == "(":
            if prev in (None, "op", "("):
                open_parens += 1
            else:
                messages.append("invalid sequence before '('")
        elif kind == ")":
            if prev not in ("num", ")"):
                messages.append("invalid sequence after ')'")
            elif open_parens:
                open_parens -= 1
            else:
                messages.append("unmatched closing parenthesis")
        prev = kind
    reward -= 3.0 * len(messages)
    number_messages = _number_errors([int(t) for t in tokens if t[0].isdigit()], card_nums)
    reward -= 2.0 * len(number_messages)
    messages += number_messages
    if messages:
        kind = "illegal_formula" if len(messages) > len(number_messages) else "incorrect_number"
        return _verdict(kind, reward, _join(messages), recognized, formula)
    solutions = solve_original(card_nums, target) if len(card_nums) == 4 else []
    try:
        value = evaluate_rpn(parse_formula(text).rpn, exact=False)
    except FormulaError:
        if any(sol.startswith(text) for sol in solutions):
            return _verdict("partial", 1.0, "partial solution.", recognized, formula)
    else:
        if value == target:
            return _verdict("correct", 5.0, "Correct solution.", recognized, formula)
    register = ""
    for tok in tokens:
        prefix, register = register, register + tok
        if not any(sol.startswith(register) for sol in solutions):
            if prefix:
                message = f"{prefix} is partially correct but the full formula does not match any solution."
            else:
                message = "your formula does not match any solution."
            return _verdict("no_solution", -1.0, message, recognized, formula)
    # A listed solution whose float value misses the target (e.g. 8/(3-8/3)): the original gives 0 and ".".
    return _verdict("float_mismatch", 0.0, ".", recognized, formula)


def verify(
    response: str,
    ranks: Sequence[str],
    face_rule: str = "10",
    target: int = 24,
    visual: bool = False,
    compat: str | None = None,
) -> Verdict:
    """Grade one model answer for a dealt hand; a pure function.

    Args:
        response (`str`):
            The model's raw answer (untrusted; cut to `MAX_RESPONSE_CHARS`).
        ranks (`Sequence[str]`):
            Plain card names of the dealt hand (`["A", "10", "K", "5"]`).
        face_rule (`str`, *optional*, defaults to `"10"`):
            `"10"` or `"11-12-13"`: how J/Q/K turn into numbers.
        target (`int`, *optional*, defaults to `24`):
            Value the formula must reach.
        visual (`bool`, *optional*, defaults to `False`):
            GP-VL: check the `cards` field against the hand first (-1.5 when wrong).
        compat (`str`, *optional*):
            `"sftvsrl"` reproduces the original grading (module docstring).

    Returns:
        `Verdict`: reward, feedback, success and `metrics` with `kind` (the reward-table row),
        `recognized_correctly` (`None` unless `visual`) and `formula`.

    >>> verify('{"cards": ["4", "3", "2", "K"], "number": [4, 3, 2, 10], "formula": "4*3+2+10=24"}',
    ...        ["4", "3", "2", "K"], visual=True)
    Verdict(reward=5.0, feedback='Correct solution.', success=True, metrics={'kind': 'correct', \
'recognized_correctly': True, 'formula': '4*3+2+10=24'})
    """
    if face_rule not in FACE_RULES:
        check_choice("face_rule", face_rule, tuple(FACE_RULES))
    if compat is not None:
        check_choice("compat", compat, ("sftvsrl",))
    parsed = _extract(response, cards=visual, numbers=False)
    recognized = None
    if visual:
        recognized = parsed.cards is not None and sorted(parsed.cards) == sorted(ranks)
        if not recognized:
            feedback = "you recognized wrong cards" + ("" if compat == "sftvsrl" else ".")
            return _verdict("incorrect_vision", -1.5, feedback, False, parsed.formula)
    return verify_formula(parsed.formula, card_values(ranks, face_rule), target, compat, recognized)
