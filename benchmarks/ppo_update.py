"""Cost of a PPO update step against a bare forward + backward of the same model on the same tokens.

The PPO step is what `MultiTurnVerifierPPOTrainer._compute_loss` runs per micro-batch: padding trimmed, one forward
through the patched model giving token log-probs, entropies and the value head's output (`ppo_forward`), the clipped
policy and value losses with thought weights (`ppo_losses`), and backward. The baseline is the model's own causal-LM
loss (`model(input_ids, attention_mask, labels=...)`) and backward on the same batch. Goal: overhead <= 25%.

    python benchmarks/ppo_update.py            # tiny preset, 8 turns x (prompt <= 192 + 48 completion tokens)
    python benchmarks/ppo_update.py --quick    # nano preset, fewer repeats

Prints a table and writes `benchmarks/results/ppo_update.json`. The machine is shared with other jobs: compare the
ratio, measured in the same run with interleaved repeats.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--batch", type=int, default=8, help="turns per micro-batch")
    parser.add_argument("--prompt", type=int, default=192, help="longest prompt (tokens); prompts vary in length")
    parser.add_argument("--completion", type=int, default=48, help="longest completion (tokens)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/ppo_update.json")
    args = parser.parse_args()

    import torch

    from sft_vs_rl.models import ValueHead, build_tiny_model
    from sft_vs_rl.trainers.multiturn_ppo_trainer import _trim_padding, add_ppo_forward, ppo_forward, ppo_losses

    torch.set_num_threads(args.threads)
    preset = args.preset or ("nano" if args.quick else "tiny")
    repeats = args.repeats or (3 if args.quick else 6)
    model, tok = build_tiny_model("llama", preset)
    model.train()
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size

    # A batch shaped like a rollout: left-padded prompts of varied length, right-padded completions
    b, p, t = args.batch, args.prompt, args.completion
    prompt_lens = torch.randint(p // 2, p + 1, (b,), generator=gen)
    completion_lens = torch.randint(t // 2, t + 1, (b,), generator=gen)
    batch = {
        "prompt_ids": torch.randint(10, vocab, (b, p), generator=gen),
        "prompt_mask": (torch.arange(p) >= (p - prompt_lens[:, None])).long(),
        "completion_ids": torch.randint(10, vocab, (b, t), generator=gen),
        "completion_mask": (torch.arange(t) < completion_lens[:, None]).long(),
    }
    batch["prompt_ids"][batch["prompt_mask"] == 0] = tok.pad_token_id
    batch["completion_ids"][batch["completion_mask"] == 0] = tok.pad_token_id
    batch["completion_weights"] = batch["completion_mask"].float()
    batch["completion_weights"][:, : t // 3] *= 0.5
    batch["old_logps"] = -torch.rand(b, t, generator=gen) * batch["completion_mask"]
    for key in ("advantages", "old_values", "returns"):
        batch[key] = torch.randn(b, generator=gen)
    tokens = int(batch["prompt_mask"].sum() + batch["completion_mask"].sum())

    input_ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    labels = torch.where(torch.cat([torch.zeros_like(batch["prompt_mask"]), batch["completion_mask"]], 1) == 1,
                         input_ids, -100)
    add_ppo_forward(model, ValueHead(model.config.hidden_size, seed=0), temperature=0.2)

    def bare():
        model.zero_grad(set_to_none=True)
        model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss.backward()

    def ppo():
        model.zero_grad(set_to_none=True)
        mb = _trim_padding(batch)
        out = ppo_forward(model, mb)
        losses = ppo_losses(out.log_probs, mb["old_logps"], mb["completion_weights"], mb["advantages"], out.value,
                            mb["old_values"], mb["returns"], entropy=out.entropy)
        losses.loss.backward()

    for fn in (bare, ppo):  # warm-up
        fn()
    times = {"bare": [], "ppo": []}
    for _ in range(repeats):  # interleaved, so load changes hit both
        for name, fn in (("bare", bare), ("ppo", ppo)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    result = {
        "preset": preset,
        "batch": b,
        "max_prompt_tokens": p,
        "max_completion_tokens": t,
        "real_tokens": tokens,
        "bare_tokens_per_s": tokens / best["bare"],
        "ppo_tokens_per_s": tokens / best["ppo"],
        "overhead": best["ppo"] / best["bare"] - 1,
        "repeats": repeats,
        "torch_threads": args.threads,
        "machine": platform.platform(),
        "note": "shared 2-core CPU machine under load from other jobs; min over interleaved repeats",
    }
    print(f"{'step':<34}{'tokens/s':>12}")
    print(f"{'bare forward + backward (LM loss)':<34}{result['bare_tokens_per_s']:>12.0f}")
    print(f"{'PPO update step (policy + value)':<34}{result['ppo_tokens_per_s']:>12.0f}")
    print(f"overhead {100 * result['overhead']:.1f}%  (goal <= 25%)")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
