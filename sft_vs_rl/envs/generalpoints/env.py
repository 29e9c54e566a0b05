"""The GeneralPoints gymnasium environment (GP-L text, GP-VL image): a thin wrapper over the task's pure functions."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sft_vs_rl.envs.generalpoints.cards import (
    FACE_RULES,
    SAMPLINGS,
    SUIT_COLOURS,
    SUITS,
    card_values,
    check_choice,
    deal_hand,
    normalize_rank,
    numbers_rule,
)
from sft_vs_rl.envs.generalpoints.formula import formula_numbers
from sft_vs_rl.envs.generalpoints.prompts import PROMPT_STYLES, format_prompt
from sft_vs_rl.envs.generalpoints.render import DEFAULT_CANVAS_SIZE, render_hand
from sft_vs_rl.envs.generalpoints.verifier import REWARDS, verify
from sft_vs_rl.envs.verifier_env import MAX_RESPONSE_CHARS, assistant_turn, retry_turns, text_space, user_turn

__all__ = ["GeneralPointsEnv"]

_OPTION_KEYS = ("ranks", "suits")


class GeneralPointsEnv(gym.Env[str, str]):
    """GeneralPoints: make the target (24) from four playing cards, with verify-and-retry turns.

    ## Description

    A hand of four cards is dealt (only hands that can make the target). The model answers with a JSON object holding
    the `cards` it sees, their `number` values and a `formula`; the verifier grades it. After a failed try the
    conversation grows by the model's answer and the user turn `You failed this trial because <feedback>`, and the
    model tries again, up to `verify_iterations` graded tries ("sequential revision", Chu et al., 2025).
    GP-L shows the cards as text (`Cards: ['A', '10', 'K', '5']`); GP-VL (`visual=True`) shows them in an image,
    attached to the first user turn only, and also grades card recognition.

    ## Action Space

    The model's raw response, a `str` (`gymnasium.spaces.Text`). It is untrusted: it is cut to
    `MAX_RESPONSE_CHARS` (8,192) characters and read by a bounded parser; nothing is evaluated. Any content gets
    a reward and feedback in milliseconds.

    ## Observation Space

    A `str`: the text of the newest user turn (the prompt after `reset`, then `You failed this trial because ...`).
    The whole conversation, in chat format with image items, is `info["messages"]`; images are in `info["images"]`.

    ## Starting State

    `reset` deals four cards from `self.np_random`: ranks by `sampling`, a J/Q/K guaranteed by `require_face_card`,
    suits of `suit_colour` (see `sft_vs_rl.envs.generalpoints.cards`). `options={"ranks": [...], "suits": [...]}`
    pins the hand (suits optional; a pinned hand need not be solvable).

    ## Rewards

    | verdict              | reward      |
    |----------------------|-------------|
    | correct              | +5          |
    | valid, wrong value   | -1          |
    | wrong numbers        | -2 per kind (invalid or overused; unused), so -2 or -4 |
    | illegal formula      | -3          |
    | wrong cards (GP-VL)  | -1.5        |
    | retry budget spent   | -1          |

    See `sft_vs_rl.envs.generalpoints.verifier` for the messages and the `compat="sftvsrl"` differences.

    ## Episode End

    * Terminated: the formula is correct (`info["success"]` is `True`).
    * Truncated (default): the `verify_iterations`-th graded try fails. Its reward is the verdict's reward plus the
      -1 retry-budget penalty, in the same step; no extra ungraded model turn is asked for. This fixes the original's
      forced extra turn (spec §5.5), where a (`verify_iterations`+1)-th generation was always punished ungraded.
    * Truncated (`compat="sftvsrl"`): as the original, graded tries 1..`verify_iterations` never truncate; the next
      call returns -1 with feedback `step_limit_reached` without grading the response.

    Calling `step` after the episode ended raises a `RuntimeError`; call `reset`.

    ## Information

    A fresh dict on every call with:

    * `ranks` (`list[str]`), `suits` (`list[str]`), `numbers` (`list[int]`): the hand and its values;
    * `success` (`bool`): solved in this episode;
    * `feedback` (`str`): the verifier's message of the last try (`""` after `reset`);
    * `verdict` (`str | None`): the reward-table row of the last try (`"correct"`, `"no_solution"`,
      `"incorrect_number"`, `"illegal_formula"`, `"incorrect_vision"`, `"step_limit"`, and under compat also
      `"partial"`, `"float_mismatch"`); `None` after `reset`;
    * `numbers_rule` (`str | None`): which face rule the last try's formula numbers follow (`"10"`, `"11-12-13"` or
      `"neither"`; `None` after `reset` and for hands without J/Q/K, where the rules agree): under the OOD rule,
      `"10"` is an answer that applied the ID rule;
    * `verify_iteration` (`int`): graded tries so far;
    * `recognized_correctly` (`bool | None`): GP-VL recognition of the last try; `None` for GP-L and after `reset`;
    * `messages` (`list[dict]`): the conversation in chat format (the image item sits in the first user turn);
    * `images` (`list[PIL.Image.Image]`): `[image]` for GP-VL, `[]` for GP-L.

    ## Arguments

    * `face_rule` (`str`, defaults to `"10"`): `"10"` (J/Q/K = 10; train, ID) or `"11-12-13"` (rule OOD).
    * `visual` (`bool`, defaults to `False`): GP-VL (image) instead of GP-L (text).
    * `suit_colour` (`str`, defaults to `"black"`): `"black"` (train, ID), `"red"` (visual OOD) or `"mixed"`.
    * `target` (`int`, defaults to `24`): value to reach.
    * `verify_iterations` (`int`, defaults to `5`): graded tries per episode.
    * `sampling` (`str`, defaults to `"distinct"`): `"distinct"` cards of a 52-card deck or `"independent"` ranks.
    * `require_face_card` (`bool`, *optional*): defaults to `True` for `face_rule="11-12-13"`, else `False`.
    * `prompt_style` (`str`, defaults to `"paper"`): `"paper"` (verbatim original) or `"compact"`.
    * `compat` (`str`, *optional*): `"sftvsrl"` reproduces the original verifier and step limit.
    * `canvas_size` (`int`, defaults to `224`): GP-VL image side in pixels (the paper used 1200).
    * `render_mode` (`str`, *optional*): `"rgb_array"` makes `render()` return the card image as an array.

    >>> env = GeneralPointsEnv()
    >>> obs, info = env.reset(seed=0, options={"ranks": ["4", "3", "2", "K"]})
    >>> env.step('{"formula": "4*3+2+10=24"}')[1:3]
    (5.0, True)

    ## References

    Chu et al., "SFT Memorizes, RL Generalizes", 2025, https://huggingface.co/papers/2501.17161; official code
    `LeslieTrue/SFTvsRL`, `gym_cards/GeneralPoint-oneline-v0`.

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}
    action_key = "formula"  # JSON field holding the graded answer (the PPO trainer's `thought_prob_coef` split)

    def __init__(
        self,
        face_rule: str = "10",
        visual: bool = False,
        suit_colour: str = "black",
        target: int = 24,
        verify_iterations: int = 5,
        sampling: str = "distinct",
        require_face_card: bool | None = None,
        prompt_style: str = "paper",
        compat: str | None = None,
        canvas_size: int = DEFAULT_CANVAS_SIZE,
        render_mode: str | None = None,
    ) -> None:
        check_choice("face_rule", face_rule, tuple(FACE_RULES))
        check_choice("suit_colour", suit_colour, tuple(SUIT_COLOURS))
        check_choice("sampling", sampling, SAMPLINGS)
        check_choice("prompt_style", prompt_style, PROMPT_STYLES)
        if compat is not None:
            check_choice("compat", compat, ("sftvsrl",))
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        if isinstance(verify_iterations, bool) or not isinstance(verify_iterations, int) or verify_iterations < 1:
            raise ValueError(f"verify_iterations={verify_iterations!r} must be a positive int (the paper uses 5)")
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise TypeError(f"target={target!r} must be an int (the paper uses 24)")
        if isinstance(canvas_size, bool) or not isinstance(canvas_size, int) or canvas_size < 64:
            raise ValueError(f"canvas_size={canvas_size!r} must be an int >= 64 (224 default, 1200 in the paper)")
        self.face_rule = face_rule
        self.visual = bool(visual)
        self.suit_colour = suit_colour
        self.target = int(target)
        self.verify_iterations = verify_iterations
        self.sampling = sampling
        self.require_face_card = face_rule == "11-12-13" if require_face_card is None else bool(require_face_card)
        self.prompt_style = prompt_style
        self.compat = compat
        self.canvas_size = canvas_size
        self.render_mode = render_mode
        self.observation_space = text_space()
        self.action_space = text_space()
        self._ranks: list[str] = []
        self._suits: list[str] = []
        self._numbers: list[int] = []
        self._messages: list[dict[str, Any]] = []
        self._image = None
        self._tries = 0
        self._done = True
        self._success = False

    # ------------------------------------------------------------------ helpers
    def _parse_options(self, options: dict[str, Any] | None) -> tuple[list[str] | None, list[str] | None]:
        if options is None:
            return None, None
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict like {{'ranks': ['A', '10', 'K', '5']}}, got {options!r}")
        unknown = [k for k in options if k not in _OPTION_KEYS]
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; GeneralPointsEnv accepts {list(_OPTION_KEYS)}")
        ranks = options.get("ranks")
        suits = options.get("suits")
        if ranks is not None:
            if isinstance(ranks, str) or len(ranks) != 4:
                raise ValueError(f"options['ranks']={ranks!r} must be a list of 4 card ranks, e.g. ['A', '10', 'K', '5']")
            ranks = [normalize_rank(r) for r in ranks]
        if suits is not None:
            if ranks is None:
                raise ValueError("options['suits'] needs options['ranks'] too: pin the whole hand")
            if isinstance(suits, str) or len(suits) != 4 or any(s not in SUITS for s in suits):
                raise ValueError(f"options['suits']={suits!r} must be a list of 4 suits from {list(SUITS)}")
            suits = list(suits)
        return ranks, suits

    def _info(self, verdict: str | None, feedback: str, recognized: bool | None,
              formula: str | None = None) -> dict[str, Any]:
        return {
            "ranks": list(self._ranks),
            "suits": list(self._suits),
            "numbers": list(self._numbers),
            "success": self._success,
            "feedback": feedback,
            "verdict": verdict,
            "numbers_rule": None if verdict in (None, "step_limit") else numbers_rule(formula_numbers(formula),
                                                                                       self._ranks),
            "verify_iteration": self._tries,
            "recognized_correctly": recognized,
            "messages": [{"role": m["role"], "content": [dict(c) for c in m["content"]]} for m in self._messages],
            "images": [self._image] if self._image is not None else [],
        }

    def _observation(self) -> str:
        for message in reversed(self._messages):
            if message["role"] == "user":
                return message["content"][-1]["text"]
        return ""

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        ranks, suits = self._parse_options(options)
        if ranks is None:
            ranks, suits = deal_hand(
                self.np_random, self.face_rule, self.target, self.suit_colour, self.sampling, self.require_face_card
            )
        elif suits is None:
            colour = SUIT_COLOURS[self.suit_colour]
            suits = [colour[int(i)] for i in self.np_random.integers(0, len(colour), size=4)]
        self._ranks, self._suits = ranks, suits
        self._numbers = card_values(ranks, self.face_rule)
        self._image = render_hand(ranks, suits, self.canvas_size) if self.visual else None
        prompt = format_prompt(None if self.visual else ranks, self.face_rule, self.target, self.visual,
                               self.prompt_style)
        self._messages = [user_turn(prompt, num_images=1 if self.visual else 0)]
        self._tries = 0
        self._done = False
        self._success = False
        return prompt, self._info(None, "", None)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode has ended (or reset() was never called); call reset() before step()")
        if isinstance(action, (bytes, bytearray)):
            action = bytes(action[:MAX_RESPONSE_CHARS * 4]).decode("utf-8", errors="replace")
        if not isinstance(action, str):
            raise TypeError(f"action must be the model's response as a str, got {type(action).__name__}")
        response = action[:MAX_RESPONSE_CHARS]
        if self.compat == "sftvsrl" and self._tries >= self.verify_iterations:
            # The original's forced extra turn: punished without grading.
            self._done = True
            self._messages.append(assistant_turn(response))
            return self._observation(), REWARDS["step_limit"], False, True, self._info(
                "step_limit", "step_limit_reached", None
            )
        verdict = verify(response, self._ranks, self.face_rule, self.target, self.visual, self.compat)
        self._tries += 1
        kind = verdict.metrics["kind"]
        recognized = verdict.metrics["recognized_correctly"]
        reward = float(verdict.reward)
        terminated = verdict.success
        truncated = False
        if terminated:
            self._success = True
            self._done = True
            self._messages.append(assistant_turn(response))
        elif self.compat is None and self._tries >= self.verify_iterations:
            reward += REWARDS["step_limit"]
            truncated = True
            self._done = True
            self._messages.append(assistant_turn(response))
        else:
            self._messages.extend(retry_turns(response, verdict.feedback))
        return self._observation(), reward, terminated, truncated, self._info(kind, verdict.feedback, recognized,
                                                                          verdict.metrics["formula"])

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        image = self._image if self._image is not None else render_hand(self._ranks, self._suits, self.canvas_size)
        return np.asarray(image)
