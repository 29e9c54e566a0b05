"""Atomic writes: a write that fails half-way leaves the old file as it was and no temporary file behind."""

from __future__ import annotations

import json

import pytest

from sft_vs_rl.atomic import replace_with, write_json, write_text


def test_write_json_replaces_the_file(tmp_path):
    path = write_json(tmp_path / "stage.json", {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["stage.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = write_text(tmp_path / "results.json", "old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_with(path, half_then_fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    with pytest.raises(ValueError):  # NaN is not JSON: nothing is written
        write_json(path, {"x": float("nan")})
    assert path.read_text() == "old"
