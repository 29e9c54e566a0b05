"""Batched multi-turn rollouts: episodes end, retries carry the verifier's feedback, batches stay full, determinism."""

import os
import sys

import pytest
import torch
from transformers import GenerationConfig

from sft_vs_rl.envs.verifier_env import FAILURE_PREFIX
from sft_vs_rl.trainers.rollout import MultiTurnRollout, encode_prompts, run_episodes

sys.path.insert(0, os.path.dirname(__file__))
from ppo_toy_env import TargetWordEnv  # noqa: E402


@pytest.fixture(scope="module")
def nano():
    from sft_vs_rl.models import build_tiny_model

    return build_tiny_model("llama", "nano")


def gen_config(tok, sample=False, max_new_tokens=6):
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=sample, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)


def test_run_episodes_plays_every_episode_to_its_end(nano):
    model, tok = nano
    envs = [TargetWordEnv(verify_iterations=3) for _ in range(3)]
    specs = [{"seed": s, "options": {"target": "zz"}} for s in range(7)]  # 7 episodes on 3 slots
    episodes = run_episodes(model, tok, envs, specs, gen_config(tok))
    assert [e.index for e in episodes] == list(range(7)) and [e.seed for e in episodes] == list(range(7))
    for e in episodes:
        assert e.terminated or e.truncated
        assert 1 <= e.num_turns <= 3 and len(e.responses) == e.num_turns
        assert e.success == e.terminated and e.verify_iteration == e.num_turns


def test_collect_exact_turns_full_batches_and_retry_prompts(nano):
    model, tok = nano
    rollout = MultiTurnRollout([TargetWordEnv(verify_iterations=2) for _ in range(4)], tok, gen_config(tok))
    rollout.add_episodes({"seed": s, "options": {"target": "zz"}} for s in range(20))
    result = rollout.collect(model, num_turns=10)
    assert len(result.transitions) == 10
    assert result.num_generate_calls == 3  # 4 + 4 + 2: finished episodes were replaced at once
    second_turns = [t for t in result.transitions if t.turn == 1]
    assert second_turns, "a 2-try budget on an unlearnt target must produce retries"
    for t in second_turns:
        assert FAILURE_PREFIX in tok.decode(t.prompt_ids)
    # every slot holds a running episode: those left mid-way and fresh ones refilled at the end of the call
    carried = {s.episode.index: s.episode.num_turns for s in rollout.slots if s.episode is not None}
    assert len(carried) == 4
    more = rollout.collect(model, num_turns=6)
    assert len(more.transitions) == 6
    # the next call continues each running episode at its next turn, then starts the queued ones in order
    first_seen = {}
    for t in more.transitions:
        first_seen.setdefault(t.episode, t.turn)
    assert {e: first_seen[e] for e in carried} == carried
    fresh = sorted(set(first_seen) - set(carried))
    assert fresh == list(range(max(carried) + 1, max(carried) + 1 + len(fresh))) and fresh
    assert all(first_seen[e] == 0 for e in fresh)


def test_trim_queue_keeps_the_newest_unplayed_episodes(nano):
    _, tok = nano
    rollout = MultiTurnRollout([TargetWordEnv()], tok, gen_config(tok))
    rollout.add_episodes({"seed": s} for s in range(5))
    rollout.trim_queue(max_unplayed=2)
    assert [spec["seed"] for spec in rollout.queue] == [3, 4]
    rollout.trim_queue(max_unplayed=3)  # already short enough: unchanged
    assert len(rollout.queue) == 2
    with pytest.raises(ValueError, match="max_unplayed"):
        rollout.trim_queue(max_unplayed=-1)


def test_greedy_rollout_is_deterministic_and_batching_does_not_change_it(nano):
    model, tok = nano
    specs = [{"seed": s, "options": {"target": "zz"}} for s in range(4)]

    def play(num_envs):
        envs = [TargetWordEnv() for _ in range(num_envs)]
        return [e.responses for e in run_episodes(model, tok, envs, specs, gen_config(tok))]

    batched = play(4)
    assert batched == play(4)
    assert batched == play(1)  # one episode at a time (the original's way) gives the same greedy answers


def test_encode_prompts_needs_left_padding():
    from sft_vs_rl.models import build_tokenizer

    right = build_tokenizer(padding_side="right")
    with pytest.raises(ValueError, match="left padding"):
        encode_prompts(right, [[{"role": "user", "content": "hi"}]])


