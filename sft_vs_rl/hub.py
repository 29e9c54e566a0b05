"""Push checkpoints and dataset trees to the Hugging Face Hub, with a dry run that writes the exact upload tree.

`huggingface_hub` has no dry run for uploads, and offline it fails late: `upload_folder` retries a failed connection
for ~23 s before raising `httpx.ConnectError` (reference `ecosystem_api.md` §4). So [`push_folder`]:

* with `dry_run=DIR` copies exactly the files `upload_folder` would send into `DIR` and returns their repository
  paths, touching no network;
* otherwise checks the Hub first ([`check_hub_reachable`]): `HF_HUB_OFFLINE` set fails at once, an unreachable
  endpoint fails after one short probe, both with a [`HubUnreachableError`] naming the cause and the fix; only then
  does it call `create_repo(exist_ok=True)` and `upload_folder`.

[`prepare_model_upload`] builds a checkpoint's upload tree: the weights, config, tokenizer / processor files, the PPO
value head when present, and a `README.md` model card rendered from `sft_vs_rl/model_cards/model_card.md.jinja`
with the evaluation results (never invented: without results the card says "not evaluated").
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from sft_vs_rl.evaluation.results import (
    METHOD_LABELS,
    METRIC_LABELS,
    SPLIT_LABELS,
    TASK_LABELS,
    TASKS,
    ResultRecord,
    Results,
    headline_metric,
    load_results,
    save_results,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_FILE_PATTERNS",
    "HubUnreachableError",
    "ModelCardContext",
    "PushResult",
    "check_hub_reachable",
    "prepare_model_upload",
    "push_folder",
    "render_model_card",
]

MODEL_FILE_PATTERNS = (
    # model
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    # PEFT adapters
    "adapter_config.json",
    "adapter_model.safetensors",
    # tokenizer and processor
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
    # PPO value head (sft_vs_rl.models.value_head)
    "value_head.safetensors",
    "value_head_config.json",
)
"""Top-level checkpoint files that go into a model upload. Optimizer, scheduler and RNG states, `trainer_state.json`
and pickled `*.bin` files stay local."""

RESULTS_FILENAME = "sft_vs_rl_results.json"
_PAPER_BIBTEX = """@inproceedings{chu2025sft,
  title     = {SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training},
  author    = {Chu, Tianzhe and Zhai, Yuexiang and Yang, Jihan and Tong, Shengbang and Xie, Saining and
               Schuurmans, Dale and Le, Quoc V. and Levine, Sergey and Ma, Yi},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2025}
}"""
_OFFLINE_VALUES = {"1", "true", "yes", "on"}


class HubUnreachableError(ConnectionError):
    """The Hub cannot be used right now; the message names the cause (offline flag, unreachable endpoint)."""


@dataclass(frozen=True)
class PushResult:
    """What [`push_folder`] did.

    Args:
        repo_id (`str`): target repository.
        repo_type (`str`): `"model"`, `"dataset"` or `"space"`.
        paths (`list[str]`): repository paths of the uploaded files (the `path_in_repo` of the
            `CommitOperationAdd`s `upload_folder` creates), sorted.
        dry_run_dir (`Path`, *optional*): where the dry run wrote the tree; `None` for a real push.
        commit_url (`str`, *optional*): URL of the Hub commit; `None` for a dry run.
    """

    repo_id: str
    repo_type: str
    paths: list[str]
    dry_run_dir: Path | None = None
    commit_url: str | None = None


def _env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES


def check_hub_reachable(endpoint: str | None = None, *, timeout: float = 5.0, offline: bool | None = None) -> None:
    """Fail fast, with the cause, when the Hub cannot be reached.

    Args:
        endpoint (`str`, *optional*):
            Hub URL; defaults to `huggingface_hub.constants.ENDPOINT` (`HF_ENDPOINT`).
        timeout (`float`, *optional*, defaults to `5.0`):
            Seconds to wait for the probe (one HTTP `HEAD` on the endpoint; any HTTP answer counts as reachable).
        offline (`bool`, *optional*):
            Treat the Hub as offline. Defaults to `HF_HUB_OFFLINE`, as read by `huggingface_hub` at import or set in
            the environment now.

    Raises:
        `HubUnreachableError`: offline mode is on, or the endpoint did not answer within `timeout`.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import httpx

    if offline is None:
        offline = bool(constants.HF_HUB_OFFLINE) or _env_offline()
    if offline:
        raise HubUnreachableError(
            "Cannot push to the Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE=1; huggingface_hub reads it "
            "when first imported). Unset HF_HUB_OFFLINE in a fresh process to push, or pass --dry-run DIR / "
            "dry_run=DIR to write the upload tree locally."
        )
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    try:
        # A plain client: huggingface_hub's session would refuse on its own offline flag, hiding the real cause.
        httpx.head(endpoint, timeout=timeout, follow_redirects=False)
    except (httpx.TransportError, httpx.TimeoutException, OSError) as err:
        raise HubUnreachableError(
            f"Cannot push to the Hugging Face Hub: the endpoint {endpoint} is unreachable "
            f"({type(err).__name__}: {err or 'no answer'} within {timeout:g} s). Check the network, proxy and "
            "HF_ENDPOINT, or pass --dry-run DIR / dry_run=DIR to write the upload tree locally."
        ) from err


