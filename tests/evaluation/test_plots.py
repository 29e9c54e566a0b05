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
        (plot_compute_curves, "gp-vl_compute_curves"),  # SFT and RL curves on three splits, smoothed
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


def test_smoothing_needs_five_points():
    assert _smooth([0.1, 0.2, 0.3, 0.4]) is None
    line = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert _smooth(line) == pytest.approx(line)  # a polynomial of order ≤ 3 passes through unchanged


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
        [sys.executable, "-m", "sft_vs_rl.cli", "plot", str(path), "--output-dir", str(tmp_path), "--no-smooth"],
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
