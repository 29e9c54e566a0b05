"""The multi-turn verify-and-retry contract shared by every environment of the library.

Both tasks (GeneralPoints and V-IRL) follow one shape, so a trainer, an evaluator or a dataset builder can drive
either without knowing which it holds:

* an environment is a `gymnasium.Env` whose action is the model's raw response (`str`) and whose observation is
  the text of the newest user turn (`str`);
* `reset(seed=, options=)` and `step(response)` return an `info` dict that always carries
  `messages` (the whole conversation the model must see next, in chat format, image content items included),
  `images` (the PIL images those items refer to, in order), `success`, `feedback` and `verify_iteration`;
* a graded answer is judged by a pure verifier function that returns a `Verdict`;
* after a failed try the conversation grows by the model's answer and a user turn
  `You failed this trial because <feedback>` (`retry_turns`);
* optionally, a class attribute `action_key` names the JSON field of the response that holds the graded answer
  (`"formula"`, `"action"`); the PPO trainer weights the tokens before it by `thought_prob_coef`.

The environment owns the conversation: a trainer never builds task prompts itself.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from gymnasium import spaces

__all__ = [
    "FAILURE_PREFIX",
    "MAX_RESPONSE_CHARS",
    "Verdict",
    "assistant_turn",
    "retry_turns",
    "text_space",
    "user_turn",
]

FAILURE_PREFIX = "You failed this trial because "
"""Text of the user turn that follows a failed try (original: `You failed this trial because <Verify Info>`)."""

MAX_RESPONSE_CHARS = 8192
"""Responses are cut to this many characters before any parsing: model output is untrusted input."""

# Every character a prompt, a feedback message or a model answer may reasonably hold. Used for gymnasium's `Text`
# spaces so that `check_env` can sample actions and check observations.
_CHARSET = string.printable + "♠♣♥♦×÷−"


def text_space(max_length: int = 16384) -> spaces.Text:
    """Return the gymnasium `Text` space used for observations (prompt text) and actions (model responses).

    Args:
        max_length (`int`, *optional*, defaults to `16384`):
            Longest string the space contains.
    """
    return spaces.Text(max_length=max_length, min_length=0, charset=_CHARSET)


@dataclass(frozen=True)
class Verdict:
    """Outcome of grading one model answer.

    Args:
        reward (`float`):
            Scalar reward of this try (the paper's reward table).
        feedback (`str`):
            Text the model reads before it tries again (the verifier's message).
        success (`bool`):
            Whether the answer solves the current task (GeneralPoints: the formula equals the target;
            V-IRL: the action is the expected one).
        metrics (`dict[str, Any]`, *optional*):
            Task metrics of this try, e.g. `recognized_correctly` (GP-VL) or `step_correct` (V-IRL).
    """

    reward: float
    feedback: str
    success: bool
    metrics: dict[str, Any] = field(default_factory=dict)


def user_turn(text: str, num_images: int = 0) -> dict[str, Any]:
    """Build a user message in chat format, with `num_images` image content items before the text.

    >>> user_turn("Cards: ['A', '2']", num_images=1)
    {'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': "Cards: ['A', '2']"}]}
    """
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(num_images)]
    content.append({"type": "text", "text": text})
    return {"role": "user", "content": content}


def assistant_turn(text: str) -> dict[str, Any]:
    """Build an assistant message in chat format.

    >>> assistant_turn("{}")
    {'role': 'assistant', 'content': [{'type': 'text', 'text': '{}'}]}
    """
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def retry_turns(response: str, feedback: str) -> list[dict[str, Any]]:
    """Return the two turns appended after a failed try: the model's answer and the verifier's feedback.

    >>> [m["content"][0]["text"] for m in retry_turns("x", "illegal characters.")]
    ['x', 'You failed this trial because illegal characters.']
    """
    return [assistant_turn(response), user_turn(FAILURE_PREFIX + feedback)]
