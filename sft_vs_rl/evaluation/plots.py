"""The paper's figures, drawn from a results file (`sft_vs_rl.evaluation.results`).

| function | paper | what it shows |
|---|---|---|
| [`plot_compute_curves`] | Figs. 5, 6 | headline metric vs training GFLOPs, SFT and RL from the same Init, one panel per split |
| [`plot_ood_bars`] | Figs. 6, 7 | OOD metric of Init, SFT and RL at equal compute, with the change over Init |
| [`plot_recognition_vs_success`] | Fig. 8 | GP-VL card-recognition accuracy against success, as compute grows |
| [`plot_verification_ablation`] | Fig. 10 | RL trained with different verification budgets: OOD curves and gains over Init |
| [`plot_training_curves`] | — | is PPO learning? per-update training success, reward, approx_kl, clipfrac, explained variance; KL from Init of both arms vs compute |

Every figure is written as PNG and SVG, with error bars √(p(1−p)/N) from the results file. Curves draw the measured
checkpoints; `smooth=True` (`sft-vs-rl plot --smooth`) adds a Savitzky–Golay filter of polynomial order 3 (paper
App. C.3) to curves of at least seven points, with the raw points left visible. Arms are compared at equal compute by
the one rule of `sft_vs_rl.evaluation.results.equal_compute_limit`, the rule of the study's tables. `matplotlib` (and `scipy` for smoothing) are imported inside the functions; figures are drawn with the
object-oriented API on an Agg canvas, so no global backend is switched. Install them with
`pip install "sft-vs-rl[plots]"`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sft_vs_rl.evaluation.results import METRIC_LABELS, ResultRecord, Results, at_equal_compute
from sft_vs_rl.tasks import METHOD_LABELS, SPLIT_LABELS, get_task, headline_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

__all__ = [
    "MissingDataError",
    "plot_all",
    "plot_compute_curves",
    "plot_ood_bars",
    "plot_recognition_vs_success",
    "plot_training_curves",
    "plot_verification_ablation",
]

COLORS = {"base": "#7f7f7f", "init": "#4d4d4d", "sft": "#e6780b", "rl": "#1f5fbf"}
OOD_SPLITS = ("ood-rule", "ood-visual")
MIN_SMOOTH_POINTS = 7  # polyorder 3 through a 5-point window nearly interpolates: it draws values no checkpoint had
MAX_SMOOTH_WINDOW = 11


class MissingDataError(ValueError):
    """The results lack the records a figure needs (the message says which)."""


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('Plotting needs matplotlib: pip install "sft-vs-rl[plots]"') from err
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _suptitle(fig: Figure, text: str, fontsize: int = 13) -> None:
    """A figure title wrapped to the figure's width (≈ 0.6 em per character), so that it is never cut off."""
    import textwrap

    chars = max(20, int(fig.get_figwidth() * 72 / (0.6 * fontsize)))
    fig.suptitle(textwrap.fill(text, width=chars), fontsize=fontsize)


def _save(fig: Figure, output_dir: Path, stem: str, formats: Sequence[str]) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = output_dir / f"{stem}.{fmt}"
        fig.savefig(path, format=fmt, dpi=150)
        paths.append(path)
    return paths


def _percent_axis(ax: Axes) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
    ax.grid(True, alpha=0.3)


def _smooth(values: Sequence[float]) -> list[float] | None:
    """Savitzky–Golay smoothing (polyorder 3); `None` when there are too few points to smooth."""
    n = len(values)
    if n < MIN_SMOOTH_POINTS:
        return None
    try:
        from scipy.signal import savgol_filter
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError('Smoothing needs scipy: pip install "sft-vs-rl[plots]" (or pass smooth=False)') from err
    window = min(n if n % 2 else n - 1, MAX_SMOOTH_WINDOW)
    return [float(v) for v in savgol_filter(list(values), window_length=window, polyorder=3)]


def _default_budget(results: Results, task: str, field: str = "verify_iterations") -> int:
    """The budget of the main protocol: the metadata's, else the paper's when present, else the largest present."""
    if field == "verify_iterations" and results.metadata.get("verify_iterations"):
        return int(results.metadata["verify_iterations"])
    paper = get_task(task).verify_iterations
    present = {getattr(r, field) for r in results.records if r.task == task} - {None}
    return paper if not present or paper in present else max(present)