def test_rollout_needs_episodes(nano):
    model, tok = nano
    rollout = MultiTurnRollout([TargetWordEnv()], tok, gen_config(tok))
    with pytest.raises(ValueError, match="ran out of episodes"):
        rollout.collect(model, num_turns=1)


def test_mllama_rollout_keeps_per_row_vision_tensors():
    from sft_vs_rl.models import build_tiny_model

    model, proc = build_tiny_model("mllama", "nano")
    tok = proc.tokenizer
    rollout = MultiTurnRollout([TargetWordEnv(visual=True) for _ in range(2)], proc, gen_config(tok))
    rollout.add_episodes({"seed": s} for s in range(4))
    result = rollout.collect(model, num_turns=4)
    image_id = tok.convert_tokens_to_ids("<|image|>")
    for t in result.transitions:
        assert t.prompt_ids.count(image_id) == 1
        assert t.vision["pixel_values"].shape[0] == 1 and t.vision["aspect_ratio_mask"].shape[0] == 1
    assert torch.is_tensor(result.transitions[0].vision["aspect_ratio_ids"])


def test_qwen2_5_vl_rollout_keeps_per_row_patches_and_grids():
    from sft_vs_rl.models import build_tiny_model

    model, proc = build_tiny_model("qwen2_5_vl", "nano")
    rollout = MultiTurnRollout([TargetWordEnv(visual=True) for _ in range(2)], proc, gen_config(proc.tokenizer))
    rollout.add_episodes({"seed": s} for s in range(4))
    result = rollout.collect(model, num_turns=4)
    pad_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    for t in result.transitions:
        grids = t.vision["image_grid_thw"]
        assert grids.shape == (1, 3) and t.vision["pixel_values"].shape[0] == grids.prod()
        assert t.prompt_ids.count(pad_id) == grids.prod() // 4  # one token per 2 x 2 merged patches


def test_state_dict_restores_live_episodes_and_the_queue_exactly(nano):
    # A rollout saved mid-way (episodes live in their slots, specs queued, some without a seed) and loaded into fresh
    # environments continues exactly as the original does, sampling included.
    import json

    model, tok = nano
    config = gen_config(tok, sample=True)

    def make():
        return MultiTurnRollout([TargetWordEnv(verify_iterations=3) for _ in range(3)], tok, config, seed=5)

    def play(rollout, turns):
        torch.manual_seed(1)
        result = rollout.collect(model, num_turns=turns)
        return [(t.slot, t.episode, t.turn, t.prompt_ids, t.response, t.reward) for t in result.transitions]

    original = make()
    original.add_episodes([{"seed": s, "options": {"target": "zz"}} for s in range(4)] + [{"seed": None}] * 6)
    play(original, 4)
    assert any(s.episode is not None and s.episode.num_turns for s in original.slots), "an episode must be live"
    state = json.loads(json.dumps(original.state_dict()))  # what the checkpoint file holds
    resumed = make()
    resumed.load_state_dict(state)
    for a, b in zip(original.slots, resumed.slots):
        assert (a.episode is None) == (b.episode is None) and a.last_stepped == b.last_stepped
        if a.episode is not None:
            assert (a.episode.index, a.episode.responses, a.episode.rewards, a.episode.infos, a.messages) == (
                b.episode.index, b.episode.responses, b.episode.rewards, b.episode.infos, b.messages)
    assert play(resumed, 9) == play(original, 9)
    assert resumed.state_dict() == original.state_dict()


def test_load_state_dict_refuses_a_replay_that_differs(nano):
    _, tok = nano
    rollout = MultiTurnRollout([TargetWordEnv()], tok, gen_config(tok))
    state = rollout.state_dict()
    state["slots"][0]["episode"] = {"index": 0, "seed": 0, "options": {"target": "zz"}, "responses": ["zz"],
                                    "rewards": [-1.0]}  # "zz" earns +1 and ends the episode
    with pytest.raises(ValueError, match="not deterministic"):
        rollout.load_state_dict(state)
    with pytest.raises(ValueError, match="num_envs"):
        MultiTurnRollout([TargetWordEnv()] * 2, tok, gen_config(tok)).load_state_dict(rollout.state_dict())
