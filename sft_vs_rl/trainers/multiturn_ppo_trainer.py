"""Multi-turn PPO with a value head and turn-level GAE, built on `trl.GRPOTrainer`'s machinery.

The algorithm reads top to bottom, as in CleanRL's `ppo.py`:

1. rollout: `num_envs` verifier environments step together (`rollout.MultiTurnRollout`); one model turn is one
   transition (state = the conversation so far, action = the response, reward = the verifier's scalar);
2. collate the turns into one padded batch, with the paper's `thought_prob_coef` token weights
   ([`thought_token_weights`]);
3. scoring: one forward pass gives the rollout's log-probabilities and values ([`ppo_forward`]);
4. turn-level GAE over each episode's turns ([`turn_advantages`] → [`compute_turn_gae`]), advantage normalisation;
5. compute accounting (`sft_vs_rl.compute`) and logging of the environment and PPO diagnostics;
6. `num_ppo_epochs` × mini-batches (GRPOTrainer's `num_iterations` × `steps_per_generation` buffering) of the
   clipped policy and value losses ([`ppo_losses`]), each random mini-batch cut into micro-batches of similar turn
   length ([`length_grouped_micro_batches`]).

TRL hooks overridden: `_generate_and_score_completions` (steps 1-5), `_prepare_inputs` (the micro-batch cut of step
6), `_compute_loss` (step 6), `log`, `_save`, `_save_checkpoint`, `_load_from_checkpoint`,
`_load_optimizer_and_scheduler`. `train()` is TRL's.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import textwrap
import types
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import is_peft_model
from torch import nn
from transformers.utils import ModelOutput
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation

from sft_vs_rl.atomic import write_json
from sft_vs_rl.compute import inference_flops, training_flops
from sft_vs_rl.models.value_head import ValueHead
from sft_vs_rl.models.vision_inputs import VisionInputs, vision_inputs_for
from sft_vs_rl.trainers.multiturn_ppo_config import MultiTurnVerifierPPOConfig
from sft_vs_rl.trainers.rollout import MultiTurnRollout, RolloutResult, Transition, encode_prompts

logger = logging.getLogger(__name__)

__all__ = [
    "MultiTurnVerifierPPOTrainer",
    "PPOLosses",
    "add_ppo_forward",
    "compute_turn_gae",
    "environment_reward",
    "ppo_forward",
    "ppo_losses",
    "thought_token_weights",
    "turn_advantages",
    "turns_to_grid",
]

ROLLOUT_STATE_NAME = "rollout_state_{}.json"


# ---------------------------------------------------------------------------------------------------------------------
# Pure tensor functions (each tested alone)
# ---------------------------------------------------------------------------------------------------------------------
def turns_to_grid(slot_ids: Sequence[int], num_slots: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Place time-ordered transitions on a `(slots, turns)` grid, each slot's transitions in order.

    Args:
        slot_ids (`Sequence[int]`): slot of each transition, in time order.
        num_slots (`int`): number of environment slots.

    Returns:
        `(rows, cols, num_cols)`: transition `i` sits at `grid[rows[i], cols[i]]`.

    >>> turns_to_grid([0, 1, 0, 0], num_slots=2)
    (tensor([0, 1, 0, 0]), tensor([0, 0, 1, 2]), 3)
    """
    counts = [0] * num_slots
    cols = []
    for slot in slot_ids:
        cols.append(counts[slot])
        counts[slot] += 1
    return torch.tensor(list(slot_ids), dtype=torch.long), torch.tensor(cols, dtype=torch.long), max(counts, default=0)


def compute_turn_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    bootstrap_values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 0.9,
    gae_lambda: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over the turns of each environment slot.

    Each row is one slot's turns in time order; a `done` turn ends its episode (the next turn in the row belongs to a
    new episode). The turn after a row's last valid turn is the slot's pending state, whose value is
    `bootstrap_values` (0 where the episode ended or the slot is idle: `dones` zeroes it anyway).

    Args:
        rewards, values, dones (`torch.Tensor` of shape `(slots, turns)`):
            Reward, value estimate and episode-end flag (float 0/1) of every turn.
        bootstrap_values (`torch.Tensor` of shape `(slots,)`):
            Value of each slot's next state after its last valid turn.
        mask (`torch.Tensor` of shape `(slots, turns)`):
            1 for valid turns; each row's valid turns form a prefix.
        gamma (`float`, *optional*, defaults to `0.9`): discount.
        gae_lambda (`float`, *optional*, defaults to `0.95`): GAE λ.

    Returns:
        `(advantages, returns)`, both `(slots, turns)`, zero where `mask` is 0.

    >>> adv, ret = compute_turn_gae(torch.tensor([[0.0, 1.0]]), torch.zeros(1, 2), torch.tensor([[0.0, 1.0]]),
    ...                             torch.zeros(1), torch.ones(1, 2), gamma=0.5, gae_lambda=1.0)
    >>> adv.tolist()
    [[0.5, 1.0]]
    """
    mask = mask.bool()
    advantages = torch.zeros_like(rewards)
    last_gae = torch.zeros_like(bootstrap_values)
    next_values = bootstrap_values
    for t in reversed(range(rewards.shape[1])):
        nonterminal = 1.0 - dones[:, t]
        delta = rewards[:, t] + gamma * next_values * nonterminal - values[:, t]
        gae = delta + gamma * gae_lambda * nonterminal * last_gae
        valid = mask[:, t]
        # Padding after a row's last turn must not touch the carry: the step after the last valid turn is the
        # bootstrap state.
        last_gae = torch.where(valid, gae, last_gae)
        next_values = torch.where(valid, values[:, t], next_values)
        advantages[:, t] = torch.where(valid, gae, torch.zeros_like(gae))
    returns = (advantages + values) * mask
    return advantages, returns


def turn_advantages(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    slot_ids: Sequence[int],
    bootstrap_values: torch.Tensor,
    *,
    gamma: float = 0.9,
    gae_lambda: float = 0.95,
    estimator: str = "gae",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and value targets of a rollout's turns, given in time order: GAE over each slot's turns.

    The turns go on a `(slots, turns)` grid ([`turns_to_grid`]) for [`compute_turn_gae`] and come back in time order.

    Args:
        rewards, values, dones (`torch.Tensor` of shape `(N,)`):
            Reward, value estimate and episode-end flag (float 0/1) of every turn, in time order.
        slot_ids (`Sequence[int]`): environment slot of every turn.
        bootstrap_values (`torch.Tensor` of shape `(slots,)`):
            Value of each slot's pending state after its last turn (0 for idle slots).
        gamma (`float`, *optional*, defaults to `0.9`): discount.
        gae_lambda (`float`, *optional*, defaults to `0.95`): GAE λ.
        estimator (`str`, *optional*, defaults to `"gae"`): `"gae"`, or `"reinforce"`: the advantage is the
            discounted Monte-Carlo return (GAE with no critic and λ 1); the returns stay the GAE returns.

    Returns:
        `(advantages, returns)`, both `(N,)`, in the order of the turns.

    >>> adv, ret = turn_advantages(torch.tensor([0.0, 0.0, 1.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 1.0]),
    ...                            [0, 1, 0], torch.zeros(2), gamma=0.5, gae_lambda=1.0)
    >>> adv.tolist()
    [0.5, 0.0, 1.0]
    """
    rows, cols, num_cols = turns_to_grid(slot_ids, len(bootstrap_values))
    shape = (len(bootstrap_values), num_cols)

    def on_grid(per_turn: torch.Tensor) -> torch.Tensor:  # (N,) -> (slots, turns), zero where no turn
        grid = torch.zeros(shape, device=bootstrap_values.device)
        grid[rows, cols] = per_turn.to(device=grid.device, dtype=grid.dtype)
        return grid

    reward_grid, done_grid, mask = on_grid(rewards), on_grid(dones), on_grid(torch.ones(len(slot_ids)))
    advantages, returns = compute_turn_gae(reward_grid, on_grid(values), done_grid, bootstrap_values, mask,
                                           gamma=gamma, gae_lambda=gae_lambda)
    if estimator == "reinforce":
        no_critic = torch.zeros(shape, device=bootstrap_values.device)
        advantages, _ = compute_turn_gae(reward_grid, no_critic, done_grid, torch.zeros_like(bootstrap_values), mask,
                                         gamma=gamma, gae_lambda=1.0)
    elif estimator != "gae":
        raise ValueError(f"`estimator` is {estimator!r}; valid values are ['gae', 'reinforce'].")
    return advantages[rows, cols], returns[rows, cols]


