"""Golden tests of the V-IRL verifier: every reward branch, the verbatim messages, tolerant and bounded parsing."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_vs_rl.envs.verifier_env import MAX_RESPONSE_CHARS, Verdict
from sft_vs_rl.envs.virl import format_response, parse_answer, verify_action
from sft_vs_rl.envs.virl.verifier import AT_INTERSECTION, CORRECT_ACTION, INCORRECT_ACTION, NOT_AT_INTERSECTION

FORMAT_BLOCK = """
[Output]
{{
  "current observation": latest observation from the streetview grid,
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}}."""
AT_TURN = "Harbor Books is on your left; You observe an intersection"
FORWARD = "No landmarks nearby; "
LANDMARK_ONLY = "Harbor Books is on your left"


def answer(obs, action):
    return format_response(obs, "Turn left to face north.", action)


def test_messages_are_verbatim():
    assert CORRECT_ACTION == "Correct action."
    assert INCORRECT_ACTION == "you make incorrect action. Please avoid this action and try again in the same format:" + FORMAT_BLOCK
    assert NOT_AT_INTERSECTION == (
        "you are not at any intersection. Please avoid this observation and try again in the same format:" + FORMAT_BLOCK
    )
    assert AT_INTERSECTION == "you are at an intersection. Please avoid this observation and try again in the same format:" + FORMAT_BLOCK


@pytest.mark.parametrize(
    "response, expected, reference, reward, message",
    [
        # correct action: +1, whatever the observation says
        (answer("anything", "turn_direction(north)"), "turn_direction(north)", AT_TURN, 1.0, CORRECT_ACTION),
        # wrong action, observation right: -1
        (answer(AT_TURN, "turn_direction(south)"), "turn_direction(north)", AT_TURN, -1.0, INCORRECT_ACTION),
        # wrong action, claims an intersection on a forward point: -1.5
        (answer("You observe an intersection", "stop()"), "forward()", FORWARD, -1.5, NOT_AT_INTERSECTION),
        # wrong action, misses the intersection (corrected reference = full observation): -1.5
        (answer(LANDMARK_ONLY, "forward()"), "turn_direction(north)", AT_TURN, -1.5, AT_INTERSECTION),
        # original reference (landmark only): mentioning the real intersection still gives -1.5 ...
        (answer(AT_TURN, "forward()"), "turn_direction(north)", LANDMARK_ONLY, -1.5, NOT_AT_INTERSECTION),
        # ... and missing it is a plain -1 (the original's mirror branch never fires)
        (answer(LANDMARK_ONLY, "forward()"), "turn_direction(north)", LANDMARK_ONLY, -1.0, INCORRECT_ACTION),
        # unparseable answer: -1
        ("I would go north", "turn_direction(north)", FORWARD, -1.0, INCORRECT_ACTION),
        # relative action with a space is matched exactly
        (answer(FORWARD, "turn_direction(slightly left)"), "turn_direction(slightly left)", FORWARD, 1.0, CORRECT_ACTION),
        # near-miss spelling is wrong (exact match)
        (answer(FORWARD, "turn_direction(North)"), "turn_direction(north)", FORWARD, -1.0, INCORRECT_ACTION),
    ],
)
def test_reward_table(response, expected, reference, reward, message):
    verdict = verify_action(response, expected, reference)
    assert isinstance(verdict, Verdict)
    assert (verdict.reward, verdict.feedback, verdict.success) == (reward, message, reward == 1.0)
    assert verdict.metrics["step_correct"] is (reward == 1.0)


@pytest.mark.parametrize(
    "response, action",
    [
        ('{"current observation": "a", "action": "forward()"}', "forward()"),  # strict JSON
        (format_response("a", "b", "stop()"), "stop()"),  # the original's trailing-comma format
        ("{'current observation': 'a', 'action': 'turn_direction(left)',}", "turn_direction(left)"),  # single quotes
        ('```json\n{"action": "forward()"}\n```', "forward()"),  # code fence
        ('Here is my answer:\n{"action": "stop()"}\nGood luck!', "stop()"),  # prose around
        ('{"action": "forward()", "current observation": "Rosa\'s Cafe is on your left"}', "forward()"),
        ('{"action": 3}', None),  # not a string
        ("no json at all", None),
        # closing brace cut off by the bound: the original's regex still reads the pair
        ('{"action": "forward()"' + " " * MAX_RESPONSE_CHARS + "}", "forward()"),
        ("{" * 5000 + '"action": "forward()"', "forward()"),  # hostile nesting: no recursion error
        (" " * MAX_RESPONSE_CHARS + '{"action": "forward()"}', None),  # beyond the bound: never read
    ],
)
def test_parse_answer(response, action):
    assert parse_answer(response).action == action


def test_parse_original_regex_fallback():
    # The original's `"action": "(.*?)"` regex still reads a broken object.
    assert parse_answer('{"action": "forward()" "current observation": oops').action == "forward()"


def test_parse_rejects_non_str():
    with pytest.raises(TypeError, match="response"):
        parse_answer(None)


def test_observation_correct_metric():
    oracle = AT_TURN
    assert verify_action(answer(AT_TURN, "stop()"), "forward()", FORWARD, oracle).metrics["observation_correct"]
    assert not verify_action(answer(LANDMARK_ONLY, "stop()"), "forward()", FORWARD, oracle).metrics[
        "observation_correct"
    ]
    assert not verify_action("no json", "forward()", FORWARD).metrics["observation_correct"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(list('{}[]"\':,` \nacfo()') + ["```json", '"action"', "forward()", "stop()"]),
                max_size=80).map("".join))
def test_parse_answer_never_raises_on_hostile_text(text):
    parsed = parse_answer(text)
    assert parsed.action is None or isinstance(parsed.action, str)
    verdict = verify_action(text, "forward()", FORWARD)
    assert verdict.reward in (1.0, -1.0, -1.5)
