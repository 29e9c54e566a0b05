"""Grading of V-IRL answers: tolerant, bounded parsing of the answer and the reward table of SFTvsRL
(`utils_rl.step_rewards_virl`), as a pure function returning a `Verdict`.

| case | reward | feedback |
|---|---|---|
| action equals the expected action | +1 | `Correct action.` |
| wrong action, the answer claims an intersection that the reference observation lacks | -1.5 | `you are not at any intersection. ...` |
| wrong action, the answer misses an intersection that the reference observation holds | -1.5 | `you are at an intersection. ...` |
| any other wrong action | -1 | `you make incorrect action. ...` |

The environment chooses the reference observation (quirk 2 of reference/virl_spec.md §1.11): the full oracle line
by default, so the -1.5 branches fire only for a false (or missing) intersection claim; the landmark-only string with
`compat="sftvsrl"`, which makes -1.5 fire whenever a wrong answer mentions "intersection" and never the second branch.
The messages, doubled braces and "streetview grid" included, are the original's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..verifier_env import MAX_RESPONSE_CHARS, Verdict

__all__ = [
    "CORRECT_ACTION",
    "EXCEED_MAX_VERIFY",
    "ParsedAnswer",
    "REWARD_FN_VIRL",
    "has_answer_format",
    "observation_correct",
    "parse_answer",
    "verify_action",
]

REWARD_FN_VIRL = {"CORRECT_ACTION": 1.0, "INCORRECT_ACTION": -1.0, "INCORRECT_OBS": -1.5}
BUDGET_PENALTY = -1.0

_FORMAT_TOKEN = """
[Output]
{{
  "current observation": latest observation from the streetview grid,
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}}"""
CORRECT_ACTION = "Correct action."
NOT_AT_INTERSECTION = (
    "you are not at any intersection. Please avoid this observation and try again in the same format:"
    + _FORMAT_TOKEN
    + "."
)
AT_INTERSECTION = (
    "you are at an intersection. Please avoid this observation and try again in the same format:" + _FORMAT_TOKEN + "."
)
INCORRECT_ACTION = (
    "you make incorrect action. Please avoid this action and try again in the same format:" + _FORMAT_TOKEN + "."
)
EXCEED_MAX_VERIFY = "Exceed maximum verify steps"

_KEYS = ("current observation", "current instruction", "action")
_FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
# One `"key": "value"` or `'key': 'value'` pair; the value stops at its own closing quote. Bounded input, no
# nested quantifiers: linear time.
_PAIR = re.compile(r"""(["'])(current observation|current instruction|action)\1\s*:\s*(["'])(.*?)\3\s*[,}\n]""")
_ORIGINAL = {k: re.compile(rf'"{k}": "(.*?)"') for k in _KEYS}  # SFTvsRL `re_match` fallback


@dataclass(frozen=True)
class ParsedAnswer:
    """The three fields of an answer; `None` where absent or not a string."""

    observation: str | None
    instruction: str | None
    action: str | None


def _as_fields(obj) -> ParsedAnswer | None:
    if not isinstance(obj, dict):
        return None
    vals = [obj.get(k) if isinstance(obj.get(k), str) else None for k in _KEYS]
    return ParsedAnswer(*vals)


def has_answer_format(response: str) -> bool:
    """Whether an answer has the paper's format: a `"current observation"` and an action of the action grammar
    (`forward()`, `stop()`, `turn_direction(...)`), right or wrong. The study's Init criterion.

    >>> has_answer_format('{"current observation": "No landmarks nearby; ", "action": "forward()"}')
    True
    >>> has_answer_format('{"action": "go()"}')
    False
    """
    parsed = parse_answer(response)
    action = parsed.action or ""
    grammatical = action in ("forward()", "stop()") or (action.startswith("turn_direction(") and action.endswith(")"))
    return parsed.observation is not None and grammatical


def parse_answer(response: str) -> ParsedAnswer:
    """Read `"current observation"`, `"current instruction"` and `"action"` from a model answer.

    Accepts strict JSON, the original's trailing-comma format (`ResponseVIRL`), single-quoted keys and values, code
    fences and prose around the object. The response is cut to `MAX_RESPONSE_CHARS` first and nothing is evaluated.

    >>> parse_answer('Sure! ```json\\n{"action": "forward()",}\\n```').action
    'forward()'
    >>> parse_answer("{'action': 'turn_direction(left)'}").action
    'turn_direction(left)'
    """
    if not isinstance(response, str):
        raise TypeError(f"`response` must be a str, got {type(response).__name__}.")
    text = response[:MAX_RESPONSE_CHARS]
    fence = _FENCE.search(text)
    candidates = [fence.group(1)] if fence else []
    candidates.append(text)
    for cand in candidates:
        start, end = cand.find("{"), cand.rfind("}")
        if start < 0 or end <= start:
            continue
        body = cand[start : end + 1]
        for attempt in (body, _TRAILING_COMMA.sub(r"\1", body)):
            try:
                parsed = _as_fields(json.loads(attempt))
            except (ValueError, RecursionError):
                continue
            if parsed is not None and parsed.action is not None:
                return parsed
    found: dict[str, str] = {}
    for match in _PAIR.finditer(text):
        found.setdefault(match.group(2), match.group(4))
    for key, pattern in _ORIGINAL.items():  # last resort: the original regex (values cut at the first quote)
        if key not in found:
            m = pattern.search(text)
            if m:
                found[key] = m.group(1)
    return ParsedAnswer(found.get("current observation"), found.get("current instruction"), found.get("action"))


def _normalise(observation: str) -> str:
    return " ".join(observation.replace(";", " ; ").split()).rstrip(" ;")


def observation_correct(answer_observation: str | None, oracle_observation: str) -> bool:
    """Whether an answer's `"current observation"` states the oracle observation (landmark, its side, intersection
    flag), ignoring spacing and a trailing `;`. In V-IRL-VL this is the landmark-recognition metric.

    >>> observation_correct("X is on your left; You observe an intersection", "X is on your left; You observe an intersection")
    True
    >>> observation_correct("No landmarks nearby", "No landmarks nearby; ")
    True
    """
    return answer_observation is not None and _normalise(answer_observation) == _normalise(oracle_observation)


def verify_action(
    response: str, expected_action: str, reference_observation: str, oracle_observation: str | None = None
) -> Verdict:
    """Grade one answer at one rail position.

    Args:
        response (`str`): The model's raw answer.
        expected_action (`str`): The rail's ground-truth action, e.g. `"turn_direction(north)"`.
        reference_observation (`str`): What the intersection check compares with: the full oracle observation
            (default environment) or the landmark-only string (`compat="sftvsrl"`).
        oracle_observation (`str`, *optional*): The full oracle observation, for the `observation_correct` metric
            (never part of the reward); defaults to `reference_observation`.

    Returns:
        `Verdict` with `metrics={"step_correct": bool, "observation_correct": bool, "action": parsed action or None,
        "claims_intersection": bool, "kind": ...}`; `kind` is `"correct"`, `"false_intersection"` /
        `"missed_intersection"` (the observation's intersection claim is wrong), `"wrong_action"` or `"no_action"`
        (no action could be read).

    >>> verify_action('{"action": "forward()"}', "forward()", "No landmarks nearby; ").reward
    1.0
    >>> verify_action('{"current observation": "You observe an intersection", "action": "stop()"}', "forward()",
    ...               "No landmarks nearby; ").reward
    -1.5
    """
    parsed = parse_answer(response)
    claims = "intersection" in (parsed.observation or "None")
    truth = "intersection" in reference_observation
    metrics = {
        "step_correct": parsed.action == expected_action,
        "observation_correct": observation_correct(parsed.observation, oracle_observation or reference_observation),
        "action": parsed.action,
        "claims_intersection": claims,
    }
    if parsed.action == expected_action:
        return Verdict(REWARD_FN_VIRL["CORRECT_ACTION"], CORRECT_ACTION, True, metrics | {"kind": "correct"})
    if claims and not truth:
        return Verdict(REWARD_FN_VIRL["INCORRECT_OBS"], NOT_AT_INTERSECTION, False,
                       metrics | {"kind": "false_intersection"})
    if truth and not claims:
        return Verdict(REWARD_FN_VIRL["INCORRECT_OBS"], AT_INTERSECTION, False, metrics | {"kind": "missed_intersection"})
    kind = "no_action" if parsed.action is None else "wrong_action"
    return Verdict(REWARD_FN_VIRL["INCORRECT_ACTION"], INCORRECT_ACTION, False, metrics | {"kind": kind})
