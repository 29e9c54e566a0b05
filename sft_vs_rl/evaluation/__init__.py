"""Evaluation of checkpoints as in the paper: metrics, the results file, the runner and the figures (the FLOP
accounting lives in `sft_vs_rl.compute`).

`metrics`, `results` and `plots` import without torch or transformers (plots import matplotlib only when drawing);
`SFTComputeCallback` needs transformers and is imported on first use. Reading a checkpoint's step and
compute is `sft_vs_rl.models.read_checkpoint_compute`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sft_vs_rl.evaluation.metrics import (
    EpisodeRecord,
    MetricValue,
    binomial_stderr,
    compute_metrics,
    episode_success,
    mean_return,
    recognition_accuracy,
    step_accuracy,
    unseen_multiset_success,
)
from sft_vs_rl.evaluation.results import (
    ResultRecord,
    Results,
    ResultsFormatError,
    headline_metric,
    load_results,
    results_table_markdown,
    save_results,
)

_LAZY_EXPORTS = {
    "CheckpointRecordCallback": "sft_vs_rl.evaluation.callbacks",
    "FormatCriterionCallback": "sft_vs_rl.evaluation.callbacks",
    "SFTComputeCallback": "sft_vs_rl.evaluation.callbacks",
    "plot_all": "sft_vs_rl.evaluation.plots",
}

__all__ = [
    "CheckpointRecordCallback",
    "EpisodeRecord",
    "FormatCriterionCallback",
    "MetricValue",
    "ResultRecord",
    "Results",
    "ResultsFormatError",
    "SFTComputeCallback",
    "binomial_stderr",
    "compute_metrics",
    "episode_success",
    "headline_metric",
    "load_results",
    "mean_return",
    "plot_all",
    "recognition_accuracy",
    "results_table_markdown",
    "save_results",
    "step_accuracy",
    "unseen_multiset_success",
]

if TYPE_CHECKING:
    from sft_vs_rl.evaluation.callbacks import CheckpointRecordCallback, FormatCriterionCallback, SFTComputeCallback
    from sft_vs_rl.evaluation.plots import plot_all


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'sft_vs_rl.evaluation' has no attribute {name!r}")
