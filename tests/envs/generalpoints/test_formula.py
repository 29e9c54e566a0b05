"""Tests for the bounded formula tokenizer, parser and evaluator."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sft_vs_rl.envs.generalpoints.formula import (
    MAX_DEPTH,
    FormulaError,
    evaluate_formula,
    evaluate_rpn,
    parse_formula,
)

VALID = [
    ("4*3+2+10=24", Fraction(24)),  # the spec's [run] example, with the "=24" tail
    ("4*3+2+10", Fraction(24)),  # no "=" part
    ("(10 - 6) * (3 + 1)", Fraction(16)),  # spaces are allowed (the original called them illegal)
    ("8/(3-8/3)", Fraction(24)),  # exact arithmetic: float eval gives 23.99999999999999
    ("8/(3-8/3) = 24", Fraction(24)),  # spaces around "="
    ("10-6-3", Fraction(1)),  # left associativity of "-"
    ("24/4/2", Fraction(3)),  # left associativity of "/"
    ("2+3*4", Fraction(14)),  # precedence
    ("((((1))))", Fraction(1)),  # redundant parentheses
    ("7/2", Fraction(7, 2)),  # non-integer value
    ("1+2=23", Fraction(3)),  # the number after "=" is not checked (original: split("=")[0])
    ("9999*9999", Fraction(99980001)),  # 4-digit numbers are allowed
]


@pytest.mark.parametrize(("text", "value"), VALID)
def test_valid_formulas(text, value):
    assert evaluate_formula(text) == value


INVALID = [
    ("", "syntax"),  # empty
    ("=24", "syntax"),  # nothing before "="
    ("4x3+2+10", "illegal_characters"),  # "x" is not an operator
    ("4×3+2+10", "illegal_characters"),  # unicode times
    ("4**3", "syntax"),  # power is not in the grammar
    ("-3+27", "syntax"),  # unary minus is rejected (documented decision)
    ("2*(-1+13)", "syntax"),  # unary minus after "("
    ("3 4", "syntax"),  # two numbers in a row
    ("(1+2", "syntax"),  # unclosed parenthesis
    ("1+2)", "syntax"),  # unmatched closing parenthesis
    ("()", "syntax"),  # empty parentheses
    ("1+", "syntax"),  # ends with an operator
    ("12345+1", "syntax"),  # more than 4 digits
    ("1+2=24=24", "syntax"),  # two "=" signs
    ("1+2=(3)", "syntax"),  # "=" followed by something else than a number
    ("1.5*16", "illegal_characters"),  # decimals are not card numbers
    ("__import__('os').system('ls')", "illegal_characters"),  # hostile code is just illegal characters
    ("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1), "syntax"),  # too deep
    ("+".join(["1"] * 40), "syntax"),  # more than 64 tokens
    ("1" + " " * 300, "syntax"),  # longer than 256 characters
    ("1/(2-2)", "division_by_zero"),  # a clear verdict for division by zero
]


@pytest.mark.parametrize(("text", "kind"), INVALID)
def test_invalid_formulas(text, kind):
    with pytest.raises(FormulaError) as info:
        evaluate_formula(text)
    assert info.value.kind == kind
    assert isinstance(info.value, ValueError)


def test_depth_limit_is_inclusive():
    text = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    assert evaluate_formula(text) == 1


def test_numbers_in_order():
    assert parse_formula("(10-6)*3+7").numbers == (10, 6, 3, 7)


def test_float_mode_matches_python_semantics():
    rpn = parse_formula("8/(3-8/3)").rpn
    assert evaluate_rpn(rpn, exact=False) == 8 / (3 - 8 / 3)
    assert evaluate_rpn(rpn, exact=False) != 24
    assert evaluate_rpn(parse_formula("4*3+2+10").rpn, exact=False) == 24


def test_non_string_is_formula_error():
    with pytest.raises(FormulaError):
        parse_formula(None)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text_never_crashes(text):
    try:
        value = evaluate_formula(text)
    except FormulaError:
        return
    assert isinstance(value, Fraction)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/() =", max_size=300))
def test_formula_alphabet_never_crashes(text):
    try:
        evaluate_formula(text)
    except FormulaError:
        pass