@dataclass
class PPOLosses:
    """Loss terms and diagnostics of one PPO mini-batch (all scalars)."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    entropy: torch.Tensor
    kl: torch.Tensor
    approx_kl: torch.Tensor
    clipfrac: torch.Tensor
    pg_active_frac: torch.Tensor
    vf_clipfrac: torch.Tensor


def ppo_losses(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    weights: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    *,
    clip_coef: float = 0.1,
    vf_clip_coef: float | None = 0.1,
    vf_coef: float = 0.5,
    ratio_level: str = "sequence",
    entropy: torch.Tensor | None = None,
    entropy_coef: float = 0.0,
    ref_logps: torch.Tensor | None = None,
    beta: float = 0.0,
) -> PPOLosses:
    """Clipped PPO policy loss and clipped value loss over turns, with the paper's token weights.

    Args:
        logps, old_logps (`torch.Tensor` of shape `(B, T)`):
            Log-probability of each response token under the current / rollout policy.
        weights (`torch.Tensor` of shape `(B, T)`):
            Token weights: `thought_prob_coef` before the action key, 1 after it, 0 on padding.
        advantages, values, old_values, returns (`torch.Tensor` of shape `(B,)`):
            One per turn.
        clip_coef (`float`): policy ratio clip ε.
        vf_clip_coef (`float` or `None`): value clip around `old_values`; `None` disables it.
        vf_coef (`float`): weight of the value loss.
        ratio_level (`str`): `"sequence"`, ratio = exp(Σ_t w_t (logp_t − old_logp_t)) per turn (paper);
            `"token"`, one ratio per token, surrogate averaged with the weights `w_t`.
        entropy (`torch.Tensor` of shape `(B, T)`, *optional*): per-token entropy, for the bonus and the logs.
        entropy_coef (`float`): weight of the entropy bonus (paper: 0).
        ref_logps (`torch.Tensor` of shape `(B, T)`, *optional*): reference log-probs for the KL penalty.
        beta (`float`): weight of the KL penalty (paper: 0), estimator k3 averaged over the weighted tokens.

    Returns:
        [`PPOLosses`]: `loss = policy_loss + vf_coef · value_loss − entropy_coef · entropy + beta · kl`, with two
        diagnostics: `pg_active_frac`, the share of turns (sequence ratio) or weighted tokens (token ratio) whose
        policy gradient survives clipping, and `vf_clipfrac`, the share of turns whose value gradient the value clip
        removes (the clipped term is the larger one).

    >>> z = torch.zeros(1, 2)
    >>> out = ppo_losses(z, z, torch.ones(1, 2), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.0]),
    ...                  torch.tensor([0.0]))
    >>> out.policy_loss.item(), out.value_loss.item()
    (-1.0, 0.5)
    """
    token_mask = (weights > 0).to(logps.dtype)
    per_turn_tokens = token_mask.sum(-1).clamp(min=1.0)
    if ratio_level == "sequence":
        logratio = ((logps - old_logps) * weights).sum(-1)  # (B,)
        ratio = logratio.exp()
        pg_loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
        approx_kl = ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).to(logps.dtype).mean()
        pg_active_frac = _unclipped(ratio, advantages, clip_coef).to(logps.dtype).mean()
    elif ratio_level == "token":
        logratio = logps - old_logps  # (B, T)
        ratio = logratio.exp()
        adv = advantages.unsqueeze(-1)
        per_token = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef))
        weight_sum = weights.sum(-1).clamp(min=1e-8)
        pg_loss = ((per_token * weights).sum(-1) / weight_sum).mean()
        approx_kl = ((((ratio - 1) - logratio) * token_mask).sum(-1) / per_turn_tokens).mean()
        clipfrac = ((((ratio - 1).abs() > clip_coef) * token_mask).sum(-1) / per_turn_tokens).mean()
        pg_active_frac = ((_unclipped(ratio, adv, clip_coef) * token_mask).sum(-1) / per_turn_tokens).mean()
    else:
        raise ValueError(f"`ratio_level` is {ratio_level!r}; valid values are ['sequence', 'token'].")

    zero = logps.new_zeros(())
    if vf_clip_coef is None:
        value_loss = 0.5 * ((values - returns) ** 2).mean()
        vf_clipfrac = zero
    else:
        values_clipped = old_values + (values - old_values).clamp(-vf_clip_coef, vf_clip_coef)
        unclipped_sq, clipped_sq = (values - returns) ** 2, (values_clipped - returns) ** 2
        value_loss = 0.5 * torch.max(unclipped_sq, clipped_sq).mean()
        vf_clipfrac = (clipped_sq > unclipped_sq).to(logps.dtype).mean()

    entropy_mean = zero if entropy is None else ((entropy * token_mask).sum(-1) / per_turn_tokens).mean()
    kl = zero
    if ref_logps is not None:
        delta = ref_logps - logps
        kl = (((delta.exp() - delta - 1) * token_mask).sum(-1) / per_turn_tokens).mean()
    loss = pg_loss + vf_coef * value_loss - entropy_coef * entropy_mean + beta * kl
    return PPOLosses(loss, pg_loss, value_loss, entropy_mean, kl, approx_kl.detach(), clipfrac.detach(),
                     pg_active_frac.detach(), vf_clipfrac.detach())


def _unclipped(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """Where the clipped surrogate still has a gradient: not (A > 0 and ratio > 1 + ε) nor (A < 0 and ratio < 1 − ε)."""
    return ~(((advantages > 0) & (ratio > 1 + clip_coef)) | ((advantages < 0) & (ratio < 1 - clip_coef)))


def thought_token_weights(
    tokenizer, completions: Sequence[Sequence[int]], action_key: str | None, thought_prob_coef: float
) -> list[list[float]]:
    """Per-token weights of responses: `thought_prob_coef` before the last `"<action_key>"`, 1 from it on.

    The paper (via RL4VLM) splits a response at the last occurrence of the key (` "formula":` for GeneralPoints,
    ` "action":` for V-IRL) and scores it as `thought_prob_coef · log p(thought) + log p(action)`. A response without
    the key is all action (weight 1). The token holding the key's opening quote is the first action token.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the model's tokenizer.
        completions (`Sequence[Sequence[int]]`): response token ids.
        action_key (`str` or `None`): JSON field of the graded answer; `None` weights every token 1.
        thought_prob_coef (`float`): weight of the thought tokens.

    Returns:
        `list[list[float]]`, one weight per token.
    """
    weights = []
    for ids in completions:
        ids = list(ids)
        split = 0
        if action_key is not None and thought_prob_coef != 1.0:
            text = tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
            char_index = text.rfind(f'"{action_key}"')
            if char_index > 0:
                # Smallest k whose decoded prefix reaches past the quote: tokens [0, k) are thought tokens.
                lo, hi = 0, len(ids)
                while lo < hi:
                    mid = (lo + hi) // 2
                    prefix = tokenizer.decode(ids[: mid + 1], skip_special_tokens=False,
                                              clean_up_tokenization_spaces=False)
                    if len(prefix) > char_index:
                        hi = mid
                    else:
                        lo = mid + 1
                split = lo
        weights.append([thought_prob_coef] * split + [1.0] * (len(ids) - split))
    return weights


def environment_reward(prompts, completions, env_rewards: Sequence[float], **kwargs) -> list[float]:
    """TRL-convention reward function returning the rewards the environments' verifiers gave (`env_rewards`).

    `GRPOTrainer` requires a reward source; in this trainer the verifier environment is the reward source, so this is
    it, logged as `rewards/environment_reward`. `**kwargs` absorbs the other columns TRL passes.

    >>> environment_reward(["p"], ["c"], env_rewards=[5.0])
    [5.0]
    """
    return [float(r) for r in env_rewards]


# ---------------------------------------------------------------------------------------------------------------------
# The model forward that gives both token log-probs and the value
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class PPOForwardOutput(ModelOutput):
    """Output of a model patched by [`add_ppo_forward`] and called with `ppo_prompt_length=P`.

    Args:
        log_probs (`torch.Tensor` of shape `(B, T)`): log-probability of each completion token.
        entropy (`torch.Tensor` of shape `(B, T)`): entropy of each completion position's distribution.
        value (`torch.Tensor` of shape `(B,)`): value head output at the last prompt token, or `None`. (Not
            `values`: `ModelOutput` is a dict, whose `.values()` a field of that name would shadow.)
    """

    log_probs: torch.Tensor | None = None
    entropy: torch.Tensor | None = None
    value: torch.Tensor | None = None


def add_ppo_forward(model: nn.Module, value_head: nn.Module | None, temperature: float) -> None:
    """Register `value_head` on `model` and patch its forward: `model(..., ppo_prompt_length=P)` returns a
    [`PPOForwardOutput`].

    The inputs are left-padded prompts of length `P` followed by right-padded completions of length `T`, so the last
    prompt token of every row sits at column `P - 1`. The backbone runs once; the value head reads its last hidden
    state at `P - 1` and the LM head its states at `P - 1 ... P + T - 2` (logits divided by `temperature`, as in the
    paper). Everything runs inside `model.forward`, so DDP, FSDP and DeepSpeed see one ordinary forward. Without
    `ppo_prompt_length` the forward (and so `generate`) is unchanged. Patch the base model, after PEFT wrapping.

    Args:
        model (`PreTrainedModel`): causal LM or Mllama model.
        value_head (`nn.Module` or `None`): maps `(B, hidden)` to `(B, 1)` or `(B,)`; `None` for a reference model.
        temperature (`float`): logits temperature.
    """
    if value_head is not None:
        model.value_head = value_head  # registered: trained, saved (separately) and wrapped with the model
    original_forward = model.forward

    def _ppo_forward(self, *args, ppo_prompt_length: int | None = None, **kwargs):
        if ppo_prompt_length is None:
            return original_forward(*args, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state  # (B, P + T, H)
        start = ppo_prompt_length - 1
        logits = self.get_output_embeddings()(hidden[:, start:-1]).float() / temperature  # (B, T, V)
        all_logps = logits.log_softmax(-1)
        labels = kwargs["input_ids"][:, ppo_prompt_length:] if "input_ids" in kwargs else args[0][:, ppo_prompt_length:]
        log_probs = all_logps.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        entropy = -(all_logps.exp() * all_logps).sum(-1)
        values = None
        if value_head is not None:
            values = self.value_head(hidden[:, start]).float().reshape(-1)  # (B,)
        return PPOForwardOutput(log_probs=log_probs, entropy=entropy, value=values)

    model.forward = types.MethodType(functools.wraps(type(model).forward)(_ppo_forward), model)


def ppo_forward(model: nn.Module, batch: dict[str, torch.Tensor], vision: VisionInputs | None = None):
    """Run a model patched by [`add_ppo_forward`] on a batch of turns.

    Args:
        model: the patched model (or its DDP / PEFT wrapper).
        batch (`dict[str, torch.Tensor]`): `prompt_ids`, `prompt_mask` `(B, P)`, `completion_ids`,
            `completion_mask` `(B, T)`, and for vision models the rows collated by `vision`.
        vision ([`~sft_vs_rl.models.vision_inputs.VisionInputs`], *optional*): the model family's vision inputs;
            `None` for text models.

    Returns:
        [`PPOForwardOutput`].
    """
    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    kwargs = vision.model_inputs(input_ids, batch) if vision is not None and "pixel_values" in batch else {}
    return model(
        input_ids=input_ids, attention_mask=attention_mask, ppo_prompt_length=batch["prompt_ids"].shape[1], **kwargs
    )


def turn_lengths(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Tokens of each turn, prompt plus completion `(B,)`: what a row costs in a forward pass."""
    return batch["prompt_mask"].sum(-1) + batch["completion_mask"].sum(-1)


