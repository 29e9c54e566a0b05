"""Tests of `sft_vs_rl.rewards`: TRL-convention reward functions agree with the environments' verifiers, the
`environment_factory` adapters play episodes, and stock `trl.GRPOTrainer` trains on our datasets with them."""

from __future__ import annotations

import copy
import doctest
import math

import pytest

import sft_vs_rl.rewards as rewards_module
from sft_vs_rl import load_dataset
from sft_vs_rl.envs.generalpoints import GeneralPointsEnv
from sft_vs_rl.envs.virl import VIRLEnv
from sft_vs_rl.rewards import (
    GeneralPointsToolEnv,
    VIRLToolEnv,
    completion_text,
    generalpoints_format_reward,
    generalpoints_recognition_reward,
    generalpoints_reward,
    virl_format_reward,
    virl_reward,
)

HAND = ["4", "3", "2", "K"]
RIGHT = '{"cards": ["4", "3", "2", "K"], "number": [4, 3, 2, 10], "formula": "4*3+2+10=24"}'
TEXT_KW = {"face_rule": "10", "target": 24, "visual": False}


def as_chat(text: str, items: bool = False) -> list[dict]:
    content = [{"type": "text", "text": text}] if items else text
    return [{"role": "assistant", "content": content}]


@pytest.fixture(scope="module")
def gp_rows(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    return {
        name: load_dataset("sft_vs_rl/generalpoints", name, split="test", cache_dir=cache, train_size=0, test_size=6)
        for name in ("gp-l-id", "gp-l-ood-rule", "gp-vl-id")
    }


@pytest.fixture(scope="module")
def tiny():
    """A nano Llama and its tokenizer, built once; tests deep-copy them before training or mutating."""
    from sft_vs_rl.models import build_tiny_model

    return build_tiny_model("llama", "nano")


def test_docstring_examples_run():
    result = doctest.testmod(rewards_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8


# ---------------------------------------------------------------------------------------------------------------------
# GeneralPoints reward: the paper's table, via the environment's verifier

GP_CASES = [
    # (completion, ranks, env_kwargs, expected)
    (RIGHT, HAND, TEXT_KW, 5.0),  # plain completion, correct
    (as_chat(RIGHT), HAND, TEXT_KW, 5.0),  # conversational, string content (what TRL passes)
    (as_chat(RIGHT, items=True), HAND, TEXT_KW, 5.0),  # conversational, content items (our datasets' format)
    ('{"formula": "4*3*2+10-10"}', HAND, TEXT_KW, -2.0),  # 10 used twice: one kind of number error
    ('{"formula": "(4+3)*2*10"}', HAND, TEXT_KW, -1.0),  # right numbers, wrong value
    ('{"formula": "4x3+2+10"}', HAND, TEXT_KW, -3.0),  # illegal character
    ("no json at all", HAND, TEXT_KW, -3.0),  # no formula
    (RIGHT, HAND, {"face_rule": "11-12-13", "target": 24, "visual": False}, -4.0),  # OOD rule: 10 for a K (13)
    (RIGHT.replace('"K"]', '"Q"]'), HAND, {**TEXT_KW, "visual": True}, -1.5),  # GP-VL: wrong cards come first
    (RIGHT, HAND, None, 5.0),  # no env_kwargs column: defaults (J/Q/K = 10, 24, text)
    (RIGHT, None, TEXT_KW, None),  # no ranks: cannot score, None (never a made-up 0)
]


@pytest.mark.parametrize("completion,ranks,env_kwargs,expected", GP_CASES)
def test_generalpoints_reward_table(completion, ranks, env_kwargs, expected):
    assert generalpoints_reward(["p"], [completion], ranks=[ranks], env_kwargs=[env_kwargs]) == [expected]


def test_generalpoints_reward_equals_the_environments_first_try(gp_rows):
    """On dataset rows, the reward of any answer is what the environment's first `step` returns."""
    answers = ["", RIGHT, '{"formula": "1+2+3+4"}', '{"cards": [], "formula": "(1"}']
    for name, rows in gp_rows.items():
        for row in rows:
            candidates = [completion_text(row["completion"]), *answers, f'{{"formula": "{row["solution"]}"}}']
            got = generalpoints_reward(
                [row["prompt"]] * len(candidates),
                candidates,
                ranks=[row["ranks"]] * len(candidates),
                env_kwargs=[row["env_kwargs"]] * len(candidates),
            )
            env = GeneralPointsEnv(**row["env_kwargs"])
            for answer, reward in zip(candidates, got, strict=True):
                env.reset(seed=row["seed"], options=row["options"])
                assert reward == env.step(answer)[1], (name, answer)
            assert got[0] == 5.0  # the optimal completion earns the top reward


def test_column_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="column 'ranks' has 1 values for 2 completions"):
        generalpoints_reward(["p", "p"], [RIGHT, RIGHT], ranks=[HAND])
    with pytest.raises(TypeError, match="completion must be a str"):
        generalpoints_reward(["p"], [None], ranks=[HAND])


def test_format_and_recognition_rewards():
    completions = [RIGHT, as_chat('{"formula": "1"}'), RIGHT.replace('"K"]', '"J"]'), "hello"]
    assert generalpoints_format_reward(["p"] * 4, completions) == [1.0, 0.0, 1.0, 0.0]
    assert generalpoints_recognition_reward(["p"] * 4, completions, ranks=[HAND] * 3 + [None]) == [1.0, 0.0, 0.0, None]


# ---------------------------------------------------------------------------------------------------------------------
# V-IRL reward


def test_virl_reward_matches_the_environment_at_every_position(tmp_path):
    rows = load_dataset("sft_vs_rl/virl", "virl-l-id", split="train", cache_dir=str(tmp_path), train_size=2)
    wrong = ['{"action": "stop()"}', '{"current observation": "You observe an intersection", "action": "x"}', "?"]
    for row in rows:
        candidates = [completion_text(row["completion"]), *wrong]
        columns = {k: [row[k]] * len(candidates) for k in ("expected_action", "oracle_observation", "landmark")}
        got = virl_reward([row["prompt"]] * len(candidates), candidates, **columns)
        assert got[0] == 1.0
        for answer, reward in zip(candidates, got, strict=True):
            env = VIRLEnv(**row["env_kwargs"])
            env.reset(seed=row["seed"], options=row["options"])
            for _ in range(row["position"]):
                env.step(env.optimal_response())
            assert reward == env.step(answer)[1], (row["position"], answer)
    assert virl_reward(["p"], ['{"action": "stop()"}'], expected_action=[None]) == [None]
    assert virl_format_reward(["p", "p"], [as_chat('{"action": "forward()"}'), "forward"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="compat='paper'"):
        virl_reward(["p"], ["x"], compat="paper", expected_action=["stop()"])


# ---------------------------------------------------------------------------------------------------------------------
# environment_factory adapters


def test_generalpoints_tool_env_plays_a_multi_turn_episode(gp_rows):
    row = gp_rows["gp-l-id"][0]
    env = GeneralPointsToolEnv()
    assert env.reset(**row) is None  # the row carries the prompt: TRL shows it, nothing to append
    reply = env.submit_answer('{"formula": "99"}')
    assert reply.startswith("You failed this trial because you used invalid numbers")  # the env's next user turn
    assert env.submit_answer(completion_text(row["completion"])) == "Correct solution."
    assert env.submit_answer(RIGHT) == "The episode is over; no more answers are graded."
    assert env.get_reward() == -4.0 + 5.0  # return: both wrong-number kinds (-2 each), then +5
    without_prompt = {k: v for k, v in row.items() if k != "prompt"}
    assert env.reset(**without_prompt) == completion_text(row["prompt"])  # else the env writes the prompt
    assert env.get_reward() == -3.0  # never answered: graded as an empty answer


def test_generalpoints_tool_env_budget_and_overrides(gp_rows):
    env = GeneralPointsToolEnv(verify_iterations=2)
    env.reset(**gp_rows["gp-l-ood-rule"][0])
    env.submit_answer("x")
    assert env.submit_answer("x") == "no formula found in the answer."  # budget spent: the verifier's message
    assert env.get_reward() == -3.0 + (-3.0 - 1.0)  # the last failed try carries the -1 budget penalty


def test_virl_tool_env_starts_at_the_rows_position(tmp_path):
    rows = load_dataset("sft_vs_rl/virl", "virl-l-id", split="train", cache_dir=str(tmp_path), train_size=1)
    row = rows[1]
    env = VIRLToolEnv()
    assert env.reset(**row) is None
    reply = env.submit_answer(completion_text(row["completion"]))
    assert reply == completion_text(rows[2]["prompt"])  # a correct action: the next position's prompt
    assert env.get_reward() == 1.0


def test_enable_tool_calling_parses_llama3_tool_calls(tiny):
    from sft_vs_rl.rewards import enable_tool_calling

    tokenizer = copy.deepcopy(tiny[1])
    enable_tool_calling(tokenizer)
    from trl.chat_template_utils import parse_response

    prompt_ids = tokenizer.apply_chat_template([{"role": "user", "content": "Cards"}], add_generation_prompt=True)
    prompt_ids = prompt_ids["input_ids"] if isinstance(prompt_ids, dict) else prompt_ids
    call = '{"name": "submit_answer", "parameters": {"answer": "4*3+2+10=24"}}<|eot_id|>'
    parsed = parse_response(tokenizer, tokenizer.encode(call, add_special_tokens=False), prefix=prompt_ids)
    assert parsed["tool_calls"][0]["function"] == {"name": "submit_answer", "arguments": {"answer": "4*3+2+10=24"}}
    tokenizer.chat_template = "{{ messages[0]['content'] }}"
    with pytest.raises(ValueError, match="does not render tool calls"):
        enable_tool_calling(tokenizer)


# ---------------------------------------------------------------------------------------------------------------------
# Stock trl.GRPOTrainer on our datasets


def _grpo_args(tmp_path, **kwargs):
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none",
        save_strategy="no", max_completion_length=8, num_generations=2, per_device_train_batch_size=2, max_steps=2,
        logging_steps=1, learning_rate=1e-3, **kwargs,
    )  # fmt: skip


@pytest.mark.slow
def test_stock_grpo_trains_on_dataset_with_our_rewards(tmp_path, gp_rows, tiny):
    from trl import GRPOTrainer

    seen = {}

    def spy_reward(prompts, completions, **kwargs):
        seen.update(kwargs)
        return generalpoints_reward(prompts, completions, **kwargs)

    model, tokenizer = copy.deepcopy(tiny)
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, args=_grpo_args(tmp_path), train_dataset=gp_rows["gp-l-id"],
        reward_funcs=[spy_reward, generalpoints_format_reward],
    )  # fmt: skip
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "rewards/spy_reward/mean" in entry]
    assert len(logs) == 2
    assert all(-7.0 <= entry["rewards/spy_reward/mean"] <= 5.0 for entry in logs)
    assert math.isfinite(logs[-1]["loss"])
    assert {"ranks", "env_kwargs", "options", "seed"} <= set(seen)  # dataset columns reach the reward function


@pytest.mark.slow
@pytest.mark.parametrize("task", ["generalpoints", "virl"])
def test_stock_grpo_runs_the_environment_adapter(tmp_path, gp_rows, tiny, task):
    from trl import GRPOTrainer

    from sft_vs_rl.rewards import enable_tool_calling

    if task == "generalpoints":
        train, factory = gp_rows["gp-l-id"], GeneralPointsToolEnv
    else:
        train = load_dataset("sft_vs_rl/virl", "virl-l-id", split="train", cache_dir=str(tmp_path), train_size=1)
        factory = VIRLToolEnv
    model, tokenizer = copy.deepcopy(tiny)
    enable_tool_calling(tokenizer)
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, args=_grpo_args(tmp_path, max_tool_calling_iterations=2),
        train_dataset=train, environment_factory=factory,
    )  # fmt: skip
    assert [tool.__name__ for tool in trainer.tools] == ["submit_answer"]
    trainer.train()
    name = f"rewards/{factory.__name__}/mean"
    logs = [entry for entry in trainer.state.log_history if name in entry]
    assert len(logs) == 2 and all(-20.0 <= entry[name] <= 5.0 for entry in logs)
    assert "tools/call_frequency" in logs[-1]
