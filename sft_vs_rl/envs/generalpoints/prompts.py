"""GeneralPoints prompt and response templates.

`prompt_style="paper"` renders the original templates verbatim (`prompt_lib/prompts.py` of the official code),
quirks included: the leading and trailing newlines, the stray period in `count as '10'.,` and the single-quoted
formula in the output schema. The released checkpoints were trained on exactly this text.
`prompt_style="compact"` states the same rule, target and cards in a few short lines for tiny models; the output
format is the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from sft_vs_rl.envs.generalpoints.cards import FACE_RULES, check_choice

__all__ = ["PROMPT_STYLES", "format_prompt", "format_response"]

PROMPT_STYLES: tuple[str, ...] = ("paper", "compact")

_GP_L = """
[Task Description]
You are an expert {target_number} points card game player. You will receive a set of 4 cards.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: {cards}

[Output]
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

_GP_VL = """
[Task Description]
You are an expert {target_number} points card game player. You are observing these four cards in the image.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Output]
Your response should be a valid json file in the following format:
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

_COMPACT_RULE = {"10": "J Q K = 10", "11-12-13": "J=11 Q=12 K=13"}

_COMPACT = """Make {target_number} with + - * / ( ). Use each card once. A=1, {rule}.
{cards_line}Answer: {{"cards": [...], "number": [...], "formula": "...={target_number}"}}
"""

_RESPONSE = """
{{
  "cards": {cards},
  "number": {numbers},
  "formula": "{formula}",
}}"""


def format_prompt(
    ranks: Sequence[str] | None,
    face_rule: str = "10",
    target: int = 24,
    visual: bool = False,
    prompt_style: str = "paper",
) -> str:
    """Render the first user turn of a GeneralPoints episode.

    Args:
        ranks (`Sequence[str]`, *optional*):
            Plain card names (`["A", "10", "K", "5"]`); shown only in text mode (`visual=False`).
        face_rule (`str`, *optional*, defaults to `"10"`):
            `"10"` or `"11-12-13"`; stated in the prompt.
        target (`int`, *optional*, defaults to `24`):
            Value the formula must reach.
        visual (`bool`, *optional*, defaults to `False`):
            GP-VL template (the cards are in the image, not in the text).
        prompt_style (`str`, *optional*, defaults to `"paper"`):
            `"paper"` (verbatim original) or `"compact"`.

    >>> print(format_prompt(["A", "10", "K", "5"], prompt_style="compact"))
    Make 24 with + - * / ( ). Use each card once. A=1, J Q K = 10.
    Cards: ['A', '10', 'K', '5']
    Answer: {"cards": [...], "number": [...], "formula": "...=24"}
    <BLANKLINE>
    """
    check_choice("face_rule", face_rule, tuple(FACE_RULES))
    check_choice("prompt_style", prompt_style, PROMPT_STYLES)
    if not visual and ranks is None:
        raise ValueError("ranks=None is only valid with visual=True; pass the plain card names of the hand")
    cards = repr(list(ranks)) if ranks is not None else ""
    if prompt_style == "compact":
        cards_line = "Cards: in the image.\n" if visual else f"Cards: {cards}\n"
        return _COMPACT.format(target_number=target, rule=_COMPACT_RULE[face_rule], cards_line=cards_line)
    template = _GP_VL if visual else _GP_L
    return template.format(target_number=target, face_card_msg=FACE_RULES[face_rule], cards=cards)


def format_response(ranks: Sequence[str], numbers: Sequence[int], formula: str) -> str:
    """Render an answer in the paper's `ResponseEqn` format (the SFT target), verbatim.

    `formula` is written as given; add `=24` yourself to match the original SFT data.

    >>> print(format_response(["A", "3", "K", "6"], [1, 3, 10, 6], "(1+6)*3+10=24"))
    <BLANKLINE>
    {
      "cards": ['A', '3', 'K', '6'],
      "number": [1, 3, 10, 6],
      "formula": "(1+6)*3+10=24",
    }
    """
    return _RESPONSE.format(cards=repr([str(r) for r in ranks]), numbers=repr([int(n) for n in numbers]), formula=formula)
