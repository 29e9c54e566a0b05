"""A crash loses nothing: a study killed (`SIGKILL`) in Init, in its RL arm, in its SFT arm and during evaluation, and
rerun with the same command each time, resumes every stage where it stood and ends with the results of an
uninterrupted run of the same seed (slow: ~3-4 min on 2 cores)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sft_vs_rl.models.record import RECORD_NAME

# As small as the smoke study goes while Init, the RL arm and the SFT arm each save several checkpoints and leave a
# few seconds between their first checkpoint and their `stage.json` (the window the test kills in).
SETTINGS = {"corpus_size": 300, "pretrain_steps": 4, "init_steps": 10, "rl_updates": 4, "num_checkpoints": 2,
            "sft_batch_size": 4, "sft_train_size": 64, "eval_episodes": 4, "eval_batch": 4, "max_new_tokens": 24}


def study_command(out: Path) -> list[str]:
    sets = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
    return [sys.executable, "-m", "sft_vs_rl.cli", "study", "--task", "gp-l", "--preset", "smoke", "--output-dir",
            str(out), "--num-threads", "1", *sets]


def complete_checkpoints(folder: Path) -> list[str]:
    return sorted((p.name for p in folder.glob("checkpoint-*") if (p / RECORD_NAME).is_file()),
                  key=lambda name: int(name.split("-")[1]))


def run_until(out: Path, log: Path, ready, timeout: float = 300.0) -> None:
    """Start the study and `SIGKILL` it as soon as `ready()` holds; fail if it ends first."""
    with open(log, "a") as handle:
        proc = subprocess.Popen(study_command(out), stdout=handle, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        try:
            while not ready():
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the study ended (rc {proc.returncode}) before the kill point; log: {log}")
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()


def snapshot(*files: Path) -> dict[Path, tuple[int, str]]:
    return {f: (f.stat().st_mtime_ns, f.read_text()) for f in files}


def stage(out: Path, name: str) -> dict:
    return json.loads((out / name / "stage.json").read_text())


def records(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["records"]


def weights(out: Path) -> dict[str, str]:
    """SHA-256 of every weight file of every evaluated checkpoint (policy and value head), by checkpoint name."""
    return {f"{r['checkpoint']}/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest()
            for r in records(out) for f in sorted((out / r["checkpoint"]).glob("*.safetensors"))}


@pytest.mark.slow
def test_killed_study_resumes_every_stage_and_ends_with_the_uninterrupted_results(tmp_path):
    reference = tmp_path / "uninterrupted"
    run = subprocess.run(study_command(reference), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(complete_checkpoints(reference / "rl")) == len(complete_checkpoints(reference / "sft")) == 2

    out, log = tmp_path / "killed", tmp_path / "killed.log"
    # 1. Killed in Init, after its first periodic checkpoint.
    run_until(out, log, lambda: complete_checkpoints(out / "init") and not (out / "init" / "stage.json").exists())
    init_ckpt = complete_checkpoints(out / "init")[-1]
    done = snapshot(out / "base" / "stage.json")

    # 2. Rerun, killed in the RL arm after its first checkpoint: Init resumed from where it stood.
    run_until(out, log, lambda: complete_checkpoints(out / "rl") and not (out / "rl" / "stage.json").exists())
    assert stage(out, "init")["resumed_from"] == init_ckpt
    assert snapshot(*done) == done
    assert not list((out / "init").glob("checkpoint-*"))  # resume-only checkpoints go once Init is done
    rl_ckpt = complete_checkpoints(out / "rl")[-1]
    done = snapshot(out / "base" / "stage.json", out / "init" / "stage.json")

    # 3. Rerun, killed in the SFT arm after its first checkpoint: the RL arm resumed from its latest checkpoint.
    run_until(out, log, lambda: complete_checkpoints(out / "sft") and not (out / "sft" / "stage.json").exists())
    assert stage(out, "rl")["resumed_from"] == rl_ckpt
    assert snapshot(*done) == done
    sft_ckpt = complete_checkpoints(out / "sft")[-1]
    done = snapshot(*done, out / "rl" / "stage.json")

    # 4. Rerun, killed during evaluation after the first evaluation file.
    run_until(out, log, lambda: list((out / "eval").glob("*.json")) and not (out / "results.json").exists())
    assert stage(out, "sft")["resumed_from"] == sft_ckpt
    assert snapshot(*done) == done
    evaluated = snapshot(*(out / "eval").glob("*.json"))
    done = snapshot(*done, out / "sft" / "stage.json")

    # 5. Rerun to the end: nothing finished before is redone, and the results are the uninterrupted run's.
    last = subprocess.run(study_command(out), capture_output=True, text=True, timeout=600)
    assert last.returncode == 0, last.stderr[-3000:]
    assert snapshot(*done) == done and snapshot(*evaluated) == evaluated
    assert records(out) == records(reference)  # metrics, steps, GFLOPs and checkpoint names
    assert weights(out) == weights(reference)  # and bit for bit the same models
    assert {r["checkpoint"] for r in records(out)} == {"base", "init", "rl/checkpoint-2", "rl/checkpoint-4",
                                                       *(f"sft/{name}" for name in complete_checkpoints(out / "sft"))}
    for name in ("rl", "sft"):  # the arms' compute and checkpoints, as the uninterrupted run's
        assert stage(out, name)["checkpoints"] == stage(reference, name)["checkpoints"]
