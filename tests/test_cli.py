"""The `sft-vs-rl` command line: every subcommand parses, bad input exits 2 with a message, the offline commands do
their job. (eval, push and build-tiny have tests of their own beside the code they drive.)"""

from __future__ import annotations

import json

import datasets
import pytest

from sft_vs_rl.cli import build_parser, main
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.evaluation.results import ResultRecord, Results, save_results
from sft_vs_rl.tasks import METHODS, SPLITS, TASK_NAMES

COMMANDS = ("demo", "build-data", "push-data", "build-tiny", "eval", "study", "plot", "push")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: sft-vs-rl {command}" in capsys.readouterr().out


def test_choices_come_from_the_task_table():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in ("eval", "study", "push"):
        task = next(a for a in sub.choices[command]._actions if a.dest == "task")
        assert tuple(task.choices) == TASK_NAMES
    assert tuple(next(a for a in sub.choices["eval"]._actions if a.dest == "split").choices) == SPLITS
    assert tuple(next(a for a in sub.choices["push"]._actions if a.dest == "method").choices) == METHODS


def test_unknown_task_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "--task", "gp", "--output-dir", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'gp'" in capsys.readouterr().err


def test_demo_plays_a_wrong_then_a_right_answer(capsys):
    assert main(["demo", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "You failed" not in out.splitlines()[0]
    assert json.loads(out.strip().splitlines()[-1]) == {"turns": 2, "success": True}


def test_build_data_writes_a_loadable_tree(tmp_path, capsys):
    args = ["build-data", "--dataset", "generalpoints", "--config", "gp-l-ood-rule", "--set", "test_size=3"]
    assert main([*args, "--output-dir", str(tmp_path)]) == 0
    assert "gp-l-ood-rule" in capsys.readouterr().out
    rows = datasets.load_dataset(str(tmp_path), "gp-l-ood-rule", split="test")
    assert rows.num_rows == 3 and {kw["face_rule"] for kw in rows["env_kwargs"]} == {"11-12-13"}


def test_set_needs_key_equals_value(capsys):
    assert main(["build-data", "--dataset", "virl", "--set", "test_size", "--output-dir", "x"]) == 2
    assert "--set 'test_size': expected KEY=VALUE" in capsys.readouterr().err


def test_push_data_refuses_one_repo_for_all_datasets(capsys):
    assert main(["push-data", "--repo-id", "me/data", "--dry-run", "x"]) == 2
    assert "--repo-id names one repository" in capsys.readouterr().err


def test_push_data_dry_run_lists_the_upload(tmp_path, capsys):
    args = ["push-data", "--dataset", "virl", "--config", "virl-l-ood-rule", "--set", "test_size=2"]
    assert main([*args, "--dry-run", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "virl-l-ood-rule/test-00000-of-00001.parquet" in out.splitlines()
    assert (tmp_path / "dry" / "README.md").is_file()


def test_plot_reports_bad_and_empty_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "missing.json"), "--output-dir", str(tmp_path)]) == 2
    assert "sft-vs-rl plot: error" in capsys.readouterr().err
    only_init = Results(records=[ResultRecord("init", 0, 1.0, "gp-l", "id", {"success": MetricValue(0.5, 0.1, 25)})])
    path = save_results(only_init, tmp_path / "results.json")
    assert main(["plot", str(path), "--output-dir", str(tmp_path / "figures")]) == 1
    assert "hold no data for any figure" in capsys.readouterr().err


def test_study_rejects_an_unknown_preset_field(tmp_path, capsys):
    args = ["study", "--task", "gp-l", "--output-dir", str(tmp_path / "s"), "--set", "no_such_field=1"]
    assert main(args) == 2
    assert "no_such_field" in capsys.readouterr().err
