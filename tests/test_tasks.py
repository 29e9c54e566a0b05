import doctest

import gymnasium as gym
import pytest

import sft_vs_rl
from sft_vs_rl import tasks
from sft_vs_rl.data import DATASETS, get_dataset_config_names
from sft_vs_rl.tasks import SPLITS, TASKS, get_task, task_of_config


def test_doctests():
    assert doctest.testmod(tasks).failed == 0


def test_every_split_config_exists_in_its_dataset():
    for task in TASKS.values():
        assert task.dataset in DATASETS
        names = get_dataset_config_names(task.dataset)
        for split in task.splits:
            assert task.dataset_config(split) in names


def test_env_ids_are_registered_and_make_the_family_env():
    assert sft_vs_rl.__version__
    for task in TASKS.values():
        env = gym.make(task.env_id, **task.split_env_kwargs("id"))
        assert type(env.unwrapped).__name__ == {"gp": "GeneralPointsEnv", "virl": "VIRLEnv"}[task.family]


def test_split_env_kwargs_change_only_the_split_rule():
    gp = get_task("gp-vl")
    assert gp.split_env_kwargs("id") == {"face_rule": "10", "suit_colour": "black", "visual": True}
    assert gp.split_env_kwargs("ood-rule")["face_rule"] == "11-12-13"
    assert gp.split_env_kwargs("ood-visual")["suit_colour"] == "red"
    assert get_task("virl-l").split_env_kwargs("ood-rule") == {"action_space": "relative", "visual": False}


def test_headline_metrics():
    assert get_task("gp-l").headline_metric("id") == "success"
    assert get_task("virl-l").headline_metric("ood-rule") == "step_accuracy"
    assert get_task("virl-vl").headline_metric("ood-visual") == "success"


def test_bad_names_say_what_is_valid():
    with pytest.raises(ValueError, match="Did you mean 'gp-l'"):
        get_task("gp_l")
    with pytest.raises(ValueError, match="not a split of gp-l"):
        get_task("gp-l").dataset_config("ood-visual")
    with pytest.raises(ValueError, match="valid configs"):
        task_of_config("gp-l-test")
    assert set(SPLITS) == {s for t in TASKS.values() for s in t.splits}
