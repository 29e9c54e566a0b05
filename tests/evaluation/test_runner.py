"""The evaluation runner: episodes played by the shared batched rollout, metrics, records, the `eval` CLI."""

import json

import pytest
import torch

from sft_vs_rl.evaluation.runner import evaluate


@pytest.fixture(scope="module")
def nano():
    from sft_vs_rl.models import build_tiny_model

    return build_tiny_model("llama", "nano")


def _gp_rows(n, verify_iterations=2):
    """Rows as a library test split stores them (env settings, seed, reset options), compact prompts for speed."""
    kwargs = {"face_rule": "11-12-13", "prompt_style": "compact", "verify_iterations": verify_iterations}
    hands = [["A", "K", "5", "3"], ["Q", "2", "6", "J"], ["8", "8", "3", "K"], ["10", "J", "2", "4"]]
    return [
        {"env_kwargs": kwargs, "seed": i, "options": {"ranks": hands[i % 4]}, "config_name": "gp-l-ood-rule"}
        for i in range(n)
    ]


def test_evaluate_gp_record_and_episodes(nano):
    model, tok = nano
    evaluation = evaluate(model, _gp_rows(3), processor=tok, method="base", max_new_tokens=8, batch_size=2,
                          progress=False)  # fmt: skip
    record = evaluation.record
    assert (record.task, record.split, record.method, record.gflops, record.verify_iterations) == (
        "gp-l", "ood-rule", "base", 0.0, 2,
    )  # fmt: skip
    assert record.metrics["success"].n == 3
    # The diagnostics: every first try of an untrained model is an illegal formula, and no answer counts J/Q/K as 10
    # (every hand has a face card, so each first try is a sample of `id_face_rule`).
    assert set(record.metrics) == {"success", "mean_return", "id_face_rule", "verdict/illegal_formula"}
    assert record.metrics["verdict/illegal_formula"].value == 1.0 and record.metrics["verdict/illegal_formula"].n == 3
    assert record.metrics["id_face_rule"].value == 0.0 and record.metrics["id_face_rule"].n == 3
    assert [e.numbers for e in evaluation.episodes] == [(1, 13, 5, 3), (12, 2, 6, 11), (8, 8, 3, 13)]
    for episode in evaluation.episodes:  # an untrained model fails: every episode uses its whole budget
        assert not episode.success and episode.turns == 2 and len(episode.rewards) == 2
    assert record.metrics["success"].value == 0.0


def test_static_kv_cache_plays_the_same_greedy_episodes(nano):
    """`cache_implementation="static"` (the tiny study's rollouts and evaluation) changes speed, not answers."""
    from transformers import GenerationConfig

    model, tok = nano
    episodes = {}
    for cache in (None, "static"):
        config = GenerationConfig(max_new_tokens=12, do_sample=False, eos_token_id=tok.eos_token_id,
                                  pad_token_id=tok.pad_token_id, cache_implementation=cache)
        episodes[cache] = evaluate(model, _gp_rows(5, verify_iterations=3), processor=tok, method="base", batch_size=3,
                                   generation_config=config, progress=False).episodes
    assert episodes["static"] == episodes[None]


def test_sampled_evaluation_is_seeded_and_leaves_global_rng_alone(nano):
    from transformers import GenerationConfig

    model, tok = nano
    config = GenerationConfig(max_new_tokens=8, do_sample=True, temperature=1.0, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)  # fmt: skip
    before = torch.get_rng_state()
    runs = [
        evaluate(model, _gp_rows(2), processor=tok, method="base", generation_config=config, seed=seed, progress=False)
        for seed in (7, 7)
    ]
    assert torch.equal(torch.get_rng_state(), before)
    assert runs[0].episodes == runs[1].episodes  # same seed, same answers


def test_evaluate_virl_counts_every_try(nano):
    model, tok = nano
    rows = [{"env_kwargs": {"prompt_style": "compact"}, "seed": s, "options": None} for s in range(2)]
    evaluation = evaluate(model, rows, processor=tok, task="virl-l", split="id", method="sft", gflops=1.5,
                          max_new_tokens=8, progress=False)  # fmt: skip
    metrics = evaluation.record.metrics
    assert {"success", "mean_return", "step_accuracy"} <= set(metrics)
    assert metrics["step_accuracy"].n == sum(e.turns for e in evaluation.episodes)  # retries are samples
    # The diagnostics split the same graded tries by expected action and by verdict kind.
    by_kind = [metrics[f"step_accuracy/{k}"].n for k in ("forward", "stop", "turn") if f"step_accuracy/{k}" in metrics]
    assert sum(by_kind) == metrics["step_accuracy"].n
    verdicts = {k: v for k, v in metrics.items() if k.startswith("verdict/")}
    assert all(v.n == metrics["step_accuracy"].n for v in verdicts.values())
    assert abs(sum(v.value for v in verdicts.values()) - 1.0) < 1e-9
    assert evaluation.record.gflops == 1.5