def _upload_paths(folder: Path) -> list[str]:
    """Relative paths `upload_folder` would upload from `folder` (its default ignore patterns applied)."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    files = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
    return sorted(filter_repo_objects(files, ignore_patterns=list(DEFAULT_IGNORE_PATTERNS)))


def _check_readme(folder: Path) -> None:
    """Validate the YAML metadata of `README.md` locally, as `upload_folder` does remotely before hashing."""
    readme = folder / "README.md"
    if readme.is_file():
        from huggingface_hub import RepoCard

        try:
            RepoCard(readme.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"{readme}: the card's YAML metadata is invalid ({err}); fix the header.") from err


def push_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str = "model",
    dry_run: str | Path | None = None,
    commit_message: str = "Upload with sft-vs-rl",
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
) -> PushResult:
    """Upload every file of `folder` to the Hub repository `repo_id`, or write the exact upload tree to `dry_run`.

    Args:
        folder (`str` or `Path`):
            The upload tree (e.g. from [`prepare_model_upload`] or a dataset export). Uploaded as is, minus the
            `.git` / `.cache/huggingface` folders that `upload_folder` always skips.
        repo_id (`str`):
            Target repository, `"org/name"`.
        repo_type (`str`, *optional*, defaults to `"model"`):
            `"model"`, `"dataset"` or `"space"`.
        dry_run (`str` or `Path`, *optional*):
            Write the files that would be uploaded into this empty (or new) folder instead of pushing.
        commit_message (`str`, *optional*, defaults to `"Upload with sft-vs-rl"`):
            Message of the Hub commit.
        private (`bool`, *optional*, defaults to `False`):
            Create the repository as private (an existing repository keeps its visibility).
        token (`str`, *optional*):
            Hub token; defaults to the logged-in token.
        endpoint (`str`, *optional*):
            Hub URL; defaults to `HF_ENDPOINT`.

    Returns:
        [`PushResult`]: the repository paths, and the dry-run folder or the commit URL.

    Raises:
        `HubUnreachableError`: not a dry run and the Hub is offline or unreachable (raised before any upload work).
        `ValueError`: bad `repo_id` / `repo_type`, an empty folder, an invalid card header, or a non-empty `dry_run`.

    Example:

    ```python
    >>> result = push_folder("upload/", "me/gp-l-rl", dry_run="dry/")
    >>> result.paths
    ['README.md', 'config.json', 'model.safetensors', ...]
    ```
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"push_folder: folder={str(folder)!r} is not a directory; pass the upload tree to push.")
    if repo_type not in ("model", "dataset", "space"):
        raise ValueError(f"push_folder: repo_type={repo_type!r} is not valid; choose 'model', 'dataset' or 'space'.")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"push_folder: repo_id={repo_id!r} is not a valid Hub id ({err}); use 'org/name'.") from err
    if "/" not in repo_id:
        raise ValueError(f"push_folder: repo_id={repo_id!r} lacks the namespace; use 'org/name' (e.g. 'me/{repo_id}').")
    paths = _upload_paths(folder)
    if not paths:
        raise ValueError(f"push_folder: {str(folder)!r} holds no file to upload.")
    _check_readme(folder)

    if dry_run is not None:
        target = Path(dry_run)
        if target.exists() and any(target.iterdir()):
            raise ValueError(
                f"push_folder: dry_run={str(target)!r} is not empty; pass a new or empty folder so that it holds "
                "exactly the upload tree."
            )
        if target.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"push_folder: dry_run={str(target)!r} lies inside the folder to upload; pick another.")
        for path in paths:
            destination = target / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(folder / path, destination)
        logger.info("Dry run: wrote %d files for %s %s to %s", len(paths), repo_type, repo_id, target)
        return PushResult(repo_id=repo_id, repo_type=repo_type, paths=paths, dry_run_dir=target)

    check_hub_reachable(endpoint)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import OfflineModeIsEnabled
    from huggingface_hub.utils import httpx

    api = HfApi(endpoint=endpoint, token=token)
    try:
        repo_url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        logger.info("Uploading %d files to %s", len(paths), repo_url)
        commit = api.upload_folder(
            repo_id=repo_id, folder_path=folder, repo_type=repo_type, commit_message=commit_message
        )
    except (OfflineModeIsEnabled, httpx.ConnectError, httpx.TimeoutException) as err:
        raise HubUnreachableError(f"Push to {repo_id} failed: the Hub became unreachable ({err}).") from err
    return PushResult(repo_id=repo_id, repo_type=repo_type, paths=paths, commit_url=commit.commit_url)


