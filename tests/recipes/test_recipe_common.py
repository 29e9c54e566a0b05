"""The recipes' shared glue (`recipes/_common.py`): task names, pre-flight push checks, episode counts."""

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "recipes"))
import _common  # noqa: E402

sys.path.pop(0)


@pytest.mark.parametrize(
    "config, task",
    [("gp-l-id", "gp-l"), ("gp-vl-ood-visual", "gp-vl"), ("virl-l-id", "virl-l"), ("virl-vl-ood-rule", "virl-vl")],
)
def test_task_of(config, task):
    assert _common.task_of(config) == task


def test_task_of_unknown_config():
    with pytest.raises(ValueError, match="dataset_config"):
        _common.task_of("blocks-id")


def training_args(**overrides):
    values = {"push_to_hub": True, "hub_model_id": "me/gp-l-init", "process_index": 0}
    values.update(overrides)
    return SimpleNamespace(**values)


def script_args(dry_run=None):
    return SimpleNamespace(push_dry_run=dry_run)


def test_no_push_plan_without_push_to_hub():
    assert _common.plan_push(script_args(), training_args(push_to_hub=False)) is None


def test_dry_run_needs_push_to_hub(tmp_path):
    with pytest.raises(ValueError, match="--push_to_hub"):
        _common.plan_push(script_args(str(tmp_path / "dry")), training_args(push_to_hub=False))


def test_push_plan_turns_the_trainer_push_off(tmp_path):
    args = training_args()
    plan = _common.plan_push(script_args(str(tmp_path / "dry")), args)
    assert plan == _common.PushPlan("me/gp-l-init", str(tmp_path / "dry")) and args.push_to_hub is False


@pytest.mark.parametrize("repo_id", [None, "gp-l-init"])
def test_push_needs_a_namespaced_repo(repo_id, tmp_path):
    with pytest.raises(ValueError, match="hub_model_id"):
        _common.plan_push(script_args(str(tmp_path / "dry")), training_args(hub_model_id=repo_id))


def test_push_dry_run_folder_must_be_empty(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="push_dry_run"):
        _common.plan_push(script_args(str(tmp_path)), training_args())


def test_offline_push_fails_before_training(monkeypatch):
    from sft_vs_rl.hub import HubUnreachableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="offline"):
        _common.plan_push(script_args(), training_args())


def test_too_few_episodes_for_one_update():
    args = SimpleNamespace(per_device_train_batch_size=4, steps_per_generation=2, world_size=2)
    _common.check_enough_episodes(range(16), args)
    with pytest.raises(ValueError, match="train_size"):
        _common.check_enough_episodes(range(15), args)