def length_grouped_micro_batches(
    batch: dict[str, torch.Tensor], num_mini_batches: int, micro_batches_per_mini_batch: int
) -> list[dict[str, torch.Tensor]]:
    """Cut one rollout into PPO micro-batches: random mini-batches, each split by turn length.

    The turns are shuffled (TRL's `shuffle_sequence_dict`, the same draw as `GRPOTrainer`), cut into
    `num_mini_batches` equal mini-batches (one optimizer step each), and within a mini-batch sorted by
    [`turn_lengths`] before it is cut into `micro_batches_per_mini_batch` equal micro-batches (its accumulation
    steps). Every loss term is a mean over the turns of a micro-batch, and the micro-batches of a mini-batch are of
    equal size, so the accumulated gradient is the mini-batch mean whatever the split: grouping by length changes
    only how much padding each forward pass carries (multi-turn prompts grow with every try).

    >>> batch = {"prompt_mask": torch.tensor([[1, 1, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1]]),
    ...          "completion_mask": torch.ones(4, 1, dtype=torch.long), "advantages": torch.arange(4.0)}
    >>> micro = length_grouped_micro_batches(batch, num_mini_batches=1, micro_batches_per_mini_batch=2)
    >>> [turn_lengths(mb).tolist() for mb in micro]
    [[2, 2], [3, 4]]
    """
    from trl.trainer.utils import shuffle_sequence_dict, split_tensor_dict

    batch = shuffle_sequence_dict(batch)
    n = batch["prompt_mask"].shape[0]
    if n % (num_mini_batches * micro_batches_per_mini_batch):
        raise ValueError(f"{n} turns do not split into {num_mini_batches} mini-batches of "
                         f"{micro_batches_per_mini_batch} equal micro-batches.")
    size, lengths = n // num_mini_batches, turn_lengths(batch)
    order = torch.cat([start + torch.argsort(lengths[start : start + size], stable=True)
                       for start in range(0, n, size)])
    batch = {k: v[order] if isinstance(v, torch.Tensor) and v.ndim > 0 else v for k, v in batch.items()}
    return split_tensor_dict(batch, num_mini_batches * micro_batches_per_mini_batch)


