"""Reward functions in TRL's calling convention, and `environment_factory` adapters for `trl.GRPOTrainer`.

**Reward functions** follow `trl.GRPOTrainer`'s convention, `f(prompts, completions, **kwargs) -> list[float | None]`:
`prompts` and `completions` hold one entry per generated completion, either conversational (lists of messages) or
plain strings, and every other column of the dataset arrives as a keyword argument holding one value per completion
(our datasets carry `ranks`, `env_kwargs`, `options`, …). They call the environments' own verifiers
(`sft_vs_rl.envs.generalpoints.verifier.verify`, `sft_vs_rl.envs.virl.verifier.verify_action`), so a reward here is exactly what the
environment would give the same answer on its first try. Rows a function cannot score get `None` (TRL ignores them),
never a made-up 0.

| function | value | needs the columns |
|---|---|---|
| `generalpoints_reward` | the paper's first-try reward (+5 … −3, −1.5 wrong cards in GP-VL) | `ranks`, `env_kwargs` |
| `generalpoints_format_reward` | 1.0 if the answer has `cards`, `number` and `formula` fields, else 0.0 | — |
| `generalpoints_recognition_reward` | 1.0 if the `cards` field is the dealt hand (multiset), else 0.0 | `ranks` |
| `virl_reward` | the paper's first-try reward at the row's rail position (+1, −1, −1.5) | `expected_action`, `oracle_observation` |
| `virl_format_reward` | 1.0 if the answer has an `action` field, else 0.0 | — |

**Environment adapters** (`GeneralPointsToolEnv`, `VIRLToolEnv`) let stock `trl.GRPOTrainer` play the multi-turn
verify-and-retry episodes through its tool loop (`environment_factory=GeneralPointsToolEnv`): `reset(**row)` replays
the row's episode, the model answers by calling the tool `submit_answer(answer)` and reads the environment's reply
(its next user turn, or the verifier's message once the episode ends) as the tool's result, and `get_reward()`
returns the episode's return. This needs a chat template that renders tool
calls (`trl.supports_tool_calling(tokenizer)`) and a response parser; see `enable_tool_calling`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

__all__ = [
    "GeneralPointsToolEnv",
    "VIRLToolEnv",
    "completion_text",
    "enable_tool_calling",
    "generalpoints_format_reward",
    "generalpoints_recognition_reward",
    "generalpoints_reward",
    "virl_format_reward",
    "virl_reward",
]

logger = logging.getLogger(__name__)


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """Text of one completion, plain (`str`) or conversational (the last message; `str` or content-item content).

    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "4*3+2+10=24"}]}])
    '4*3+2+10=24'
    >>> completion_text("plain")
    'plain'
    """
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list) or not completion:
        raise TypeError(
            f"completion must be a str or a non-empty list of messages, got {type(completion).__name__}; pass "
            "TRL's `completions` argument unchanged"
        )
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(item["text"] for item in content if item.get("type") == "text" and item.get("text") is not None)


def _column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    """Column `name` from TRL's reward kwargs, or `[None] * n` when the dataset lacks it."""
    values = kwargs.get(name)
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions; pass TRL's kwargs unchanged")
    return list(values)


# --------------------------------------------------------------------------------------------------------------------
# GeneralPoints


def generalpoints_reward(
    prompts: Sequence[Any], completions: Sequence[Any], compat: str | None = None, **kwargs: Any
) -> list[float | None]:
    """GeneralPoints reward of each completion: the paper's reward table, graded by the environment's verifier.

    The value is what `GeneralPointsEnv.step` returns for the same answer on the first try: +5 correct, −1 valid
    formula with the wrong value, −2 per kind of number error, −3 illegal formula, −1.5 wrong cards (GP-VL, checked
    first).

    Args:
        prompts (`Sequence`):
            Prompts, one per completion (unused; part of TRL's convention).
        completions (`Sequence`):
            Completions, plain strings or conversational message lists.
        compat (`str`, *optional*):
            `"sftvsrl"` grades as the original code did (see `sft_vs_rl.envs.generalpoints.verifier`).
        **kwargs:
            Dataset columns, one value per completion. Used: `ranks` (the dealt plain cards, required; a row
            without it gets `None`) and `env_kwargs` (a dict with `face_rule`, `target`, `visual`; defaults `"10"`,
            `24`, `False`). Everything else TRL passes (`completion_ids`, `trainer_state`, …) is ignored.

    Returns:
        `list[float | None]`: one reward per completion.

    Example:

    >>> generalpoints_reward(
    ...     prompts=["..."] * 2,
    ...     completions=['{"cards": ["4", "3", "2", "K"], "number": [4, 3, 2, 10], "formula": "4*3+2+10=24"}',
    ...                  '{"formula": "4*3+2+10*2=24"}'],
    ...     ranks=[["4", "3", "2", "K"]] * 2,
    ...     env_kwargs=[{"face_rule": "10", "target": 24, "visual": False}] * 2,
    ... )
    [5.0, -2.0]
    """
    from sft_vs_rl.envs.generalpoints.verifier import verify

    n = len(completions)
    rewards: list[float | None] = []
    for completion, ranks, env_kwargs in zip(
        completions, _column(kwargs, "ranks", n), _column(kwargs, "env_kwargs", n), strict=True
    ):
        if ranks is None:
            rewards.append(None)
            continue
        env_kwargs = env_kwargs or {}
        verdict = verify(
            completion_text(completion),
            ranks,
            face_rule=env_kwargs.get("face_rule", "10"),
            target=int(env_kwargs.get("target", 24)),
            visual=bool(env_kwargs.get("visual", False)),
            compat=compat,
        )
        rewards.append(float(verdict.reward))
    return rewards


