"""Study presets and task specs."""

import pytest

from sft_vs_rl.study import STUDY_PRESETS, resolve_study_preset, task_spec


def test_every_preset_resolves_for_every_task():
    for name in STUDY_PRESETS:
        for task in ("gp-l", "gp-vl", "virl-l", "virl-vl"):
            preset = resolve_study_preset(name, task)
            assert preset.rl_turns_per_update >= preset.rl_micro_batch


def test_task_overrides_and_changes():
    assert resolve_study_preset("paper", "virl-l").init_steps == 25
    assert resolve_study_preset("paper", "gp-l").init_steps == 400
    assert resolve_study_preset("tiny", "gp-l", rl_updates=3).rl_updates == 3
    assert resolve_study_preset("tiny", "gp-l").eval_episodes >= 300  # error bars below ±3 points


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: resolve_study_preset("tinny", "gp-l"), "Did you mean 'tiny'"),  # typo in the preset name
        (lambda: resolve_study_preset("tiny", "gp-l", rl_update=3), "Unknown StudyPreset field"),  # bad field
        (lambda: resolve_study_preset("tiny", "gp-l", answer_format="cot"), "answer_format"),  # closed choice
        (lambda: task_spec("gp-x"), "valid tasks"),  # unknown task
    ],
)
def test_errors_name_the_field(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_paper_preset_holds_the_paper_settings():
    paper = resolve_study_preset("paper", "gp-l")
    assert paper.model == "meta-llama/Llama-3.2-11B-Vision-Instruct" and not paper.pretrained_from_scratch
    assert (paper.rl_lr, paper.rl_temperature, paper.rl_epochs, paper.max_new_tokens) == (1e-6, 0.2, 4, 512)
    # 256 turns per GPU at micro-batch 1 in 2 mini-batches (accumulation 128) x 4 epochs = 8 optimizer steps per update
    assert (paper.rl_turns_per_update, paper.rl_micro_batch, paper.rl_mini_batches) == (256, 1, 2)
    assert paper.rl_epochs * paper.rl_mini_batches == 8
    assert task_spec("virl-l").verify_iterations == 2 and task_spec("gp-l").verify_iterations == 5


def test_steps_answers_fit_in_max_new_tokens(caplog):
    """The scratchpad answer is longer than the paper's (up to 80 tokens + EOS): a tiny preset's 64 would cut every
    one off, so it is raised; an explicit value that is too small is kept, with a warning."""
    from sft_vs_rl.study.corpus import canonical_solution, gp_answer
    from sft_vs_rl.study.presets import ANSWER_TOKENS

    assert resolve_study_preset("tiny", "gp-l").max_new_tokens == 64
    assert resolve_study_preset("tiny", "gp-l", answer_format="steps").max_new_tokens == 96
    assert resolve_study_preset("tiny", "virl-l", answer_format="steps").max_new_tokens == 72  # GP answers only
    assert resolve_study_preset("tiny", "gp-l", answer_format="steps", max_new_tokens=64).max_new_tokens == 64
    assert "max_new_tokens=64 cuts off 'steps' answers" in caplog.text
    longest = gp_answer(["K", "Q", "J", "A"], [13, 12, 11, 1], canonical_solution([13, 12, 11, 1], 24), 24, "steps")
    assert len(longest) < 4 * ANSWER_TOKENS["steps"]  # characters: a BPE token holds at least one
