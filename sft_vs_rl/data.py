"""Datasets of the library: `load_dataset` for the packaged builders, and the Hub tree of a dataset push.

The data are procedural, so each task ships a `datasets.GeneratorBasedBuilder` in the package
(`datasets_builders/<task>/builder.py`, dataset card beside it) instead of files on the Hub. `load_dataset` builds a
config with a progress bar and stores it in the `datasets` cache *under the Hub name* (`repo_id`, `dataset_name`,
a `hash` of the generating code), so that afterwards the stock `datasets.load_dataset("sft_vs_rl/generalpoints",
"gp-l-id")` finds it offline too (datasets 5.x has no loading scripts; see `reference/ecosystem_api.md` §3).

`build_dataset_tree` writes exactly the files `Dataset.push_to_hub(repo_id, config_name=...)` creates for each config
(`<config>/<split>-00000-of-00001.parquet` and a `README.md` whose YAML lists `configs:` and `dataset_info:`), so
`datasets.load_dataset(folder, config)` reads it back; `push_dataset` hands that folder to `sft_vs_rl.hub.push_folder`.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from sft_vs_rl.hub import PushResult

__all__ = [
    "DATASETS",
    "build_dataset_tree",
    "get_dataset_config_names",
    "load_dataset",
    "load_dataset_builder",
    "push_dataset",
    "sft_columns",
]

from sft_vs_rl.atomic import replace_with, write_text
from sft_vs_rl.tasks import GP_DATASET, VIRL_DATASET

logger = logging.getLogger(__name__)

DATASETS: dict[str, dict[str, Any]] = {
    GP_DATASET: {
        "builder": "datasets_builders.generalpoints.builder:GeneralPoints",
        "sources": (
            "datasets_builders.generalpoints",
            "datasets_builders._common",
            "sft_vs_rl.envs.generalpoints",
            "sft_vs_rl.envs.verifier_env",
            "sft_vs_rl.envs.heldout",
        ),
    },
    VIRL_DATASET: {
        "builder": "datasets_builders.virl.builder:VIRL",
        "sources": (
            "datasets_builders.virl",
            "datasets_builders._common",
            "sft_vs_rl.envs.virl",
            "sft_vs_rl.envs.verifier_env",
            "sft_vs_rl.envs.heldout",
        ),
    },
}
"""Repository id → builder (`module:Class`) and the modules whose source code the cached data depend on."""

_SHORT_NAMES = {repo_id.split("/", 1)[1]: repo_id for repo_id in DATASETS}
SPLIT_NAMES = ("train", "test")
"""Splits of every config: `train` (ID configs) and `test`."""


def _resolve_repo_id(repo_id: str) -> str:
    """Map `"sft_vs_rl/generalpoints"` or the short `"generalpoints"` to a key of `DATASETS`, or fail helpfully."""
    if repo_id in DATASETS:
        return repo_id
    if repo_id in _SHORT_NAMES:
        return _SHORT_NAMES[repo_id]
    valid = [*DATASETS, *_SHORT_NAMES]
    close = difflib.get_close_matches(repo_id, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown dataset repo_id={repo_id!r}.{hint} Valid ids: {sorted(DATASETS)} (or the short names "
        f"{sorted(_SHORT_NAMES)}). Usage: sft_vs_rl.load_dataset('sft_vs_rl/generalpoints', 'gp-l-id')"
    )


def _builder_class(repo_id: str) -> type[datasets.GeneratorBasedBuilder]:
    module_name, class_name = DATASETS[repo_id]["builder"].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _source_hash(repo_id: str) -> str:
    """Hash of the code that generates the rows, so a code change never reuses stale cached data."""
    digest = hashlib.sha256()
    for module_name in DATASETS[repo_id]["sources"]:
        module = importlib.import_module(module_name)
        path = Path(module.__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for file in files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def get_dataset_config_names(repo_id: str) -> list[str]:
    """Return the config names of a dataset of the library.

    Args:
        repo_id (`str`):
            `"sft_vs_rl/generalpoints"` or `"sft_vs_rl/virl"` (short names `"generalpoints"`, `"virl"` work too).

    >>> get_dataset_config_names("sft_vs_rl/generalpoints")[:2]
    ['gp-l-id', 'gp-l-ood-rule']
    """
    return [config.name for config in _builder_class(_resolve_repo_id(repo_id)).BUILDER_CONFIGS]


def _check_config_name(repo_id: str, name: str | None) -> None:
    names = get_dataset_config_names(repo_id)
    if name is not None and name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown config name={name!r} for {repo_id!r}.{hint} Valid configs: {names}. "
            f"Usage: sft_vs_rl.load_dataset({repo_id!r}, {names[0]!r})"
        )


def load_dataset_builder(
    repo_id: str, name: str | None = None, *, cache_dir: str | None = None, **config_kwargs: Any
) -> datasets.GeneratorBasedBuilder:
    """Instantiate the packaged builder of `repo_id` so that it caches under the Hub name.

    Args:
        repo_id (`str`):
            `"sft_vs_rl/generalpoints"` or `"sft_vs_rl/virl"`.
        name (`str`, *optional*):
            Config name (e.g. `"gp-l-id"`); defaults to the builder's ID config.
        cache_dir (`str`, *optional*):
            `datasets` cache directory; defaults to `HF_DATASETS_CACHE`.
        **config_kwargs:
            Overrides of the config's fields, e.g. `test_size=300`, `seed=1`. The cache directory of an overridden
            config is named after the overrides, as `datasets` does.

    Returns:
        `datasets.GeneratorBasedBuilder`: call `download_and_prepare()` then `as_dataset()`.
    """
    import dataclasses

    repo_id = _resolve_repo_id(repo_id)
    _check_config_name(repo_id, name)
    cls = _builder_class(repo_id)
    fields = [f.name for f in dataclasses.fields(cls.BUILDER_CONFIG_CLASS) if f.init]
    for key in config_kwargs:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown config field {key}= for {repo_id!r}.{hint} Valid fields: {fields}")
    return cls(
        config_name=name,
        cache_dir=cache_dir,
        repo_id=repo_id,
        dataset_name=repo_id.split("/", 1)[1],
        hash=_source_hash(repo_id),
        **config_kwargs,
    )


def load_dataset(
    repo_id: str,
    name: str | None = None,
    split: str | None = None,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    **config_kwargs: Any,
) -> datasets.Dataset | datasets.DatasetDict:
    """Build (or reload from the cache) one config of a dataset of the library, fully offline.

    Generation shows a progress bar per split and is deterministic: the same config and seed give identical rows.
    The result is cached under the Hub name, so the stock `datasets.load_dataset(repo_id, name)` (with the same
    `config_kwargs`, if any) also works afterwards, offline.

    Args:
        repo_id (`str`):
            `"sft_vs_rl/generalpoints"` or `"sft_vs_rl/virl"` (short names `"generalpoints"`, `"virl"` work too).
        name (`str`, *optional*):
            Config name: `gp-l-id`, `gp-l-ood-rule`, `gp-vl-id`, `gp-vl-ood-rule`, `gp-vl-ood-visual`, `virl-l-id`,
            `virl-l-ood-rule`, `virl-vl-id`, `virl-vl-ood-rule` or `virl-vl-ood-visual`. Defaults to the ID text
            config of the task.
        split (`str`, *optional*):
            `"train"` (ID configs only) or `"test"`; `None` returns a `DatasetDict` of every split. Every split of
            the config is built (and cached) either way; for test-only use of an ID config pass `train_size=0`.
        cache_dir (`str`, *optional*):
            `datasets` cache directory; defaults to `HF_DATASETS_CACHE`.
        num_proc (`int`, *optional*):
            Worker processes for generation (rows depend only on their index, so the data are the same).
        **config_kwargs:
            Overrides of the config's fields (sizes, seed, …), e.g. `test_size=300`.

    Returns:
        `datasets.Dataset` or `datasets.DatasetDict`.

    Example:

    ```python
    >>> from sft_vs_rl import load_dataset
    >>> test = load_dataset("sft_vs_rl/generalpoints", "gp-l-ood-rule", split="test", test_size=8)
    >>> test[0]["options"]["ranks"]  # reset options of the episode  # doctest: +SKIP
    ['K', '3', '8', 'A']
    ```
    """
    builder = load_dataset_builder(repo_id, name, cache_dir=cache_dir, **config_kwargs)
    config = builder.config
    if split is not None and split not in SPLIT_NAMES:
        raise ValueError(f"split={split!r} is not a split of the library's datasets; choose one of {SPLIT_NAMES}.")
    if split == "train" and config.has_train and config.train_size == 0:
        raise ValueError(f"split='train' of {config.name!r} with train_size=0 is empty; set train_size ≥ 1.")
    builder.download_and_prepare(num_proc=num_proc)
    if split is not None and split not in builder.info.splits:
        raise ValueError(
            f"Config {builder.config.name!r} has no split={split!r}; valid splits: {list(builder.info.splits)} "
            "(only the ID configs have a `train` split)."
        )
    return builder.as_dataset(split=split)


def build_dataset_tree(
    repo_id: str,
    folder: str | Path,
    configs: Sequence[str] | None = None,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    **config_kwargs: Any,
) -> Path:
    """Write the files `push_to_hub(config_name=...)` would upload for each config into `folder`.

    Layout: `<config>/<split>-00000-of-00001.parquet` per config and split, and `README.md`, the package's dataset
    card with YAML `configs:` (one entry per config, the ID text config marked `default: true`) and
    `dataset_info:` (features and split sizes). `datasets.load_dataset(str(folder), config)` loads it.

    Args:
        repo_id (`str`):
            `"sft_vs_rl/generalpoints"` or `"sft_vs_rl/virl"`.
        folder (`str` or `Path`):
            Destination folder (created; existing files with the same names are overwritten).
        configs (`Sequence[str]`, *optional*):
            Config names to write; defaults to every config of the dataset.
        cache_dir (`str`, *optional*):
            `datasets` cache directory used while building.
        num_proc (`int`, *optional*):
            Worker processes for generation (same data).
        **config_kwargs:
            Overrides applied to every config (sizes, seed, …).

    Returns:
        `Path`: the folder.
    """
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict
    from datasets.table import embed_table_storage
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    repo_id = _resolve_repo_id(repo_id)
    names = list(configs) if configs is not None else get_dataset_config_names(repo_id)
    for name in names:
        _check_config_name(repo_id, name)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cls = _builder_class(repo_id)
    card = DatasetCard((Path(importlib.import_module(cls.__module__).__file__).parent / "README.md").read_text())
    infos, metadata_configs = {}, {}
    for name in names:
        builder = load_dataset_builder(repo_id, name, cache_dir=cache_dir, **config_kwargs)
        builder.download_and_prepare(num_proc=num_proc)
        info = DatasetInfo(
            config_name=name, features=builder.info.features, splits=SplitDict(), download_size=0, dataset_size=0
        )
        data_files = []
        for split, dataset in builder.as_dataset().items():
            dataset = dataset.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True)
            path = folder / name / f"{split}-00000-of-00001.parquet"
            replace_with(path, lambda tmp, dataset=dataset: dataset.to_parquet(str(tmp)))  # never a half-written file
            info.splits.add(builder.info.splits[split])
            info.download_size += path.stat().st_size
            info.dataset_size += builder.info.splits[split].num_bytes
            data_files.append({"split": split, "path": f"{name}/{split}-*"})
        info.size_in_bytes = info.download_size + info.dataset_size
        infos[name] = info
        metadata_configs[name] = {"data_files": data_files}
        if name == cls.DEFAULT_CONFIG_NAME:
            metadata_configs[name]["default"] = True
    DatasetInfosDict(infos).to_dataset_card_data(card.data)
    MetadataConfigs(metadata_configs).to_dataset_card_data(card.data)
    write_text(folder / "README.md", str(card))
    return folder


def push_dataset(
    repo_id: str,
    hub_repo_id: str | None = None,
    configs: Sequence[str] | None = None,
    *,
    dry_run: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    **config_kwargs: Any,
) -> PushResult:
    """Push configs of a dataset of the library to the Hub, in `push_to_hub`'s multi-config layout.

    Without `dry_run`, the Hub is probed first (`sft_vs_rl.hub.check_hub_reachable`), so an offline push fails within
    seconds, before any data is generated.

    Args:
        repo_id (`str`):
            Dataset of the library: `"sft_vs_rl/generalpoints"` or `"sft_vs_rl/virl"`.
        hub_repo_id (`str`, *optional*):
            Destination dataset repository on the Hub (e.g. `"me/generalpoints"`); defaults to `repo_id`.
        configs (`Sequence[str]`, *optional*):
            Configs to push; defaults to all.
        dry_run (`str` or `Path`, *optional*):
            Write the exact upload tree to this new (or empty) folder instead of uploading; no network.
        private (`bool`, *optional*, defaults to `False`):
            Create the Hub repository as private.
        token (`str`, *optional*):
            Hub token; defaults to the stored login.
        commit_message (`str`, *optional*):
            Commit message of the upload.
        **config_kwargs:
            Overrides applied to every config (sizes, seed, …).

    Returns:
        `sft_vs_rl.hub.PushResult`: repository paths, and the dry-run folder or the commit URL.

    Raises:
        `sft_vs_rl.hub.HubUnreachableError`: not a dry run and the Hub is offline or unreachable.

    Example:

    ```python
    >>> result = push_dataset("sft_vs_rl/generalpoints", "me/generalpoints", ["gp-l-id"], dry_run="dry/")
    >>> result.paths
    ['README.md', 'gp-l-id/test-00000-of-00001.parquet', 'gp-l-id/train-00000-of-00001.parquet']
    ```
    """
    from sft_vs_rl.hub import check_hub_reachable, push_folder

    repo_id = _resolve_repo_id(repo_id)
    hub_repo_id = hub_repo_id or repo_id
    if dry_run is None:
        check_hub_reachable()  # before generating data: fail in seconds, not after the long work
    message = commit_message or f"Upload {repo_id} configs with sft-vs-rl"
    with tempfile.TemporaryDirectory(prefix="sft_vs_rl_dataset_") as tmp:
        tree = build_dataset_tree(repo_id, tmp, configs, **config_kwargs)
        return push_folder(
            tree,
            hub_repo_id,
            repo_type="dataset",
            dry_run=dry_run,
            commit_message=message,
            private=private,
            token=token,
        )


def sft_columns(dataset):
    """The optimal single-turn answers in the shape `trl.SFTTrainer` trains on, prompt tokens masked (as the paper).

    Text configs stay prompt-completion pairs (`completion_only_loss`). Vision configs become `messages` (prompt +
    completion) with their `images`: TRL's vision collator builds Mllama's `cross_attention_mask` for the prompt only
    in the prompt-completion path, so a vision run trains on the conversation with `assistant_only_loss=True`
    (the chat template needs `{% generation %}` markers, which the tiny models' template has).
    """
    missing = {"prompt", "completion"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"The dataset lacks the SFT column(s) {sorted(missing)}; columns: {dataset.column_names}.")
    if "images" not in dataset.column_names:
        return dataset.select_columns(["prompt", "completion"])
    dataset = dataset.select_columns(["prompt", "completion", "images"])
    return dataset.map(lambda row: {"messages": row["prompt"] + row["completion"]},
                       remove_columns=["prompt", "completion"])
