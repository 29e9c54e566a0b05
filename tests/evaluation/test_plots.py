"""Every figure renders from a hand-made results file (tests/evaluation/conftest.py) to valid PNG and SVG files."""

import logging
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from sft_vs_rl.cli import main
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.evaluation.plots import (
    MissingDataError,
    _smooth,
    plot_all,
    plot_compute_curves,
    plot_ood_bars,
    plot_recognition_vs_success,
    plot_training_curves,
    plot_verification_ablation,
)
from sft_vs_rl.evaluation.results import ResultRecord, Results, save_results


def _check_images(paths, stem):
    assert sorted(p.name for p in paths) == [f"{stem}.png", f"{stem}.svg"]
    png = next(p for p in paths if p.suffix == ".png")
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 300
    svg = next(p for p in paths if p.suffix == ".svg")
    assert ET.parse(svg).getroot().tag.endswith("svg")


@pytest.mark.parametrize(
    ("plot", "stem"),
    [
        (plot_compute_curves, "gp-vl_compute_curves"),  # SFT and RL curves on three splits
        (plot_ood_bars, "gp-vl_ood_bars"),  # Init / SFT / RL at equal compute on two OOD splits
        (plot_recognition_vs_success, "gp-vl_recognition_vs_success"),  # recognition from one-try records
        (plot_verification_ablation, "gp-vl_verification_ablation"),  # four RL training budgets
    ],
)
def test_each_figure_renders(results, tmp_path, plot, stem):
    _check_images(plot(results, "gp-vl", tmp_path), stem)


def test_plot_all_skips_missing_figures(tmp_path, caplog):
    # A GP-L run with one short RL curve and no OOD split: only the compute curves can be drawn (unsmoothed).
    metric = {"success": MetricValue(0.5, 0.1, 25)}
    records = [
        ResultRecord("init", 0, 1.0, "gp-l", "id", metric),
        ResultRecord("rl", 5, 2.0, "gp-l", "id", metric),
    ]
    with caplog.at_level(logging.INFO, logger="sft_vs_rl.evaluation.plots"):
        written = plot_all(Results(records=records), tmp_path, formats=["png"])
    assert [p.name for p in written] == ["gp-l_compute_curves.png"]
    assert "plot_ood_bars" in caplog.text and "plot_verification_ablation" in caplog.text
    with pytest.raises(MissingDataError, match="no SFT or RL records for task 'gp-vl'"):
        plot_compute_curves(Results(records=records), "gp-vl", tmp_path)


