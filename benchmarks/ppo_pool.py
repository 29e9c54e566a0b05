"""Does PPO learn the hands it trains on? RL from a GP-L Init on a fixed pool of training-pool hands (each played
many times), greedy success on those same episodes before and after, and on the study's ID split (fresh hands).

    python benchmarks/ppo_pool.py INIT_DIR POOL_SIZE SEED OUT_DIR     # e.g. runs/study/init 64 0 runs/pool64_s0

Writes OUT_DIR.json. The RL settings are the tiny preset's (16 updates); the Init is a study's `init/` folder.
"""
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.ppo_diagnostics import greedy_id_success
from sft_vs_rl.study import pipeline
from sft_vs_rl.study.presets import resolve_study_preset
from sft_vs_rl.study.tasks import TaskSpec, task_spec

torch.set_num_threads(1)
init, POOL, SEED, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
spec = task_spec("gp-l")
preset = resolve_study_preset("tiny", "gp-l", rl_updates=16, num_checkpoints=1)
pool = spec.rl_dataset(preset, POOL, seed=100 + SEED)


def pool_episodes(self, preset, num_rows, seed=0):
    """The RL arm's episodes: the pool, repeated."""
    return pool.select([i % POOL for i in range(num_rows)])


TaskSpec.rl_dataset = pool_episodes  # the study's RL stage, on the pool instead of fresh hands
flops = json.loads(Path(init, "stage.json").read_text())["flops"]
ideval = spec.eval_dataset(preset, "id", 100)
report = {"pool": POOL, "seed": SEED, "init_pool": greedy_id_success(init, spec, preset, pool),
          "init_id": greedy_id_success(init, spec, preset, ideval)}
print(report, flush=True)
t = time.time()
stage = pipeline._stage_rl(spec, preset, init, flops, out, SEED, 5)
report["train_s"] = time.time() - t
ck = str(out / f"checkpoint-{max(c['step'] for c in stage['checkpoints'].values())}")
report["rl_pool"] = greedy_id_success(ck, spec, preset, pool)
report["rl_id"] = greedy_id_success(ck, spec, preset, ideval)
keys = ("update", "first_try_success", "episode_success", "explained_variance", "approx_kl")
report["updates"] = [{k: u.get(k) for k in keys} for u in stage["updates"]]
print(json.dumps(report, indent=1))
out.with_suffix(".json").write_text(json.dumps(report, indent=1))
