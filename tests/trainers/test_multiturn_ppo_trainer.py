"""PPO pieces alone (GAE against a plain loop, hand-computed losses, thought weights), then the trainer end to end."""

import math
import os
import sys

import pytest
import torch

from sft_vs_rl.trainers.multiturn_ppo_trainer import (
    compute_turn_gae,
    ppo_losses,
    thought_token_weights,
    turns_to_grid,
)

sys.path.insert(0, os.path.dirname(__file__))


# ----------------------------------------------------------------------------------------------------------- GAE
def reference_gae(episodes_per_slot, bootstrap, gamma, lam):
    """Plain reversed loop over each slot's turns, one Python float at a time (CleanRL's loop)."""
    out = []
    for turns, boot in zip(episodes_per_slot, bootstrap):
        advs = [0.0] * len(turns)
        last = 0.0
        for t in reversed(range(len(turns))):
            r, v, d = turns[t]
            next_value = boot if t == len(turns) - 1 else turns[t + 1][1]
            delta = r + gamma * next_value * (1 - d) - v
            last = delta + gamma * lam * (1 - d) * last
            advs[t] = last
        out.append(advs)
    return out


def to_grid(episodes_per_slot):
    width = max(len(s) for s in episodes_per_slot)
    grids = [torch.zeros(len(episodes_per_slot), width) for _ in range(4)]
    for i, turns in enumerate(episodes_per_slot):
        for t, (r, v, d) in enumerate(turns):
            grids[0][i, t], grids[1][i, t], grids[2][i, t], grids[3][i, t] = r, v, d, 1.0
    return grids


def test_gae_hand_computed():
    # one episode of two turns: fail (0), then solve (+1, terminal); gamma 0.9, lambda 0.95
    rewards, values, dones, mask = to_grid([[(0.0, 0.5, 0.0), (1.0, 0.2, 1.0)]])
    adv, ret = compute_turn_gae(rewards, values, dones, torch.tensor([7.0]), mask, gamma=0.9, gae_lambda=0.95)
    # t=1: 1 - 0.2 = 0.8 (terminal: the bootstrap 7.0 is ignored); t=0: 0.9*0.2 - 0.5 + 0.9*0.95*0.8 = 0.364
    assert adv[0].tolist() == pytest.approx([0.364, 0.8])
    assert ret[0].tolist() == pytest.approx([0.864, 1.0])


def test_gae_bootstraps_a_live_episode():
    rewards, values, dones, mask = to_grid([[(-1.0, 0.0, 0.0)]])  # episode still running at the update cut
    adv, _ = compute_turn_gae(rewards, values, dones, torch.tensor([2.0]), mask, gamma=0.5, gae_lambda=1.0)
    assert adv.item() == pytest.approx(-1.0 + 0.5 * 2.0)


@pytest.mark.parametrize("seed", range(5))
def test_gae_matches_reference_loop(seed):
    gen = torch.Generator().manual_seed(seed)
    slots = []
    for _ in range(6):
        n = int(torch.randint(1, 9, (1,), generator=gen))
        slots.append([(float(torch.randn(1, generator=gen)), float(torch.randn(1, generator=gen)),
                       float(torch.rand(1, generator=gen) < 0.3)) for _ in range(n)])
    bootstrap = torch.randn(6, generator=gen)
    rewards, values, dones, mask = to_grid(slots)
    adv, ret = compute_turn_gae(rewards, values, dones, bootstrap, mask, gamma=0.9, gae_lambda=0.95)
    expected = reference_gae(slots, bootstrap.tolist(), 0.9, 0.95)
    for i, advs in enumerate(expected):
        assert adv[i, : len(advs)].tolist() == pytest.approx(advs, abs=1e-5)
        assert adv[i, len(advs):].abs().sum() == 0  # padding stays zero
        assert ret[i, : len(advs)].tolist() == pytest.approx([a + v for a, (_, v, _) in zip(advs, slots[i])], abs=1e-5)


def test_turns_to_grid_keeps_each_slot_in_time_order():
    rows, cols, width = turns_to_grid([2, 0, 2, 2, 1, 0], num_slots=3)
    assert rows.tolist() == [2, 0, 2, 2, 1, 0] and cols.tolist() == [0, 0, 1, 2, 0, 1] and width == 3


# -------------------------------------------------------------------------------------------------------- losses
def test_sequence_ratio_loss_hand_computed():
    logps, old = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -2.0]])
    weights = torch.tensor([[0.5, 1.0]])  # thought token at 0.5, action token at 1
    out = ppo_losses(logps, old, weights, torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.0]),
                     torch.tensor([2.0]), clip_coef=0.1, vf_clip_coef=0.1, vf_coef=0.5)
    ratio = math.exp(0.5 * 0.5)  # weighted summed log-ratio 0.25
    assert out.policy_loss.item() == pytest.approx(-1.1)  # clipped at 1 + 0.1 for a positive advantage
    assert out.clipfrac.item() == 1.0
    assert out.approx_kl.item() == pytest.approx((ratio - 1) - 0.25)
    # value 1.0 clipped to 0 + 0.1 around the rollout value; max((1-2)^2, (0.1-2)^2) = 3.61
    assert out.value_loss.item() == pytest.approx(0.5 * 3.61)
    assert out.loss.item() == pytest.approx(-1.1 + 0.5 * 0.5 * 3.61)


