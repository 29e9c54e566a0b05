"""Golden tests for the GeneralPoints verifier: every reward branch, default and `compat="sftvsrl"`."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_vs_rl.envs.generalpoints import format_response, parse_response, verify, verify_formula

HAND = ["4", "3", "2", "K"]  # values [4, 3, 2, 10] under the "10" rule


def answer(formula, cards=HAND):
    return format_response(cards, [4, 3, 2, 10], formula)


# (ranks, response, face_rule, visual, compat, reward, kind, feedback)
GOLDEN = [
    # the spec's [run] example: correct answer terminates with +5
    (HAND, answer("4*3+2+10=24"), "10", False, None, 5.0, "correct", "Correct solution."),
    # same under compat
    (HAND, answer("4*3+2+10=24"), "10", False, "sftvsrl", 5.0, "correct", "Correct solution."),
    # spec [run]: a number not on the cards and an unused card number -> -2 -2
    (["10", "6", "3", "A"], answer("(10-6)*3+7"), "10", False, None, -4.0, "incorrect_number",
     "you used invalid numbers: [7], you didn't use numbers: [1]."),
    # same message and reward under compat
    (["10", "6", "3", "A"], answer("(10-6)*3+7"), "10", False, "sftvsrl", -4.0, "incorrect_number",
     "you used invalid numbers: [7], you didn't use numbers: [1]."),
    # spec [run]: spaces are illegal characters in the original ...
    (["10", "6", "3", "A"], answer("(10 - 6) * (3 + 1)"), "10", False, "sftvsrl", -3.0, "illegal_formula",
     "illegal characters."),
    # ... and allowed by default: the formula is valid, right numbers, value 16 -> -1
    (["10", "6", "3", "A"], answer("(10 - 6) * (3 + 1)"), "10", False, None, -1.0, "no_solution",
     "your formula does not match any solution."),
    # a number used too often (one kind: -2)
    (HAND, answer("4*3+2+10+10"), "10", False, None, -2.0, "incorrect_number",
     "you used numbers: [10] too many times."),
    # a card number unused (one kind: -2)
    (HAND, answer("4*3*2"), "10", False, None, -2.0, "incorrect_number", "you didn't use numbers: [10]."),
    # valid formula with the right numbers, wrong value -> -1, no prefix leak by default
    (HAND, answer("4*3+10-2"), "10", False, None, -1.0, "no_solution", "your formula does not match any solution."),
    # compat leaks the matching solution prefix, as the original did
    (HAND, answer("4*3+10-2"), "10", False, "sftvsrl", -1.0, "no_solution",
     "4*3+10 is partially correct but the full formula does not match any solution."),
    # compat: the very first token misses every solution of [1, 1, 1, 8] ((1+1+1)*8, 8*(1+1+1), ...)
    (["A", "A", "A", "8"], answer("1*1*1*8"), "10", False, "sftvsrl", -1.0, "no_solution",
     "your formula does not match any solution."),
    # illegal characters ("x" for times) -> -3
    (HAND, answer("4x3+2+10"), "10", False, None, -3.0, "illegal_formula", "illegal characters."),
    # syntax error -> -3 (default names the problem)
    (HAND, answer("4*3+2+10)"), "10", False, None, -3.0, "illegal_formula", "unmatched closing parenthesis."),
    # compat: each syntax violation adds -3, and number penalties add on top
    (HAND, answer("4*3++2+10+9"), "10", False, "sftvsrl", -5.0, "illegal_formula",
     "invalid sequence after operator, you used invalid numbers: [9]."),
    # unary minus is a syntax error by default
    (HAND, answer("-4+3*2*10-2"), "10", False, None, -3.0, "illegal_formula", "invalid sequence after the start."),
    # no formula at all -> -3
    (HAND, "I think the answer is twenty-four.", "10", False, None, -3.0, "illegal_formula",
     "no formula found in the answer."),
    # compat reads a missing formula as the string "None", as the original did
    (HAND, "I think the answer is twenty-four.", "10", False, "sftvsrl", -3.0, "illegal_formula",
     "illegal characters."),
    # exact arithmetic: 8/(3-8/3) is correct by default ...
    (["3", "3", "8", "8"], answer("8/(3-8/3)=24"), "10", False, None, 5.0, "correct", "Correct solution."),
    # ... and gets the original's 0 with feedback "." under compat (float eval gives 23.99999999999999)
    (["3", "3", "8", "8"], answer("8/(3-8/3)=24"), "10", False, "sftvsrl", 0.0, "float_mismatch", "."),
    # division by zero is a clear -1 verdict
    (["3", "3", "8", "8"], answer("8/(3-3)*8"), "10", False, None, -1.0, "no_solution",
     "your formula divides by zero."),
    # compat: an unclosed parenthesis on a solution prefix is the original's +1 partial solution ...
    (["10", "6", "3", "A"], answer("1*(3*10-6"), "10", False, "sftvsrl", 1.0, "partial", "partial solution."),
    # ... and a syntax error by default
    (["10", "6", "3", "A"], answer("1*(3*10-6"), "10", False, None, -3.0, "illegal_formula", "unclosed parenthesis."),
    # rule OOD (spec [run]): writing 10 for K when K counts 13 -> -4
    (HAND, answer("4*3+2+10"), "11-12-13", False, None, -4.0, "incorrect_number",
     "you used invalid numbers: [10], you didn't use numbers: [13]."),
    # rule OOD: 13 for K is right
    (["4", "3", "A", "K"], answer("4*3-1+13"), "11-12-13", False, None, 5.0, "correct", "Correct solution."),
    # VL: wrong recognised cards -> -1.5 before the formula is looked at
    (HAND, answer("4*3+2+10", ["4", "3", "2", "Q"]), "10", True, None, -1.5, "incorrect_vision",
     "you recognized wrong cards."),
    # VL compat: the original message has no final period
    (HAND, answer("4*3+2+10", ["4", "3", "2", "Q"]), "10", True, "sftvsrl", -1.5, "incorrect_vision",
     "you recognized wrong cards"),
    # VL: recognition compares multisets, order does not matter
    (HAND, answer("4*3+2+10", ["K", "2", "3", "4"]), "10", True, None, 5.0, "correct", "Correct solution."),
    # VL: strict JSON with unquoted numeric cards is recognised (the original's pitfall §5.1 failed it)
    (HAND, json.dumps({"cards": [4, 3, 2, "K"], "number": [4, 3, 2, 10], "formula": "4*3+2+10=24"}), "10", True,
     None, 5.0, "correct", "Correct solution."),
    # VL: 'T' is not the plain name of a ten
    (["4", "3", "2", "10"], answer("4*3+2+10", ["4", "3", "2", "T"]), "10", True, None, -1.5, "incorrect_vision",
     "you recognized wrong cards."),
    # GP-L never checks the cards field
    (HAND, answer("4*3+2+10", ["A", "A", "A", "A"]), "10", False, None, 5.0, "correct", "Correct solution."),
    # hostile code in the formula is just illegal characters
    (HAND, '{"formula": "__import__(\'os\').system(\'rm -rf /\')"}', "10", False, None, -3.0, "illegal_formula",
     "illegal characters."),
]


@pytest.mark.parametrize(
    ("ranks", "response", "face_rule", "visual", "compat", "reward", "kind", "feedback"), GOLDEN
)
def test_golden(ranks, response, face_rule, visual, compat, reward, kind, feedback):
    verdict = verify(response, ranks, face_rule=face_rule, visual=visual, compat=compat)
    assert (verdict.reward, verdict.metrics["kind"], verdict.feedback) == (reward, kind, feedback)
    assert verdict.success is (kind == "correct")
    assert verdict.metrics["recognized_correctly"] is (None if not visual else kind != "incorrect_vision")


# (response, cards, formula): formats models actually write
PARSE = [
    # the original's SFT format: single-quoted cards, trailing comma (invalid JSON)
    (format_response(["A", "10", "K", "5"], [1, 10, 10, 5], "(10-5)*... "), ["A", "10", "K", "5"], "(10-5)*..."),
    # strict JSON
    ('{"cards": ["A", "10"], "number": [1, 10], "formula": "1+10"}', ["A", "10"], "1+10"),
    # code fence and prose around the object
    ('Sure!\n```json\n{"cards": ["a", "2"], "formula": "2*12=24"}\n```\nDone.', ["A", "2"], "2*12=24"),
    # single-quoted formula as in the prompt's schema
    ("{'cards': ['J', 'Q'], 'formula': '10+10'}", ["J", "Q"], "10+10"),
    # unquoted formula value
    ('"formula": 4*3+2+10=24,\n', None, "4*3+2+10=24"),
    # nothing to read
    ("no json here", None, None),
]


@pytest.mark.parametrize(("response", "cards", "formula"), PARSE)
def test_parse_response(response, cards, formula):
    parsed = parse_response(response)
    assert parsed.cards == cards
    assert parsed.formula == formula


def test_parse_response_type_error():
    with pytest.raises(TypeError, match="response must be a str"):
        parse_response(b"{}")


def test_verify_formula_direct():
    assert verify_formula("4*3+2+10=24", [4, 3, 2, 10]).success
    assert verify_formula(None, [4, 3, 2, 10]).reward == -3.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="face_rule"):
        verify("{}", HAND, face_rule="11")
    with pytest.raises(ValueError, match="compat"):
        verify("{}", HAND, compat="original")


HOSTILE = [
    "x" * 5_000_000,  # megabytes
    "{" * 200_000 + "}",  # deep nesting for json
    "[" * 20_000 + "]" * 20_000,  # deep list nesting
    '"formula": "' + "1+" * 100_000,  # huge unterminated formula
    '{"formula": "' + "(" * 5000 + "1" + ")" * 5000 + '"}',  # deep parentheses
    "\x00\xff\ud800" * 1000,  # binary / lone surrogate
    '{"cards": ' + "[1," * 3000 + '], "formula": "1"}',  # nested cards
]


@pytest.mark.parametrize("response", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("compat", [None, "sftvsrl"])
def test_hostile_responses_are_graded_negative(response, compat):
    verdict = verify(response, HAND, visual=True, compat=compat)
    assert verdict.reward < 0 and verdict.feedback


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000), st.booleans(), st.sampled_from([None, "sftvsrl"]))
def test_random_responses_never_crash(response, visual, compat):
    verdict = verify(response, HAND, visual=visual, compat=compat)
    assert verdict.reward in {5.0, 1.0, 0.0, -1.0, -1.5} or verdict.reward <= -2.0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='0123456789+-*/() =x"\'{}[],:formulacards', max_size=300))
def test_formula_like_responses_never_crash(text):
    for response in (text, '{"formula": "' + text + '"}', answer(text)):
        verify(response, HAND)
        verify(response, HAND, compat="sftvsrl")