# Model cards


@dataclass
class ModelCardContext:
    """What a model card says about a checkpoint. Unknown values stay out of the card; nothing is invented.

    Args:
        task (`str`): `"gp-l"`, `"gp-vl"`, `"virl-l"` or `"virl-vl"`.
        method (`str`): `"base"`, `"init"`, `"sft"` or `"rl"`.
        base_model (`str`, *optional*): the model training started from (Hub id or local name).
        repo_id (`str`, *optional*): the checkpoint's Hub id (title and usage snippet).
        step (`int`, *optional*): optimizer step of the checkpoint (read from `trainer_state.json` when absent).
        task_config (`dict`, *optional*): environment settings (face rule, verify iterations, prompt style, …).
        datasets (`list[str]`, *optional*): training datasets, e.g. `["sft_vs_rl/generalpoints:gp-l-id"]`.
        training (`dict`, *optional*): training settings (learning rate, batch size, epochs, PPO coefficients, …).
        gflops (`float`, *optional*): cumulative training compute in GFLOPs (read from `trainer_state.json`'s
            `flops/total` when absent).
        n_params (`int`, *optional*): parameter count (counted from the safetensors headers when absent).
        results (`Results` or path, *optional*): evaluation results; the card shows the records of this checkpoint.
        checkpoint (`str`, *optional*): the name under which the results file refers to this checkpoint (its
            `checkpoint` field); defaults to matching `method` and `step`.
        license (`str`, *optional*): license id for the card metadata.
        notes (`str`, *optional*): free text added under *Training*.
        model_type (`str`, *optional*): `config.json`'s `model_type` (read from the checkpoint when absent); picks
            the `transformers` auto class of the usage snippet.
    """

    task: str
    method: str
    base_model: str | None = None
    repo_id: str | None = None
    step: int | None = None
    task_config: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    gflops: float | None = None
    n_params: int | None = None
    results: Results | str | Path | None = None
    checkpoint: str | None = None
    license: str | None = None
    notes: str | None = None
    model_type: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"ModelCardContext.task={self.task!r} is not valid; choose one of {', '.join(TASKS)}.")
        if self.method not in METHOD_LABELS:
            raise ValueError(
                f"ModelCardContext.method={self.method!r} is not valid; choose one of {', '.join(METHOD_LABELS)}."
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ModelCardContext:
        """Build from a dict, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown model card field(s) {unknown}; valid fields are {sorted(known)}.")
        return cls(**values)


def _card_records(context: ModelCardContext, results: Results) -> list[ResultRecord]:
    """The results records of the card's checkpoint, in split order."""
    records = [r for r in results.records if r.task == context.task]
    if context.checkpoint is not None:
        records = [r for r in records if r.checkpoint == context.checkpoint]
    elif context.step is not None:
        records = [r for r in records if r.method == context.method and r.step == context.step]
    else:
        records = []
    order = {s: i for i, s in enumerate(SPLIT_LABELS)}
    return sorted(records, key=lambda r: (order[r.split], r.verify_iterations or 0))


def _format_metric(value: float, stderr: float | None, name: str) -> str:
    if math.isnan(value):
        return "–"
    if name == "mean_return":
        return f"{value:.2f}" + (f" ± {stderr:.2f}" if stderr is not None else "")
    return f"{100 * value:.1f}%" + (f" ± {100 * stderr:.1f}" if stderr is not None else "")


def _results_rows(context: ModelCardContext, results: Results | None) -> list[dict[str, str]]:
    if results is None:
        return []
    rows = []
    for record in _card_records(context, results):
        headline = headline_metric(record.task, record.split)
        names = [headline] + sorted(n for n in record.metrics if n != headline)
        for name in names:
            if name not in record.metrics:
                continue
            metric = record.metrics[name]
            rows.append(
                {
                    "split": SPLIT_LABELS[record.split],
                    "metric": METRIC_LABELS.get(name, name),
                    "value": _format_metric(metric.value, metric.stderr, name),
                    "n": str(metric.n),
                    "tries": "–" if record.verify_iterations is None else str(record.verify_iterations),
                }
            )
    return rows


def _template() -> str:
    return resources.files("sft_vs_rl").joinpath("model_cards", "model_card.md.jinja").read_text(encoding="utf-8")


def render_model_card(context: ModelCardContext | Mapping[str, Any]) -> str:
    """Render the model card (`README.md` with YAML metadata) of a checkpoint.

    The ID / OOD results table comes only from `context.results`; without matching records the card says the
    checkpoint was not evaluated.

    >>> card = render_model_card({"task": "gp-l", "method": "rl", "base_model": "tiny-llama"})
    >>> "not evaluated" in card and "sft-vs-rl" in card
    True
    """
    import jinja2
    import yaml

    if not isinstance(context, ModelCardContext):
        context = ModelCardContext.from_mapping(context)
    results = context.results
    if results is not None and not isinstance(results, Results):
        results = load_results(results)
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "tags": ["sft-vs-rl", "trl", context.method, context.task, "generalization"],
        "pipeline_tag": "image-text-to-text" if context.task.endswith("-vl") else "text-generation",
    }
    if context.license:
        metadata["license"] = context.license
    if context.base_model and "/" in context.base_model and not Path(context.base_model).exists():
        metadata["base_model"] = context.base_model
    if context.datasets:
        metadata["datasets"] = [d.split(":")[0] for d in context.datasets]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - markdown, not HTML
    return env.from_string(_template()).render(
        metadata_yaml=yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True).strip(),
        ctx=context,
        task_label=TASK_LABELS[context.task],
        method_label=METHOD_LABELS[context.method],
        rows=_results_rows(context, results),
        results_given=results is not None,
        bibtex=_PAPER_BIBTEX,
        auto_class="AutoModelForImageTextToText" if context.model_type == "mllama" else "AutoModelForCausalLM",
    )


