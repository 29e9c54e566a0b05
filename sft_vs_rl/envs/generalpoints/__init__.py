"""GeneralPoints (GP-L text, GP-VL image): the 24-card game with a bounded exact verifier.

>>> from sft_vs_rl.envs.generalpoints import GeneralPointsEnv, solve, evaluate_formula
>>> solve([8, 3, 8, 3])
['8/(3-8/3)']
>>> evaluate_formula("8/(3-8/3)=24")
Fraction(24, 1)
"""

from sft_vs_rl.envs.generalpoints.cards import (
    FACE_RULES,
    RANKS,
    SAMPLINGS,
    SUIT_COLOURS,
    SUITS,
    card_value,
    card_values,
    deal_hand,
    is_heldout_hand,
    is_heldout_multiset,
)
from sft_vs_rl.envs.generalpoints.env import GeneralPointsEnv
from sft_vs_rl.envs.generalpoints.formula import FormulaError, evaluate_formula, parse_formula
from sft_vs_rl.envs.generalpoints.prompts import PROMPT_STYLES, format_prompt, format_response
from sft_vs_rl.envs.generalpoints.render import DEFAULT_CANVAS_SIZE, PAPER_CANVAS_SIZE, render_hand
from sft_vs_rl.envs.generalpoints.solver import is_solvable, solvable_multisets, solve, solve_original
from sft_vs_rl.envs.generalpoints.verifier import (
    REWARDS,
    ParsedResponse,
    has_answer_format,
    parse_response,
    verify,
    verify_formula,
)

__all__ = [
    "DEFAULT_CANVAS_SIZE",
    "FACE_RULES",
    "PAPER_CANVAS_SIZE",
    "PROMPT_STYLES",
    "RANKS",
    "REWARDS",
    "SAMPLINGS",
    "SUITS",
    "SUIT_COLOURS",
    "FormulaError",
    "GeneralPointsEnv",
    "ParsedResponse",
    "card_value",
    "is_heldout_hand",
    "is_heldout_multiset",
    "card_values",
    "deal_hand",
    "evaluate_formula",
    "format_prompt",
    "format_response",
    "is_solvable",
    "parse_formula",
    "has_answer_format",
    "parse_response",
    "render_hand",
    "solvable_multisets",
    "solve",
    "solve_original",
    "verify",
    "verify_formula",
]
