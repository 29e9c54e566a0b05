"""VIRLEnv: gymnasium contract, solvability from text alone, conversation shape, budget, replay."""

import json
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import sft_vs_rl  # noqa: F401  (registers the ids)
from sft_vs_rl.envs.verifier_env import FAILURE_PREFIX
from sft_vs_rl.envs.virl import CITY_PRESETS, Route, VIRLEnv
from sft_vs_rl.envs.virl.verifier import EXCEED_MAX_VERIFY, INCORRECT_ACTION

from ._agent import act

WRONG = '{"current observation": "nothing", "current instruction": "x", "action": "jump()"}'


def wrong(info):
    """A wrong action with the right observation: graded -1 (corrected mode, and compat away from intersections)."""
    return json.dumps({"current observation": info["oracle_observation"], "action": "jump()"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # V-IRL-L, absolute actions
        {"action_space": "relative", "compat": "sftvsrl"},  # rule OOD, original quirks
        {"visual": True, "tile_size": 32, "prompt_style": "compact"},  # V-IRL-VL
    ],
)
def test_check_env(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(VIRLEnv(**kwargs), skip_render_check=True)


def test_check_env_via_gym_make():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("sft_vs_rl/VIRL-v0", city="old-town")
        check_env(env.unwrapped, skip_render_check=True)
        env.reset(seed=0)
        env.step(WRONG)


def play(env, seed, action_space):
    obs, info = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        assert obs == info["messages"][-1]["content"][-1]["text"]
        obs, reward, terminated, truncated, info = env.step(act(obs, action_space))
        assert info["observation_correct"] and info["step_correct"]
        total += reward
        steps += 1
        if terminated or truncated:
            return info["success"], total, steps


@pytest.mark.parametrize("action_space", ["absolute", "relative"])
@pytest.mark.parametrize("city", ["nyc-like", "old-town", "high-street", "market", "low-rise"])
def test_text_agent_solves_every_route(city, action_space):
    for style in ("paper", "compact"):
        env = VIRLEnv(city=city, action_space=action_space, prompt_style=style)
        for seed in range(25):
            success, total, steps = play(env, seed, action_space)
            assert success, (city, action_space, seed)
            assert total == steps  # +1 per position


def test_text_agent_with_original_quirks():
    for action_space in ("absolute", "relative"):
        env = VIRLEnv(action_space=action_space, compat="sftvsrl")
        assert all(play(env, seed, action_space)[0] for seed in range(30))


def test_determinism_by_seed():
    a, b = VIRLEnv(), VIRLEnv()
    obs_a, info_a = a.reset(seed=5)
    obs_b, info_b = b.reset(seed=5)
    assert obs_a == obs_b and info_a["episode"] == info_b["episode"]
    obs_c, _ = b.reset(seed=6)
    assert obs_c != obs_a


def test_conversation_shape_and_budget_default():
    env = VIRLEnv()
    obs, info = env.reset(seed=1)
    assert len(info["messages"]) == 1 and info["feedback"] == "" and info["step_correct"] is None
    obs, r, term, trunc, info = env.step(env.optimal_response())
    assert (r, term, trunc, info["step_correct"], info["verify_iteration"]) == (1.0, False, False, True, 0)
    assert len(info["messages"]) == 1  # fresh single user turn after a correct action
    assert "A_1: turn_direction(" in obs
    obs, r, term, trunc, info = env.step(wrong(info))
    assert (r, term, trunc, info["verify_iteration"]) == (-1.0, False, False, 1)
    assert info["observation_correct"] and not info["step_correct"]
    assert [m["role"] for m in info["messages"]] == ["user", "assistant", "user"]
    assert obs == FAILURE_PREFIX + INCORRECT_ACTION
    obs, r, term, trunc, info = env.step(wrong(info))  # second failed graded try: -1 - 1, truncated
    assert (r, term, trunc, info["success"]) == (-2.0, False, True, False)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(WRONG)


def test_budget_compat_extra_ungraded_call():
    env = VIRLEnv(compat="sftvsrl")
    _, info = env.reset(seed=1)
    rewards = [env.step(wrong(info))[1:4] for _ in range(2)]
    assert rewards == [(-1.0, False, False), (-1.0, False, False)]
    obs, r, term, trunc, info = env.step(env.optimal_response())  # not graded
    assert (r, term, trunc, info["step_correct"], info["feedback"]) == (-1.0, False, True, False, EXCEED_MAX_VERIFY)


def test_retry_then_correct_resets_budget():
    env = VIRLEnv(verify_iterations=2)
    _, info = env.reset(seed=3)
    env.step(wrong(info))
    _, r, _, _, info = env.step(env.optimal_response())
    assert r == 1.0 and info["verify_iteration"] == 0 and info["position"] == 1
    _, r, _, trunc, _ = env.step(wrong(info))
    assert r == -1.0 and not trunc


def test_options_pin_and_replay_an_episode():
    env = VIRLEnv()
    _, info = env.reset(seed=11)
    stored = json.loads(json.dumps(info["episode"]))  # what a dataset row keeps
    obs_a, _ = env.reset(seed=999, options=stored)
    obs_b, _ = VIRLEnv().reset(options={"route": Route.from_dict(stored["route"]), **{k: stored[k] for k in
                                                                                   ("init_heading", "forward_mask")}})
    assert obs_a == obs_b == env.reset(seed=11)[0]
    by_index = VIRLEnv().reset(seed=0, options={"route_index": 7, "city_seed": 2})[1]["episode"]["route"]
    assert by_index["index"] == 7 and by_index["city"]["seed"] == 2
    with pytest.raises(ValueError, match="Unknown `options` keys"):
        env.reset(options={"rout": {}})
    with pytest.raises(ValueError, match="init_heading"):
        env.reset(options={"route": stored["route"], "init_heading": 360})
    with pytest.raises(ValueError, match="forward_mask"):
        env.reset(options={"route": stored["route"], "forward_mask": [[True] * 5]})


def test_fixed_route_database():
    env = VIRLEnv(city="cast-iron")
    routes = [Route.from_dict(env.reset(seed=s)[1]["episode"]["route"]) for s in range(3)]
    db = VIRLEnv(routes=routes)
    _, info = db.reset(seed=0, options={"route_index": 2})
    assert Route.from_dict(info["episode"]["route"]) == routes[2]


def test_visual_observation():
    env = VIRLEnv(visual=True, tile_size=48)
    obs, info = env.reset(seed=2)
    assert info["messages"][0]["content"][0] == {"type": "image"}
    assert info["images"][0].size == (101, 101)
    assert "O_1: You observe an image of 4 views; \nA_1: \n" in obs
    assert "[Observation format]" in obs and "stree tviews" in obs
    env.step(WRONG)
    _, _, _, _, info = env.step(WRONG)
    assert len(info["images"]) == 1  # the image is not re-sent on retries


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"action_space": "compass"}, "action_space"),
        ({"prompt_style": "short"}, "prompt_style"),
        ({"compat": "paper"}, "compat"),
        ({"verify_iterations": 0}, "verify_iterations"),
        ({"city": "nyc"}, "Did you mean 'nyc-like'"),
        ({"style": "old_town"}, "Did you mean 'old-town'"),
        ({"tile_size": 4}, "tile_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VIRLEnv(**kwargs)


def test_every_preset_runs():
    for name in CITY_PRESETS:
        env = VIRLEnv(city=name, num_milestones=(2, 3))
        assert play(env, 0, "absolute")[0]
