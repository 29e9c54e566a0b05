"""Batched multi-turn rollouts: N verifier environments step together, one batched `generate` call per turn.

The environments own the conversation (`info["messages"]`, `info["images"]`, see
`sft_vs_rl.envs.verifier_env`); this module only renders it with the processor's chat template, generates, and hands
the decoded response back to `env.step`. A finished episode's slot is refilled at once from a queue of episode specs
(`{"seed": ..., "options": ...}`), so the generation batch stays full.

Two entry points:

* [`MultiTurnRollout`], stateful, used by the PPO trainer: `add_episodes(specs)`, then `collect(model, num_turns)`
  collects exactly `num_turns` model turns; episodes still running carry over to the next call, and
  `trim_queue(max_unplayed)` bounds the episodes queued but not started.
* [`run_episodes`], used by evaluation: plays a list of episodes to the end and returns one [`Episode`] each.

Both work for text models (a tokenizer as processor) and vision models (the family's processor; the per-row vision
tensors, split by the family's [`~sft_vs_rl.models.vision_inputs.VisionInputs`], are kept on each [`Transition`] for
the log-prob and value passes).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sft_vs_rl.models.loading import tokenizer_of
from sft_vs_rl.models.vision_inputs import vision_inputs_for

logger = logging.getLogger(__name__)

__all__ = ["Episode", "MultiTurnRollout", "RolloutResult", "Transition", "encode_prompts", "run_episodes"]

# `info` keys that are conversation state, not per-turn metrics.
_STATE_KEYS = ("messages", "images")


@dataclass
class Transition:
    """One model turn: the state is the conversation so far, the action is the response.

    Args:
        slot (`int`): environment slot that played the turn.
        episode (`int`): index of the episode (counted from 0 by the rollout).
        turn (`int`): 0-based model turn within the episode.
        prompt_ids (`list[int]`): the rendered conversation, without padding.
        completion_ids (`list[int]`): the generated tokens, end-of-turn token included when generated.
        response (`str`): the decoded response given to `env.step`.
        reward (`float`): the verifier's reward for this turn.
        terminated (`bool`), truncated (`bool`): as returned by `env.step`.
        info (`dict`): the step's `info` without `messages` / `images` (success, feedback, verify_iteration, task
            metrics).
        vision (`dict[str, torch.Tensor]`, *optional*): vision inputs of this row as the model family's
            [`~sft_vs_rl.models.vision_inputs.VisionInputs.split`] gives them (Mllama: `pixel_values`
            `(num_images, tiles, 3, S, S)`, `aspect_ratio_ids`, `aspect_ratio_mask`; Qwen2.5-VL: `pixel_values`
            `(patches, dim)`, `image_grid_thw` `(num_images, 3)`), or `None` for text models.
    """

    slot: int
    episode: int
    turn: int
    prompt_ids: list[int]
    completion_ids: list[int]
    response: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]
    vision: dict[str, torch.Tensor] | None = None

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class Episode:
    """Record of one finished episode.

    Args:
        index (`int`): episode index (order of `add_episodes`).
        seed (`int`), options (`dict`): what `env.reset` got.
        rewards (`list[float]`): reward of every model turn.
        responses (`list[str]`): every response.
        infos (`list[dict]`): every step's `info` without conversation state.
        terminated (`bool`), truncated (`bool`): how it ended.
    """

    index: int
    seed: int | None
    options: dict[str, Any] | None
    rewards: list[float] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False

    @property
    def num_turns(self) -> int:
        return len(self.rewards)

    @property
    def episode_return(self) -> float:
        return float(sum(self.rewards))

    @property
    def success(self) -> bool:
        """Whether the last step reported `success` (solved within the retry budget)."""
        return bool(self.infos and self.infos[-1].get("success", False))

    @property
    def verify_iteration(self) -> int | None:
        """`verify_iteration` of the last step (graded tries used)."""
        return self.infos[-1].get("verify_iteration") if self.infos else None


@dataclass
class RolloutResult:
    """What [`MultiTurnRollout.collect`] returns: transitions in time order and the episodes that finished."""

    transitions: list[Transition]
    episodes: list[Episode]
    num_generate_calls: int = 0


@dataclass
class _Slot:
    index: int
    env: Any
    episode: Episode | None = None
    messages: list[dict[str, Any]] | None = None
    images: list[Any] | None = None
    last_stepped: int = -1


def encode_prompts(processor, conversations: Sequence[list[dict]], images: Sequence[list[Any]] | None = None):
    """Render conversations with the chat template and tokenize them as one left-padded batch.

    Args:
        processor (`PreTrainedTokenizerBase` or `ProcessorMixin`):
            Tokenizer (text models) or processor (vision models), with `padding_side="left"`.
        conversations (`Sequence[list[dict]]`):
            Chat-format conversations ending with a user turn.
        images (`Sequence[list[PIL.Image.Image]]`, *optional*):
            The images of each conversation, in the order of its `{"type": "image"}` items.

    Returns:
        `BatchEncoding` with `input_ids`, `attention_mask` and, with images, the processor's vision tensors.
    """
    tokenizer = tokenizer_of(processor)
    if tokenizer.padding_side != "left":
        raise ValueError(
            f"The processor pads on the {tokenizer.padding_side!r}; generation needs left padding. Set "
            "`processor.tokenizer.padding_side = 'left'` (or `tokenizer.padding_side = 'left'`)."
        )
    texts = [processor.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    has_images = [bool(imgs) for imgs in images] if images is not None else [False] * len(texts)
    if any(has_images):
        if not all(has_images):
            raise ValueError("A batch mixes conversations with and without images; a vision batch needs images in all.")
        if tokenizer is processor:
            raise TypeError("The conversations hold images but the processing class is a tokenizer; pass a processor.")
        # Chat templates write their BOS themselves (Llama's `<|begin_of_text|>`); the processor would add a second.
        return processor(text=texts, images=[list(i) for i in images], padding=True, add_special_tokens=False,
                         return_tensors="pt")
    return tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")


def _trim_completions(completion_ids: torch.Tensor, eos_token_ids: Sequence[int]) -> list[list[int]]:
    """Cut each generated row after its first end-of-turn token (kept); rows without one keep every token."""
    is_eos = torch.isin(completion_ids, torch.tensor(list(eos_token_ids), device=completion_ids.device))
    rows = []
    for ids, eos in zip(completion_ids.tolist(), is_eos.tolist()):
        end = eos.index(True) + 1 if True in eos else len(ids)
        rows.append(ids[:end])
    return rows


class MultiTurnRollout:
    """Steps a set of verifier environments together, one batched `generate` call per turn.

    Args:
        envs (`Sequence[gymnasium.Env]`):
            The environments, one per slot. They follow the contract of `sft_vs_rl.envs.verifier_env`.
        processor (`PreTrainedTokenizerBase` or `ProcessorMixin`):
            Tokenizer or processor of the model, padding on the left.
        generation_config (`transformers.GenerationConfig`):
            Sampling settings of every `generate` call (`max_new_tokens`, `temperature`, `eos_token_id`, ...).
        seed (`int`, *optional*, defaults to `0`):
            Seed of the generator that draws `env.reset` seeds for specs without one.

    Example:

    ```python
    >>> rollout = MultiTurnRollout(envs, tokenizer, GenerationConfig(max_new_tokens=32, do_sample=True))
    >>> rollout.add_episodes([{"seed": 0, "options": {"ranks": ["A", "10", "K", "5"]}}])
    >>> result = rollout.collect(model, num_turns=4)
    >>> [t.reward for t in result.transitions]
    ```
    """

    def __init__(self, envs: Sequence[Any], processor, generation_config, seed: int = 0):
        if not envs:
            raise ValueError("`envs` is empty; pass at least one environment.")
        self.slots = [_Slot(index=i, env=env) for i, env in enumerate(envs)]
        self.processor = processor
        self.tokenizer = tokenizer_of(processor)
        self._vision = None  # the model family's VisionInputs, chosen at the first batch with images
        self.generation_config = generation_config
        eos = generation_config.eos_token_id
        self.eos_token_ids = [eos] if isinstance(eos, int) else list(eos or [self.tokenizer.eos_token_id])
        self.rng = np.random.default_rng(seed)
        self.queue: deque[dict[str, Any]] = deque()
        self.num_episodes_started = 0
        self._clock = 0

    # ------------------------------------------------------------------ episodes
    def add_episodes(self, specs: Iterable[dict[str, Any]]) -> None:
        """Queue episodes to play, each `{"seed": int | None, "options": dict | None}`."""
        self.queue.extend(specs)

    def trim_queue(self, max_unplayed: int) -> None:
        """Drop the oldest queued episodes not started yet until at most `max_unplayed` remain.

        The PPO trainer queues one update's rows per update; episodes that last several turns start fewer rows than
        that, and this keeps the backlog from growing without bound.

        >>> rollout.add_episodes([{"seed": s} for s in range(5)]); rollout.trim_queue(2)  # doctest: +SKIP
        >>> [spec["seed"] for spec in rollout.queue]  # doctest: +SKIP
        [3, 4]
        """
        if max_unplayed < 0:
            raise ValueError(f"`max_unplayed` is {max_unplayed}; it must be >= 0.")
        while len(self.queue) > max_unplayed:
            self.queue.popleft()

    def _start(self, slot: _Slot) -> None:
        spec = self.queue.popleft()
        seed = spec.get("seed")
        if seed is None:
            seed = int(self.rng.integers(2**31 - 1))
        options = spec.get("options")
        _, info = slot.env.reset(seed=int(seed), options=options)
        slot.episode = Episode(index=self.num_episodes_started, seed=int(seed), options=options)
        slot.messages, slot.images = info["messages"], list(info.get("images") or [])
        self.num_episodes_started += 1

    def _fill_idle_slots(self) -> None:
        for slot in self.slots:
            if slot.episode is None and self.queue:
                self._start(slot)

    def pending_states(self) -> list[tuple[int, list[dict], list[Any]]]:
        """`(slot, messages, images)` of every live episode: the states the next turn would be generated from."""
        self._fill_idle_slots()
        return [(i, s.messages, s.images) for i, s in enumerate(self.slots) if s.episode is not None]

    # ------------------------------------------------------------------ stepping
    @torch.no_grad()
    def _generate(self, model, slots: list[_Slot]):
        batch = encode_prompts(self.processor, [s.messages for s in slots], [s.images for s in slots])
        batch = batch.to(model.device)
        output = model.generate(**batch, generation_config=self.generation_config)
        prompt_len = batch["input_ids"].shape[1]
        completions = _trim_completions(output[:, prompt_len:], self.eos_token_ids)
        responses = self.tokenizer.batch_decode(completions, skip_special_tokens=True)
        mask = batch["attention_mask"].bool()
        prompts = [ids[m].tolist() for ids, m in zip(batch["input_ids"], mask)]
        visions: list[dict[str, torch.Tensor] | None] = [None] * len(slots)
        if "pixel_values" in batch:
            if self._vision is None or model.config.model_type not in self._vision.model_types:
                self._vision = vision_inputs_for(model.config, self.tokenizer)  # once per model family
            visions = self._vision.split(batch, [len(s.images) for s in slots])
        return prompts, completions, responses, visions

    def collect(self, model, num_turns: int | None = None) -> RolloutResult:
        """Play turns until `num_turns` model turns are collected (or, if `None`, until every queued episode ends).

        When fewer turns remain than live episodes, the episodes that waited longest are stepped. Episodes still
        running at the end stay in their slots for the next call.

        Args:
            model (`PreTrainedModel`): the (unwrapped) policy; only `generate` is called, without gradients.
            num_turns (`int`, *optional*): exact number of model turns to collect.

        Returns:
            [`RolloutResult`]
        """
        transitions: list[Transition] = []
        finished: list[Episode] = []
        calls = 0
        while num_turns is None or len(transitions) < num_turns:
            self._fill_idle_slots()
            live = [s for s in self.slots if s.episode is not None]
            if not live:
                if num_turns is not None:
                    raise ValueError(
                        f"The rollout ran out of episodes after {len(transitions)} of {num_turns} turns; add more "
                        "episodes (dataset rows) per update."
                    )
                break
            if num_turns is not None:
                live = sorted(live, key=lambda s: s.last_stepped)[: num_turns - len(transitions)]
            prompts, completions, responses, visions = self._generate(model, live)
            calls += 1
            self._clock += 1
            for slot, prompt, completion, response, vision in zip(live, prompts, completions, responses, visions):
                _, reward, terminated, truncated, info = slot.env.step(response)
                episode = slot.episode
                metrics = {k: v for k, v in info.items() if k not in _STATE_KEYS}
                transitions.append(
                    Transition(
                        slot=slot.index, episode=episode.index, turn=episode.num_turns,
                        prompt_ids=prompt, completion_ids=completion, response=response, reward=float(reward),
                        terminated=bool(terminated), truncated=bool(truncated), info=metrics, vision=vision,
                    )
                )
                episode.rewards.append(float(reward))
                episode.responses.append(response)
                episode.infos.append(metrics)
                slot.last_stepped = self._clock
                if terminated or truncated:
                    episode.terminated, episode.truncated = bool(terminated), bool(truncated)
                    finished.append(episode)
                    slot.episode = slot.messages = slot.images = None
                else:
                    slot.messages, slot.images = info["messages"], list(info.get("images") or [])
        # Refill at once, so that the states the next call starts from exist now (their values bootstrap GAE).
        self._fill_idle_slots()
        return RolloutResult(transitions=transitions, episodes=finished, num_generate_calls=calls)

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed rollout needs to continue exactly where this one stands, as JSON-serialisable data.

        Per slot the live episode (its `seed` and `options`, responses and rewards so far) and `last_stepped`; the
        queue of unplayed episode specs; the turn clock, the RNG state and `num_episodes_started`. The environments
        are not saved: [`load_state_dict`] rebuilds each live episode by replaying its responses.
        """
        slots = []
        for slot in self.slots:
            episode = slot.episode
            live = None if episode is None else {
                "index": episode.index, "seed": episode.seed, "options": episode.options,
                "responses": list(episode.responses), "rewards": list(episode.rewards),
            }
            slots.append({"episode": live, "last_stepped": slot.last_stepped})
        return {"slots": slots, "queue": list(self.queue), "clock": self._clock, "rng": self.rng.bit_generator.state,
                "num_episodes_started": self.num_episodes_started}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a [`state_dict`]: each live episode is replayed in its slot's environment (`env.reset(seed=...,
        options=...)`, then `env.step` of every saved response), which needs environments that are deterministic given
        seed, options and responses, as the library's are. Raises `ValueError` when the slot count differs or a replayed
        reward differs from the saved one (a non-deterministic environment)."""
        if "slots" not in state:  # written before live episodes were saved
            logger.warning("The rollout state holds no live episodes (an older checkpoint): the resumed rollout "
                           "starts fresh episodes and differs from an uninterrupted run.")
            self.rng.bit_generator.state = state["rng"]
            self.num_episodes_started = int(state["num_episodes_started"])
            return
        if len(state["slots"]) != len(self.slots):
            raise ValueError(
                f"The rollout state holds {len(state['slots'])} environment slots but this rollout has "
                f"{len(self.slots)}; resume with the same `num_envs`."
            )
        for slot, saved in zip(self.slots, state["slots"]):
            slot.last_stepped = int(saved["last_stepped"])
            slot.episode = slot.messages = slot.images = None
            if saved["episode"] is not None:
                self._replay(slot, saved["episode"])
        self.queue = deque(state["queue"])
        self._clock = int(state["clock"])
        self.rng.bit_generator.state = state["rng"]
        self.num_episodes_started = int(state["num_episodes_started"])

    def _replay(self, slot: _Slot, saved: dict[str, Any]) -> None:
        """Rebuild a live episode in `slot` from its seed, options and responses."""
        _, info = slot.env.reset(seed=saved["seed"], options=saved["options"])
        episode = Episode(index=int(saved["index"]), seed=saved["seed"], options=saved["options"])
        for response, saved_reward in zip(saved["responses"], saved["rewards"], strict=True):
            _, reward, terminated, truncated, info = slot.env.step(response)
            if float(reward) != float(saved_reward) or terminated or truncated:
                raise ValueError(
                    f"Replaying episode {episode.index} (seed {saved['seed']}) in slot {slot.index} gave reward "
                    f"{reward} (terminated={terminated}, truncated={truncated}) where the saved run got "
                    f"{saved_reward} and went on: the environment is not deterministic given seed, options and "
                    "responses, so its live episodes cannot be restored."
                )
            episode.rewards.append(float(reward))
            episode.responses.append(response)
            episode.infos.append({k: v for k, v in info.items() if k not in _STATE_KEYS})
        slot.episode = episode
        slot.messages, slot.images = info["messages"], list(info.get("images") or [])


def run_episodes(model, processor, envs: Sequence[Any], episodes: Iterable[dict[str, Any]], generation_config,
                 seed: int = 0, *, progress: bool = False, desc: str | None = None) -> list[Episode]:
    """Play every episode to the end with `len(envs)` environments stepping together.

    Every turn is one batched `generate` call over all live episodes; a finished episode's slot takes the next spec
    at once. Sampling draws from the global torch RNG: seed it (under `torch.random.fork_rng`) for reproducible runs,
    as `sft_vs_rl.evaluation.evaluate` does.

    Args:
        model (`PreTrainedModel`): the policy (text or vision).
        processor: its tokenizer or processor (left padding).
        envs (`Sequence[gymnasium.Env]`): environments, one per slot of the generation batch.
        episodes (`Iterable[dict]`): episode specs `{"seed": int | None, "options": dict | None}`.
        generation_config (`transformers.GenerationConfig`): sampling settings.
        seed (`int`, *optional*, defaults to `0`): seed for specs without one.
        progress (`bool`, *optional*, defaults to `False`): show a tqdm bar over finished episodes.
        desc (`str`, *optional*): label of the bar.

    Returns:
        `list[Episode]`, in the order of `episodes`.

    Example:

    ```python
    >>> envs = [GeneralPointsEnv() for _ in range(8)]
    >>> records = run_episodes(model, tokenizer, envs, [{"seed": s} for s in range(32)],
    ...                        GenerationConfig(max_new_tokens=64, do_sample=False))
    >>> sum(r.success for r in records) / len(records)
    ```
    """
    from tqdm.auto import tqdm

    specs = list(episodes)
    rollout = MultiTurnRollout(envs, processor, generation_config, seed=seed)
    rollout.add_episodes(specs)
    finished: list[Episode] = []
    with tqdm(total=len(specs), desc=desc, unit="episode", disable=not progress) as bar:
        while live := len(rollout.pending_states()):
            # One model turn of every live episode (one `generate` call), so the bar moves as episodes end.
            result = rollout.collect(model, num_turns=live)
            finished.extend(result.episodes)
            bar.update(len(result.episodes))
    return sorted(finished, key=lambda e: e.index)
