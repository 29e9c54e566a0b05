"""Tests for GeneralPointsEnv: gymnasium API, determinism, multi-turn verification, GP-VL images."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sft_vs_rl  # noqa: F401  (registers the gymnasium ids)
from sft_vs_rl.envs.generalpoints import GeneralPointsEnv, format_response, solve
from sft_vs_rl.envs.verifier_env import FAILURE_PREFIX, MAX_RESPONSE_CHARS

HAND = {"ranks": ["4", "3", "2", "K"]}
RIGHT = format_response(["4", "3", "2", "K"], [4, 3, 2, 10], "4*3+2+10=24")
WRONG = format_response(["4", "3", "2", "K"], [4, 3, 2, 10], "4*3+10-2=24")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # GP-L, ID
        {"visual": True, "render_mode": "rgb_array"},  # GP-VL
        {"face_rule": "11-12-13", "prompt_style": "compact", "sampling": "independent"},  # rule OOD, compact
        {"compat": "sftvsrl", "visual": True, "suit_colour": "red"},  # original verifier, visual OOD
    ],
)
def test_check_env_class(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(GeneralPointsEnv(**kwargs), skip_render_check=True)


@pytest.mark.parametrize("kwargs", [{}, {"visual": True}])
def test_check_env_registered_id(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("sft_vs_rl/GeneralPoints-v0", **kwargs)
        check_env(env.unwrapped)
        obs, info = env.reset(seed=0)
        assert isinstance(obs, str) and info["numbers"]


def test_determinism():
    hands = []
    for seed in (0, 0, 1):
        env = GeneralPointsEnv(visual=True)
        _, info = env.reset(seed=seed)
        hands.append((info["ranks"], info["suits"]))
    assert hands[0] == hands[1]
    assert hands[0] != hands[2]
    env = GeneralPointsEnv()
    seq_a = [env.reset(seed=5)[1]["ranks"]] + [env.reset()[1]["ranks"] for _ in range(5)]
    seq_b = [env.reset(seed=5)[1]["ranks"]] + [env.reset()[1]["ranks"] for _ in range(5)]
    assert seq_a == seq_b and len({tuple(r) for r in seq_a}) > 1


def test_dealt_hands_are_solvable_and_oracle_earns_top_reward():
    env = GeneralPointsEnv(face_rule="11-12-13")
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert any(r in ("J", "Q", "K") for r in info["ranks"])
        formula = solve(info["numbers"])[0]
        _, reward, terminated, truncated, info = env.step(format_response(info["ranks"], info["numbers"], formula))
        assert (reward, terminated, truncated, info["success"]) == (5.0, True, False, True)


def test_multi_turn_conversation_grows():
    env = GeneralPointsEnv(verify_iterations=3)
    prompt, info = env.reset(seed=0, options=HAND)
    assert info["messages"] == [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    assert info["verify_iteration"] == 0 and info["verdict"] is None and info["recognized_correctly"] is None
    obs, reward, terminated, truncated, info = env.step(WRONG)
    assert (reward, terminated, truncated) == (-1.0, False, False)
    assert obs == FAILURE_PREFIX + "your formula does not match any solution."
    assert [m["role"] for m in info["messages"]] == ["user", "assistant", "user"]
    assert info["messages"][1]["content"][0]["text"] == WRONG
    assert info["messages"][2]["content"][0]["text"] == obs
    obs, reward, terminated, truncated, info = env.step(RIGHT)
    assert (reward, terminated, truncated, info["success"]) == (5.0, True, False, True)
    assert [m["role"] for m in info["messages"]] == ["user", "assistant", "user", "assistant"]
    assert info["verify_iteration"] == 2 and info["verdict"] == "correct"
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)


def test_step_limit_default_truncates_on_last_graded_try():
    env = GeneralPointsEnv(verify_iterations=2)
    env.reset(seed=0, options=HAND)
    assert env.step(WRONG)[1:4] == (-1.0, False, False)
    _, reward, terminated, truncated, info = env.step(WRONG)
    assert (reward, terminated, truncated) == (-2.0, False, True)  # -1 verdict + -1 retry budget
    assert info["verify_iteration"] == 2 and info["success"] is False
    with pytest.raises(RuntimeError):
        env.step(RIGHT)


def test_step_limit_compat_forced_extra_turn():
    env = GeneralPointsEnv(verify_iterations=2, compat="sftvsrl")
    env.reset(seed=0, options=HAND)
    assert env.step(WRONG)[1:4] == (-1.0, False, False)
    assert env.step(WRONG)[1:4] == (-1.0, False, False)
    # the original's (verify_iterations + 1)-th call: -1 without grading, even for a right answer
    _, reward, terminated, truncated, info = env.step(RIGHT)
    assert (reward, terminated, truncated) == (-1.0, False, True)
    assert info["feedback"] == "step_limit_reached" and info["verdict"] == "step_limit"
    assert info["success"] is False


def test_gp_vl_image_only_in_first_user_turn():
    env = GeneralPointsEnv(visual=True, canvas_size=128, suit_colour="red")
    prompt, info = env.reset(seed=3)
    assert "Cards:" not in prompt
    assert len(info["images"]) == 1 and info["images"][0].size == (128, 128)
    wrong_cards = format_response(["A", "A", "A", "A"], [1, 1, 1, 1], "1+1+1+1")
    _, reward, _, _, info = env.step(wrong_cards)
    assert reward == -1.5 and info["recognized_correctly"] is False and info["verdict"] == "incorrect_vision"
    first, *rest = info["messages"]
    assert first["content"][0] == {"type": "image"}
    assert all(c["type"] == "text" for m in rest for c in m["content"])
    assert len(info["images"]) == 1
    assert set(info["suits"]) <= {"H", "D"}


def test_gp_vl_recognition_metric():
    env = GeneralPointsEnv(visual=True)
    _, info = env.reset(seed=0, options={"ranks": ["4", "3", "2", "K"], "suits": ["S", "S", "C", "C"]})
    assert info["suits"] == ["S", "S", "C", "C"]
    _, reward, _, _, info = env.step(WRONG)
    assert reward == -1.0 and info["recognized_correctly"] is True
    assert env.render() is None  # render_mode=None


def test_render_rgb_array():
    env = GeneralPointsEnv(render_mode="rgb_array", canvas_size=128)
    env.reset(seed=0)
    assert env.render().shape == (128, 128, 3)


def test_info_is_fresh():
    env = GeneralPointsEnv()
    _, info = env.reset(seed=0, options=HAND)
    info["messages"].append("junk")
    info["ranks"].append("junk")
    _, _, _, _, info2 = env.step(WRONG)
    assert "junk" not in info2["messages"] and info2["ranks"] == HAND["ranks"]


@pytest.mark.parametrize(
    "action",
    ["x" * 3_000_000, b"\xff\xfe{formula", "__import__('os').system('ls')", "", "\x00" * 100],
    ids=["megabytes", "bytes", "hostile", "empty", "nul"],
)
def test_any_action_gets_negative_reward(action):
    env = GeneralPointsEnv(visual=True)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(action)
    assert reward < 0 and not terminated and info["feedback"]
    assert len(info["messages"][1]["content"][0]["text"]) <= MAX_RESPONSE_CHARS


def test_non_string_action():
    env = GeneralPointsEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match="action must be"):
        env.step(24)


OPTION_ERRORS = [
    ({"rank": ["A"] * 4}, ValueError, "unknown reset option"),  # typo in the key
    ({"ranks": ["A", "2"]}, ValueError, "list of 4 card ranks"),  # wrong length
    ({"ranks": "A2K5"}, ValueError, "list of 4 card ranks"),  # a string is not a list
    ({"ranks": ["A", "2", "3", "T"]}, ValueError, "card rank 'T'"),  # not a plain card name
    ({"ranks": ["A"] * 4, "suits": ["S", "S", "S", "X"]}, ValueError, "suits"),  # bad suit
    ({"suits": ["S"] * 4}, ValueError, "needs options\\['ranks'\\]"),  # suits alone
    (["A", "2", "3", "4"], TypeError, "options must be a dict"),  # not a dict
]


@pytest.mark.parametrize(("options", "error", "match"), OPTION_ERRORS)
def test_reset_option_errors(options, error, match):
    with pytest.raises(error, match=match):
        GeneralPointsEnv().reset(seed=0, options=options)


CONSTRUCTOR_ERRORS = [
    ({"face_rule": "J=11"}, "face_rule"),
    ({"suit_colour": "green"}, "suit_colour"),
    ({"verify_iterations": 0}, "verify_iterations"),
    ({"sampling": "replace"}, "sampling"),
    ({"prompt_style": "tiny"}, "prompt_style"),
    ({"compat": "original"}, "compat"),
    ({"canvas_size": 16}, "canvas_size"),
    ({"render_mode": "human"}, "render_mode"),
]


@pytest.mark.parametrize(("kwargs", "match"), CONSTRUCTOR_ERRORS)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GeneralPointsEnv(**kwargs)


def test_pinned_hand_numbers_follow_rule():
    env = GeneralPointsEnv(face_rule="11-12-13")
    _, info = env.reset(seed=0, options={"ranks": ["a", "j", "q", 13]})
    assert info["ranks"] == ["A", "J", "Q", "K"] and info["numbers"] == [1, 11, 12, 13]
    assert np.all([isinstance(n, int) for n in info["numbers"]])


@pytest.mark.parametrize("argv", [["demo", "--seed", "0"], ["demo", "--visual", "--face-rule", "11-12-13"]])
def test_cli_demo(argv, capsys):
    import json

    from sft_vs_rl.cli import main

    assert main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"turns": 2, "success": True}
