"""Two-rank data-parallel PPO run for `test_ddp_two_cpu_ranks` (launched with `torchrun --nproc_per_node 2`).

Each rank plays its own episodes (rollout seed = seed + rank), trains two steps, and writes a checksum of every
trainable parameter: DDP must keep the ranks' weights (value head included) identical.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))


def main(output_dir: str) -> None:
    import torch
    from datasets import Dataset
    from ppo_toy_env import TargetWordEnv

    from sft_vs_rl.models import build_tiny_model
    from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer

    model, tok = build_tiny_model("llama", "nano")
    args = MultiTurnVerifierPPOConfig(
        output_dir=output_dir, use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none",
        save_strategy="no", per_device_train_batch_size=4, steps_per_generation=2, num_envs=4, num_ppo_epochs=1,
        max_completion_length=4, max_steps=2, logging_steps=1, learning_rate=1e-3, temperature=1.0, disable_tqdm=True,
    )
    rows = Dataset.from_dict({"options": [{"target": "a"}] * 64, "seed": list(range(64))})
    trainer = MultiTurnVerifierPPOTrainer(model=model, args=args, processing_class=tok, train_dataset=rows,
                                          env_factory=lambda: TargetWordEnv())
    trainer.train()
    rank = trainer.accelerator.process_index
    sums = {n: float(p.detach().double().sum()) for n, p in trainer.model.named_parameters() if p.requires_grad}
    result = {"world_size": trainer.accelerator.num_processes, "sums": sums,
              "episodes": trainer.rollout.num_episodes_started,
              "seeds_first": [int(trainer.rollout.rng.integers(10**6))],
              "torch_threads": torch.get_num_threads()}
    with open(os.path.join(output_dir, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