def generalpoints_format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 for each completion whose answer holds the `cards`, `number` and `formula` fields, else 0.0.

    Fields are read by the verifier's own bounded parser (`parse_response`), which accepts strict JSON and the
    paper's single-quoted, trailing-comma `ResponseEqn` format.

    Args:
        prompts (`Sequence`):
            Prompts (unused).
        completions (`Sequence`):
            Completions, plain strings or conversational message lists.
        **kwargs:
            Other dataset columns and TRL arguments, ignored.

    >>> generalpoints_format_reward(["p", "p"], ['{"cards": ["A"], "number": [1], "formula": "1"}', "24!"])
    [1.0, 0.0]
    """
    from sft_vs_rl.envs.generalpoints.verifier import parse_response

    rewards = []
    for completion in completions:
        parsed = parse_response(completion_text(completion))
        complete = parsed.cards is not None and parsed.numbers is not None and parsed.formula is not None
        rewards.append(1.0 if complete else 0.0)
    return rewards


def generalpoints_recognition_reward(
    prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
) -> list[float | None]:
    """1.0 for each completion whose `cards` field is the dealt hand as a multiset, else 0.0 (the paper's recognition).

    Recognition is judged by the verifier (`verify(..., visual=True)`), with its normalisation (`'A'`, `"A"`, `a`
    match; `'T'` or `'Jack'` do not). Meaningful for GP-VL; text rows are scored too (copying the cards).

    Args:
        prompts (`Sequence`):
            Prompts (unused).
        completions (`Sequence`):
            Completions, plain strings or conversational message lists.
        **kwargs:
            Dataset columns: `ranks` (required; a row without it gets `None`). Others are ignored.

    >>> generalpoints_recognition_reward(["p"] * 2, ['{"cards": ["K", "A"]}', '{"cards": ["K", "2"]}'],
    ...                                  ranks=[["A", "K"], ["A", "K"]])
    [1.0, 0.0]
    """
    from sft_vs_rl.envs.generalpoints.verifier import verify

    n = len(completions)
    rewards: list[float | None] = []
    for completion, ranks in zip(completions, _column(kwargs, "ranks", n), strict=True):
        if ranks is None:
            rewards.append(None)
            continue
        verdict = verify(completion_text(completion), ranks, visual=True)
        rewards.append(1.0 if verdict.metrics["recognized_correctly"] else 0.0)
    return rewards


# --------------------------------------------------------------------------------------------------------------------
# V-IRL


def virl_reward(
    prompts: Sequence[Any], completions: Sequence[Any], compat: str | None = None, **kwargs: Any
) -> list[float | None]:
    """V-IRL reward of each completion at its rail position, graded by the environment's verifier (`verify_action`).

    The value is what `VIRLEnv.step` returns for the same answer on the first try at that position: +1 correct
    action, −1.5 wrong action with a false (or missed) intersection claim, −1 other wrong action.

    Args:
        prompts (`Sequence`):
            Prompts, one per completion (unused).
        completions (`Sequence`):
            Completions, plain strings or conversational message lists.
        compat (`str`, *optional*):
            `"sftvsrl"` checks intersection claims against the landmark-only string, as the original code did.
        **kwargs:
            Dataset columns, one value per completion. Used: `expected_action` (required; a row without it gets
            `None`), `oracle_observation` (default mode) or `landmark` (`compat="sftvsrl"`). Others are ignored.

    Returns:
        `list[float | None]`: one reward per completion.

    Example:

    >>> virl_reward(
    ...     prompts=["..."] * 3,
    ...     completions=['{"action": "forward()"}', '{"action": "stop()"}',
    ...                  '{"current observation": "You observe an intersection", "action": "stop()"}'],
    ...     expected_action=["forward()"] * 3,
    ...     oracle_observation=["No landmarks nearby; "] * 3,
    ... )
    [1.0, -1.0, -1.5]
    """
    from sft_vs_rl.envs.virl import verify_action

    if compat not in (None, "sftvsrl"):
        raise ValueError(f"compat={compat!r} must be None (corrected verifier) or 'sftvsrl' (original)")
    n = len(completions)
    reference_column = "landmark" if compat == "sftvsrl" else "oracle_observation"
    rewards: list[float | None] = []
    for completion, expected, reference in zip(
        completions, _column(kwargs, "expected_action", n), _column(kwargs, reference_column, n), strict=True
    ):
        if expected is None:
            rewards.append(None)
            continue
        verdict = verify_action(completion_text(completion), expected, reference or "")
        rewards.append(float(verdict.reward))
    return rewards


def virl_format_reward(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """1.0 for each completion whose answer holds an `action` field (read by the verifier's parser), else 0.0.

    Args:
        prompts (`Sequence`):
            Prompts (unused).
        completions (`Sequence`):
            Completions, plain strings or conversational message lists.
        **kwargs:
            Other dataset columns and TRL arguments, ignored.

    >>> virl_format_reward(["p", "p"], ['{"action": "forward()",}', "go north"])
    [1.0, 0.0]
    """
    from sft_vs_rl.envs.virl import parse_answer

    return [0.0 if parse_answer(completion_text(c)).action is None else 1.0 for c in completions]


# --------------------------------------------------------------------------------------------------------------------
# TRL environment_factory adapters


def enable_tool_calling(processing_class: Any) -> Any:
    """Give a Llama-3-style tokenizer (or processor) TRL's Llama-3 response parser, so GRPO's tool loop can read calls.

    TRL recognises its bundled chat templates by their exact text and installs a parser for them; the tiny models'
    template (Llama-3.2-Vision's, which also renders content-item lists) writes tool calls exactly like Llama 3.2
    (`{"name": ..., "parameters": ...}<|eot_id|>`), so TRL's Llama-3 parser reads them. A template that cannot render
    tool calls is rejected.

    Args:
        processing_class (`PreTrainedTokenizerBase` or `ProcessorMixin`):
            Tokenizer or processor whose chat template renders Llama-3 tool calls.

    Returns:
        The same object, with `response_template` set on its tokenizer.
    """
    from transformers import ProcessorMixin
    from trl import supports_tool_calling
    from trl.chat_template_utils import llama3_template

    if not supports_tool_calling(processing_class):
        raise ValueError(
            "processing_class.chat_template does not render tool calls; use the tiny models' template "
            "(sft_vs_rl.models.build_tiny_model) or TRL's bundled llama3_2.jinja"
        )
    tokenizer = processing_class.tokenizer if isinstance(processing_class, ProcessorMixin) else processing_class
    tokenizer.response_template = llama3_template
    return processing_class


class _EpisodeToolEnv:
    """Shared mechanics of the tool adapters: replay a dataset row's episode, grade submitted answers, keep the return.

    A subclass names its environment class in `_make_env` and defines the public tool `submit_answer` (its
    docstring is the tool description the model reads). Private methods stay hidden from TRL, which exposes every
    public method except `reset` and `get_reward` as a tool.
    """

    def __init__(self, **env_overrides: Any):
        self._env_overrides = env_overrides
        self._env = None
        self._env_kwargs: dict[str, Any] | None = None
        self._return = 0.0
        self._tries = 0
        self._done = False

    def _make_env(self, env_kwargs: dict[str, Any]):
        raise NotImplementedError

    def _advance(self, row: dict[str, Any]) -> str | None:
        """Move the freshly reset environment to the row's starting point; return its observation if it moved."""
        return None

    def reset(self, **row: Any) -> str | None:
        """Replay the row's episode. Returns `None` when the row has a `prompt` (TRL shows it), else the first prompt.

        Args:
            **row:
                Dataset columns: `env_kwargs` (dict of environment arguments), `seed` (`int`) and `options` (the
                reset options stored by `sft_vs_rl.load_dataset`); other columns are ignored. Without `options`, a
                fresh episode is drawn from `seed`.
        """
        env_kwargs = {**(row.get("env_kwargs") or {}), **self._env_overrides}
        if self._env is None or env_kwargs != self._env_kwargs:
            self._env = self._make_env(env_kwargs)
            self._env_kwargs = env_kwargs
        observation, _ = self._env.reset(seed=row.get("seed"), options=row.get("options"))
        observation = self._advance(row) or observation
        self._return, self._tries, self._done = 0.0, 0, False
        return None if "prompt" in row else observation

    def _submit(self, answer: str) -> str:
        if self._env is None:
            raise RuntimeError("submit_answer was called before reset; TRL calls reset(**row) first")
        if self._done:
            return "The episode is over; no more answers are graded."
        observation, reward, terminated, truncated, info = self._env.step(str(answer))
        self._return += float(reward)
        self._tries += 1
        self._done = terminated or truncated
        # While the episode goes on, the result is exactly the environment's next user turn.
        return info["feedback"] if self._done else observation

    def get_reward(self) -> float:
        """The episode's return (sum of the rewards of every graded try); an unanswered episode is graded as ``""``."""
        if self._tries == 0 and self._env is not None:
            self._submit("")
        return self._return


class GeneralPointsToolEnv(_EpisodeToolEnv):
    """GeneralPoints episodes for `trl.GRPOTrainer(environment_factory=GeneralPointsToolEnv)`.

    TRL builds one instance per rollout and calls `reset(**row)` with every column of the dataset row. The episode is
    replayed from the row (`env_kwargs`, `seed`, `options`, as stored by `sft_vs_rl.load_dataset`); the model answers
    by calling the tool `submit_answer`, reads the environment's reply as the tool result (`You failed this trial
    because ...` while tries remain, the verifier's feedback once the episode ends) and may try again while the retry
    budget (`verify_iterations`) lasts. `get_reward()` is the episode's return: the sum of the rewards of every graded
    try (the paper's undiscounted return). A rollout that never calls the tool is graded as an empty answer (−3,
    illegal formula), so not answering is never better than a wrong answer.

    Args:
        **env_overrides:
            Keyword arguments of `GeneralPointsEnv` that replace the row's `env_kwargs` (e.g. `verify_iterations=2`).

    Example:

    >>> env = GeneralPointsToolEnv()
    >>> env.reset(env_kwargs={"face_rule": "10"}, seed=0, options={"ranks": ["4", "3", "2", "K"]}, prompt=[])
    >>> env.submit_answer('{"cards": ["4", "3", "2", "K"], "number": [4, 3, 2, 10], "formula": "4*3+2+10=24"}')
    'Correct solution.'
    >>> env.get_reward()
    5.0
    """

    def _make_env(self, env_kwargs: dict[str, Any]):
        from sft_vs_rl.envs.generalpoints import GeneralPointsEnv

        return GeneralPointsEnv(**env_kwargs)

    def submit_answer(self, answer: str) -> str:
        """Submit an answer to the card game and get the verifier's feedback.

        Args:
            answer: The full answer, in the requested format with the "cards", "number" and "formula" fields.

        Returns:
            "Correct solution." or why the answer failed.
        """
        return self._submit(answer)


class VIRLToolEnv(_EpisodeToolEnv):
    """V-IRL episodes for `trl.GRPOTrainer(environment_factory=VIRLToolEnv)`.

    `reset(**row)` replays the row's episode (`env_kwargs`, `seed`, `options`) and follows the optimal actions up to
    the row's `position`, so per-step training rows start mid-route. The model answers each rail position by calling
    the tool `submit_answer`; the tool result is the environment's next user turn (the new prompt with the updated
    history after a correct action, `You failed this trial because ...` after a wrong one) or, once the episode ends,
    the verifier's message. `get_reward()` is the episode's return (sum of every graded try's reward); a rollout that
    never calls the tool is graded as an empty answer.

    Args:
        **env_overrides:
            Keyword arguments of `VIRLEnv` that replace the row's `env_kwargs` (e.g. `verify_iterations=1`).
    """

    def _make_env(self, env_kwargs: dict[str, Any]):
        from sft_vs_rl.envs.virl import VIRLEnv

        return VIRLEnv(**env_kwargs)

    def _advance(self, row: dict[str, Any]) -> str | None:
        observation = None
        for _ in range(int(row.get("position") or 0)):
            observation, _, _, _, _ = self._env.step(self._env.optimal_response())
        return observation

    def submit_answer(self, answer: str) -> str:
        """Submit the navigation answer for the current position and get the environment's reply.

        Args:
            answer: The full answer, a JSON object with the "current observation", "current instruction" and "action" fields.

        Returns:
            The next prompt after a correct action, or why the action was wrong.
        """
        return self._submit(answer)
