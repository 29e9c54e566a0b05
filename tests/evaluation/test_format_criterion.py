"""`FormatCriterionCallback`: Init stops at the first check where the answers have the task's format."""

import pytest
from datasets import Dataset

from sft_vs_rl.envs.generalpoints import has_answer_format
from sft_vs_rl.evaluation import FormatCriterionCallback


def _pairs(n):
    answer = '{"cards": ["A", "2", "3", "4"], "number": [1, 2, 3, 4], "formula": "1*2*3*4=24"}'
    return [{"prompt": [{"role": "user", "content": f"hand {i}"}],
             "completion": [{"role": "assistant", "content": answer}]} for i in range(n)]


def _train(tmp_path, has_format, threshold, max_steps=6, every=2):
    from trl import SFTConfig, SFTTrainer

    from sft_vs_rl.models import build_tiny_model

    model, tok = build_tiny_model("llama", "nano", seed=0)
    pairs = _pairs(8)
    criterion = FormatCriterionCallback([p["prompt"] for p in pairs[:4]], has_format, threshold=threshold,
                                        every=every, max_new_tokens=8)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=max_steps, per_device_train_batch_size=4, report_to="none",
                     save_strategy="no", logging_steps=1, use_cpu=True, gradient_checkpointing=False,
                     disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tok,
                         callbacks=[criterion])
    trainer.train()
    return trainer, criterion


def test_training_stops_at_the_first_check_that_meets_the_threshold(tmp_path):
    trainer, criterion = _train(tmp_path, lambda answer: True, threshold=1.0)
    assert trainer.state.global_step == 2 and criterion.history == [(2, 1.0)]
    assert {"init/format_rate": 1.0, "step": 2} in trainer.state.log_history


def test_training_runs_its_cap_when_the_format_never_holds(tmp_path):
    # An untrained model writes no GeneralPoints JSON: the real check finds no formatted answer at any step.
    trainer, criterion = _train(tmp_path, has_answer_format, threshold=0.95)
    assert trainer.state.global_step == 6 and [step for step, _ in criterion.history] == [2, 4, 6]
    assert all(rate == 0.0 for _, rate in criterion.history)


def test_threshold_and_interval_are_checked():
    with pytest.raises(ValueError, match="threshold=1.5 must be in"):
        FormatCriterionCallback([], bool, threshold=1.5, every=2, max_new_tokens=4)
    with pytest.raises(ValueError, match="every=0 must be a positive"):
        FormatCriterionCallback([], bool, threshold=0.9, every=0, max_new_tokens=4)


def test_image_prompts_go_through_the_processor():
    # GP-VL Init: the probes carry card images, so the check answers them with the model's processor.
    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv
    from sft_vs_rl.models import build_tiny_model

    model, processor = build_tiny_model("mllama", "nano", seed=0)
    env = GeneralPointsEnv(visual=True, canvas_size=64, prompt_style="compact")
    prompts, images = [], []
    for seed in range(3):
        _, info = env.reset(seed=seed)
        prompts.append(info["messages"])
        images.append(info["images"])
    seen = []
    criterion = FormatCriterionCallback(prompts, lambda answer: seen.append(answer) or True, threshold=1.0, every=1,
                                        max_new_tokens=4, images=images, batch_size=2)
    assert criterion.format_rate(model, processor) == 1.0 and len(seen) == 3
    with pytest.raises(ValueError, match="2 image lists for 3 prompts"):
        FormatCriterionCallback(prompts, bool, threshold=0.9, every=1, max_new_tokens=4, images=images[:2])
