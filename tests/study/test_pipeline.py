"""Fast tests of the study's plumbing (`sft_vs_rl.study.pipeline`): which stages run in which order with which
inputs, resuming skips finished stages, and `results.json` holds the records and metadata the report reads. The
stage bodies are replaced by fakes that write what a real stage writes; the slow smoke study runs the real ones."""

from __future__ import annotations

import json

import pytest

from sft_vs_rl.evaluation import load_results
from sft_vs_rl.study import pipeline
from sft_vs_rl.study.presets import resolve_study_preset
from sft_vs_rl.study.tasks import task_spec


@pytest.fixture
def fake_stages(monkeypatch):
    """Stage functions that record their calls and write a `stage.json` like the real ones."""
    calls = []

    def finish(out, info):
        return pipeline._finish(out, {"wall_s": 0.0, **info})

    def base(spec, preset, out, seed):
        calls.append(("base", out.name, seed))
        return finish(out, {"stage": "base"})

    def init(spec, preset, base_path, out, seed):
        calls.append(("init", base_path, seed))
        return finish(out, {"stage": "init", "flops": 2e9})

    def rl(spec, preset, init_path, init_flops, out, seed, verify_iterations):
        calls.append(("rl", out.name, seed, verify_iterations, init_flops))
        ckpts = {f"checkpoint-{s}": {"step": s, "flops": init_flops + s * 1e9, "episodes": 8 * s} for s in (2, 4)}
        return finish(out, {"stage": "rl", "checkpoints": ckpts, "updates": [{"update": 1, "approx_kl": 0.01}]})

    def sft(spec, preset, init, init_path, rl_info, out, seed):
        calls.append(("sft", out.name, seed, max(c["flops"] for c in rl_info["checkpoints"].values())))
        return finish(out, {"stage": "sft", "checkpoints": {"checkpoint-3": {"step": 3, "flops": 6e9}}})

    class Evaluator:
        def __init__(self, spec, preset, eval_dir, reference=None):
            self.spec = spec

        def evaluate(self, name, checkpoint, method, step, gflops, train_verify_iterations=None):
            calls.append(("eval", name))
            return [{"method": method, "step": step, "gflops": gflops, "task": self.spec.task, "split": split,
                     "metrics": {"success": {"value": 0.5, "stderr": 0.1, "n": 25}}, "checkpoint": checkpoint,
                     "train_verify_iterations": train_verify_iterations} for split in ("id", "ood-rule")]

    monkeypatch.setattr(pipeline, "_stage_base", base)
    monkeypatch.setattr(pipeline, "_stage_init", init)
    monkeypatch.setattr(pipeline, "_stage_rl", rl)
    monkeypatch.setattr(pipeline, "_stage_sft", sft)
    monkeypatch.setattr(pipeline, "_Evaluator", Evaluator)
    monkeypatch.setattr("sft_vs_rl.study.report.write_report", lambda results, out: None)
    return calls


def test_stages_run_in_order_and_the_sft_arm_follows_rl_compute(fake_stages, tmp_path):
    path = pipeline.run_study("gp-l", "smoke", tmp_path, seeds=[0, 7], verify_iterations=[1], num_threads=None)
    trained = [c for c in fake_stages if c[0] != "eval"]
    assert trained == [
        ("base", "base", 0),
        ("init", str(tmp_path / "base"), 0),
        ("rl", "rl", 0, 5, 2e9), ("sft", "sft", 0, 6e9),
        ("rl", "rl-seed7", 7, 5, 2e9), ("sft", "sft-seed7", 7, 6e9),
        ("rl", "rl-viter1", 0, 1, 2e9),
    ]  # fmt: skip
    evaluated = [c[1] for c in fake_stages if c[0] == "eval"]
    assert evaluated == ["base", "init", "rl-2", "rl-4", "sft-3", "rl-seed7-2", "rl-seed7-4", "sft-seed7-3",
                         "rl-viter1-2", "rl-viter1-4"]  # fmt: skip
    results = load_results(path)
    methods = [(r.method, r.step, r.train_verify_iterations) for r in results.records if r.split == "id"]
    assert methods == [("base", 0, None), ("init", 0, None), ("rl", 2, 5), ("rl", 4, 5), ("sft", 3, None),
                       ("rl", 2, 1), ("rl", 4, 1)]  # fmt: skip
    meta = results.metadata
    assert meta["seeds"] == [0, 7] and meta["train_verify_iterations"] == [5, 1]
    assert set(meta["rl_diagnostics"]) == {"rl", "rl-seed7", "rl-viter1"}
    assert [r["step"] for r in meta["seed_records"]["7"] if r["split"] == "id"] == [0, 2, 4, 3]
    assert json.loads((tmp_path / "study.json").read_text())["verify_iterations"] == [5, 1]


def test_a_rerun_skips_finished_stages(fake_stages, tmp_path):
    pipeline.run_study("virl-l", "smoke", tmp_path, num_threads=None)
    first = len([c for c in fake_stages if c[0] != "eval"])
    fake_stages.clear()
    pipeline.run_study("virl-l", "smoke", tmp_path, num_threads=None)
    assert first == 4 and [c for c in fake_stages if c[0] != "eval"] == []


def test_plan_paths_and_budgets(tmp_path):
    spec = task_spec("virl-l")
    plan = pipeline.StudyPlan(spec, resolve_study_preset("smoke", "virl-l"), tmp_path, [3, 4], [2, 1])
    assert plan.budgets == [2, 1]  # the task's own budget first, duplicates dropped
    assert plan.arms() == [(3, tmp_path / "rl", tmp_path / "sft"), (4, tmp_path / "rl-seed4", tmp_path / "sft-seed4")]
    assert plan.ablation() == [(1, tmp_path / "rl-viter1")]
    assert plan.base_path == str(tmp_path / "base")


def test_packed_pretraining_trains_full_blocks(tmp_path):
    """`pretrain_packing`: every pretraining row is a `max_length` block of the corpus stream, so no token is padding."""
    preset = resolve_study_preset("smoke", "gp-l", corpus_size=200, tokenizer_texts=200, pretrain_steps=2,
                                  pretrain_batch_size=4, pretrain_warmup=0, max_length=64, pretrain_packing=True)
    info = pipeline._stage_base(task_spec("gp-l"), preset, tmp_path / "base", seed=0)
    flops_per_token = 6 * info["n_params"]
    assert info["gflops"] * 1e9 == pytest.approx(2 * 4 * 64 * flops_per_token)


def test_recognition_gate_measures_both_colours_and_stops_a_blind_base():
    # An untrained tiny Mllama reads no card: the gate records 0 % in both colours, and a threshold stops the study.
    from sft_vs_rl.models import build_tiny_model

    model, processor = build_tiny_model("mllama", "nano", seed=0)
    spec = task_spec("gp-vl")
    preset = resolve_study_preset("smoke", "gp-vl", base_gate_episodes=4, eval_batch=4, max_new_tokens=8,
                                  canvas_size=64)
    gate = pipeline._recognition_gate(spec, preset, model, processor)
    assert gate == {"episodes": 4, "threshold": None, "black": 0.0, "red": 0.0}
    strict = resolve_study_preset("smoke", "gp-vl", base_gate_episodes=4, eval_batch=4, max_new_tokens=8,
                                  canvas_size=64, base_recognition_threshold=0.2)
    with pytest.raises(RuntimeError, match=r"0.0% of black, 0.0% of red held-out hands.*pretrain_steps"):
        pipeline._recognition_gate(spec, strict, model, processor)
