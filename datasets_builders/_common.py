"""What the packaged builders do the same way: chat-message features, per-row RNGs, held-out pools, provenance.

Task rules stay in the builders and the environments. The rows depend on this file, so each dataset's cache key
(`sft_vs_rl.data.DATASETS[repo_id]["sources"]`, hashed by `_source_hash`) should list `datasets_builders._common`.
"""

from __future__ import annotations

from typing import Any

import datasets
import numpy as np

VERSION = datasets.Version("1.0.0")
SPLIT_CODES = {"train": 0, "test": 1}

MESSAGES = datasets.List(
    {
        "role": datasets.Value("string"),
        "content": datasets.List({"type": datasets.Value("string"), "text": datasets.Value("string")}),
    }
)
"""Feature of a chat conversation (`prompt`, `completion`): roles with text / image content items."""

PROVENANCE = {
    "config_name": datasets.Value("string"),
    "config_seed": datasets.Value("int64"),
    "split": datasets.Value("string"),
    "index": datasets.Value("int64"),
}
"""Features of the provenance columns every row ends with (see `provenance`)."""


def row_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """RNG of row (or route) `index` of `split`, from `SeedSequence([seed, split_code, index])`.

    Each row draws from its own generator, so it can be rebuilt alone and splits never share draws.

    >>> int(row_rng(0, "test", 3).integers(100)) == int(row_rng(0, "test", 3).integers(100))
    True
    """
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index]))


def check_sizes(config: datasets.BuilderConfig, unit: str, example: int) -> None:
    """Reject a `train_size` / `test_size` that is not an int ≥ 0 (a number of `unit`) and a `heldout_fraction` outside
    (0, 1)."""
    for field in ("train_size", "test_size"):
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{field}={value!r} must be an int ≥ 0 (a number of {unit}), e.g. {field}={example}")
    if not 0.0 < config.heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction={config.heldout_fraction!r} must lie strictly between 0 and 1")


def split_sizes(config: datasets.BuilderConfig) -> dict[str, int]:
    """Size of each non-empty split, `train` first (`train` only where the config has one); fails if none is left."""
    sizes = {"train": config.train_size if config.has_train else 0, "test": config.test_size}
    sizes = {split: size for split, size in sizes.items() if size > 0}  # an empty split is left out
    if not sizes:
        raise ValueError(f"config {config.name!r} has no rows: set test_size (and train_size) above 0")
    return sizes


def dataset_info(config: datasets.BuilderConfig, features: dict[str, Any]) -> datasets.DatasetInfo:
    """`DatasetInfo` of a config: `features`, then the provenance columns, then `images` for a visual config."""
    features = {**features, **PROVENANCE}
    if config.visual:
        features["images"] = datasets.List(datasets.Image())
    return datasets.DatasetInfo(
        description=config.description or "",
        features=datasets.Features(features),
        homepage="https://huggingface.co/papers/2501.17161",
        license="apache-2.0",
    )


def provenance(config: datasets.BuilderConfig, split: str, index: int) -> dict[str, Any]:
    """Provenance columns of a row: config name and seed, split and index (see `PROVENANCE`)."""
    return {"config_name": config.name, "config_seed": config.seed, "split": split, "index": index}
