"""GeneralPoints (GP-L, GP-VL) as a packaged `datasets` builder.

Load it with `sft_vs_rl.load_dataset("sft_vs_rl/generalpoints", "gp-l-id")` (which also seeds the `datasets` cache
under the Hub name). Each row is one episode of `GeneralPointsEnv`: the first user turn exactly as the environment
shows it (`prompt`, chat format, plus `images` for GP-VL), what it takes to replay the episode (`env_kwargs`, `seed`,
`options`), the optimal single-turn answer (`completion`, the paper's `ResponseEqn` format) and provenance.

Train and test never share a problem: a hand's *ID problem* is its sorted card values under the J/Q/K = 10 rule, and
a fixed hash of it (independent of the seed and of the config) puts every problem either in the held-out pool (about
`heldout_fraction` of all problems) or in the training pool. Test splits deal only held-out hands, train splits only
the others (rejection sampling on the environment's own `deal_hand`).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from datasets_builders._common import (
    MESSAGES,
    check_sizes,
    dataset_info,
    provenance,
    row_rng,
    split_sizes,
)
from datasets_builders._common import VERSION as _VERSION
from sft_vs_rl.envs.generalpoints import DEFAULT_CANVAS_SIZE, GeneralPointsEnv, format_response, solve
from sft_vs_rl.envs.generalpoints.cards import deal_hand, is_heldout_hand
from sft_vs_rl.envs.verifier_env import assistant_turn

_MAX_DEAL_ATTEMPTS = 10_000


@dataclass
class GeneralPointsConfig(datasets.BuilderConfig):
    """Knobs of one GeneralPoints config. Every field can be overridden through `load_dataset(..., field=value)`.

    Args:
        face_rule (`str`, defaults to `"10"`): `"10"` (J/Q/K = 10; train and ID) or `"11-12-13"` (rule OOD).
        visual (`bool`, defaults to `False`): GP-VL (cards shown in an image) instead of GP-L.
        suit_colour (`str`, defaults to `"black"`): `"black"` (train and ID) or `"red"` (visual OOD).
        target (`int`, defaults to `24`): value the formula must reach.
        verify_iterations (`int`, defaults to `5`): graded tries per episode (stored in `env_kwargs`).
        prompt_style (`str`, defaults to `"paper"`): `"paper"` (verbatim) or `"compact"`.
        sampling (`str`, defaults to `"distinct"`): `"distinct"` (52-card deck) or `"independent"` (original code).
        canvas_size (`int`, defaults to `224`): side of the GP-VL card image in pixels (1200 in the paper).
        has_train (`bool`, defaults to `False`): whether the config has a `train` split (ID configs only).
        train_size (`int`, defaults to `10000`): training episodes (one SFT pair each).
        test_size (`int`, defaults to `234`): test episodes (the paper's evaluation size; use ≥ 300 for the study).
        seed (`int`, defaults to `0`): seed of the whole config; row `i` of split `s` draws from
            `SeedSequence([seed, split_code(s), i])`.
        heldout_fraction (`float`, defaults to `0.2`): share of ID problems reserved for test splits.
    """

    face_rule: str = "10"
    visual: bool = False
    suit_colour: str = "black"
    target: int = 24
    verify_iterations: int = 5
    prompt_style: str = "paper"
    sampling: str = "distinct"
    canvas_size: int = DEFAULT_CANVAS_SIZE
    has_train: bool = False
    train_size: int = 10_000
    test_size: int = 234
    seed: int = 0
    heldout_fraction: float = 0.2

    def validate(self) -> None:
        """Reject bad values; `datasets` sets overrides after construction, so builders call this before generating."""
        check_sizes(self, unit="episodes", example=300)


class GeneralPoints(datasets.GeneratorBasedBuilder):
    """GeneralPoints episodes: GP-L (text) and GP-VL (image) under the ID, rule-OOD and visual-OOD settings."""

    VERSION = _VERSION
    BUILDER_CONFIG_CLASS = GeneralPointsConfig
    BUILDER_CONFIGS = [
        GeneralPointsConfig(
            version=_VERSION, name="gp-l-id", has_train=True, description="GP-L, J/Q/K = 10 (train and ID test)"
        ),
        GeneralPointsConfig(
            version=_VERSION, name="gp-l-ood-rule", face_rule="11-12-13", description="GP-L, J/Q/K = 11/12/13"
        ),
        GeneralPointsConfig(
            version=_VERSION, name="gp-vl-id", visual=True, has_train=True, description="GP-VL, black suits"
        ),
        GeneralPointsConfig(
            version=_VERSION,
            name="gp-vl-ood-rule",
            visual=True,
            face_rule="11-12-13",
            description="GP-VL, J/Q/K = 11/12/13",
        ),
        GeneralPointsConfig(
            version=_VERSION,
            name="gp-vl-ood-visual",
            visual=True,
            suit_colour="red",
            description="GP-VL, red suits (visual OOD)",
        ),
    ]
    DEFAULT_CONFIG_NAME = "gp-l-id"

    def _info(self) -> datasets.DatasetInfo:
        features = {
            "prompt": MESSAGES,
            "completion": MESSAGES,
            "env_kwargs": {
                "face_rule": datasets.Value("string"),
                "visual": datasets.Value("bool"),
                "suit_colour": datasets.Value("string"),
                "target": datasets.Value("int32"),
                "verify_iterations": datasets.Value("int32"),
                "prompt_style": datasets.Value("string"),
                "sampling": datasets.Value("string"),
                "canvas_size": datasets.Value("int32"),
            },
            "seed": datasets.Value("int64"),
            "options": {
                "ranks": datasets.List(datasets.Value("string")),
                "suits": datasets.List(datasets.Value("string")),
            },
            "ranks": datasets.List(datasets.Value("string")),
            "numbers": datasets.List(datasets.Value("int32")),
            "solution": datasets.Value("string"),
        }
        return dataset_info(self.config, features)  # + provenance columns (+ `images` for GP-VL)

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        self.config.validate()
        # A list of row indices: `datasets` shards it across `num_proc` workers, and rows depend only on their index.
        return [
            datasets.SplitGenerator(name=s, gen_kwargs={"split": s, "indices": list(range(n))})
            for s, n in split_sizes(self.config).items()
        ]

    def _generate_examples(self, split: str, indices: list[int]):
        cfg = self.config
        env_kwargs = {
            "face_rule": cfg.face_rule,
            "visual": cfg.visual,
            "suit_colour": cfg.suit_colour,
            "target": cfg.target,
            "verify_iterations": cfg.verify_iterations,
            "prompt_style": cfg.prompt_style,
            "sampling": cfg.sampling,
            "canvas_size": cfg.canvas_size,
        }
        env = GeneralPointsEnv(**env_kwargs)
        for index in indices:
            rng = row_rng(cfg.seed, split, index)
            ranks, suits = self._deal(rng, heldout=split == "test")
            seed = int(rng.integers(2**31))
            options = {"ranks": ranks, "suits": suits}
            _, info = env.reset(seed=seed, options=options)
            solutions = solve(info["numbers"], target=cfg.target)
            solution = solutions[int(rng.integers(len(solutions)))]
            answer = format_response(info["ranks"], info["numbers"], f"{solution}={cfg.target}")
            row = {
                "prompt": info["messages"],
                "completion": [assistant_turn(answer)],
                "env_kwargs": env_kwargs,
                "seed": seed,
                "options": options,
                "ranks": list(info["ranks"]),
                "numbers": list(info["numbers"]),
                "solution": solution,
                **provenance(cfg, split, index),
            }
            if cfg.visual:
                row["images"] = list(info["images"])
            yield index, row
        env.close()

    def _deal(self, rng: np.random.Generator, heldout: bool) -> tuple[list[str], list[str]]:
        """Deal with the environment's own `deal_hand` until the hand falls in the requested pool."""
        cfg = self.config
        for _ in range(_MAX_DEAL_ATTEMPTS):
            ranks, suits = deal_hand(rng, cfg.face_rule, cfg.target, cfg.suit_colour, cfg.sampling)
            if is_heldout_hand(ranks, cfg.heldout_fraction) == heldout:
                return ranks, suits
        raise ValueError(
            f"no {'held-out' if heldout else 'training'} hand found in {_MAX_DEAL_ATTEMPTS} deals for config "
            f"{cfg.name!r} (heldout_fraction={cfg.heldout_fraction}, target={cfg.target}); choose a heldout_fraction "
            "closer to 0.5 or another target"
        )
