"""Fast tests of what each study task trains and evaluates on (`sft_vs_rl.study.tasks`)."""

from __future__ import annotations

import pytest

from sft_vs_rl.envs.generalpoints import card_values
from sft_vs_rl.study.corpus import heldout_multiset
from sft_vs_rl.study.presets import resolve_study_preset
from sft_vs_rl.study.tasks import task_spec
from sft_vs_rl.tasks import get_task


@pytest.fixture(scope="module")
def gp():
    return task_spec("gp-l"), resolve_study_preset("smoke", "gp-l")


def test_spec_reads_the_task_table():
    for name in ("gp-l", "gp-vl", "virl-l", "virl-vl"):
        spec, info = task_spec(name), get_task(name)
        assert (spec.repo_id, spec.env_id, spec.kind, spec.verify_iterations) == (
            info.dataset, info.env_id, info.tiny_kind, info.verify_iterations)
    assert task_spec("gp-vl").eval_splits() == ("id", "id-unseen", "ood-rule", "ood-visual")
    assert task_spec("virl-l").eval_splits() == ("id", "ood-rule")


def test_env_kwargs_per_split(gp):
    spec, preset = gp
    assert spec.env_kwargs(preset, "ood-rule")["face_rule"] == "11-12-13"
    assert spec.env_kwargs(preset, "id-unseen") == spec.env_kwargs(preset, "id")
    assert spec.env_kwargs(preset, "id", verify_iterations=1)["verify_iterations"] == 1
    virl = task_spec("virl-l").env_kwargs(resolve_study_preset("smoke", "virl-l"), "ood-rule")
    assert virl["action_space"] == "relative" and virl["num_milestones"] == (2, 3)


def test_sft_pairs_answer_with_the_canonical_solution(gp):
    spec, preset = gp
    rows = spec.sft_dataset(preset)
    assert rows.column_names == ["prompt", "completion"] and rows.num_rows == preset.sft_train_size
    again = spec.sft_dataset(preset)
    assert rows[0]["completion"] == again[0]["completion"]  # a fixed function of the hand, not a random solution


def test_id_evaluation_deals_training_pool_hands_and_unseen_deals_held_out_ones(gp):
    spec, preset = gp
    seen = spec.eval_dataset(preset, "id", 20)
    unseen = spec.eval_dataset(preset, "id-unseen", 20)
    assert not any(heldout_multiset(card_values(r, "10")) for r in seen["ranks"])
    assert all(heldout_multiset(card_values(r, "10")) for r in unseen["ranks"])
    ood = spec.eval_dataset(preset, "ood-rule", 10)
    assert all(kw["face_rule"] == "11-12-13" for kw in ood["env_kwargs"])


def test_rl_episodes_differ_by_seed(gp):
    spec, preset = gp
    first, second = spec.rl_dataset(preset, 8, seed=0), spec.rl_dataset(preset, 8, seed=1)
    assert first.num_rows == 8 and first["ranks"] != second["ranks"]


def test_gp_vl_data_are_images_at_the_presets_canvas_size():
    spec = task_spec("gp-vl")
    preset = resolve_study_preset("smoke", "gp-vl", sft_train_size=8, canvas_size=64)
    sft = spec.sft_dataset(preset)
    # Image rows are conversations (TRL's vision collator masks the prompt only that way): prompt + answer.
    assert set(sft.column_names) == {"images", "messages"}
    assert sft[0]["images"][0].size == (64, 64) and sft[0]["messages"][-1]["role"] == "assistant"
    assert spec.env_kwargs(preset, "ood-visual")["canvas_size"] == 64
    red = spec.eval_dataset(preset, "ood-visual", 4)
    assert all(set(o["suits"]) <= {"H", "D"} for o in red["options"]) and red[0]["env_kwargs"]["canvas_size"] == 64
    rows = spec.corpus(resolve_study_preset("smoke", "gp-vl", corpus_size=6, canvas_size=64))
    assert len(rows["messages"]) == len(rows["images"]) == 6
    with pytest.raises(NotImplementedError, match="street-view image corpus"):
        task_spec("virl-vl").corpus(resolve_study_preset("smoke", "virl-vl"))
