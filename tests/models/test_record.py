"""The checkpoint record: written atomically, read back, validated; the callback writes one per saved checkpoint."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from sft_vs_rl.evaluation import CheckpointRecordCallback
from sft_vs_rl.models import CheckpointRecord, read_checkpoint_record, write_checkpoint_record
from sft_vs_rl.models.record import RECORD_NAME


def test_round_trip(tmp_path):
    record = CheckpointRecord("gp-l", "rl", dataset_config="gp-l-id", base_model="tiny:llama:nano", step=8,
                              gflops=12.5)
    path = write_checkpoint_record(tmp_path, record)
    assert path.name == RECORD_NAME and json.loads(path.read_text())["method"] == "rl"
    assert read_checkpoint_record(tmp_path) == record
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed into place


def test_absent_record_is_none(tmp_path):
    assert read_checkpoint_record(tmp_path) is None


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        ('{"task": "gp-l"}', r"missing \['method'\]"),
        ('{"task": "gp-l", "method": "rl", "lr": 1}', r"unknown field\(s\) \['lr'\]"),
        ('{"task": "chess", "method": "rl"}', "`task` is 'chess'; choose one of"),
        ('{"task": "gp-l", "method": "dpo"}', "`method` is 'dpo'; choose one of"),
    ],
)
def test_malformed_record_names_the_problem(tmp_path, content, message):
    (tmp_path / RECORD_NAME).write_text(content)
    with pytest.raises(ValueError, match=message):
        read_checkpoint_record(tmp_path)


def test_callback_writes_step_and_cumulative_compute(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    callback = CheckpointRecordCallback(CheckpointRecord("gp-l", "rl"), offset_flops=2e9)
    state = SimpleNamespace(global_step=4, is_world_process_zero=True,
                            log_history=[{"flops/total": 1e9}, {"loss": 1.0}, {"flops/total": 3e9}])
    callback.on_save(SimpleNamespace(output_dir=str(tmp_path)), state, None)
    record = read_checkpoint_record(tmp_path / "checkpoint-4")
    assert (record.step, record.gflops, record.method) == (4, 5.0, "rl")  # 2 GFLOPs before + 3 logged
