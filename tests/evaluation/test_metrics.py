"""Metrics on hand-computed episode records."""

import math

import pytest

from sft_vs_rl.evaluation.metrics import (
    EpisodeRecord,
    MetricValue,
    binomial_stderr,
    compute_metrics,
    episode_success,
    mean_return,
    proportion,
    recognition_accuracy,
    step_accuracy,
    unseen_multiset_success,
)

# Four GP-VL episodes with a budget of 5 graded tries.
GP_RECORDS = [
    EpisodeRecord(True, 1, rewards=[5.0], recognized_correctly=True, numbers=[1, 2, 3, 4]),  # solved at once
    EpisodeRecord(True, 3, rewards=[-1.0, -3.0, 5.0], recognized_correctly=False, numbers=[10, 10, 2, 2]),  # 3rd try
    EpisodeRecord(False, 5, rewards=[-1.0] * 5, recognized_correctly=True, numbers=[4, 3, 2, 1]),  # budget exhausted
    EpisodeRecord(True, 5, rewards=[-2.0] * 4 + [5.0], recognized_correctly=True, numbers=[6, 6, 6, 6]),  # last try
]

# Two V-IRL episodes: every graded try is a step-accuracy sample.
VIRL_RECORDS = [
    EpisodeRecord(True, 4, rewards=[1.0, -1.0, 1.0, 1.0], step_correct=[True, False, True, True]),
    EpisodeRecord(False, 2, rewards=[-1.0, -1.0], step_correct=[False, False]),
]


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (None, 3 / 4),  # the run's own budget: three of four solved
        (5, 3 / 4),  # same, explicit
        (3, 2 / 4),  # the episode solved on try 5 no longer counts
        (1, 1 / 4),  # one try: only the first episode
    ],
)
def test_episode_success_within_budget(budget, expected):
    result = episode_success(GP_RECORDS, verify_iterations=budget)
    assert result.value == pytest.approx(expected)
    assert result.n == 4
    assert result.stderr == pytest.approx(math.sqrt(expected * (1 - expected) / 4))


def test_recognition_uses_first_answer_and_skips_text_records():
    assert recognition_accuracy(GP_RECORDS) == MetricValue(0.75, math.sqrt(0.75 * 0.25 / 4), 4)
    mixed = GP_RECORDS + [EpisodeRecord(True, 1)]  # a text episode has no recognition: skipped, not counted wrong
    assert recognition_accuracy(mixed).n == 4
    with pytest.raises(ValueError, match="recognized_correctly"):
        recognition_accuracy([EpisodeRecord(True, 1)])


def test_step_accuracy_counts_every_graded_try():
    result = step_accuracy(VIRL_RECORDS)
    assert result.n == 6  # 4 + 2 tries, not 2 episodes
    assert result.value == pytest.approx(3 / 6)
    assert episode_success(VIRL_RECORDS).value == pytest.approx(1 / 2)
    with pytest.raises(ValueError, match="step_correct"):
        step_accuracy(GP_RECORDS)


def test_unseen_multiset_success():
    train = [[1, 2, 3, 4], [2, 2, 10, 10]]  # covers episodes 0, 2 (as a multiset) and 1
    result = unseen_multiset_success(GP_RECORDS, train)
    assert result.n == 1 and result.value == 1.0  # only [6, 6, 6, 6] is unseen, and it was solved
    assert unseen_multiset_success(GP_RECORDS, []).value == pytest.approx(3 / 4)  # nothing seen: plain success
    assert unseen_multiset_success(GP_RECORDS, train, verify_iterations=4).value == 0.0  # solved on try 5 only
    with pytest.raises(ValueError, match=r"records\[0\]\.numbers"):
        unseen_multiset_success([EpisodeRecord(True, 1)], train)


def test_binomial_stderr_and_proportion():
    assert binomial_stderr(0.15, 234) == pytest.approx(0.023342, abs=1e-6)  # the paper's GP-L RL OOD point
    assert binomial_stderr(0.0, 10) == 0.0
    assert binomial_stderr(0.5, 0) is None
    empty = proportion([])
    assert math.isnan(empty.value) and empty.n == 0 and empty.stderr is None
    with pytest.raises(ValueError):
        binomial_stderr(1.5, 10)


def test_mean_return():
    result = mean_return(GP_RECORDS)
    returns = [5.0, 1.0, -5.0, -3.0]
    mean = sum(returns) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in returns) / 3)
    assert result.value == pytest.approx(mean) and result.stderr == pytest.approx(sd / 2)


def test_compute_metrics_per_task():
    gp = compute_metrics(GP_RECORDS, "gp-vl", train_multisets=[[1, 2, 3, 4]])
    assert set(gp) == {"success", "mean_return", "recognition", "unseen_success"}
    assert set(compute_metrics(GP_RECORDS, "gp-l")) == {"success", "mean_return"}
    assert set(compute_metrics(VIRL_RECORDS, "virl-l")) == {"success", "mean_return", "step_accuracy"}
    with pytest.raises(ValueError, match=r"Unknown task 'gp'; valid tasks are \['gp-l', 'gp-vl'"):
        compute_metrics(GP_RECORDS, "gp")


def test_record_from_env_infos():
    # What `env.step` returns on a GP-VL episode solved on the second try.
    infos = [
        {"success": False, "recognized_correctly": True, "numbers": [1, 2, 3, 4], "verify_iteration": 1},
        {"success": True, "recognized_correctly": False, "numbers": [1, 2, 3, 4], "verify_iteration": 2},
    ]
    record = EpisodeRecord.from_steps([-1, 5], infos)
    assert record == EpisodeRecord(True, 2, (-1.0, 5.0), True, (), (1, 2, 3, 4))
    with pytest.raises(ValueError, match="one reward per step"):
        EpisodeRecord.from_steps([1.0], [])
    with pytest.raises(ValueError, match="turns"):
        EpisodeRecord(True, 0)
