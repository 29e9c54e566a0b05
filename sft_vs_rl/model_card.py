"""Model cards of checkpoints, and the upload tree of a checkpoint that `sft_vs_rl.hub.push_folder` sends.

[`prepare_model_upload`] builds a checkpoint's upload tree: the weights, config, tokenizer / processor files, the PPO
value head when present, and a `README.md` model card rendered from `sft_vs_rl/model_cards/model_card.md.jinja`
with the evaluation results (never invented: without results the card says "not evaluated").
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from sft_vs_rl.evaluation.results import METRIC_LABELS, ResultRecord, Results, load_results, save_results
from sft_vs_rl.models.checkpoint import count_checkpoint_parameters, read_checkpoint_compute
from sft_vs_rl.models.loading import is_image_text
from sft_vs_rl.models.record import RECORD_NAME, CheckpointRecord, read_checkpoint_record, write_checkpoint_record
from sft_vs_rl.tasks import CITATION_BIBTEX, METHOD_LABELS, SPLIT_LABELS, get_task, headline_metric

logger = logging.getLogger(__name__)

__all__ = ["MODEL_FILE_PATTERNS", "RESULTS_FILENAME", "ModelCardContext", "prepare_model_upload", "render_model_card"]

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
        try:
            get_task(self.task)
        except ValueError as err:
            raise ValueError(f"ModelCardContext.task={self.task!r}: {err}") from None
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
        "pipeline_tag": "image-text-to-text" if get_task(context.task).visual else "text-generation",
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
        task_label=get_task(context.task).label,
        method_label=METHOD_LABELS[context.method],
        rows=_results_rows(context, results),
        results_given=results is not None,
        bibtex=CITATION_BIBTEX,
        auto_class="AutoModelForImageTextToText" if is_image_text(context.model_type) else "AutoModelForCausalLM",
    )


def _with_record(context: Mapping[str, Any], record: CheckpointRecord | None, folder: Path) -> dict[str, Any]:
    """`context` with task, method, base model, step and compute taken from the checkpoint record where absent."""
    context = dict(context)
    if record is not None:
        for key in ("task", "method", "base_model", "step", "gflops"):
            if context.get(key) is None and getattr(record, key) is not None:
                context[key] = getattr(record, key)
        if not context.get("datasets") and record.dataset_config:
            context["datasets"] = [f"{get_task(record.task).dataset}:{record.dataset_config}"]
    missing = [key for key in ("task", "method") if context.get(key) is None]
    if missing:
        flags = " and ".join(f"--{key}" for key in missing)
        raise ValueError(
            f"{', '.join(missing)} of {str(folder)!r} unknown: it holds no {RECORD_NAME} (checkpoints the library "
            f"writes do); pass {flags}."
        )
    return context


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
    checkpoint_dir, out_dir = Path(checkpoint_dir), Path(out_dir)
    if not checkpoint_dir.is_dir():
        raise ValueError(
            f"checkpoint {str(checkpoint_dir)!r}: no such folder; name a checkpoint folder, e.g. a study's "
            "`rl/checkpoint-8` or a recipe's `output_dir`."
        )
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
    record = read_checkpoint_record(checkpoint_dir)
    if not isinstance(card_context, ModelCardContext):
        card_context = _with_record(card_context, record, checkpoint_dir)
    context = card_context if isinstance(card_context, ModelCardContext) else ModelCardContext.from_mapping(card_context)
    compute = read_checkpoint_compute(checkpoint_dir)
    if context.step is None:
        context.step = compute.step
    if context.gflops is None:
        context.gflops = compute.gflops
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
    # The uploaded record says what the card says (flags that overrode the checkpoint's record included).
    write_checkpoint_record(out_dir, CheckpointRecord(
        task=context.task, method=context.method, base_model=context.base_model, step=context.step,
        gflops=context.gflops, dataset_config=record.dataset_config if record is not None else None,
    ))
    if context.results is not None:
        save_results(context.results, out_dir / RESULTS_FILENAME)
    return out_dir
