"""V-IRL route following (V-IRL-L, V-IRL-VL) as a packaged `datasets` builder.

Load it with `sft_vs_rl.load_dataset("sft_vs_rl/virl", "virl-l-id")` (which also seeds the `datasets` cache under
the Hub name). A row is one rail position of one episode of `VIRLEnv`, reached by following the optimal actions: the
user turn exactly as the environment shows it there (`prompt`, chat format, plus `images` for V-IRL-VL), what it
takes to replay it (`env_kwargs`, `seed`, `options`, `position`), the optimal single-turn answer (`completion`,
`ResponseVIRL`), the verifier's ground truth (`expected_action`, `oracle_observation`, `landmark`) and provenance.

Train splits hold every position of each route (the paper's per-step SFT pairs); test splits hold position 0 only,
one row per episode (`test_rows="steps"` / `train_rows="episodes"` switch this). Train and test never share a
route: a fixed hash of the route's content (city and milestone positions), independent of seed and config, puts
about `heldout_fraction` of all routes in the held-out pool that only test splits draw from.
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
from sft_vs_rl.envs.verifier_env import assistant_turn
from sft_vs_rl.envs.virl import CITY_PRESETS, TRAIN_CITY, VIRLEnv, generate_city, is_heldout_route, route_for_index

_MAX_ROUTE_ATTEMPTS = 10_000
_ROW_CHOICES = ("steps", "episodes")
_UNSEEN_CITIES = tuple(name for name in CITY_PRESETS if name != TRAIN_CITY)

_ROUTE = {
    "start": datasets.List(datasets.Value("float64")),
    "milestones": datasets.List(
        {
            "xy": datasets.List(datasets.Value("float64")),
            "heading": datasets.Value("int32"),
            "landmarks": datasets.Value("string"),
            "landmark": datasets.Value("string"),
            "landmark_xy": datasets.List(datasets.Value("float64")),
            "distance": datasets.Value("int32"),
            "direction_name": datasets.Value("string"),
        }
    ),
    "destination": datasets.Value("string"),
    "city": {
        "layout": datasets.Value("string"),
        "vocabulary": datasets.Value("string"),
        "style": datasets.Value("string"),
        "seed": datasets.Value("int64"),
    },
    "index": datasets.Value("int64"),
    "init_heading": datasets.Value("int32"),
}


@dataclass
class VIRLConfig(datasets.BuilderConfig):
    """Knobs of one V-IRL config. Every field can be overridden through `load_dataset(..., field=value)`.

    Args:
        cities (`tuple[str, ...]`, defaults to `("nyc-like",)`): city presets; row `i` uses `cities[i % len(cities)]`
            (the visual-OOD config cycles through the 9 unseen presets).
        action_space (`str`, defaults to `"absolute"`): `"absolute"` (train and ID) or `"relative"` (rule OOD).
        visual (`bool`, defaults to `False`): V-IRL-VL (2x2 street-view grid) instead of V-IRL-L.
        verify_iterations (`int`, defaults to `2`): graded tries per position (stored in `env_kwargs`).
        prompt_style (`str`, defaults to `"paper"`): `"paper"` (verbatim) or `"compact"`.
        tile_size (`int`, defaults to `96`): pixels per street view (V-IRL-VL).
        num_milestones (`tuple[int, int]`, defaults to `(2, 8)`): range of milestones per route; `(2, 3)` for the
            visual-OOD mini routes, as in the paper's VLN mini benchmark.
        has_train (`bool`, defaults to `False`): whether the config has a `train` split (ID configs only).
        train_size (`int`, defaults to `1000`): training routes (the paper's 1,000 NYC routes).
        test_size (`int`, defaults to `48`): test episodes (the paper's 48; 18 for the visual-OOD mini set).
        train_rows (`str`, defaults to `"steps"`): `"steps"` (a row per rail position) or `"episodes"` (position 0).
        test_rows (`str`, defaults to `"episodes"`): same choice for the test split.
        seed (`int`, defaults to `0`): seed of the whole config; route `i` of split `s` draws from
            `SeedSequence([seed, split_code(s), i])`.
        heldout_fraction (`float`, defaults to `0.1`): share of routes reserved for test splits.
    """

    cities: tuple[str, ...] = (TRAIN_CITY,)
    action_space: str = "absolute"
    visual: bool = False
    verify_iterations: int = 2
    prompt_style: str = "paper"
    tile_size: int = 96
    num_milestones: tuple[int, int] = (2, 8)
    has_train: bool = False
    train_size: int = 1000
    test_size: int = 48
    train_rows: str = "steps"
    test_rows: str = "episodes"
    seed: int = 0
    heldout_fraction: float = 0.1

    def validate(self) -> None:
        """Reject bad values; `datasets` sets overrides after construction, so builders call this before generating."""
        unknown = [c for c in self.cities if c not in CITY_PRESETS]
        if isinstance(self.cities, str) or not self.cities or unknown:
            raise ValueError(f"cities={self.cities!r} must be a list of presets from {list(CITY_PRESETS)}")
        for name in ("train_rows", "test_rows"):
            if getattr(self, name) not in _ROW_CHOICES:
                raise ValueError(f"{name}={getattr(self, name)!r} must be one of {list(_ROW_CHOICES)}")
        check_sizes(self, unit="routes", example=100)


def _config(name: str, description: str, **kwargs) -> VIRLConfig:
    return VIRLConfig(name=name, version=_VERSION, description=description, **kwargs)


class VIRL(datasets.GeneratorBasedBuilder):
    """V-IRL episodes on synthetic cities: V-IRL-L (text) and V-IRL-VL (street views), ID, rule OOD, visual OOD."""

    VERSION = _VERSION
    BUILDER_CONFIG_CLASS = VIRLConfig
    BUILDER_CONFIGS = [
        _config("virl-l-id", "V-IRL-L, absolute actions, training city", has_train=True),
        _config("virl-l-ood-rule", "V-IRL-L, relative actions (rule OOD)", action_space="relative"),
        _config("virl-vl-id", "V-IRL-VL, absolute actions, training city", visual=True, has_train=True),
        _config("virl-vl-ood-rule", "V-IRL-VL, relative actions (rule OOD)", visual=True, action_space="relative"),
        _config(
            "virl-vl-ood-visual",
            "V-IRL-VL, 2 mini routes in each of 9 unseen cities (visual OOD)",
            visual=True,
            cities=_UNSEEN_CITIES,
            num_milestones=(2, 3),
            test_size=2 * len(_UNSEEN_CITIES),
        ),
    ]
    DEFAULT_CONFIG_NAME = "virl-l-id"

    def _info(self) -> datasets.DatasetInfo:
        features = {
            "prompt": MESSAGES,
            "completion": MESSAGES,
            "env_kwargs": {
                "city": datasets.Value("string"),
                "action_space": datasets.Value("string"),
                "visual": datasets.Value("bool"),
                "verify_iterations": datasets.Value("int32"),
                "prompt_style": datasets.Value("string"),
                "tile_size": datasets.Value("int32"),
            },
            "seed": datasets.Value("int64"),
            "options": {
                "route": _ROUTE,
                "init_heading": datasets.Value("int32"),
                "forward_mask": datasets.List(datasets.List(datasets.Value("bool"))),
            },
            "position": datasets.Value("int32"),
            "num_positions": datasets.Value("int32"),
            "expected_action": datasets.Value("string"),
            "oracle_observation": datasets.Value("string"),
            "landmark": datasets.Value("string"),
            "instruction": datasets.Value("string"),
        }
        return dataset_info(self.config, features)  # + provenance columns (+ `images` for V-IRL-VL)

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        cfg = self.config
        cfg.validate()
        rows = {"train": cfg.train_rows, "test": cfg.test_rows}
        return [
            # A list of route indices: `datasets` shards it across `num_proc` workers; rows depend only on the index.
            datasets.SplitGenerator(name=s, gen_kwargs={"split": s, "indices": list(range(n)), "rows": rows[s]})
            for s, n in split_sizes(cfg).items()
        ]

    def _generate_examples(self, split: str, indices: list[int], rows: str):
        cfg = self.config
        envs = {}
        for index in indices:
            city = cfg.cities[index % len(cfg.cities)]
            env_kwargs = {
                "city": city,
                "action_space": cfg.action_space,
                "visual": cfg.visual,
                "verify_iterations": cfg.verify_iterations,
                "prompt_style": cfg.prompt_style,
                "tile_size": cfg.tile_size,
            }
            if city not in envs:
                envs[city] = VIRLEnv(**env_kwargs)
            env = envs[city]
            rng = row_rng(cfg.seed, split, index)
            route = self._route(city, rng, heldout=split == "test")
            seed = int(rng.integers(2**31))
            _, info = env.reset(seed=seed, options={"route": route})
            options = info["episode"]
            positions = info["num_positions"] if rows == "steps" else 1
            for position in range(positions):
                if position:  # follow the rail: the optimal answer moves the agent to the next position
                    _, _, _, _, info = env.step(env.optimal_response())
                answer = env.optimal_response()
                row = {
                    "prompt": info["messages"],
                    "completion": [assistant_turn(answer)],
                    "env_kwargs": env_kwargs,
                    "seed": seed,
                    "options": options,
                    "position": position,
                    "num_positions": info["num_positions"],
                    "expected_action": info["expected_action"],
                    "oracle_observation": info["oracle_observation"],
                    "landmark": env.episode.rail[position].landmark,
                    "instruction": info["instruction"],
                    **provenance(cfg, split, index),
                }
                if cfg.visual:
                    row["images"] = list(info["images"])
                yield f"{index}-{position}", row
        for env in envs.values():
            env.close()

    def _route(self, city: str, rng: np.random.Generator, heldout: bool) -> dict:
        """Draw route indices of the city until the route falls in the requested pool."""
        cfg = self.config
        city_graph = generate_city(city)
        for _ in range(_MAX_ROUTE_ATTEMPTS):
            route = route_for_index(city_graph, int(rng.integers(2**31)), tuple(cfg.num_milestones)).to_dict()
            if is_heldout_route(route, cfg.heldout_fraction) == heldout:
                return route
        raise ValueError(
            f"no {'held-out' if heldout else 'training'} route found in {_MAX_ROUTE_ATTEMPTS} draws for config "
            f"{cfg.name!r} (heldout_fraction={cfg.heldout_fraction}); choose a heldout_fraction closer to 0.5"
        )
