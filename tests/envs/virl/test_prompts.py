"""Prompt texts are the original's, verbatim; the compact style carries the same information."""

import doctest

import pytest

import sft_vs_rl.envs.virl.city
import sft_vs_rl.envs.virl.env
import sft_vs_rl.envs.virl.importer
import sft_vs_rl.envs.virl.landmarks
import sft_vs_rl.envs.virl.observe
import sft_vs_rl.envs.virl.presets
import sft_vs_rl.envs.virl.prompts
import sft_vs_rl.envs.virl.render
import sft_vs_rl.envs.virl.routes
import sft_vs_rl.envs.virl.verifier
from sft_vs_rl.envs.virl import VIRLEnv
from sft_vs_rl.envs.virl.prompts import ACTION_SPACE_ABSOLUTE, ACTION_SPACE_RELATIVE, Q_VIRL_L, Q_VIRL_VL


def test_templates_keep_the_original_quirks():
    assert Q_VIRL_L.startswith("\n[Task Description]\nYou are an expert in navigation.")
    assert "instructions to follow. You\nare also provided" in Q_VIRL_L
    assert "the next sentence to be executed. \nThen, you need" in Q_VIRL_L
    assert "surrounding stree tviews. You\n" in Q_VIRL_VL
    assert "[front, right\n back, left]\n" in Q_VIRL_VL
    assert '"action": the action to be taken chosen from the action space,\n}}\n' in Q_VIRL_L
    assert ACTION_SPACE_ABSOLUTE.splitlines()[1].endswith(
        "x could be any following 8 directions ['north', 'northeast', 'east', 'southeast', 'south', 'southwest', "
        "'west', 'northwest']"
    )
    assert ACTION_SPACE_RELATIVE.splitlines()[1].endswith(
        "x could be any following ['left', 'right', 'slightly left', 'slightly right']"
    )


def test_first_prompt_paper_and_compact():
    paper, info = VIRLEnv().reset(seed=4)
    episode = info["episode"]
    assert paper.endswith(
        '[Observations and actions sequence]\nO_1: No landmarks nearby; \nA_1: \n\n\n[Output]\n{\n'
        '  "current observation": latest observation from the observation sequence,\n'
        '  "current instruction": analyze the full instruction and identify the sentence to be executed,\n'
        '  "action": the action to be taken chosen from the action space,\n}\n'
    )
    compact, info_c = VIRLEnv(prompt_style="compact").reset(seed=4)
    assert info_c["episode"] == episode and len(compact) < len(paper) - 600
    instruction = paper.split("[Instruction]\n")[1].split("\n\n[Action space]")[0]
    assert instruction in compact and "O_1: No landmarks nearby; \nA_1: \n" in compact


@pytest.mark.parametrize(
    "module",
    [
        sft_vs_rl.envs.virl.city, sft_vs_rl.envs.virl.env, sft_vs_rl.envs.virl.importer,
        sft_vs_rl.envs.virl.landmarks, sft_vs_rl.envs.virl.observe, sft_vs_rl.envs.virl.presets,
        sft_vs_rl.envs.virl.prompts, sft_vs_rl.envs.virl.render, sft_vs_rl.envs.virl.routes,
        sft_vs_rl.envs.virl.verifier, sft_vs_rl.envs.virl,
    ],
)  # fmt: skip
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.failed == 0