def prepare_model_upload(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    card_context: ModelCardContext | Mapping[str, Any],
    *,
    patterns: Sequence[str] = MODEL_FILE_PATTERNS,
) -> Path:
    """Build the upload tree of a checkpoint in `out_dir`: model files, value head, `README.md` card, results.

    Args:
        checkpoint_dir (`str` or `Path`):
            A `save_pretrained` folder or a Trainer `checkpoint-N` folder.
        out_dir (`str` or `Path`):
            New or empty folder to fill.
        card_context (`ModelCardContext` or `dict`):
            What the card says (see [`ModelCardContext`]). `step`, `gflops` and `n_params` are filled from the
            checkpoint when absent.
        patterns (`Sequence[str]`, *optional*, defaults to [`MODEL_FILE_PATTERNS`]):
            Top-level files to copy (shell patterns).

    Returns:
        `Path`: `out_dir`, ready for [`push_folder`]. When results are given they are also saved as
        `sft_vs_rl_results.json`.

    Example:

    ```python
    >>> tree = prepare_model_upload("runs/gp-l/rl/checkpoint-40", "upload/", {"task": "gp-l", "method": "rl",
    ...                             "base_model": "meta-llama/Llama-3.2-11B-Vision-Instruct", "results": "results.json"})
    >>> push_folder(tree, "me/gp-l-rl", dry_run="dry/").paths
    ['README.md', 'config.json', 'generation_config.json', 'model.safetensors', ...]
    ```
    """
    from sft_vs_rl.compute import count_checkpoint_parameters, read_checkpoint_compute

    checkpoint_dir, out_dir = Path(checkpoint_dir), Path(out_dir)
    if not checkpoint_dir.is_dir():
        raise ValueError(f"prepare_model_upload: checkpoint_dir={str(checkpoint_dir)!r} is not a directory.")
    if not any((checkpoint_dir / name).is_file() for name in ("config.json", "adapter_config.json")):
        raise ValueError(
            f"prepare_model_upload: {str(checkpoint_dir)!r} has no config.json or adapter_config.json; pass a folder "
            "written by save_pretrained or a Trainer checkpoint."
        )
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValueError(f"prepare_model_upload: out_dir={str(out_dir)!r} is not empty; pass a new or empty folder.")
    selected = sorted(
        p for p in checkpoint_dir.iterdir() if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    )
    if not any(p.suffix == ".safetensors" for p in selected):
        raise ValueError(
            f"prepare_model_upload: {str(checkpoint_dir)!r} holds no *.safetensors weights; save with "
            "safe_serialization (pickled *.bin files are not uploaded)."
        )
    context = (
        card_context if isinstance(card_context, ModelCardContext) else ModelCardContext.from_mapping(card_context)
    )
    step, gflops = read_checkpoint_compute(checkpoint_dir)
    if context.step is None:
        context.step = step
    if context.gflops is None:
        context.gflops = gflops
    if context.model_type is None and (checkpoint_dir / "config.json").is_file():
        context.model_type = json.loads((checkpoint_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    if context.n_params is None:
        context.n_params = count_checkpoint_parameters(checkpoint_dir, include_value_head=False)
    if context.results is not None and not isinstance(context.results, Results):
        context.results = load_results(context.results)

    out_dir.mkdir(parents=True, exist_ok=True)
    for path in selected:
        shutil.copy2(path, out_dir / path.name)
    (out_dir / "README.md").write_text(render_model_card(context), encoding="utf-8")
    if context.results is not None:
        save_results(context.results, out_dir / RESULTS_FILENAME)
    return out_dir
