"""Tests for the verbatim prompt templates and the ResponseEqn format."""

import pytest

from sft_vs_rl.envs.generalpoints import format_prompt, format_response, parse_response, verify

GP_L_ID = """
[Task Description]
You are an expert 24 points card game player. You will receive a set of 4 cards.
Note that 'J', 'Q', and 'K' count as '10'., and each card must be used once.
Your goal is to output a formula that evaluates to 24 using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: ['A', '10', 'K', '5']

[Output]
{
  "cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '10'.,
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals 24',
}

"""


def test_gp_l_prompt_verbatim():
    assert format_prompt(["A", "10", "K", "5"]) == GP_L_ID


def test_gp_vl_prompt_differences():
    text = format_prompt(None, face_rule="11-12-13", visual=True)
    assert text.startswith("\n[Task Description]\nYou are an expert 24 points card game player. "
                           "You are observing these four cards in the image.\n")
    assert "[Input]" not in text
    assert "[Output]\nYour response should be a valid json file in the following format:\n{" in text
    assert "count as '11', '12', and '13' respectively., and each card must be used once." in text
    assert text.endswith("}\n\n")


def test_compact_prompt_is_short_and_states_the_rule():
    text = format_prompt(["A", "10", "K", "5"], face_rule="11-12-13", target=10, prompt_style="compact")
    assert "J=11 Q=12 K=13" in text and "Make 10" in text and "['A', '10', 'K', '5']" in text
    assert len(text) < len(format_prompt(["A", "10", "K", "5"])) / 2
    assert "in the image" in format_prompt(None, visual=True, prompt_style="compact")


def test_response_eqn_verbatim():
    assert format_response(["A", "3", "K", "6"], [1, 3, 10, 6], "(1+6)*3+10=24") == (
        "\n{\n  \"cards\": ['A', '3', 'K', '6'],\n  \"number\": [1, 3, 10, 6],\n  \"formula\": \"(1+6)*3+10=24\",\n}"
    )


def test_response_round_trip_earns_the_top_reward():
    response = format_response(["4", "3", "2", "K"], [4, 3, 2, 10], "4*3+2+10=24")
    assert parse_response(response).cards == ["4", "3", "2", "K"]
    assert verify(response, ["4", "3", "2", "K"], visual=True).reward == 5.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="prompt_style='short'"):
        format_prompt(["A"], prompt_style="short")
    with pytest.raises(ValueError, match="ranks=None"):
        format_prompt(None)