def _main_records(results: Results, task: str, split: str, method: str, metric: str) -> list[ResultRecord]:
    """Records of the main protocol: default evaluation and training budget, with `metric`, sorted by compute."""
    budget = _default_budget(results, task)
    train_budget = _default_budget(results, task, "train_verify_iterations")
    return [
        r
        for r in results.select(task=task, split=split, method=method)
        if metric in r.metrics
        and r.verify_iterations in (None, budget)
        and r.train_verify_iterations in (None, train_budget)
        and not math.isnan(r.metrics[metric].value)
    ]


def _curve(results: Results, task: str, split: str, method: str, metric: str) -> list[ResultRecord]:
    """The SFT or RL curve: the Init point(s) followed by the method's checkpoints."""
    init = _main_records(results, task, split, "init", metric)
    return init[-1:] + _main_records(results, task, split, method, metric)


def _errorbar(ax: Axes, records: Sequence[ResultRecord], metric: str, **kwargs: Any) -> None:
    xs = [r.gflops for r in records]
    ys = [r.metrics[metric].value for r in records]
    errs = [r.metrics[metric].stderr or 0.0 for r in records]
    ax.errorbar(xs, ys, yerr=errs, capsize=3, **kwargs)


def plot_compute_curves(
    results: Results,
    task: str,
    output_dir: str | Path,
    *,
    smooth: bool = False,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Headline metric vs training compute (GFLOPs) for SFT and RL, one panel per split (paper Figs. 5–6).

    Both curves start at the Init checkpoint. The metric is [`headline_metric`]: episode success for GeneralPoints,
    per-step accuracy for V-IRL ID and rule OOD, episode success for V-IRL visual OOD. A `base` record, when
    present, is drawn as a dotted line.

    Returns:
        `list[Path]`: the files written (`{task}_compute_curves.{png,svg}`).
    """
    splits = [
        s
        for s in SPLIT_LABELS
        if any(_main_records(results, task, s, m, headline_metric(task, s)) for m in ("sft", "rl"))
    ]
    if not splits:
        raise MissingDataError(
            f"plot_compute_curves: no SFT or RL records for task {task!r}; the results hold tasks {results.tasks()}."
        )
    fig = _figure(4.6 * len(splits), 4.0)
    axes = fig.subplots(1, len(splits), squeeze=False)[0]
    smoothed_any = False
    for ax, split in zip(axes, splits):
        metric = headline_metric(task, split)
        for method in ("sft", "rl"):
            if not _main_records(results, task, split, method, metric):
                continue
            records = _curve(results, task, split, method, metric)
            color = COLORS[method]
            smoothed = _smooth([r.metrics[metric].value for r in records]) if smooth else None
            if smoothed is None:
                _errorbar(ax, records, metric, color=color, marker="o", ms=4, lw=2, label=METHOD_LABELS[method])
            else:
                _errorbar(ax, records, metric, color=color, marker="o", ms=3, lw=0, elinewidth=1, alpha=0.35)
                ax.plot([r.gflops for r in records], smoothed, color=color, lw=2, label=f"{METHOD_LABELS[method]}")
                smoothed_any = True
        init = _main_records(results, task, split, "init", metric)
        if init:
            ax.plot([init[-1].gflops], [init[-1].metrics[metric].value], "D", color=COLORS["init"], ms=7, label="Init")
        base = _main_records(results, task, split, "base", metric)
        if base:
            ax.axhline(base[-1].metrics[metric].value, color=COLORS["base"], ls=":", lw=1.5, label="Base")
        ax.set_title(SPLIT_LABELS[split], fontsize=12)
        ax.set_xlabel("training compute (GFLOPs)", fontsize=11)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=11)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        _percent_axis(ax)
        ax.legend(fontsize=10, loc="best")
    note = " (Savitzky–Golay smoothed)" if smoothed_any else ""
    _suptitle(fig, f"{get_task(task).label}: SFT vs RL as training compute grows{note}")
    return _save(fig, Path(output_dir), f"{task}_compute_curves", formats)


def plot_ood_bars(
    results: Results, task: str, output_dir: str | Path, *, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """OOD metric of Init, SFT and RL at equal compute, one group per OOD split (paper Figs. 6–7).

    SFT and RL are compared at equal compute: each contributes its last checkpoint whose compute does not exceed
    the smaller of the two methods' final compute. Bars carry error bars and the change over Init in points.

    Returns:
        `list[Path]`: the files written (`{task}_ood_bars.{png,svg}`).
    """
    groups = []
    for split in OOD_SPLITS:
        metric = headline_metric(task, split)
        curves = {m: _main_records(results, task, split, m, metric) for m in ("sft", "rl")}
        curves = {m: c for m, c in curves.items() if c}
        init = _main_records(results, task, split, "init", metric)
        if not curves and not init:
            continue
        picked, limit = at_equal_compute(curves) if curves else ({}, math.nan)
        bars = {"init": init[-1]} if init else {}
        bars.update(picked)
        groups.append((split, metric, bars, limit))
    if not groups:
        raise MissingDataError(f"plot_ood_bars: no OOD records (splits {OOD_SPLITS}) for task {task!r}.")
    fig = _figure(max(4.0, 3.4 * len(groups)), 4.2)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (split, metric, bars, limit) in zip(axes, groups):
        methods = [m for m in ("init", "sft", "rl") if m in bars]
        values = [bars[m].metrics[metric].value for m in methods]
        errs = [bars[m].metrics[metric].stderr or 0.0 for m in methods]
        positions = list(range(len(methods)))
        ax.bar(positions, values, yerr=errs, capsize=4, color=[COLORS[m] for m in methods], width=0.65)
        ax.set_xticks(positions, [METHOD_LABELS[m] for m in methods], fontsize=11)
        init_value = bars["init"].metrics[metric].value if "init" in bars else None
        top = max(v + e for v, e in zip(values, errs))
        for pos, method, value, err in zip(positions, methods, values, errs):
            label = f"{100 * value:.1f}%"
            if init_value is not None and method != "init":
                label += f"\n({100 * (value - init_value):+.1f})"
            ax.text(pos, value + err + 0.02 * max(top, 0.05), label, ha="center", va="bottom", fontsize=10)
        ax.set_ylim(0, min(1.0, 1.25 * top + 0.05) if top > 0 else 1.0)
        ax.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=11)
        compute = "" if math.isnan(limit) else f"\nat ≤ {limit:.4g} GFLOPs"
        ax.set_title(f"{SPLIT_LABELS[split]}{compute}", fontsize=12)
        _percent_axis(ax)
        ax.grid(False, axis="x")
    _suptitle(fig, f"{get_task(task).label}: out-of-distribution, Init vs SFT vs RL at equal compute")
    return _save(fig, Path(output_dir), f"{task}_ood_bars", formats)


def _recognition_pairs(results: Results, task: str, split: str, method: str) -> list[tuple[float, float, float]]:
    """(gflops, recognition, success) per checkpoint; recognition may come from a separate one-try record."""
    success = {(r.step, r.gflops): r for r in _main_records(results, task, split, method, "success")}
    pairs = []
    for record in results.select(task=task, split=split, method=method):
        key = (record.step, record.gflops)
        if "recognition" in record.metrics and key in success:
            pairs.append(
                (record.gflops, record.metrics["recognition"].value, success.pop(key).metrics["success"].value)
            )
    return sorted(pairs)


def plot_recognition_vs_success(
    results: Results, task: str, output_dir: str | Path, *, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """Card-recognition accuracy against success for SFT and RL checkpoints, one panel per split (paper Fig. 8).

    Each method's checkpoints are joined in order of compute, starting from Init; marker size grows with compute.
    A checkpoint's recognition may come from a separate one-try evaluation record of the same step.

    Returns:
        `list[Path]`: the files written (`{task}_recognition_vs_success.{png,svg}`).
    """
    panels = []
    for split in SPLIT_LABELS:
        init = _recognition_pairs(results, task, split, "init")
        lines = {m: init[-1:] + _recognition_pairs(results, task, split, m) for m in ("sft", "rl")}
        lines = {m: pts for m, pts in lines.items() if len(pts) >= 2 or (pts and not init)}
        if lines:
            panels.append((split, lines, init[-1:]))
    if not panels:
        raise MissingDataError(
            f"plot_recognition_vs_success: task {task!r} has no checkpoints with both 'recognition' and 'success' "
            "(recognition is measured on GP-VL)."
        )
    fig = _figure(4.6 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (split, lines, init) in zip(axes, panels):
        top = max(g for pts in lines.values() for g, _, _ in pts) or 1.0
        for method, pts in lines.items():
            sizes = [20 + 100 * g / top for g, _, _ in pts]
            xs, ys = [p[1] for p in pts], [p[2] for p in pts]
            ax.plot(xs, ys, color=COLORS[method], lw=1.5, alpha=0.7)
            ax.scatter(xs, ys, s=sizes, color=COLORS[method], label=METHOD_LABELS[method], zorder=3)
        if init:
            ax.scatter([init[0][1]], [init[0][2]], s=70, marker="D", color=COLORS["init"], label="Init", zorder=4)
        ax.set_xlabel("recognition accuracy", fontsize=11)
        ax.set_ylabel("success rate", fontsize=11)
        from matplotlib.ticker import PercentFormatter

        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=None))
        _percent_axis(ax)
        ax.set_title(SPLIT_LABELS[split], fontsize=12)
        ax.legend(fontsize=10, loc="best", title="marker size ∝ compute", title_fontsize=9)
    _suptitle(fig, f"{get_task(task).label}: recognition vs success as compute grows")
    return _save(fig, Path(output_dir), f"{task}_recognition_vs_success", formats)


def plot_verification_ablation(
    results: Results,
    task: str,
    output_dir: str | Path,
    *,
    split: str = "ood-rule",
    smooth: bool = False,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """RL trained with different verification budgets: OOD curves and gains over Init at equal compute (Fig. 10).

    Uses RL records that set `train_verify_iterations`, grouped by it (at least two budgets). The left panel draws
    each budget's curve against compute; the right panel the gain over Init at the largest compute every budget
    reached.

    Returns:
        `list[Path]`: the files written (`{task}_verification_ablation.{png,svg}`).
    """
    metric = headline_metric(task, split)
    groups: dict[int, list[ResultRecord]] = {}
    for record in results.select(task=task, split=split, method="rl"):
        if record.train_verify_iterations is not None and metric in record.metrics:
            groups.setdefault(record.train_verify_iterations, []).append(record)
    if len(groups) < 2:
        raise MissingDataError(
            f"plot_verification_ablation: task {task!r}, split {split!r} has RL records for "
            f"{len(groups)} training verification budget(s) {sorted(groups)}; the ablation needs at least two "
            "(set `train_verify_iterations` on the records)."
        )
    init = _main_records(results, task, split, "init", metric)
    init_value = init[-1].metrics[metric].value if init else None
    fig = _figure(9.6, 4.2)
    ax_curve, ax_gain = fig.subplots(1, 2)
    cmap = _viridis()
    budgets = sorted(groups)
    picked, limit = at_equal_compute({b: groups[b] for b in budgets})
    for index, budget in enumerate(budgets):
        color = cmap(index / max(1, len(budgets) - 1) * 0.85)
        records = init[-1:] + groups[budget]
        ys = [r.metrics[metric].value for r in records]
        smoothed = _smooth(ys) if smooth else None
        _errorbar(
            ax_curve, records, metric, color=color, marker="o", ms=3, lw=0 if smoothed else 1.5, elinewidth=1, alpha=0.4
        )
        if smoothed:
            ax_curve.plot([r.gflops for r in records], smoothed, color=color, lw=2)
        ax_curve.plot([], [], color=color, lw=2, label=f"VIter = {budget}")
    if init_value is not None:
        ax_curve.axhline(init_value, color=COLORS["init"], ls="--", lw=1.2, label="Init")
    ax_curve.axvline(limit, color="#999999", ls=":", lw=1)
    ax_curve.set_xlabel("training compute (GFLOPs)", fontsize=11)
    ax_curve.set_ylabel(METRIC_LABELS.get(metric, metric), fontsize=11)
    ax_curve.set_title(f"RL, {SPLIT_LABELS[split]}", fontsize=12)
    ax_curve.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
    _percent_axis(ax_curve)
    ax_curve.legend(fontsize=10, loc="best")

    reference = init_value if init_value is not None else 0.0
    shown = [b for b in budgets if b in picked]  # a budget with no checkpoint at the common compute has no bar
    gains = [picked[b].metrics[metric].value - reference for b in shown]
    colors = [cmap(budgets.index(b) / max(1, len(budgets) - 1) * 0.85) for b in shown]
    positions = list(range(len(shown)))
    ax_gain.bar(positions, gains, color=colors, width=0.6)
    ax_gain.axhline(0, color="black", lw=0.8)
    ax_gain.set_xticks(positions, [str(b) for b in shown], fontsize=11)
    ax_gain.set_xlabel("verification iterations in RL training", fontsize=11)
    what = "gain over Init" if init_value is not None else "value (no Init record)"
    ax_gain.set_ylabel(f"{METRIC_LABELS.get(metric, metric)}, {what}", fontsize=11)
    for pos, gain in zip(positions, gains):
        ax_gain.text(pos, gain, f"{100 * gain:+.2f}", ha="center", va="bottom" if gain >= 0 else "top", fontsize=10)
    ax_gain.set_title(f"at equal compute (≤ {limit:.4g} GFLOPs)", fontsize=12)
    _percent_axis(ax_gain)
    _suptitle(fig, f"{get_task(task).label}: verification-iteration ablation")
    return _save(fig, Path(output_dir), f"{task}_verification_ablation", formats)


_TRAINING_PANELS = (("first_try_success", "training first-try success"), ("reward_per_turn", "reward per turn"),
                    ("approx_kl", "approx_kl"), ("clipfrac", "clipfrac"), ("explained_variance", "explained variance"))


def plot_training_curves(
    results: Results, task: str, output_dir: str | Path, *, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """Is PPO learning? The RL arms' per-update diagnostics (`results.metadata["rl_diagnostics"]`, as the study
    writes them) and, in the last panel, each arm's `kl_from_init` (ID records) against training compute.

    Returns:
        `list[Path]`: the files written (`{task}_training_curves.{png,svg}`).
    """
    arms = {name: updates for name, updates in (results.metadata.get("rl_diagnostics") or {}).items() if updates}
    kl = {m: _main_records(results, task, "id", m, "kl_from_init") for m in ("init", "sft", "rl")}
    if not arms and not (kl["sft"] or kl["rl"]):
        raise MissingDataError(
            f"plot_training_curves: task {task!r} has no per-update RL diagnostics (metadata 'rl_diagnostics') and no "
            "'kl_from_init' records."
        )
    fig = _figure(13.5, 7.0)
    axes = fig.subplots(2, 3).ravel()
    cmap = _viridis()
    for ax, (key, label) in zip(axes, _TRAINING_PANELS):
        for index, (arm, updates) in enumerate(arms.items()):
            points = [(u["update"], u[key]) for u in updates if isinstance(u.get(key), (int, float))]
            if points:
                color = COLORS["rl"] if index == 0 else cmap(index / max(1, len(arms) - 1) * 0.85)
                ax.plot(*zip(*points), marker="o", ms=3, lw=1.5, color=color, label=arm)
        ax.set_title(label, fontsize=12)
        ax.set_xlabel("PPO update", fontsize=11)
        ax.grid(True, alpha=0.3)
        if len(arms) > 1:
            ax.legend(fontsize=9)
    ax = axes[-1]
    for method in ("sft", "rl"):
        if kl[method]:
            _errorbar(ax, kl["init"][-1:] + kl[method], "kl_from_init", color=COLORS[method], marker="o", ms=4, lw=2,
                      label=METHOD_LABELS[method])
    ax.set_title("KL from Init on ID probe pairs", fontsize=12)
    ax.set_xlabel("training compute (GFLOPs)", fontsize=11)
    ax.set_ylabel("nats per token", fontsize=11)
    ax.grid(True, alpha=0.3)
    if kl["sft"] or kl["rl"]:
        ax.legend(fontsize=10)
    _suptitle(fig, f"{get_task(task).label}: training signals of the RL arm, and how far each arm moved from Init")
    return _save(fig, Path(output_dir), f"{task}_training_curves", formats)


def _viridis():
    from matplotlib import colormaps

    return colormaps["viridis"]


def plot_all(
    results: Results,
    output_dir: str | Path,
    *,
    smooth: bool = False,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Draw every figure the results support, for every task they hold; returns the files written.

    A figure whose data is missing (no OOD records, no recognition, a single verification budget) is skipped with
    an info log line.

    Example:

    ```python
    >>> from sft_vs_rl.evaluation import load_results
    >>> plot_all(load_results("results.json"), "figures/")
    [PosixPath('figures/gp-l_compute_curves.png'), PosixPath('figures/gp-l_compute_curves.svg'), ...]
    ```
    """
    written: list[Path] = []
    curve_kwargs = {"smooth": smooth, "formats": formats}
    plotters = (
        (plot_compute_curves, curve_kwargs),
        (plot_ood_bars, {"formats": formats}),
        (plot_recognition_vs_success, {"formats": formats}),
        (plot_verification_ablation, curve_kwargs),
        (plot_training_curves, {"formats": formats}),
    )
    for task in results.tasks():
        for plot, kwargs in plotters:
            try:
                written.extend(plot(results, task, output_dir, **kwargs))
            except MissingDataError as err:
                logger.info("Skipping %s for %s: %s", plot.__name__, task, err)
    return written
