"""The results file shared by evaluation, plots, model cards and the study.

A results file is JSON:

```json
{
  "schema_version": 1,
  "metadata": {"task": "gp-l", "model": "tiny-llama", "seed": 42, "verify_iterations": 5, "...": "free-form"},
  "records": [
    {
      "method": "rl",                  // "base" | "init" | "sft" | "rl"
      "step": 40,                      // optimizer steps since Init (0 for base/init)
      "gflops": 1234.5,                // cumulative training compute of the checkpoint, GFLOPs (Init included)
      "task": "gp-l",                  // "gp-l" | "gp-vl" | "virl-l" | "virl-vl"
      "split": "ood-rule",             // "id" | "ood-rule" | "ood-visual"
      "metrics": {"success": {"value": 0.15, "stderr": 0.023, "n": 234}},
      "checkpoint": "runs/gp-l/rl/checkpoint-40",    // optional: path or Hub id
      "verify_iterations": 5,          // optional: evaluation budget of graded tries (1 for recognition runs)
      "train_verify_iterations": 5     // optional: RL training budget (the verification-iteration ablation)
    }
  ]
}
```

Metric names used by the library: `success`, `recognition`, `step_accuracy`, `unseen_success`, `mean_return`, the
diagnostics `verdict/<kind>`, `id_face_rule`, `step_accuracy/<action>` (see `sft_vs_rl.evaluation.metrics`),
`sampled/<metric>` (the study's sampled pass) and `kl_from_init` (`sft_vs_rl.evaluation.kl`). Loading validates every
field and names the bad one with its fix.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sft_vs_rl.atomic import write_json
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.tasks import METHOD_LABELS, METHODS, SPLIT_LABELS, SPLITS, TASK_NAMES, get_task, headline_metric

__all__ = [
    "SCHEMA_VERSION",
    "ResultRecord",
    "Results",
    "ResultsFormatError",
    "EQUAL_COMPUTE_TOLERANCE",
    "at_equal_compute",
    "equal_compute_limit",
    "headline_metric",
    "load_results",
    "results_table_markdown",
    "save_results",
]

SCHEMA_VERSION = 1

_REQUIRED = ("method", "step", "gflops", "task", "split", "metrics")
_OPTIONAL = ("checkpoint", "verify_iterations", "train_verify_iterations")

METRIC_LABELS = {
    "success": "success rate",
    "recognition": "recognition accuracy",
    "step_accuracy": "per-step accuracy",
    "unseen_success": "success (unseen hands)",
    "mean_return": "mean return",
    "kl_from_init": "KL from Init (nats/token)",
}


EQUAL_COMPUTE_TOLERANCE = 0.01
"""Arms are compared at the smallest final compute among them, plus this fraction: compute matching ends the SFT arm
within one SFT step of the RL arm's budget, on either side, and 1 % absorbs that step."""


def equal_compute_limit(final_gflops: Iterable[float]) -> float:
    """The compute at which arms are compared: the smallest of their final computes, × (1 + `EQUAL_COMPUTE_TOLERANCE`).

    The one rule of the tables (`sft_vs_rl.study.report`) and the figures (`sft_vs_rl.evaluation.plots`).

    >>> equal_compute_limit([4203.0, 4194.0])
    4235.94
    """
    finals = list(final_gflops)
    if not finals:
        raise ValueError("equal_compute_limit: no arms to compare (pass each arm's final compute).")
    return min(finals) * (1 + EQUAL_COMPUTE_TOLERANCE)


def at_equal_compute(curves: Mapping[Any, Sequence[ResultRecord]]) -> tuple[dict[Any, ResultRecord], float]:
    """Each curve's last record at or below `equal_compute_limit` of the curves' final records, and that limit.

    `curves` maps a key (a method, a training budget) to its records sorted by compute. A curve whose first record is
    already above the limit has no equal-compute point and is left out.
    """
    curves = {key: records for key, records in curves.items() if records}
    limit = equal_compute_limit(records[-1].gflops for records in curves.values())
    picked = {}
    for key, records in curves.items():
        below = [r for r in records if r.gflops <= limit]
        if below:
            picked[key] = below[-1]
    return picked, limit


class ResultsFormatError(ValueError):
    """A results file or record does not follow the schema; the message names the field and the fix."""


