"""`VIRLEnv`: V-IRL route following (V-IRL-L text, V-IRL-VL vision) as a multi-turn verifier environment."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from ..verifier_env import Verdict, retry_turns, text_space, user_turn
from .city import City, generate_city
from .observe import observation_action_sequence
from .presets import TRAIN_CITY, CityPreset, resolve_city
from .prompts import format_prompt, format_response
from .routes import CANDIDATES_PER_SEGMENT, Episode, Route, build_episode, draw_episode, route_for_index
from .verifier import BUDGET_PENALTY, EXCEED_MAX_VERIFY, verify_action

__all__ = ["VIRLEnv", "optimal_response"]

_ACTION_SPACES = ("absolute", "relative")
_PROMPT_STYLES = ("paper", "compact")
_COMPAT = (None, "sftvsrl")


def optimal_response(episode: Episode, position: int, action_space: str = "absolute") -> str:
    """The optimal single-turn answer at rail `position` (`ResponseVIRL` with the oracle observation, the sentence
    being executed and the expected action), as used for SFT data.

    >>> from sft_vs_rl.envs.virl import generate_city, route_for_index, build_episode
    >>> episode = build_episode(route_for_index(generate_city(), 0), init_heading=90)
    >>> '"action": "turn_direction(' in optimal_response(episode, 0)
    True
    """
    step = episode.rail[position]
    return format_response(step.observation, step.instruction, step.action(action_space))


class VIRLEnv(gym.Env):
    """Follow a written route through a synthetic city, one rail position at a time (V-IRL as posed by SFTvsRL).

    ## Description

    A route is a start, K - 1 turning points and a stop point in front of a destination place. The model reads a
    numbered instruction ("First, turn right to face northwest.", "Move forward until you reach next intersection
    where X is on your left.", ...) and the history of (observation, action) pairs, and answers with a JSON object
    whose `"action"` is graded against the one correct action of its current rail position: `turn_direction(...)`
    at the start and at each turning point, `forward()` between them, `stop()` at the destination. Only correct
    actions move the agent (a "rail"; reference/virl_spec.md §1). With `visual=True` (V-IRL-VL) the current
    observation is a 2x2 grid of rendered street views `[front, right / back, left]` and the history stays textual.

    Cities are synthetic (`CITY_PRESETS`): `city`, or the three factors `layout`, `vocabulary`, `style` switched one
    at a time. Routes come from `route_for_index(city, i)`, from a fixed list (`routes=`, e.g. imported with
    `load_route_infos`), or are pinned per episode through `reset(options=...)`.

    ## Action Space

    `Text`: the model's raw answer. Its `"action"` is parsed tolerantly (strict JSON, the original trailing-comma
    format, single quotes, code fences, prose around; cut to `MAX_RESPONSE_CHARS`; never evaluated). Valid actions:
    `forward()`, `stop()`, and `turn_direction(x)` with x one of the 8 compass names (`action_space="absolute"`,
    train and ID) or `left`, `right`, `slightly left`, `slightly right` (`"relative"`, rule OOD).

    ## Observation Space

    `Text`: the text of the newest user turn. `info["messages"]` holds the whole conversation to feed the model
    next and `info["images"]` its images.

    ## Starting State

    `reset(seed=, options=)` picks a route and draws the episode (initial heading uniform in 0-359, each of the 5
    forward candidates per segment kept with probability 0.5) from the env's seeded RNG. `options` may hold:
    `"route"` (a `Route` or `Route.to_dict()`), or `"route_index"` (route i of the city, or of `routes=`) with an
    optional `"city_seed"`; and `"init_heading"` / `"forward_mask"` to pin the episode draws. Datasets store the
    route dict and these two draws, which replays an episode exactly.

    ## Rewards

    | case | reward |
    |---|---|
    | correct action | +1 |
    | wrong action with a false intersection claim (or a missed one) | -1.5 |
    | other wrong action | -1 |
    | retry budget exhausted | -1 (see Episode End) |

    ## Episode End

    * Terminated: the correct `stop()` at the destination (`info["success"] = True`).
    * Truncated: a position failed `verify_iterations` graded tries. By default the -1 comes with the last failed
      try (its reward is the graded reward - 1); with `compat="sftvsrl"` that try returns its graded reward and the
      *next* call returns -1 without grading ("Exceed maximum verify steps") and truncates, as the original does.

    ## Information

    * `success` (`bool`): the episode was solved (correct `stop()` with no exhausted budget).
    * `feedback` (`str`): the verifier message of this step (`""` after reset).
    * `verify_iteration` (`int`): graded tries used at the current position (0 after reset or an advance).
    * `step_correct` (`bool` or `None`): whether this call's action was correct (`None` after reset; `False` for
      the compat ungraded call, which the original counts as an incorrect sample of per-step accuracy).
    * `observation_correct` (`bool` or `None`): whether the answer's `"current observation"` states the oracle
      observation of the graded position (landmark recognition in V-IRL-VL; never rewarded).
    * `verdict` (`str` or `None`): the verifier's kind of this call's try (`"correct"`, `"false_intersection"`,
      `"missed_intersection"`, `"wrong_action"`, `"no_action"`); `graded_action` (`str` or `None`): the expected
      action of the position that try was graded at (`expected_action` has moved on after a correct one).
    * `messages` (`list[dict]`), `images` (`list[PIL.Image.Image]`): the conversation and its images.
    * `position`, `num_positions` (`int`): rail index and rail length; `expected_action` (`str`); `instruction`
      (`str`, the sentence being executed); `oracle_observation` (`str`); `episode` (`dict`: route dict,
      `init_heading`, `forward_mask`, enough to replay); with `visual=True`, `drawn` (`list[DrawnPlace]`).

    ## Arguments

    * `city` (`str` or `CityPreset`, defaults to `"nyc-like"`), `layout` / `vocabulary` / `style` (`str`): city
      preset and per-factor overrides (a factor key or a preset name). `city_seed` (`int`, defaults to `0`).
    * `action_space` (`str`, defaults to `"absolute"`): `"absolute"` or `"relative"`.
    * `visual` (`bool`, defaults to `False`): V-IRL-VL; renders only when `True`.
    * `verify_iterations` (`int`, defaults to `2`): graded tries per position.
    * `prompt_style` (`str`, defaults to `"paper"`): `"paper"` (verbatim `Q_VIRL_L`/`Q_VIRL_VL`) or `"compact"`.
    * `compat` (`str`, *optional*): `None` (corrected) or `"sftvsrl"` (the original's quirks, below).
    * `tile_size` (`int`, defaults to `96`): pixels per view; `num_milestones` (`tuple[int, int]`, defaults to
      `(2, 8)`); `routes` (`Sequence[Route]`, *optional*): a fixed route database.

    Quirks of the original (reference/virl_spec.md §1.11), default / `compat="sftvsrl"`:

    1. Relative word: heading change wrapped to [-180, 180) / not wrapped (350 -> 10 reads "left").
    2. Intersection check: against the full oracle observation (-1.5 only for a false or missed intersection
       claim) / against the landmark-only string (-1.5 whenever a wrong answer mentions "intersection").
    3. VL views: what the prompt says, `[front, right / back, left]` / the code's -135/-45/+45/+135 row by row.
    4. Initial heading and forward drops: seeded per episode from `reset(seed=)` in both modes (never global RNG).
    5-6. Verbatim strings ("No landmark(s) nearby", "where The destination", doubled braces, "streetview grid",
       "stree tviews"): kept in both modes.
    7. Budget: the -1 comes with the last failed graded try / an extra ungraded call returns -1.
    8. Segments of 5 m or less (imported routes only): sentence numbering kept in step / the original's shift.

    ## References

    * Chu et al., "SFT Memorizes, RL Generalizes", https://huggingface.co/papers/2501.17161 (App. B.2-B.3).
    * Yang et al., "V-IRL: Grounding Virtual Intelligence in Real Life", https://huggingface.co/papers/2402.03310.

    ## Version History

    * v0: initial version.

    >>> import gymnasium as gym, sft_vs_rl
    >>> env = gym.make("sft_vs_rl/VIRL-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs.startswith("\\n[Task Description]")
    True
    """

    metadata = {"render_modes": []}
    action_key = "action"  # JSON field holding the graded answer (the PPO trainer's `thought_prob_coef` split)

    def __init__(
        self,
        city: str | CityPreset = TRAIN_CITY,
        action_space: str = "absolute",
        visual: bool = False,
        verify_iterations: int = 2,
        prompt_style: str = "paper",
        compat: str | None = None,
        tile_size: int = 96,
        *,
        layout: str | None = None,
        vocabulary: str | None = None,
        style: str | None = None,
        city_seed: int = 0,
        num_milestones: tuple[int, int] = (2, 8),
        routes: Sequence[Route] | None = None,
    ) -> None:
        if action_space not in _ACTION_SPACES:
            raise ValueError(f"`action_space={action_space!r}` must be one of {list(_ACTION_SPACES)}.")
        if prompt_style not in _PROMPT_STYLES:
            raise ValueError(f"`prompt_style={prompt_style!r}` must be one of {list(_PROMPT_STYLES)}.")
        if compat not in _COMPAT:
            raise ValueError(f"`compat={compat!r}` must be None (corrected behaviour) or 'sftvsrl' (original).")
        if not isinstance(verify_iterations, int) or verify_iterations < 1:
            raise ValueError(f"`verify_iterations={verify_iterations!r}` must be an int >= 1.")
        if not isinstance(tile_size, int) or tile_size < 16:
            raise ValueError(f"`tile_size={tile_size!r}` must be an int >= 16 (pixels per view).")
        self.preset = resolve_city(city, layout, vocabulary, style)
        self.action_space_name = action_space
        self.visual = bool(visual)
        self.verify_iterations = verify_iterations
        self.prompt_style = prompt_style
        self.compat = compat
        self.tile_size = tile_size
        self.city_seed = city_seed
        self.num_milestones = tuple(num_milestones)
        self.routes = None if routes is None else [r if isinstance(r, Route) else Route.from_dict(r) for r in routes]
        if self.visual and self.routes is not None and any(r.city is None for r in self.routes):  # imported
            raise ValueError("`visual=True` needs synthetic routes (with `route.city`); imported routes are text only.")
        self.observation_space = text_space()
        self.action_space = text_space()
        self._episode: Episode | None = None

    # ------------------------------------------------------------------------------------------------------------------

    def _city(self, seed: int | None = None, route: Route | None = None) -> City:
        if route is not None and route.city is not None:
            # The route fixes streets and names; the env's style is used to draw them (visual-shift studies).
            c = route.city
            return generate_city(CityPreset(c["layout"], c["vocabulary"], self.preset.style), int(c["seed"]))
        return generate_city(self.preset, self.city_seed if seed is None else seed)

    def _pick_route(self, options: dict[str, Any], rng: random.Random) -> Route:
        if "route" in options:
            r = options["route"]
            return r if isinstance(r, Route) else Route.from_dict(r)
        index = options.get("route_index")
        if self.routes is not None:
            if index is None:
                index = rng.randrange(len(self.routes))
            if not 0 <= index < len(self.routes):
                raise ValueError(f"`options['route_index']={index!r}` is out of range for {len(self.routes)} routes.")
            return self.routes[index]
        city = self._city(options.get("city_seed"))
        if index is None:
            index = rng.randrange(2**31)
        return route_for_index(city, int(index), self.num_milestones)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"route", "route_index", "city_seed", "init_heading", "forward_mask"}
        if unknown:
            raise ValueError(
                f"Unknown `options` keys {sorted(unknown)}; valid: 'route', 'route_index', 'city_seed', "
                "'init_heading', 'forward_mask'."
            )
        rng = random.Random(int(self.np_random.integers(2**63)))
        route = self._pick_route(options, rng)
        if self.visual and route.city is None:
            raise ValueError(
                "`visual=True` needs a synthetic route (with `route.city`) to render; imported routes are text only. "
                "Use `visual=False` for this route."
            )
        heading, mask = draw_episode(route, rng)
        heading = options.get("init_heading", heading)
        if not isinstance(heading, int) or isinstance(heading, bool) or not 0 <= heading < 360:
            raise ValueError(f"`options['init_heading']={heading!r}` must be an int in [0, 359] (compass degrees).")
        mask = tuple(tuple(bool(x) for x in seg) for seg in options.get("forward_mask", mask))
        if len(mask) != len(route.milestones) or any(len(seg) != CANDIDATES_PER_SEGMENT for seg in mask):
            raise ValueError(
                f"`options['forward_mask']` must hold {len(route.milestones)} rows (one per segment) of "
                f"{CANDIDATES_PER_SEGMENT} booleans, got {[len(seg) for seg in mask]}."
            )
        compat = self.compat == "sftvsrl"
        self._episode = build_episode(route, heading, mask, wrap_turns=not compat, fix_short_segments=not compat)
        self._mask = mask
        self._route = route
        self._position = 0
        self._tries = 0
        self._exhausted = False
        self._done = False
        self._history_obs = [self._episode.rail[0].observation]
        self._history_act: list[str] = []
        self._render_city = self._city(route=route) if self.visual else None
        self._fresh_turn()
        return self._obs(), self._info(feedback="", step_correct=None, success=False)

    def step(self, action: str):
        if self._episode is None:
            raise RuntimeError("Call `reset()` before `step()`.")
        if self._done:
            raise RuntimeError("The episode is over; call `reset()` to start a new one.")
        if not isinstance(action, str):
            raise TypeError(f"`action` must be the model's response as a str, got {type(action).__name__}.")
        step = self._episode.rail[self._position]
        if self._exhausted:  # compat: the original's ungraded extra call
            self._done = True
            self._messages = self._messages + retry_turns(action, EXCEED_MAX_VERIFY)
            return self._obs(), BUDGET_PENALTY, False, True, self._info(EXCEED_MAX_VERIFY, False, False)
        reference = step.landmark if self.compat == "sftvsrl" else step.observation
        expected = step.action(self.action_space_name)
        verdict: Verdict = verify_action(action, expected, reference, step.observation)
        self._tries += 1
        if verdict.success:
            if step.kind == "stop":
                self._done = True
                return self._obs(), verdict.reward, True, False, self._info(verdict.feedback, True, True, verdict, expected)
            self._history_act.append(expected)
            self._position += 1
            self._tries = 0
            self._history_obs.append(self._episode.rail[self._position].observation)
            self._fresh_turn()
            return self._obs(), verdict.reward, False, False, self._info(verdict.feedback, True, False, verdict, expected)
        self._messages = self._messages + retry_turns(action, verdict.feedback)
        reward, truncated = verdict.reward, False
        if self._tries >= self.verify_iterations:
            if self.compat == "sftvsrl":
                self._exhausted = True
            else:
                reward, truncated, self._done = verdict.reward + BUDGET_PENALTY, True, True
        return self._obs(), reward, False, truncated, self._info(verdict.feedback, False, False, verdict, expected)

    # ------------------------------------------------------------------------------------------------------------------

    def _fresh_turn(self) -> None:
        step = self._episode.rail[self._position]
        seq = observation_action_sequence(
            self._history_obs, self._history_act, visual=self.visual, intersection=step.intersection
        )
        prompt = format_prompt(self._episode.instruction, seq, self.action_space_name, self.visual, self.prompt_style)
        self._messages = [user_turn(prompt, num_images=1 if self.visual else 0)]
        self._images = []
        self._drawn = []
        if self.visual:
            from .render import render_views  # PIL drawing only when an image is asked for

            image, drawn = render_views(
                self._render_city, step.xy, step.heading, self._render_city.preset.style, self.tile_size,
                "paper_code" if self.compat == "sftvsrl" else "prompt",
            )  # fmt: skip
            self._images, self._drawn = [image], drawn

    def _obs(self) -> str:
        return self._messages[-1]["content"][-1]["text"]

    def _info(
        self, feedback: str, step_correct: bool | None, success: bool, verdict: Verdict | None = None,
        graded_action: str | None = None,
    ) -> dict[str, Any]:
        step = self._episode.rail[self._position]
        info = {
            "observation_correct": None if verdict is None else verdict.metrics["observation_correct"],
            "verdict": None if verdict is None else verdict.metrics["kind"],
            "graded_action": graded_action,
            "success": success,
            "feedback": feedback,
            "verify_iteration": self._tries,
            "step_correct": step_correct,
            "messages": [dict(m, content=[dict(c) for c in m["content"]]) for m in self._messages],
            "images": list(self._images),
            "position": self._position,
            "num_positions": len(self._episode.rail),
            "expected_action": step.action(self.action_space_name),
            "instruction": step.instruction,
            "oracle_observation": step.observation,
            "episode": {
                "route": self._route.to_dict(),
                "init_heading": self._episode.init_heading,
                "forward_mask": [list(seg) for seg in self._mask],
            },
        }
        if self.visual:
            info["drawn"] = list(self._drawn)
        return info

    @property
    def episode(self) -> Episode | None:
        """The current `Episode` (instruction and rail)."""
        return self._episode

    def optimal_response(self) -> str:
        """The optimal answer at the current position (see `optimal_response`)."""
        return optimal_response(self._episode, self._position, self.action_space_name)

