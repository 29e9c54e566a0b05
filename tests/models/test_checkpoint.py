"""Checkpoint bookkeeping from public files: safetensors headers and `trainer_state.json`."""

import doctest
import json
import os
import struct
import sys

import pytest

from sft_vs_rl.models import checkpoint
from sft_vs_rl.models.checkpoint import CheckpointCompute, count_checkpoint_parameters, read_checkpoint_compute


def test_doctests():
    assert doctest.testmod(checkpoint).failed == 0


def _write_safetensors(path, shapes):
    header = {name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]} for name, shape in shapes.items()}
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_count_checkpoint_parameters_reads_headers_only(tmp_path):
    _write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": [3, 4], "b": [5]})
    _write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"c": [2, 2, 2]})
    _write_safetensors(tmp_path / "value_head.safetensors", {"v": [4, 1]})
    assert count_checkpoint_parameters(tmp_path) == 12 + 5 + 8 + 4
    assert count_checkpoint_parameters(tmp_path, include_value_head=False) == 25
    with pytest.raises(FileNotFoundError, match="safetensors"):
        count_checkpoint_parameters(tmp_path / "missing")


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        # an SFT checkpoint: SFTComputeCallback's flops/total, no episodes
        ({"global_step": 3, "log_history": [{"step": 3, "flops/total": 2.0e9}]}, CheckpointCompute(3, 2.0e9, None)),
        # a PPO checkpoint: the last logged counters win; the final summary entry carries none
        (
            {"global_step": 2, "log_history": [
                {"step": 1, "flops/total": 1.0e9, "env/episodes_total": 4.0},
                {"step": 2, "flops/total": 3.0e9, "env/episodes_total": 9.0},
                {"step": 2, "train_runtime": 1.0},
            ]},
            CheckpointCompute(2, 3.0e9, 9.0),
        ),
        ({"global_step": 5, "log_history": [{"step": 5, "loss": 1.0}]}, CheckpointCompute(5, None, None)),  # no compute
    ],
)
def test_read_checkpoint_compute(tmp_path, state, expected):
    (tmp_path / "trainer_state.json").write_text(json.dumps(state))
    compute = read_checkpoint_compute(tmp_path)
    assert compute == expected
    assert compute.gflops == (None if expected.flops is None else expected.flops / 1e9)


def test_read_checkpoint_compute_without_trainer_state(tmp_path):
    assert read_checkpoint_compute(tmp_path) == CheckpointCompute(None, None, None)


@pytest.mark.slow
def test_ppo_checkpoint_compute_matches_the_trainer_counters(tmp_path):
    """The public `trainer_state.json` gives the same step, FLOPs and episodes as the trainer's own counters, which it
    saves privately beside each checkpoint (`rollout_state_0.json`)."""
    from datasets import Dataset

    from sft_vs_rl.models import build_tiny_model
    from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "trainers"))
    from ppo_toy_env import TargetWordEnv

    sys.path.pop(0)
    model, tokenizer = build_tiny_model("llama", "nano")
    args = MultiTurnVerifierPPOConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none",
        save_strategy="steps", save_steps=1, per_device_train_batch_size=4, steps_per_generation=2, num_envs=4,
        num_ppo_epochs=1, max_completion_length=4, max_steps=3, logging_steps=1, learning_rate=1e-3, seed=0,
    )
    rows = Dataset.from_dict({"options": [{"target": "a"}] * 64, "seed": list(range(64))})
    trainer = MultiTurnVerifierPPOTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=rows,
                                          env_factory=lambda: TargetWordEnv(verify_iterations=1))
    trainer.train()
    for step in (1, 2, 3):
        folder = tmp_path / f"checkpoint-{step}"
        counters = json.loads((folder / "rollout_state_0.json").read_text())["counters"]
        compute = read_checkpoint_compute(folder)
        assert compute.step == step
        assert compute.flops == counters["flops/rollout"] + counters["flops/train"]
        assert compute.episodes == counters["env/episodes_total"]
    assert compute.episodes > 0  # one try per episode: every turn ends one