@pytest.mark.parametrize("kind", ["mllama", "qwen2_5_vl", "gemma3"])
def test_evaluate_gp_vl_scores_recognition_on_the_first_answer(kind):
    from sft_vs_rl.models import build_tiny_model

    model, processor = build_tiny_model(kind, "nano")
    kwargs = {
        "visual": True,
        "suit_colour": "red",
        "prompt_style": "compact",
        "verify_iterations": 2,
        "canvas_size": 64,
    }
    rows = [{"env_kwargs": kwargs, "seed": s, "options": None, "config_name": "gp-vl-ood-visual"} for s in range(2)]
    evaluation = evaluate(model, rows, processor=processor, method="base", max_new_tokens=8, progress=False)
    assert evaluation.record.split == "ood-visual"
    recognition = evaluation.record.metrics["recognition"]
    assert recognition.n == 2  # one sample per episode: its first answer
    assert recognition.value == sum(e.recognized_correctly for e in evaluation.episodes) / 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "sft"}, "compute of this sft checkpoint is unknown"),  # no gflops for a trained checkpoint
        ({"method": "ppo"}, "method='ppo' is not valid"),
        ({"method": "base", "task": "gp-l", "split": "ood"}, "split='ood'"),
        ({"method": "base", "processor": None}, "pass processor="),
    ],
)
def test_evaluate_errors(nano, kwargs, message):
    model, tok = nano
    kwargs = {"processor": tok, **kwargs}
    with pytest.raises(ValueError, match=message):
        evaluate(model, _gp_rows(1), progress=False, **kwargs)


def test_evaluate_rejects_foreign_rows(nano):
    model, tok = nano
    with pytest.raises(ValueError, match="env_kwargs, seed and options"):
        evaluate(model, [{"prompt": "hi"}], processor=tok, method="base")
    mixed = _gp_rows(1) + [{**_gp_rows(1)[0], "env_kwargs": {"face_rule": "10"}}]
    with pytest.raises(ValueError, match="mix environment settings"):
        evaluate(model, mixed, processor=tok, method="base")


def test_evaluate_checkpoint_checks_task_and_splits(tmp_path):
    from sft_vs_rl.evaluation.runner import evaluate_checkpoint

    with pytest.raises(ValueError, match="Unknown task 'gp'"):
        evaluate_checkpoint(tmp_path, "gp")
    with pytest.raises(ValueError, match="split='ood-visual' is not a split of gp-l"):  # text tasks have no visual OOD
        evaluate_checkpoint(tmp_path, "gp-l", splits=["ood-visual"])


@pytest.mark.slow
def test_cli_eval_then_plot(nano, tmp_path, capsys):
    """`sft-vs-rl eval` on a saved checkpoint (compute from trainer_state.json), then `sft-vs-rl plot`."""
    from sft_vs_rl.cli import main

    model, tok = nano
    checkpoint = tmp_path / "checkpoint-3"
    model.save_pretrained(checkpoint)
    tok.save_pretrained(checkpoint)
    state = {"global_step": 3, "log_history": [{"step": 3, "flops/total": 2.0e9}]}
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))
    output = tmp_path / "results.json"
    args = ["eval", str(checkpoint), "--task", "gp-l", "--method", "rl", "--output", str(output), "--test-size", "2",
            "--max-new-tokens", "4", "--verify-iterations", "1", "--initial-gflops", "1.0"]  # fmt: skip
    assert main(args) == 0
    saved = json.loads(output.read_text())["records"]
    assert [(r["split"], r["step"], r["gflops"], r["metrics"]["success"]["n"]) for r in saved] == [
        ("id", 3, 3.0, 2),
        ("ood-rule", 3, 3.0, 2),
    ]
    assert "appended 2 records" in capsys.readouterr().out
    assert main(["plot", str(output), "--output-dir", str(tmp_path / "figs"), "--format", "png"]) == 0
    assert (tmp_path / "figs" / "gp-l_compute_curves.png").is_file()