def test_smoothing_is_an_option_that_needs_seven_points(results, tmp_path):
    assert _smooth([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) is None
    line = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert _smooth(line) == pytest.approx(line)  # a polynomial of order ≤ 3 passes through unchanged
    # By default the curves draw the measured checkpoints only: every plotted y is a record's value.
    from matplotlib.figure import Figure

    drawn = []
    original = Figure.savefig
    def lines(ax):  # every drawn line but the error bars' caps
        caps = {id(cap) for container in ax.containers for cap in container.lines[1]}
        return [line for line in ax.get_lines() if id(line) not in caps]

    Figure.savefig = lambda fig, *a, **k: drawn.extend(
        float(y) for ax in fig.axes for line in lines(ax) for y in line.get_ydata())
    try:
        plot_compute_curves(results, "gp-vl", tmp_path, formats=["png"])
    finally:
        Figure.savefig = original
    measured = {r.metrics[m].value for r in results.records for m in r.metrics}
    assert drawn and all(y in measured for y in drawn)


def test_figures_and_tables_pick_the_same_equal_compute_checkpoint(tmp_path):
    # RL ends 0.2 % above SFT's final compute: the old figure rule (≤ the smaller final) dropped RL's last checkpoint
    # while the table (+1 %) kept it. Both now read `equal_compute_limit`.
    from sft_vs_rl.evaluation.results import at_equal_compute
    from sft_vs_rl.study.report import equal_compute_table

    def record(method, gflops, value, split):
        return ResultRecord(method, int(gflops), gflops, "gp-l", split, {"success": MetricValue(value, 0.01, 300)})

    records = [record("init", 1118, 0.02, s) for s in ("id", "ood-rule")]
    records += [record("rl", g, v, s) for g, v in ((3439, 0.023), (4203, 0.020)) for s in ("id", "ood-rule")]
    records += [record("sft", g, 0.0, s) for g in (3433, 4194) for s in ("id", "ood-rule")]
    results = Results(records=records, metadata={"verify_iterations": 5})
    _, table_picked = equal_compute_table(results, "gp-l")
    curves = {m: [r for r in results.select(task="gp-l", split="ood-rule", method=m)] for m in ("sft", "rl")}
    figure_picked, _ = at_equal_compute(curves)
    assert table_picked["rl"]["ood-rule"].gflops == figure_picked["rl"].gflops == 4203
    assert table_picked["sft"]["ood-rule"].gflops == figure_picked["sft"].gflops == 4194


def test_long_titles_are_wrapped_inside_the_figure(results, tmp_path):
    from matplotlib.figure import Figure

    titles = []
    original = Figure.savefig

    def capture(fig, *args, **kwargs):
        text = fig.get_suptitle()
        titles.append((text, fig.get_figwidth()))
        return original(fig, *args, **kwargs)

    Figure.savefig = capture
    try:
        plot_ood_bars(results, "gp-vl", tmp_path, formats=["png"])
    finally:
        Figure.savefig = original
    text, width = titles[0]
    # 13-point text at ≈ 0.6 em per character: every line fits the figure's width.
    assert all(len(line) * 0.6 * 13 / 72 <= width for line in text.splitlines())


def test_cli_plot(results, tmp_path, capsys):
    path = save_results(results, tmp_path / "results.json")
    assert main(["plot", str(path), "--output-dir", str(tmp_path / "figs"), "--format", "png"]) == 0
    printed = capsys.readouterr().out.split()
    assert len(printed) == 4 and all(p.endswith(".png") for p in printed)
    assert main(["plot", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_plot_entry_point(results, tmp_path):
    path = save_results(results, tmp_path / "results.json")
    done = subprocess.run(
        [sys.executable, "-m", "sft_vs_rl.cli", "plot", str(path), "--output-dir", str(tmp_path), "--smooth"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 8  # four figures × (png, svg)


def test_equal_compute_leaves_out_a_curve_with_no_point_below_the_limit(tmp_path):
    # One checkpoint per ablation arm: budget 10's only record lies past budget 1's final compute, so it has no
    # equal-compute point. The figure draws the curves and the gain bar of budget 1 instead of failing.
    def record(method, gflops, budget=None):
        return ResultRecord(method=method, step=1, gflops=gflops, task="gp-l", split="ood-rule",
                            metrics={"success": MetricValue(0.1, 0.02, 234)}, train_verify_iterations=budget)

    results = Results(records=[record("init", 1.0), record("rl", 2.0, 1), record("rl", 3.0, 10)])
    _check_images(plot_verification_ablation(results, "gp-l", tmp_path), "gp-l_verification_ablation")


def test_training_curves_draw_the_rl_diagnostics_and_both_arms_kl(tmp_path):
    def rec(method, gflops, kl):
        return ResultRecord(method, int(gflops), gflops, "gp-l", "id",
                            {"success": MetricValue(0.5, 0.03, 300), "kl_from_init": MetricValue(kl, 0.001, 64)})

    updates = [{"update": u, "step": 8 * u, "first_try_success": 0.5 + 0.01 * u, "reward_per_turn": -1 + 0.1 * u,
                "approx_kl": 0.01, "clipfrac": 0.02, "explained_variance": 0.3} for u in range(1, 5)]
    results = Results(records=[rec("init", 10, 0.0), rec("rl", 20, 0.01), rec("sft", 20, 0.05)],
                      metadata={"rl_diagnostics": {"rl": updates}})
    _check_images(plot_training_curves(results, "gp-l", tmp_path), "gp-l_training_curves")
    with pytest.raises(MissingDataError, match="no per-update RL diagnostics"):
        plot_training_curves(Results(records=results.records[:1]), "gp-l", tmp_path)
