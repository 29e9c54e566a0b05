"""results.md: the equal-compute table and the comparison with the paper."""

from sft_vs_rl.evaluation import MetricValue, ResultRecord, Results
from sft_vs_rl.study.report import equal_compute_table, write_report


def _rec(method, step, gflops, split, success, task="gp-l", **extra):
    metrics = {"success": MetricValue(success, 0.01, 300), **{k: MetricValue(v, 0.01, 300) for k, v in extra.items()}}
    return ResultRecord(method, step, gflops, task, split, metrics, verify_iterations=5,
                        train_verify_iterations=5 if method == "rl" else None)


def _results():
    records = []
    for split, values in (("id", (0.7, 0.8, 0.72)), ("ood-rule", (0.1, 0.0, 0.12))):
        init, sft, rl = values
        records += [_rec("init", 0, 10.0, split, init, unseen_success=0.1),
                    _rec("sft", 5, 15.0, split, sft - 0.05, unseen_success=0.05),
                    _rec("sft", 10, 19.9, split, sft, unseen_success=0.02),
                    _rec("rl", 2, 15.1, split, rl - 0.01, unseen_success=0.1),
                    _rec("rl", 4, 20.0, split, rl, unseen_success=0.11)]
    return Results(records=records, metadata={"task": "gp-l", "preset": "tiny", "verify_iterations": 5})


def test_equal_compute_picks_the_matched_final_checkpoints():
    table, picked = equal_compute_table(_results(), "gp-l")
    assert picked["sft"]["id"].step == 10 and picked["rl"]["id"].step == 4
    assert "| SFT | 10 | 19.9 | 80.0 ± 1.0 (n=300) | 0.0 ± 1.0 (n=300) | 2.0 ± 1.0 (n=300) |" in table


def test_write_report_compares_with_the_paper(tmp_path):
    path = write_report(_results(), tmp_path, figures=False)
    text = path.read_text()
    assert "| OOD (rule) | paper (Fig. 6) | 11.5 | 15.0 | 3.4 | +3.5 | -8.1 |" in text
    assert "| OOD (rule) | this run | 10.0 | 12.0 | 0.0 | +2.0 | -10.0 |" in text
    assert "Fig. 7" not in text and "## Recognition" not in text  # text task: no visual OOD, no recognition


def test_write_report_gives_visual_ood_and_recognition_for_gp_vl(tmp_path):
    records = []
    for split, (init, sft, rl) in (("id", (0.5, 0.6, 0.7)), ("ood-rule", (0.1, 0.05, 0.12)),
                                   ("ood-visual", (0.3, 0.2, 0.4))):
        for method, step, gflops, value in (("init", 0, 10.0, init), ("sft", 10, 19.9, sft), ("rl", 4, 20.0, rl)):
            records.append(_rec(method, step, gflops, split, value, "gp-vl", recognition=value + 0.1))
    results = Results(records=records, metadata={"task": "gp-vl", "preset": "tiny", "verify_iterations": 5})
    text = write_report(results, tmp_path, figures=False).read_text()
    assert "| OOD (visual) | paper (Fig. 7) | 23.6 | 41.2 | 13.7 | +17.6 | -9.9 |" in text
    assert "| OOD (visual) | this run | 30.0 | 40.0 | 20.0 | +10.0 | -10.0 |" in text
    assert "## Recognition (the paper's Fig. 8)" in text
    assert "| RL | 80.0 ± 1.0 (n=300) | 22.0 ± 1.0 (n=300) | 50.0 ± 1.0 (n=300) |" in text


def test_write_report_keeps_the_rl_diagnostics_per_update(tmp_path):
    results = _results()
    results.metadata["rl_diagnostics"] = {"rl": [
        {"update": 1, "step": 8, "first_try_success": 0.18, "reward_per_turn": -2.6, "approx_kl": 0.031,
         "clipfrac": 0.04, "pg_active_frac": 0.98, "explained_variance": 0.01},
        {"update": 2, "step": 16, "first_try_success": 0.22, "reward_per_turn": -2.3, "approx_kl": 0.006,
         "clipfrac": 0.03, "pg_active_frac": 0.99, "explained_variance": 0.24, "value_loss": 0.2}]}
    text = write_report(results, tmp_path, figures=False).read_text()
    assert "## RL diagnostics per update" in text
    assert "| 1 | 0.18 | -2.60 | 0.031 | 0.04 | 0.98 | +0.01 | – | – |" in text
    assert "| 2 | 0.22 | -2.30 | 0.006 | 0.03 | 0.99 | +0.24 | – | 0.200 |" in text


def test_write_report_says_why_with_sampled_decoding_and_verdict_kinds(tmp_path):
    results = _results()
    for record in results.records:
        if (record.method, record.step) in (("init", 0), ("rl", 4), ("sft", 10)):
            record.metrics.update({"sampled/success": MetricValue(0.5, 0.04, 150),
                                   "verdict/correct": MetricValue(0.6, 0.03, 300),
                                   "verdict/no_solution": MetricValue(0.4, 0.03, 300)})
            if record.split == "ood-rule":
                record.metrics["id_face_rule"] = MetricValue(0.9 if record.method == "sft" else 0.3, 0.03, 300)
    text = write_report(results, tmp_path, figures=False).read_text()
    assert "## Why: decoding and kinds of answer" in text and "(n = 150)" in text
    assert "| method | split | greedy | sampled | J/Q/K as 10 | correct | no_solution |" in text
    assert "| SFT | ood-rule | 0.0 | 50.0 | 90.0 | 60.0 | 40.0 |" in text
    assert "| RL | id | 72.0 | 50.0 | – | 60.0 | 40.0 |" in text
