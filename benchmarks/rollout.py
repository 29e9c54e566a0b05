"""Throughput of the batched multi-turn rollout (`sft_vs_rl.trainers.rollout`) against two baselines, in one run.

* `generate`: raw batched `model.generate` on exactly the batches the rollout generated from (same prompts, same
  padding, same number of new tokens): the limit a rollout can reach (no chat templating, no env stepping).
* `sequential`: the same episodes played one at a time (batch 1), the way the original code collects turns.

Every generation is forced to `--new-tokens` tokens (`min_new_tokens`), so the three runs generate the same token
counts. The environment is GeneralPoints (compact prompts, 5 graded tries); an untrained tiny model fails every try,
so each episode has 5 turns with a growing conversation, as in the paper's multi-turn setting.

    python benchmarks/rollout.py --batch 64 --threads 2   # the study's rollout: tiny model, 64 envs, static cache
    python benchmarks/rollout.py --cache dynamic          # transformers' dynamic KV cache instead
    python benchmarks/rollout.py --quick                  # nano model, fewer episodes

Prints a table and writes `benchmarks/results/rollout.json`. Timings on a shared machine are noisy: compare the
ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="nano model, 16 episodes")
    parser.add_argument("--preset", default=None, help="tiny-model preset (default: tiny, nano with --quick)")
    parser.add_argument("--batch", type=int, default=64, help="environments stepping together (the study's 64)")
    parser.add_argument("--cache", default="static", choices=["static", "dynamic"],
                        help="KV cache of every generation (default: static, the tiny study preset's)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes to play (default: --batch, 16 with --quick)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per turn (a GP JSON answer)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least disturbed on a shared box)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats, best kept (default 2, 1 quick)")
    parser.add_argument("--output", default="benchmarks/results/rollout.json")
    parser.add_argument("--note", default="", help="how the machine was loaded, stored in the JSON")
    args = parser.parse_args()

    import torch
    from transformers import GenerationConfig

    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv
    from sft_vs_rl.models import build_tiny_model
    from sft_vs_rl.trainers.rollout import MultiTurnRollout, encode_prompts, run_episodes

    torch.set_num_threads(args.threads)
    preset = args.preset or ("nano" if args.quick else "tiny")
    episodes = args.episodes or (16 if args.quick else args.batch)
    model, tok = build_tiny_model("llama", preset)
    model.eval()
    config = GenerationConfig(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=True,
                              temperature=1.0, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                              cache_implementation="static" if args.cache == "static" else None)
    specs = [{"seed": s} for s in range(episodes)]

    def make_envs(n):
        return [GeneralPointsEnv(prompt_style="compact", verify_iterations=5) for _ in range(n)]

    # Warm-up (the first generate call of a process is several times slower)
    run_episodes(model, tok, make_envs(2), specs[:2], config)

    # 1. Batched multi-turn rollout; its generate batches (same prompts, same padding) are recorded for baseline 2
    rollout = MultiTurnRollout(make_envs(args.batch), tok, config)
    calls = []
    generate = rollout._generate

    def recording_generate(model, slots):
        calls.append([slot.messages for slot in slots])
        return generate(model, slots)

    rollout._generate = recording_generate
    rollout.add_episodes(specs)
    records = rollout.collect(model).episodes
    turns = sum(r.num_turns for r in records)
    tokens = turns * args.new_tokens

    # 2. Raw batched generate on exactly those batches
    encoded = [encode_prompts(tok, conversations) for conversations in calls]

    def rollout_run():
        return run_episodes(model, tok, make_envs(args.batch), specs, config)

    def generate_run():
        with torch.no_grad():
            for enc in encoded:
                model.generate(**enc, generation_config=config)

    # 3. One episode at a time
    def sequential_run():
        return run_episodes(model, tok, make_envs(1), specs, config)

    # Interleaved repeats, best time kept: load from other jobs hits all three alike.
    best = {"rollout": float("inf"), "generate": float("inf"), "sequential": float("inf")}
    sequential = records
    for _ in range(args.repeats or (1 if args.quick else 2)):
        for name, fn in (("rollout", rollout_run), ("generate", generate_run), ("sequential", sequential_run)):
            start = time.perf_counter()
            out = fn()
            best[name] = min(best[name], time.perf_counter() - start)
            if name == "sequential":
                sequential = out
    rollout_s, generate_s, sequential_s = best["rollout"], best["generate"], best["sequential"]

    seq_tokens = sum(r.num_turns for r in sequential) * args.new_tokens
    result = {
        "preset": preset,
        "batch": args.batch,
        "cache": args.cache,
        "episodes": episodes,
        "turns": turns,
        "new_tokens_per_turn": args.new_tokens,
        "rollout_tokens_per_s": tokens / rollout_s,
        "generate_tokens_per_s": tokens / generate_s,
        "sequential_tokens_per_s": seq_tokens / sequential_s,
        "torch_threads": args.threads,
        "machine": platform.platform(),
        "note": args.note,
    }
    result["ratio_vs_generate"] = result["rollout_tokens_per_s"] / result["generate_tokens_per_s"]
    result["ratio_vs_sequential"] = result["rollout_tokens_per_s"] / result["sequential_tokens_per_s"]

    print(f"{'run':<28}{'tokens/s':>12}")
    print(f"{'batched multi-turn rollout':<28}{result['rollout_tokens_per_s']:>12.0f}")
    print(f"{'raw batched generate':<28}{result['generate_tokens_per_s']:>12.0f}")
    print(f"{'one episode at a time':<28}{result['sequential_tokens_per_s']:>12.0f}")
    print(f"ratio_vs_generate   {result['ratio_vs_generate']:.2f}  (goal >= 0.9)")
    print(f"ratio_vs_sequential {result['ratio_vs_sequential']:.2f}  (goal >= 10 at batch 64)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