def _trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop prompt columns that are padding in every row and completion columns past the longest completion."""
    prompt_keep = batch["prompt_mask"].any(0).nonzero()
    completion_keep = batch["completion_mask"].any(0).nonzero()
    p0 = int(prompt_keep[0]) if len(prompt_keep) else 0
    t1 = int(completion_keep[-1]) + 1 if len(completion_keep) else 1
    out = dict(batch)
    for key in ("prompt_ids", "prompt_mask"):
        out[key] = batch[key][:, p0:]
    for key in ("completion_ids", "completion_mask", "completion_weights", "old_logps", "ref_logps"):
        if key in batch:
            out[key] = batch[key][:, :t1]
    return out


def _pad(rows: Sequence[Sequence[float]], value: float, left: bool, dtype: torch.dtype) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0)
    width = max(width, 1)
    out = torch.full((len(rows), width), value, dtype=dtype)
    for i, r in enumerate(rows):
        if len(r):
            if left:
                out[i, width - len(r):] = torch.tensor(r, dtype=dtype)
            else:
                out[i, : len(r)] = torch.tensor(r, dtype=dtype)
    return out


def _turn_metric(transitions: Sequence[Transition], key: str) -> list[float]:
    """Values of a per-turn task metric (`step_correct`, `recognized_correctly`), skipping turns where it is `None`."""
    return [float(t.info[key]) for t in transitions if t.info.get(key) is not None]


def collate_transitions(
    transitions: Sequence[Transition], pad_token_id: int, vision: VisionInputs | None = None
) -> dict[str, torch.Tensor]:
    """Batch transitions: left-padded prompts `(B, P)`, right-padded completions `(B, T)`, and the vision rows
    collated by `vision` (the model family's [`~sft_vs_rl.models.vision_inputs.VisionInputs`])."""
    prompts = [t.prompt_ids for t in transitions]
    completions = [t.completion_ids for t in transitions]
    batch = {
        "prompt_ids": _pad(prompts, pad_token_id, left=True, dtype=torch.long),
        "prompt_mask": _pad([[1] * len(p) for p in prompts], 0, left=True, dtype=torch.long),
        "completion_ids": _pad(completions, pad_token_id, left=False, dtype=torch.long),
        "completion_mask": _pad([[1] * len(c) for c in completions], 0, left=False, dtype=torch.long),
    }
    if transitions and transitions[0].vision is not None:
        if vision is None:
            raise ValueError("The transitions hold images; pass the model family's `vision` inputs to collate them.")
        batch.update(vision.collate([t.vision for t in transitions]))
    return batch


def _check_trainer_inputs(args, train_dataset) -> None:
    """Refuse a config of another trainer and a dataset that holds no full PPO update."""
    if not isinstance(args, MultiTurnVerifierPPOConfig):
        raise TypeError(f"`args` must be a `MultiTurnVerifierPPOConfig`, got {type(args).__name__}.")
    if train_dataset is None:
        raise ValueError("`train_dataset` is required: its rows are the episodes (environment states) to play.")
    rows_per_update = args.turns_per_update * max(args.world_size, 1)
    if hasattr(train_dataset, "__len__") and len(train_dataset) < rows_per_update:
        # GRPO's sampler drops an incomplete generation batch, so training would silently run zero steps.
        raise ValueError(
            f"`train_dataset` has {len(train_dataset)} rows but one PPO update takes {rows_per_update} "
            f"(`per_device_train_batch_size` {args.per_device_train_batch_size} x `steps_per_generation` "
            f"{args.steps_per_generation} x {max(args.world_size, 1)} processes). Use more episodes or lower "
            "`per_device_train_batch_size` / `steps_per_generation`."
        )


def _gymnasium_factory(args) -> Callable[[], Any]:
    """`gymnasium.make(args.env_id, **args.env_kwargs)` as a factory."""
    if args.env_id is None:
        raise ValueError(
            "No environment: set `env_id` in the config (e.g. `env_id='sft_vs_rl/GeneralPoints-v0'`) or pass "
            "`env_factory=` to the trainer."
        )
    import gymnasium

    env_id, env_kwargs = args.env_id, dict(args.env_kwargs or {})
    return lambda: gymnasium.make(env_id, **env_kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------------------
class MultiTurnVerifierPPOTrainer(GRPOTrainer):
    """
    Trainer for the multi-turn PPO of [SFT Memorizes, RL Generalizes](https://huggingface.co/papers/2501.17161):
    verifier environments give a reward for every model turn and, after a failed try, the verifier's feedback as a
    new user turn; PPO with a value head on the shared backbone and turn-level GAE learns from those turns.

    Example:

    ```python
    >>> from sft_vs_rl import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer, build_tiny_model, load_dataset
    >>> model, processor = build_tiny_model(kind="llama", preset="tiny")
    >>> args = MultiTurnVerifierPPOConfig(output_dir="ppo-gp-l", env_id="sft_vs_rl/GeneralPoints-v0", use_cpu=True,
    ...                                   bf16=False, gradient_checkpointing=False, max_completion_length=64,
    ...                                   max_steps=4)
    >>> trainer = MultiTurnVerifierPPOTrainer(model=model, args=args, processing_class=processor,
    ...                                       train_dataset=load_dataset("sft_vs_rl/generalpoints", "gp-l-id",
    ...                                                                  split="train"))
    >>> trainer.train()
    ```

    Args:
        model (`str`, [`~transformers.PreTrainedModel`] or [`~peft.PeftModel`]):
            Policy: a causal LM or an image-text model of a family in `sft_vs_rl.models.vision_inputs` (Mllama,
            Qwen2-VL, Qwen2.5-VL), or a path / Hub id of one.
        args ([`MultiTurnVerifierPPOConfig`]):
            Configuration.
        train_dataset ([`~datasets.Dataset`]):
            Episode states: each row gives `env.reset` its options (its `options` column, as the library's datasets
            store it, or what `reset_options_fn` makes of the row) and optionally its seed (`seed_column`). The
            trainer never builds prompts: the environment does.
        processing_class ([`~transformers.PreTrainedTokenizerBase`] or [`~transformers.ProcessorMixin`], *optional*):
            Tokenizer or processor (left padding). Loaded from the model if `None`.
        env_factory (`Callable[[], gymnasium.Env]`, *optional*):
            Builds one environment; called `num_envs` times. If `None`, `gymnasium.make(args.env_id,
            **args.env_kwargs)`. (Unrelated to GRPOTrainer's tool-calling `environment_factory`.)
        reset_options_fn (`Callable[[dict], dict]`, *optional*):
            Maps a dataset row to `env.reset` options, for datasets without an `options` column. If `None`, the
            row's `options` column (struct fields that are unset dropped).
        value_head ([`~sft_vs_rl.models.value_head.ValueHead`], *optional*):
            Critic on the last prompt-token hidden state. Defaults to the paper's MLP with widths from the backbone's
            hidden size. Saved in every checkpoint with `ValueHead.save_pretrained`, so
            `ValueHead.from_pretrained(checkpoint_dir)` loads it.
        callbacks, optimizers, peft_config:
            As in [`~trl.GRPOTrainer`]. With PEFT the value head stays fully trainable.
    """

    _tag_names = ["trl", "ppo", "sft-vs-rl", "multi-turn", "verifier"]
    _name = "Multi-turn verifier PPO"
    _paper = {
        "title": "SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training",
        "id": "2501.17161",
        # docstyle-ignore
        "citation": textwrap.dedent("""\
            @inproceedings{chu2025sft,
                title        = {{SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training}},
                author       = {Tianzhe Chu and Yuexiang Zhai and Jihan Yang and Shengbang Tong and Saining Xie and Dale Schuurmans and Quoc V. Le and Sergey Levine and Yi Ma},
                booktitle    = {International Conference on Machine Learning (ICML)},
                year         = 2025,
            }"""),
    }

    def __init__(
        self,
        model,
        args: MultiTurnVerifierPPOConfig,
        train_dataset=None,
        processing_class=None,
        env_factory: Callable[[], Any] | None = None,
        reset_options_fn: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        value_head: ValueHead | None = None,
        callbacks=None,
        optimizers=(None, None),
        peft_config=None,
    ):
        _check_trainer_inputs(args, train_dataset)
        if env_factory is None:
            env_factory = _gymnasium_factory(args)
        super().__init__(
            model=model,
            reward_funcs=environment_reward,
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )
        # Value head on the shared backbone (after PEFT wrapping, so it stays trainable)
        base = self.model.get_base_model() if is_peft_model(self.model) else self.model
        if value_head is None:
            value_head = ValueHead(base.config.get_text_config().hidden_size, seed=args.seed)
        elif not isinstance(value_head, ValueHead):
            raise TypeError(
                f"`value_head` is a {type(value_head).__name__}; pass a `sft_vs_rl.models.ValueHead` (checkpoints "
                "save and load it with `ValueHead.save_pretrained` / `ValueHead.from_pretrained`), or `None`."
            )
        value_head.to(device=self.accelerator.device, dtype=base.dtype)
        add_ppo_forward(base, value_head, temperature=args.temperature)
        if self.ref_model is not None:
            add_ppo_forward(self.accelerator.unwrap_model(self.ref_model), None, temperature=args.temperature)
        self._num_params = sum(p.numel() for n, p in base.named_parameters() if "value_head." not in n)
        self._vision = vision_inputs_for(base.config, self._tokenizer) if self._is_vlm else None

        # Environments and the batched rollout
        envs = [env_factory() for _ in range(args.num_envs)]
        self.action_key = args.action_key if args.action_key is not None else self._env_action_key(envs[0])
        self.reset_options_fn = reset_options_fn
        self.rollout = MultiTurnRollout(
            envs, self.processing_class, self.generation_config, seed=args.seed + self.accelerator.process_index
        )
        self._counters = {"flops/rollout": 0.0, "flops/train": 0.0, "tokens/generated_total": 0.0,
                          "env/episodes_total": 0.0}

    def _env_action_key(self, env) -> str | None:
        if self.args.thought_prob_coef == 1.0:
            return None
        unwrapped = env.unwrapped
        if "action_key" not in dir(unwrapped):
            raise ValueError(
                f"`thought_prob_coef` is {self.args.thought_prob_coef} but neither `action_key` is set in the config "
                f"nor does {type(unwrapped).__name__} define an `action_key` attribute. Set `action_key` (e.g. "
                "'formula' or 'action'), or `thought_prob_coef=1.0` to weight every response token equally."
            )
        return unwrapped.action_key

    def _episode_specs(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`{"seed", "options"}` of every dataset row, for `MultiTurnRollout.add_episodes`."""
        specs = []
        for row in rows:
            if self.reset_options_fn is not None:
                options = self.reset_options_fn(row)
            elif "options" in row:
                # Arrow stores a struct column with every field of the dataset, absent ones as None.
                options = {k: v for k, v in row["options"].items() if v is not None}
            else:
                raise ValueError(
                    f"Cannot tell the environment which episode a row is (columns: {sorted(row)}). Add an `options` "
                    "column (what `env.reset(options=...)` takes, e.g. {'ranks': [...]}), or pass `reset_options_fn` "
                    "to the trainer."
                )
            seed = row.get(self.args.seed_column) if self.args.seed_column else None
            specs.append({"seed": seed, "options": options})
        return specs

    @property
    def _value_head(self) -> ValueHead:
        base = self.model.get_base_model() if is_peft_model(self.model) else self.model
        return base.value_head

    def create_optimizer(self, model=None):
        """TRL's optimizer, with the value head in param groups of its own at `value_learning_rate` when set."""
        optimizer = super().create_optimizer(model)
        if self.args.value_learning_rate is None:
            return optimizer
        head = {id(p) for p in self._value_head.parameters()}
        for group in list(optimizer.param_groups):
            value_params = [p for p in group["params"] if id(p) in head]
            if value_params:
                group["params"] = [p for p in group["params"] if id(p) not in head]
                settings = {k: v for k, v in group.items() if k != "params"}
                optimizer.add_param_group({**settings, "params": value_params, "lr": self.args.value_learning_rate})
        return optimizer

    # ------------------------------------------------------------------ rollout, scoring, GAE
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """One PPO rollout of `len(inputs)` model turns, scored, with advantages: the batch `_compute_loss` trains on."""
        if not self.model.training:
            raise NotImplementedError(
                "Evaluation inside `trainer.evaluate()` is not supported; evaluate checkpoints with "
                "`sft_vs_rl.trainers.rollout.run_episodes` or the `sft-vs-rl eval` command."
            )
        result = self._play_turns(inputs)  # the rows start new episodes as slots free up
        batch = self._collate(result.transitions)
        batch.update(self._score(batch))  # old_logps, old_values (+ ref_logps)
        advantages, returns = self._turn_advantages(result.transitions, batch["old_values"])
        batch["advantages"], batch["returns"] = self._normalize_advantages(advantages), returns
        self._count_compute(batch, num_finished=len(result.episodes))
        self._log_rollout(result, batch, advantages, returns)  # advantages before normalisation
        return batch

    def _play_turns(self, rows: list[dict[str, Any]]) -> RolloutResult:
        """Rollout: exactly `len(rows)` model turns; at most one update's worth of rows stays queued unplayed."""
        self.rollout.add_episodes(self._episode_specs(rows))
        with (
            unwrap_model_for_generation(
                self.model_wrapped,
                self.accelerator,
                gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                generation_kwargs=self.generation_kwargs,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as unwrapped_model,
            torch.no_grad(),
        ):
            result = self.rollout.collect(unwrapped_model, num_turns=len(rows))
        self.rollout.trim_queue(max_unplayed=len(rows))
        return result

    def _collate(self, transitions: Sequence[Transition]) -> dict[str, torch.Tensor]:
        """Padded prompts and completions of the turns (see [`collate_transitions`]) and their thought weights."""
        batch = collate_transitions(transitions, self._tokenizer.pad_token_id, self._vision)
        weights = thought_token_weights(
            self._tokenizer, [t.completion_ids for t in transitions], self.action_key, self.args.thought_prob_coef
        )
        batch["completion_weights"] = _pad(weights, 0.0, left=False, dtype=torch.float32)
        return {k: v.to(self.accelerator.device) for k, v in batch.items()}

    def _turn_advantages(self, transitions: Sequence[Transition], values: torch.Tensor):
        """Turn-level GAE ([`turn_advantages`]) bootstrapped from the value of every slot's pending state."""
        device = values.device
        rewards = torch.tensor([t.reward * self.args.reward_scale for t in transitions], device=device)
        ends = [float(t.terminated if self.args.gae_across_truncation else t.done) for t in transitions]
        return turn_advantages(
            rewards, values, torch.tensor(ends, device=device), [t.slot for t in transitions],
            self._bootstrap_values(), gamma=self.args.gamma, gae_lambda=self.args.gae_lambda,
            estimator=self.args.advantage_estimator,
        )

    def _normalize_advantages(self, advantages: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit variance over the whole rollout (all processes), when `normalize_advantages`."""
        if not self.args.normalize_advantages:
            return advantages
        all_advantages = self.accelerator.gather(advantages)
        return (advantages - all_advantages.mean()) / (all_advantages.std() + 1e-8)

    @torch.no_grad()
    def _score(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rollout log-probs `old_logps`, values `old_values` (and `ref_logps` when `beta > 0`), in micro-batches of
        turns of similar length (each row is scored on its own, so the grouping only removes padding)."""
        size = self.args.per_device_train_batch_size
        n = batch["prompt_ids"].shape[0]
        order = torch.argsort(turn_lengths(batch), stable=True)
        outs: dict[str, list[torch.Tensor]] = {"old_logps": [], "old_values": [], "ref_logps": []}
        for start in range(0, n, size):
            rows = order[start : start + size]
            mb = _trim_padding({k: v[rows] for k, v in batch.items()})
            width = batch["completion_ids"].shape[1]
            out = ppo_forward(self.model_wrapped, mb, self._vision)
            outs["old_logps"].append(F.pad(out.log_probs, (0, width - out.log_probs.shape[1])))
            outs["old_values"].append(out.value)
            if self.beta != 0.0:
                if self.ref_model is not None:
                    ref = ppo_forward(self.ref_model, mb, self._vision)
                else:  # PEFT: the reference is the base model, adapters off
                    with self.accelerator.unwrap_model(self.model).disable_adapter():
                        ref = ppo_forward(self.model_wrapped, mb, self._vision)
                outs["ref_logps"].append(F.pad(ref.log_probs, (0, width - ref.log_probs.shape[1])))
        unsort = torch.argsort(order)
        return {k: torch.cat(v)[unsort] for k, v in outs.items() if v}

    def _prepare_inputs(self, generation_batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        # GRPOTrainer's buffering (one rollout per `steps_per_generation × num_iterations` micro-steps), with the
        # rollout cut by [`length_grouped_micro_batches`] instead of a plain shuffle-and-split.
        if not self.model.training:
            return super()._prepare_inputs(generation_batch)
        generate_every = self.args.steps_per_generation * self.num_iterations
        if self._step % generate_every == 0 or self._buffered_inputs is None:
            batch = self._generate_and_score_completions(generation_batch)
            self._buffered_inputs = length_grouped_micro_batches(
                batch, self.args.steps_per_generation // self.args.gradient_accumulation_steps,
                self.args.gradient_accumulation_steps,
            )
        return self._buffered_inputs[self._step % self.args.steps_per_generation]

    @torch.no_grad()
    def _bootstrap_values(self) -> torch.Tensor:
        """Value of every slot's pending state (0 for idle slots)."""
        values = torch.zeros(len(self.rollout.slots), device=self.accelerator.device)
        pending = self.rollout.pending_states()
        size = max(self.args.per_device_train_batch_size, 1)
        num_chunks = -(-len(self.rollout.slots) // size)
        for start in range(0, num_chunks * size, size):
            chunk = pending[start : start + size]
            if not chunk:
                # Sharded models (ZeRO-3, FSDP) need the same number of forwards on every rank: repeat a state.
                if not (self.is_fsdp_enabled or self.is_deepspeed_enabled) or not pending:
                    break
                chunk = pending[:1]
            enc = encode_prompts(self.processing_class, [m for _, m, _ in chunk], [i for _, _, i in chunk])
            mb = {"prompt_ids": enc["input_ids"], "prompt_mask": enc["attention_mask"]}
            # One dummy completion token: the value reads the last prompt token only.
            mb["completion_ids"] = torch.full((len(chunk), 1), self._tokenizer.pad_token_id)
            mb["completion_mask"] = torch.zeros((len(chunk), 1), dtype=torch.long)
            if "pixel_values" in enc:
                mb.update(self._vision.collate(self._vision.split(enc, [len(i) for _, _, i in chunk])))
            mb = {k: v.to(self.accelerator.device) for k, v in mb.items()}
            out = ppo_forward(self.model_wrapped, mb, self._vision)
            values[[slot for slot, _, _ in chunk]] = out.value
        return values

    # ------------------------------------------------------------------ loss
    def _compute_loss(self, model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        mb = _trim_padding(inputs)
        out = ppo_forward(model, mb, self._vision)
        losses = ppo_losses(
            out.log_probs, mb["old_logps"], mb["completion_weights"], mb["advantages"], out.value,
            mb["old_values"], mb["returns"], clip_coef=self.args.clip_coef, vf_clip_coef=self.args.vf_clip_coef,
            vf_coef=self.args.vf_coef, ratio_level=self.args.ratio_level, entropy=out.entropy,
            entropy_coef=self.args.entropy_coef, ref_logps=mb.get("ref_logps"), beta=self.beta,
        )
        if not torch.isfinite(losses.loss):
            terms = {f: getattr(losses, f).detach().item() for f in ("policy_loss", "value_loss", "entropy", "kl")}
            bad = [k for k, v in terms.items() if not math.isfinite(v)] or ["loss"]
            raise FloatingPointError(
                f"Non-finite PPO loss at global step {self.state.global_step}: {bad} is not finite ({terms}). "
                "Likely causes: a too high `learning_rate`, an exploding sequence-level ratio (try "
                "`ratio_level='token'`), or fp16 overflow (use bf16 or fp32)."
            )
        names = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "pg_active_frac", "vf_clipfrac")
        for name in names + (("kl",) if self.beta else ()):
            value = self.accelerator.gather(getattr(losses, name).detach()).mean().item()
            self._metrics["train"][f"ppo/{name}"].append(value)
        if self.args.log_gradient_norms and self._step % (self.args.steps_per_generation * self.num_iterations) == 0:
            self._log_gradient_split(model, losses)
        # TRL turns off the Trainer's loss scaling for gradient accumulation (`loss_is_scaled_for_ga`); scale here.
        return losses.loss / self.current_gradient_accumulation_steps

    def _log_gradient_split(self, model, losses: PPOLosses) -> None:
        """Norms of the policy and the value term's gradients on the shared backbone (value head excluded), and their
        cosine, on the first micro-batch of an update: shows whether the critic's gradient drowns the policy's."""
        params = [p for n, p in model.named_parameters() if p.requires_grad and "value_head." not in n]

        def flat_grad(term: torch.Tensor) -> torch.Tensor | None:  # None: the term does not depend on the backbone
            if not term.requires_grad:
                return None
            parts = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
            return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float()
                              for g, p in zip(parts, params)])

        policy, value = flat_grad(losses.policy_loss), flat_grad(self.args.vf_coef * losses.value_loss)
        metrics = self._metrics["train"]
        metrics["ppo/grad_norm_policy"].append(0.0 if policy is None else policy.norm().item())
        metrics["ppo/grad_norm_value"].append(0.0 if value is None else value.norm().item())
        if policy is not None and value is not None:
            metrics["ppo/grad_cosine_policy_value"].append(F.cosine_similarity(policy, value, dim=0).item())

    # ------------------------------------------------------------------ compute and logging
    def _count_compute(self, batch: dict[str, torch.Tensor], num_finished: int) -> None:
        """Compute (paper §C.3, `sft_vs_rl.compute`), counted when the rollout is collected, for all processes: the
        rollout is a forward pass over its prompt + generated tokens, training `num_ppo_epochs` forward + backward
        passes plus the scoring forward pass over the same tokens."""
        prompt_mask, completion_mask = batch["prompt_mask"], batch["completion_mask"]
        tokens = torch.tensor(
            [float(prompt_mask.sum() + completion_mask.sum()), float(completion_mask.sum()), float(num_finished)],
            device=self.accelerator.device,
        )
        seq_tokens, generated, finished = self.accelerator.reduce(tokens, reduction="sum").tolist()
        self._counters["flops/rollout"] += inference_flops(self._num_params, seq_tokens)
        self._counters["flops/train"] += (training_flops(self._num_params, self.args.num_ppo_epochs * seq_tokens)
                                          + inference_flops(self._num_params, seq_tokens))
        self._counters["tokens/generated_total"] += generated
        self._counters["env/episodes_total"] += finished
        metrics = self._metrics["train"]
        metrics["tokens/generated"].append(generated)
        metrics["tokens/prompt_per_turn"].append(self.accelerator.gather(prompt_mask.sum(-1).float()).mean().item())

    def _global_mean(self, values: list[float]) -> float | None:
        """Mean over all processes of per-process lists of different lengths (sum and count reduced); `None` if empty."""
        t = torch.tensor([sum(values), float(len(values))], device=self.accelerator.device)
        total = self.accelerator.reduce(t, reduction="sum")
        return (total[0] / total[1]).item() if total[1] > 0 else None

    def _log_rollout(self, result: RolloutResult, batch: dict[str, torch.Tensor], advantages: torch.Tensor,
                     returns: torch.Tensor) -> None:
        """Environment metrics (`env/*`) and rollout statistics (`completions/*`, `ppo/*` of values, returns and
        advantages before normalisation), once per update."""
        self._log_environment(result)
        metrics = self._metrics["train"]
        gather = self.accelerator.gather
        completion_mask = batch["completion_mask"]
        lengths = completion_mask.sum(-1).float()
        eos = torch.tensor(self.eos_token_ids, device=self.accelerator.device)
        last = batch["completion_ids"].gather(1, (lengths.long() - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        clipped = (~torch.isin(last, eos)).float()
        metrics["completions/mean_length"].append(gather(lengths).mean().item())
        metrics["completions/clipped_ratio"].append(gather(clipped).mean().item())
        all_values, all_returns = gather(batch["old_values"]), gather(returns)
        var_returns = all_returns.var()
        explained = 1 - (all_returns - all_values).var() / var_returns if var_returns > 0 else torch.tensor(float("nan"))
        metrics["ppo/explained_variance"].append(explained.item())
        all_advantages = gather(advantages)
        for name, values in (("values", all_values), ("returns", all_returns), ("advantages", all_advantages)):
            metrics[f"ppo/{name}_mean"].append(values.mean().item())
            metrics[f"ppo/{name}_std"].append(values.std().item() if values.numel() > 1 else 0.0)
        metrics["ppo/returns_min"].append(all_returns.min().item())
        metrics["ppo/returns_max"].append(all_returns.max().item())
        metrics["rewards/environment_reward/mean"].append(metrics["env/reward_per_turn"][-1])

    def _log_environment(self, result: RolloutResult) -> None:
        """`env/*`: reward per turn, first-try success, the finished episodes' success / return / turns, task
        metrics, and the verify-iteration histogram."""
        metrics = self._metrics["train"]
        transitions, episodes = result.transitions, result.episodes
        metrics["env/reward_per_turn"].append(self._global_mean([t.reward for t in transitions]))
        # First tries are fresh episodes from the dataset in every update, so their success rate is comparable across
        # updates (the success of the episodes that *finish* in an update is not: the first update's are the quick ones).
        first = self._global_mean([float(bool(t.info.get("success"))) for t in transitions if t.turn == 0])
        if first is not None:
            metrics["env/first_try_success"].append(first)
        for name, values in (
            ("env/episode_success", [float(e.success) for e in episodes]),
            ("env/episode_return", [e.episode_return for e in episodes]),
            ("env/episode_turns", [float(e.num_turns) for e in episodes]),
            ("env/step_accuracy", _turn_metric(transitions, "step_correct")),
            ("env/recognition_accuracy", _turn_metric(transitions, "recognized_correctly")),
        ):
            value = self._global_mean(values)
            if value is not None:
                metrics[name].append(value)
        # Verify-iteration histogram over the finished episodes: fraction that ended after k graded tries.
        max_k = 16
        hist = torch.zeros(max_k + 1, device=self.accelerator.device)
        for k, count in Counter(min(int(e.verify_iteration or 0), max_k) for e in episodes).items():
            hist[k] = count
        hist = self.accelerator.reduce(hist, reduction="sum")
        if hist.sum() > 0:
            for k in hist.nonzero().flatten().tolist():
                metrics[f"env/verify_iterations/{k}"].append((hist[k] / hist.sum()).item())

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Cumulative counters are reported as they stand, not averaged over the logging window.
        if self.model.training:
            logs.update(self._counters)
            logs["flops/total"] = self._counters["flops/rollout"] + self._counters["flops/train"]
        super().log(logs, start_time)

    # ------------------------------------------------------------------ checkpoints
    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # The policy checkpoint stays loadable with `from_pretrained`; the value head goes beside it, written by
        # `ValueHead.save_pretrained` from the (possibly gathered, ZeRO-3 / FSDP) state dict the Trainer passes.
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if state_dict is None:
            state_dict = self.model.state_dict()
        policy = {k: v for k, v in state_dict.items() if "value_head." not in k}
        value = {k.split("value_head.", 1)[1]: v for k, v in state_dict.items() if "value_head." in k}
        super()._save(output_dir, state_dict=policy)
        if self.args.should_save and value:
            self._value_head.save_pretrained(output_dir, state_dict=value)

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        output_dir = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
        # What the Trainer does not save and a resume needs to continue exactly: the rollout (live episodes, queue,
        # RNG), the cumulative counters, and TRL's micro-step counter `_step` (it picks the buffered mini-batch and
        # when to roll out again).
        state = {"rollout": self.rollout.state_dict(), "counters": self._counters, "step": self._step}
        write_json(os.path.join(output_dir, ROLLOUT_STATE_NAME.format(self.accelerator.process_index)), state,
                   indent=None)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        # Raises FileNotFoundError naming the missing file for a checkpoint without a value head.
        saved = ValueHead.from_pretrained(resume_from_checkpoint)
        self._value_head.load_state_dict(saved.state_dict())

    def _issue_warnings_after_load(self, load_result) -> None:
        # The value head is saved apart from the policy (see `_save`) and loaded in `_load_from_checkpoint`.
        load_result.missing_keys[:] = [k for k in load_result.missing_keys if "value_head." not in k]
        super()._issue_warnings_after_load(load_result)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        # Called on every resume (DeepSpeed included), like GRPOTrainer's adaptive-entropy state.
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        path = os.path.join(checkpoint, ROLLOUT_STATE_NAME.format(self.accelerator.process_index))
        if not os.path.isfile(path):
            logger.warning("No rollout state at %s: the rollout RNG restarts from `seed`.", path)
            return
        with open(path) as f:
            state = json.load(f)
        self.rollout.load_state_dict(state["rollout"])
        self._counters.update(state["counters"])
        self._step = int(state.get("step", 0))
        if self._step % (self.args.steps_per_generation * self.num_iterations):
            # The rollout buffer of the update in progress is not saved: this update trains on a fresh rollout.
            logger.warning("%s was saved in the middle of a PPO update (micro-step %d); the resumed run rolls out "
                           "again and differs from an uninterrupted one. Save between updates (`save_steps` a "
                           "multiple of the optimizer steps per update) for an exact resume.", checkpoint, self._step)
