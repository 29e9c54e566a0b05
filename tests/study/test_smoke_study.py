"""The smoke study end to end, as the README's first command runs it (slow: ~1-3 min on 2 cores)."""

import json
import subprocess
import sys

import pytest

from sft_vs_rl.evaluation import load_results


@pytest.mark.slow
def test_smoke_study_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "sft_vs_rl.cli", "study", "--task", "gp-l", "--preset", "smoke",
           "--output-dir", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    results = load_results(out / "results.json")
    assert {r.method for r in results.records} == {"base", "init", "sft", "rl"}
    assert {r.split for r in results.records} == {"id", "ood-rule"}
    id_records = results.select(split="id")
    assert all("unseen_success" in r.metrics and r.metrics["success"].n == 24 for r in id_records)
    # Beside greedy: a sampled pass at the RL temperature (the preset's 8 episodes) and the first tries' verdicts.
    assert all(r.metrics["sampled/success"].n == 8 for r in results.records)
    for r in results.records:
        shares = [v.value for k, v in r.metrics.items() if k.startswith("verdict/")]
        assert shares and abs(sum(shares) - 1.0) < 1e-9
    assert "## Why: decoding and kinds of answer" in (out / "results.md").read_text()
    # Matched compute: each SFT checkpoint was saved at an RL checkpoint's compute, within one SFT step below it.
    rl = [r.gflops for r in results.select(split="id", method="rl")]
    sft = [r.gflops for r in results.select(split="id", method="sft")]
    init = results.select(split="id", method="init")[0].gflops
    assert init > 0 and min(rl) > init
    assert len(rl) == len(sft) == 2 and all(init < s <= r for s, r in zip(sft, rl))
    assert (out / "results.md").read_text().count("| RL |") >= 1
    assert (out / "figures" / "gp-l_compute_curves.png").is_file()
    assert json.loads((out / "rl" / "stage.json").read_text())["checkpoints"]

    # Resumable: a second run finds every stage's output and only rewrites the results.
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipped") >= 4
    assert load_results(out / "results.json").to_dict()["records"] == results.to_dict()["records"]


@pytest.mark.slow
def test_seeds_verification_ablation_and_rl_from_base(tmp_path):
    # `--seeds` repeats both arms; `--verify-iterations` trains extra RL arms whose records carry their budget;
    # `--rl-from-base` trains RL from the base without Init (Fig. 9), its records kept apart from the main arms.
    from sft_vs_rl.study import run_study

    tiny = {"corpus_size": 300, "pretrain_steps": 4, "init_steps": 2, "rl_updates": 1, "num_checkpoints": 1,
            "eval_episodes": 4, "eval_batch": 4, "sft_train_size": 64, "max_new_tokens": 24}
    path = run_study("gp-l", "smoke", tmp_path / "s", seeds=[0, 1], verify_iterations=[1, 5], rl_from_base=True,
                     num_threads=1, **tiny)
    results = load_results(path)
    budgets = {r.train_verify_iterations for r in results.select(method="rl")}
    assert budgets == {1, 5}
    assert set(results.metadata["seed_records"]) == {"0", "1"}
    assert (tmp_path / "s" / "rl-seed1" / "stage.json").is_file() and (tmp_path / "s" / "sft-seed1").is_dir()
    report = (tmp_path / "s" / "results.md").read_text()
    assert "## Seeds" in report and "## RL without Init (the paper's Fig. 9)" in report
    from_base = results.metadata["rl_from_base_records"]
    assert {r["split"] for r in from_base} == {"id", "ood-rule"} and all(r["method"] == "rl" for r in from_base)
    assert all(r["checkpoint"].startswith("rl-from-base/") for r in from_base)
    assert not any(r.checkpoint.startswith("rl-from-base/") for r in results.records)  # not a main-arm record
    assert "rl-from-base" in results.metadata["rl_diagnostics"]

    # `workers=2`: the same study with the arms after Init and the evaluations in two processes of one thread each
    # (the thread count of the run above, so every float reduction is the same): the same records, bit for bit.
    parallel = load_results(run_study("gp-l", "smoke", tmp_path / "p", seeds=[0, 1], verify_iterations=[1, 5],
                                      rl_from_base=True, num_threads=1, workers=2, **tiny))
    assert parallel.to_dict()["records"] == results.to_dict()["records"]
    assert parallel.metadata["rl_from_base_records"] == from_base


@pytest.mark.slow
def test_gp_vl_study_end_to_end(tmp_path):
    # The vision half: a tiny Mllama base pretrained on the image corpus, the recognition gate, Init by the format
    # criterion on image prompts, both arms, and evaluation with recognition on ID, rule OOD and visual OOD (red).
    from sft_vs_rl.study import run_study

    tiny = {"corpus_size": 200, "pretrain_steps": 4, "init_steps": 2, "init_check_every": 1, "rl_updates": 1,
            "num_checkpoints": 1, "eval_episodes": 4, "eval_batch": 4, "eval_sampled_episodes": 2,
            "sft_train_size": 32, "max_new_tokens": 24, "base_gate_episodes": 4}
    path = run_study("gp-vl", "smoke", tmp_path / "vl", num_threads=1, **tiny)
    results = load_results(path)
    assert {r.method for r in results.records} == {"base", "init", "sft", "rl"}
    assert {r.split for r in results.records} == {"id", "ood-rule", "ood-visual"}
    assert all("recognition" in r.metrics and r.metrics["recognition"].n == 4 for r in results.records)
    gate = json.loads((tmp_path / "vl" / "base" / "stage.json").read_text())["recognition_gate"]
    assert set(gate) == {"episodes", "threshold", "black", "red"} and gate["episodes"] == 4
    init = json.loads((tmp_path / "vl" / "init" / "stage.json").read_text())
    assert [c["step"] for c in init["format_checks"]][:1] == [1]  # the criterion ran on image prompts
    assert (tmp_path / "vl" / "figures" / "gp-vl_recognition_vs_success.png").is_file()
