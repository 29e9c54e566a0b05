"""The GPU check's dry run on CPU: full-size architectures on the meta device, the PPO loop on tiny models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_dry_run_sizes_both_models_and_runs_the_loop(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--updates", "1", "--turns", "8", "--new-tokens", "8",
         "--output", str(out)],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True
    models = result["models"]
    # The released sizes: Llama-3.2-11B-Vision 10.67 B, Qwen2.5-VL-7B 8.29 B parameters.
    assert round(models["llama-3.2-11b-vision"]["architecture"]["parameters"] / 1e9, 2) == 10.67
    assert round(models["qwen2.5-vl-7b"]["architecture"]["parameters"] / 1e9, 2) == 8.29
    for entry in models.values():
        assert 0 < entry["architecture"]["lora_trainable"] < 0.05 * entry["architecture"]["parameters"]
        ppo = entry["ppo"]
        assert ppo["updates"] == 1 and ppo["rollout_tokens_per_s"] > 0 and ppo["seconds_per_update"] > 0


def test_gpu_check_without_a_gpu_names_the_dry_run():
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr and "Traceback" not in proc.stderr
