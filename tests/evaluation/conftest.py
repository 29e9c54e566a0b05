"""A hand-made results file that exercises every figure: GP-VL with SFT and RL curves on three splits, recognition
from separate one-try records, and an RL verification-iteration ablation."""

import pytest

from sft_vs_rl.evaluation.metrics import MetricValue, binomial_stderr
from sft_vs_rl.evaluation.results import ResultRecord, Results


def _metric(p: float, n: int = 234) -> MetricValue:
    return MetricValue(value=p, stderr=binomial_stderr(p, n), n=n)


def make_results() -> Results:
    records = []
    curves = {  # split -> method -> success at steps 0..6 (index 0 is Init, shared)
        "id": {"sft": [0.30, 0.38, 0.45, 0.50, 0.55, 0.57, 0.60], "rl": [0.30, 0.36, 0.42, 0.48, 0.52, 0.56, 0.58]},
        "ood-rule": {
            "sft": [0.115, 0.09, 0.07, 0.05, 0.04, 0.035, 0.034],
            "rl": [0.115, 0.12, 0.13, 0.135, 0.14, 0.145, 0.15],
        },
        "ood-visual": {
            "sft": [0.236, 0.2, 0.18, 0.16, 0.15, 0.14, 0.137],
            "rl": [0.236, 0.27, 0.31, 0.34, 0.37, 0.40, 0.412],
        },
    }
    recognition = {"sft": [0.80, 0.78, 0.75, 0.72, 0.70, 0.69, 0.68], "rl": [0.80, 0.82, 0.84, 0.86, 0.88, 0.89, 0.90]}
    for split, methods in curves.items():
        records.append(ResultRecord("base", 0, 0.0, "gp-vl", split, {"success": _metric(0.0)}))
        records.append(
            ResultRecord("init", 0, 100.0, "gp-vl", split, {"success": _metric(methods["sft"][0])}, verify_iterations=5)
        )
        records.append(
            ResultRecord(
                "init", 0, 100.0, "gp-vl", split, {"recognition": _metric(recognition["sft"][0])}, verify_iterations=1
            )
        )
        for method, values in methods.items():
            for step in range(1, 7):
                gflops = 100.0 + step * (50.0 if method == "sft" else 45.0)
                records.append(
                    ResultRecord(
                        method,
                        step * 10,
                        gflops,
                        "gp-vl",
                        split,
                        {"success": _metric(values[step])},
                        checkpoint=f"{method}/checkpoint-{step * 10}",
                        verify_iterations=5,
                        train_verify_iterations=5 if method == "rl" else None,
                    )
                )
                records.append(
                    ResultRecord(
                        method,
                        step * 10,
                        gflops,
                        "gp-vl",
                        split,
                        {"recognition": _metric(recognition[method][step]), "success": _metric(0.01)},
                        verify_iterations=1,
                    )
                )
    for budget, gain in ((1, 0.0048), (3, 0.0215), (10, 0.0599)):  # RL ablation runs (VIter 5 is the main RL run)
        for step in range(1, 5):
            records.append(
                ResultRecord(
                    "rl",
                    step * 10,
                    100.0 + step * 45.0,
                    "gp-vl",
                    "ood-rule",
                    {"success": _metric(0.115 + gain * step / 4)},
                    train_verify_iterations=budget,
                )
            )
    return Results(records=records, metadata={"task": "gp-vl", "model": "hand-made", "verify_iterations": 5})


@pytest.fixture
def results() -> Results:
    return make_results()