def _choice(where: str, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ResultsFormatError(
        f"{where}.{name} = {value!r} is not valid; choose one of {', '.join(repr(c) for c in choices)}{hint}."
    )


def _number(where: str, name: str, value: Any, *, minimum: float | None = None, integer: bool = False) -> Any:
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (not integer and not math.isfinite(value)):
        raise ResultsFormatError(f"{where}.{name} = {value!r} must be {kind}.")
    if minimum is not None and value < minimum:
        raise ResultsFormatError(f"{where}.{name} = {value!r} must be ≥ {minimum}.")
    return value if integer else float(value)


def _metric(where: str, name: str, raw: Any) -> MetricValue:
    where = f"{where}.metrics[{name!r}]"
    if not isinstance(raw, Mapping) or set(raw) != {"value", "stderr", "n"}:
        raise ResultsFormatError(
            f"{where} = {raw!r} must be an object with exactly the keys 'value', 'stderr' and 'n' "
            "(use MetricValue.to_dict())."
        )
    n = _number(where, "n", raw["n"], minimum=0, integer=True)
    value = raw["value"]
    if value is None and n == 0:  # JSON has no NaN: an empty metric is stored as null
        value = math.nan
    else:
        value = _number(where, "value", value)
    stderr = raw["stderr"]
    if stderr is not None:
        stderr = _number(where, "stderr", stderr, minimum=0.0)
    return MetricValue(value=value, stderr=stderr, n=n)


def _validate_record(where: str, values: Mapping[str, Any]) -> None:
    _choice(where, "method", values["method"], METHODS)
    _choice(where, "task", values["task"], TASK_NAMES)
    _choice(where, "split", values["split"], SPLITS)
    _number(where, "step", values["step"], minimum=0, integer=True)
    _number(where, "gflops", values["gflops"], minimum=0.0)
    if not values["metrics"]:
        raise ResultsFormatError(f"{where}.metrics is empty; store at least one metric, e.g. 'success'.")
    for name, metric in values["metrics"].items():
        if not isinstance(metric, MetricValue):
            raise ResultsFormatError(
                f"{where}.metrics[{name!r}] is a {type(metric).__name__}; use MetricValue(value, stderr, n)."
            )
    for name in ("verify_iterations", "train_verify_iterations"):
        if values[name] is not None:
            _number(where, name, values[name], minimum=1, integer=True)
    if values["checkpoint"] is not None and not isinstance(values["checkpoint"], str):
        raise ResultsFormatError(f"{where}.checkpoint = {values['checkpoint']!r} must be a string or null.")


@dataclass(frozen=True)
class ResultRecord:
    """The evaluation of one checkpoint on one task split (one entry of `records`; see the module docstring)."""

    method: str
    step: int
    gflops: float
    task: str
    split: str
    metrics: Mapping[str, MetricValue]
    checkpoint: str | None = None
    verify_iterations: int | None = None
    train_verify_iterations: int | None = None

    def __post_init__(self) -> None:
        _validate_record("record", vars(self))

    @classmethod
    def from_dict(cls, raw: Any, where: str = "record") -> ResultRecord:
        """Validate and build a record from its JSON object; errors name `where` and the field."""
        if not isinstance(raw, Mapping):
            raise ResultsFormatError(f"{where} must be a JSON object, got {type(raw).__name__}.")
        missing = [k for k in _REQUIRED if k not in raw]
        if missing:
            raise ResultsFormatError(f"{where} lacks the required field(s) {', '.join(missing)}.")
        unknown = [k for k in raw if k not in _REQUIRED + _OPTIONAL]
        if unknown:
            close = difflib.get_close_matches(unknown[0], _REQUIRED + _OPTIONAL, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ResultsFormatError(
                f"{where} has unknown field(s) {', '.join(map(repr, unknown))}{hint}; valid fields are "
                f"{', '.join(_REQUIRED + _OPTIONAL)}."
            )
        metrics = raw["metrics"]
        if not isinstance(metrics, Mapping):
            raise ResultsFormatError(f"{where}.metrics must be an object of {{name: {{value, stderr, n}}}}.")
        values = {k: raw.get(k) for k in _REQUIRED + _OPTIONAL}
        values["metrics"] = {str(name): _metric(where, name, m) for name, m in metrics.items()}
        _validate_record(where, values)  # first, so that errors name `where`
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object (optional fields that are `None` are left out; NaN values become `null`)."""
        out: dict[str, Any] = {
            "method": self.method,
            "step": self.step,
            "gflops": self.gflops,
            "task": self.task,
            "split": self.split,
            "metrics": {
                name: {**m.to_dict(), "value": None if math.isnan(m.value) else m.value}
                for name, m in self.metrics.items()
            },
        }
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Results:
    """A results file in memory: run `metadata` and a list of [`ResultRecord`]s.

    >>> from sft_vs_rl.evaluation.metrics import MetricValue
    >>> rec = ResultRecord("rl", 10, 2.5, "gp-l", "id", {"success": MetricValue(0.5, 0.1, 25)})
    >>> Results(records=[rec]).select(method="rl")[0].step
    10
    """

    records: list[ResultRecord] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def select(self, **criteria: Any) -> list[ResultRecord]:
        """Records whose fields equal every `criteria` value (`task=`, `split=`, `method=`, …), by compute."""
        for key in criteria:
            if key not in _REQUIRED + _OPTIONAL:
                raise ValueError(f"Results.select: unknown field {key!r}; valid fields are {_REQUIRED + _OPTIONAL}.")
        found = [r for r in self.records if all(getattr(r, k) == v for k, v in criteria.items())]
        return sorted(found, key=lambda r: (r.gflops, r.step))

    def tasks(self) -> list[str]:
        """Tasks present, in canonical order."""
        return [t for t in TASK_NAMES if any(r.task == t for r in self.records)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "metadata": dict(self.metadata),
            "records": [r.to_dict() for r in self.records],
        }

    @classmethod
    def from_dict(cls, raw: Any, source: str = "results") -> Results:
        """Validate and build from the JSON object of a results file; errors name `source` and the field."""
        if not isinstance(raw, Mapping):
            raise ResultsFormatError(f"{source}: the top level must be a JSON object, got {type(raw).__name__}.")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsFormatError(
                f"{source}: schema_version = {version!r}; this library reads version {SCHEMA_VERSION}. "
                "Re-run the evaluation with this version of sft-vs-rl."
            )
        unknown = set(raw) - {"schema_version", "metadata", "records"}
        if unknown:
            raise ResultsFormatError(
                f"{source}: unknown top-level key(s) {sorted(unknown)}; valid keys are schema_version, metadata, "
                "records (put free-form run information under 'metadata')."
            )
        metadata = raw.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise ResultsFormatError(f"{source}: 'metadata' must be a JSON object, got {type(metadata).__name__}.")
        records = raw.get("records")
        if not isinstance(records, list):
            raise ResultsFormatError(f"{source}: 'records' must be a list of records, got {type(records).__name__}.")
        return cls(
            records=[ResultRecord.from_dict(r, where=f"{source}: records[{i}]") for i, r in enumerate(records)],
            metadata=dict(metadata),
        )

    def extend(self, records: Iterable[ResultRecord]) -> None:
        """Append records (e.g. the evaluation of a new checkpoint)."""
        for record in records:
            if not isinstance(record, ResultRecord):
                raise TypeError(f"Results.extend takes ResultRecord objects, got {type(record).__name__}.")
            self.records.append(record)


def load_results(path: str | Path) -> Results:
    """Read and validate a results JSON file.

    Raises:
        `FileNotFoundError`: no such file.
        `ResultsFormatError`: the file is not valid JSON or does not follow the schema (the message names the field).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Results file {str(path)!r} does not exist; produce one with `sft-vs-rl eval` or `sft-vs-rl study`."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsFormatError(f"{path}: not valid JSON ({err}).") from err
    return Results.from_dict(raw, source=str(path))


def save_results(results: Results, path: str | Path) -> Path:
    """Write `results` as indented JSON (creating parent folders), atomically (a reader never sees half a file);
    returns the path."""
    return write_json(path, results.to_dict())


def _fmt(metric: MetricValue | None) -> str:
    if metric is None or math.isnan(metric.value):
        return "–"
    if metric.stderr is None:
        return f"{100 * metric.value:.1f}%"
    return f"{100 * metric.value:.1f} ± {100 * metric.stderr:.1f}%"


def results_table_markdown(results: Results, *, metric: str | None = None) -> str:
    """A markdown table of `results`: one row per task × split × checkpoint, rates in percent with standard errors.

    Args:
        results (`Results`):
            The results to tabulate.
        metric (`str`, *optional*):
            Metric to show; defaults to each split's [`headline_metric`], plus `recognition` when present.
    """
    header = "| task | split | method | step | GFLOPs | metric | value | n |\n|---|---|---|---|---|---|---|---|"
    rows = []
    order = {m: i for i, m in enumerate(METHODS)}
    for task in results.tasks():
        for split in SPLITS:
            records = sorted(results.select(task=task, split=split), key=lambda r: (order[r.method], r.gflops, r.step))
            for record in records:
                names = [metric] if metric else [headline_metric(task, split), "recognition"]
                for name in names:
                    if name not in record.metrics:
                        continue
                    value = record.metrics[name]
                    rows.append(
                        f"| {get_task(task).label} | {SPLIT_LABELS[split]} | {METHOD_LABELS[record.method]} | "
                        f"{record.step} | {record.gflops:.4g} | {METRIC_LABELS.get(name, name)} | {_fmt(value)} | "
                        f"{value.n} |"
                    )
    return "\n".join([header, *rows]) + "\n"
