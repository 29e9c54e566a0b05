"""The results file: round trip, validation errors that name the field, the markdown table."""

import copy
import doctest
import json
import math

import pytest

from sft_vs_rl.evaluation import results as results_module
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.evaluation.results import (
    ResultRecord,
    Results,
    ResultsFormatError,
    headline_metric,
    load_results,
    results_table_markdown,
    save_results,
)

GOOD = {
    "schema_version": 1,
    "metadata": {"task": "gp-l", "seed": 42},
    "records": [
        {
            "method": "init",
            "step": 0,
            "gflops": 10,
            "task": "gp-l",
            "split": "ood-rule",
            "metrics": {"success": {"value": 0.115, "stderr": 0.02, "n": 234}},
        },
        {
            "method": "rl",
            "step": 40,
            "gflops": 25.5,
            "task": "gp-l",
            "split": "ood-rule",
            "metrics": {"success": {"value": 0.15, "stderr": 0.023, "n": 234}},
            "checkpoint": "rl/checkpoint-40",
            "verify_iterations": 5,
            "train_verify_iterations": 5,
        },
    ],
}


def test_doctests():
    assert doctest.testmod(results_module).failed == 0


def test_round_trip(tmp_path):
    loaded = Results.from_dict(GOOD)
    assert loaded.records[0].gflops == 10.0 and loaded.records[1].metrics["success"] == MetricValue(0.15, 0.023, 234)
    path = save_results(loaded, tmp_path / "sub" / "results.json")
    again = load_results(path)
    assert again == loaded
    assert json.loads(path.read_text())["records"][1]["checkpoint"] == "rl/checkpoint-40"


def test_empty_metric_is_stored_as_null(tmp_path):
    record = ResultRecord("sft", 1, 1.0, "gp-l", "id", {"success": MetricValue(math.nan, None, 0)})
    path = save_results(Results(records=[record]), tmp_path / "r.json")
    assert json.loads(path.read_text())["records"][0]["metrics"]["success"]["value"] is None
    assert math.isnan(load_results(path).records[0].metrics["success"].value)


def _broken(path, value):
    """GOOD with `value` set at `path` (a tuple of keys); a value of ... deletes the key."""
    raw = copy.deepcopy(GOOD)
    target = raw
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("records", 1, "split"), "ood", r"records\[1\]\.split = 'ood' is not valid"),
        (("records", 0, "method"), "ppo", r"records\[0\]\.method = 'ppo' is not valid; choose one of 'base'"),
        (("records", 0, "task"), "gp_l", r"did you mean 'gp-l'"),
        (("records", 0, "step"), -1, r"records\[0\]\.step = -1 must be ≥ 0"),
        (("records", 0, "step"), 1.5, r"records\[0\]\.step = 1\.5 must be an integer"),
        (("records", 0, "gflops"), "big", r"gflops = 'big' must be a number"),
        (("records", 0, "metrics"), {}, r"metrics is empty"),
        (("records", 0, "metrics", "success", "n"), ..., r"exactly the keys 'value', 'stderr' and 'n'"),
        (("records", 0, "metrics", "success", "stderr"), -0.1, r"stderr = -0\.1 must be ≥ 0"),
        (("records", 0, "verify_iterations"), 0, r"verify_iterations = 0 must be ≥ 1"),
        (("records", 0, "gflop"), 3.0, r"unknown field\(s\) 'gflop' \(did you mean 'gflops'\?\)"),
        (("records", 0, "task"), ..., r"lacks the required field\(s\) task"),
        (("schema_version",), 2, r"schema_version = 2; this library reads version 1"),
        (("records",), {}, r"'records' must be a list"),
        (("extra",), 1, r"unknown top-level key"),
    ],
)
def test_validation_names_the_field(tmp_path, path, value, message):
    file = tmp_path / "results.json"
    file.write_text(json.dumps(_broken(path, value)))
    with pytest.raises(ResultsFormatError, match=message) as info:
        load_results(file)
    assert str(file) in str(info.value)  # the message names the file


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="sft-vs-rl eval"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ResultsFormatError, match="not valid JSON"):
        load_results(tmp_path / "bad.json")
    with pytest.raises(ResultsFormatError, match="MetricValue"):
        ResultRecord("rl", 1, 1.0, "gp-l", "id", {"success": 0.5})


def test_select_and_headline_metric():
    loaded = Results.from_dict(GOOD)
    assert [r.method for r in loaded.select(task="gp-l")] == ["init", "rl"]
    with pytest.raises(ValueError, match="unknown field 'splt'"):
        loaded.select(splt="id")
    assert headline_metric("gp-vl", "ood-visual") == "success"
    assert headline_metric("virl-vl", "id") == "step_accuracy"


def test_markdown_table():
    table = results_table_markdown(Results.from_dict(GOOD))
    lines = table.strip().splitlines()
    assert lines[0].startswith("| task | split | method")
    assert lines[2] == "| GP-L | OOD (rule) | Init | 0 | 10 | success rate | 11.5 ± 2.0% | 234 |"
    assert lines[3] == "| GP-L | OOD (rule) | RL | 40 | 25.5 | success rate | 15.0 ± 2.3% | 234 |"