def test_value_loss_without_clipping_and_negative_advantage():
    logps = torch.tensor([[-1.0]])
    out = ppo_losses(logps, logps - 0.5, torch.ones(1, 1), torch.tensor([-2.0]), torch.tensor([1.0]),
                     torch.tensor([0.0]), torch.tensor([2.0]), clip_coef=0.2, vf_clip_coef=None)
    # ratio e^0.5 = 1.65: max(2 * 1.65, 2 * 1.2) takes the unclipped (pessimistic) term
    assert out.policy_loss.item() == pytest.approx(2 * math.exp(0.5))
    assert out.value_loss.item() == pytest.approx(0.5)


def test_token_ratio_loss_hand_computed():
    logps = torch.tensor([[0.0, 0.0, 0.0]])
    old = torch.tensor([[0.0, -1.0, 0.0]])
    weights = torch.tensor([[0.5, 1.0, 0.0]])  # last column is padding
    out = ppo_losses(logps, old, weights, torch.tensor([1.0]), torch.zeros(1), torch.zeros(1), torch.zeros(1),
                     ratio_level="token", clip_coef=0.1)
    # token 0: ratio 1 -> -1; token 1: ratio e -> clipped -1.1; weighted mean (0.5*-1 + 1*-1.1) / 1.5
    assert out.policy_loss.item() == pytest.approx((0.5 * -1 + -1.1) / 1.5)
    assert out.clipfrac.item() == pytest.approx(0.5)


def test_entropy_bonus_and_kl_penalty():
    logps = torch.tensor([[-1.0, -1.0]])
    entropy = torch.tensor([[2.0, 4.0]])
    base = dict(weights=torch.ones(1, 2), advantages=torch.zeros(1), values=torch.zeros(1),
                old_values=torch.zeros(1), returns=torch.zeros(1))
    out = ppo_losses(logps, logps, entropy=entropy, entropy_coef=0.1, **base)
    assert out.entropy.item() == pytest.approx(3.0) and out.loss.item() == pytest.approx(-0.3)
    same = ppo_losses(logps, logps, ref_logps=logps, beta=1.0, **base)
    assert same.kl.item() == pytest.approx(0.0)
    ref = logps + 1.0  # k3: e^1 - 1 - 1 per token
    assert ppo_losses(logps, logps, ref_logps=ref, beta=1.0, **base).kl.item() == pytest.approx(math.e - 2)


def test_gradient_flows_only_through_current_policy_and_value():
    logps = torch.tensor([[-1.0, -1.0]], requires_grad=True)
    values = torch.tensor([0.5], requires_grad=True)
    out = ppo_losses(logps, logps.detach(), torch.ones(1, 2), torch.tensor([1.0]), values, torch.tensor([0.5]),
                     torch.tensor([1.0]))
    out.loss.backward()
    assert logps.grad[0].tolist() == pytest.approx([-1.0, -1.0])  # d(-A * ratio)/dlogp at ratio 1
    assert values.grad.item() == pytest.approx(0.5 * (0.5 - 1.0))  # vf_coef * (v - R)


# ------------------------------------------------------------------------------------------------ thought weights
@pytest.fixture(scope="module")
def tokenizer():
    from sft_vs_rl.models import build_tokenizer

    return build_tokenizer()


@pytest.mark.parametrize(
    ("response", "key", "has_thought"),
    [
        ('{"cards": [\'A\', \'2\'], "number": [1, 2], "formula": "1+2=3"}', "formula", True),  # GP answer
        ('{"current observation": "x", "action": "forward()"}', "action", True),  # V-IRL answer
        ("no json at all", "formula", False),  # no key: every token is an action token
        ('"formula": "1" then "formula": "2"', "formula", True),  # split at the last occurrence
    ],
)
def test_thought_weights_split_at_the_action_key(tokenizer, response, key, has_thought):
    ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    [weights] = thought_token_weights(tokenizer, [ids], key, 0.5)
    assert len(weights) == len(ids)
    split = weights.count(0.5)
    assert weights == [0.5] * split + [1.0] * (len(ids) - split)
    assert (split > 0) == has_thought
    if has_thought:  # the action part starts at the key's last occurrence, the thought part holds the rest
        assert tokenizer.decode(ids[split:]).count(f'"{key}"') == 1
        assert response.startswith(tokenizer.decode(ids[:split]))


def test_thought_weights_all_one_without_key(tokenizer):
    ids = tokenizer('{"formula": "1"}', add_special_tokens=False)["input_ids"]
    assert thought_token_weights(tokenizer, [ids], None, 0.5) == [[1.0] * len(ids)]
