"""A bounded tokenizer, parser and evaluator for GeneralPoints formulas.

Model output is untrusted, so formulas are never handed to `eval`. The grammar is the four-operator arithmetic of
the card game::

    formula := expr [ "=" number ]
    expr    := term { ("+" | "-") term }
    term    := factor { ("*" | "/") factor }
    factor  := number | "(" expr ")"

* Spaces are allowed anywhere between tokens. Any other character (letters, `x`, `×`, `÷`, `**`, `.`, ...) is
  an illegal character.
* Unary minus is **not** part of the grammar: `-3+27` or `2*(-1+13)` are syntax errors. The game combines the card
  numbers with binary operators only, and the original verifier rejects a leading `-` too.
* An optional `=` followed by a number (`=24`, `= 24`) may end the formula; the number is not checked, as in the
  original (which kept `formula.split('=')[0]`).
* Bounds: at most `MAX_FORMULA_CHARS` characters, `MAX_TOKENS` tokens, `MAX_DEPTH` nested parentheses and
  `MAX_DIGITS` digits per number. Everything runs in time linear in the (bounded) input.

Evaluation is exact (`int` and `fractions.Fraction`) by default; `exact=False` reproduces Python's own float
semantics (ints for `+ - *`, true division for `/`), which is what the original verifier's `eval` computed.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NamedTuple

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_FORMULA_CHARS",
    "MAX_TOKENS",
    "FormulaError",
    "ParsedFormula",
    "evaluate_formula",
    "evaluate_rpn",
    "formula_numbers",
    "parse_formula",
]

MAX_FORMULA_CHARS = 256
MAX_TOKENS = 64
MAX_DEPTH = 16
MAX_DIGITS = 4

_LEGAL = re.compile(r"[0-9+\-*/() \t\n=]*")
_TOKEN = re.compile(r"\d+|[-+*/()]")
_TAIL = re.compile(r"\s*\d+\s*")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_DIGITS = frozenset("0123456789")


class FormulaError(ValueError):
    """A formula that cannot be read or evaluated.

    Args:
        message (`str`):
            What is wrong, phrased as verifier feedback (e.g. `"illegal characters"`).
        kind (`str`, *optional*, defaults to `"syntax"`):
            `"illegal_characters"` (a character outside the grammar), `"syntax"` (tokens in a wrong order, bounds
            exceeded) or `"division_by_zero"` (a well-formed formula that divides by zero).
    """

    def __init__(self, message: str, kind: str = "syntax") -> None:
        super().__init__(message)
        self.kind = kind


class ParsedFormula(NamedTuple):
    """A formula that passed the tokenizer and the parser.

    Args:
        numbers (`tuple[int, ...]`):
            The numbers in the order they appear.
        rpn (`tuple[int | str, ...]`):
            The formula in reverse Polish notation (ints and operator characters).
    """

    numbers: tuple[int, ...]
    rpn: tuple[int | str, ...]


def _describe(token: str | None) -> str:
    if token is None:
        return "the start"
    if token in _PRECEDENCE:
        return "operator"
    if token in "()":
        return f"'{token}'"
    return "number"


def parse_formula(text: str) -> ParsedFormula:
    """Tokenize and parse `text`; raise `FormulaError` if it is not a well-formed formula.

    >>> parse_formula("(10 - 6) * (3 + 1) = 24")
    ParsedFormula(numbers=(10, 6, 3, 1), rpn=(10, 6, '-', 3, 1, '+', '*'))
    """
    if not isinstance(text, str):
        raise FormulaError(f"formula must be a string, got {type(text).__name__}", "illegal_characters")
    if len(text) > MAX_FORMULA_CHARS:
        raise FormulaError(f"formula is longer than {MAX_FORMULA_CHARS} characters")
    if _LEGAL.fullmatch(text) is None:
        raise FormulaError("illegal characters", "illegal_characters")
    if "=" in text:
        text, _, tail = text.partition("=")
        if _TAIL.fullmatch(tail) is None:
            raise FormulaError("'=' must be followed by a number only")
    tokens = _TOKEN.findall(text)
    if not tokens:
        raise FormulaError("formula is empty")
    if len(tokens) > MAX_TOKENS:
        raise FormulaError(f"formula has more than {MAX_TOKENS} tokens")
    # Shunting-yard with an explicit "expect an operand / expect an operator" state: linear, no recursion.
    output: list[int | str] = []
    numbers: list[int] = []
    stack: list[str] = []
    expect_operand = True
    depth = 0
    prev: str | None = None
    for tok in tokens:
        if expect_operand:
            if tok == "(":
                stack.append(tok)
                depth += 1
                if depth > MAX_DEPTH:
                    raise FormulaError(f"formula nests parentheses deeper than {MAX_DEPTH}")
            elif tok[0] in _DIGITS:
                if len(tok) > MAX_DIGITS:
                    raise FormulaError(f"number {tok[:8]}... has more than {MAX_DIGITS} digits")
                value = int(tok)
                output.append(value)
                numbers.append(value)
                expect_operand = False
            else:
                raise FormulaError(f"invalid sequence after {_describe(prev)}")
        elif tok in _PRECEDENCE:
            prec = _PRECEDENCE[tok]
            while stack and stack[-1] != "(" and _PRECEDENCE[stack[-1]] >= prec:
                output.append(stack.pop())
            stack.append(tok)
            expect_operand = True
        elif tok == ")":
            while stack and stack[-1] != "(":
                output.append(stack.pop())
            if not stack:
                raise FormulaError("unmatched closing parenthesis")
            stack.pop()
            depth -= 1
        else:
            raise FormulaError(f"invalid sequence after {_describe(prev)}")
        prev = tok
    if expect_operand:
        raise FormulaError("formula ends with an operator" if prev in _PRECEDENCE else "formula is incomplete")
    while stack:
        tok = stack.pop()
        if tok == "(":
            raise FormulaError("unclosed parenthesis")
        output.append(tok)
    return ParsedFormula(tuple(numbers), tuple(output))


def evaluate_rpn(rpn: tuple[int | str, ...], exact: bool = True) -> int | Fraction | float:
    """Evaluate a parsed formula; raise `FormulaError(kind="division_by_zero")` on a division by zero.

    Args:
        rpn (`tuple[int | str, ...]`):
            `ParsedFormula.rpn`.
        exact (`bool`, *optional*, defaults to `True`):
            Exact rational arithmetic. `False` uses Python's float semantics (the original verifier's `eval`).
    """
    stack: list = []
    push = stack.append
    pop = stack.pop
    for tok in rpn:
        if tok.__class__ is int:
            push(tok)
            continue
        b = pop()
        a = pop()
        if tok == "+":
            push(a + b)
        elif tok == "-":
            push(a - b)
        elif tok == "*":
            push(a * b)
        else:
            if b == 0:
                raise FormulaError("division by zero", "division_by_zero")
            if not exact:
                push(a / b)
            elif a.__class__ is int and b.__class__ is int and a % b == 0:
                push(a // b)
            else:
                push(Fraction(a) / b)
    return stack[0]


def evaluate_formula(text: str) -> Fraction:
    """Evaluate a formula exactly; raise `FormulaError` (a `ValueError`) on anything that is not a valid formula.

    >>> evaluate_formula("8/(3-8/3)")
    Fraction(24, 1)
    >>> evaluate_formula("4*3+2+10=24")
    Fraction(24, 1)
    """
    return Fraction(evaluate_rpn(parse_formula(text).rpn, exact=True))


def formula_numbers(text: str | None) -> tuple[int, ...] | None:
    """The numbers a formula uses, in order; `None` when `text` is missing or not a well-formed formula.

    >>> formula_numbers("(10-4)*4=24"), formula_numbers("10-")
    ((10, 4, 4), None)
    """
    if text is None:
        return None
    try:
        return parse_formula(text).numbers
    except FormulaError:
        return None
