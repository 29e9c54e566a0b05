"""Is PPO learning? Train the study's RL arm from one Init under several settings and print its diagnostics.

For each variant (a set of `StudyPreset` overrides of the RL settings), this runs the study's own RL stage
(`sft_vs_rl.study.pipeline._stage_rl`: `MultiTurnVerifierPPOTrainer` with the multi-turn verifier) from the same Init,
with the policy/value gradient split logged, then evaluates the Init and the trained policy greedily on the same ID
episodes (the study's ID evaluation split, 5 graded tries). It prints, per variant and update, training success and
reward, approx_kl / clipfrac (mean over the update and at its last step), the share of turns whose policy gradient
survives clipping, the share whose value gradient the value clip removes, explained variance, advantage / return
statistics and the gradient norms of the policy and value terms on the shared backbone; then a summary table. JSON
goes to `--output`.

    python benchmarks/ppo_diagnostics.py --init runs/study/init --task gp-l --updates 16 \\
        --variant shipped '{"rl_mini_batches": 1}' --variant fixed '{}'

An Init comes from a study run (`<output-dir>/init`). Settings not named in a variant are the preset's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

COLUMNS = (
    ("first_try_success", "try1", "{:.2f}"), ("episode_success", "succ", "{:.2f}"), ("reward_per_turn", "r/turn", "{:+.2f}"),
    ("approx_kl", "kl", "{:.3f}"), ("approx_kl_last", "kl_last", "{:.3f}"), ("clipfrac", "clip", "{:.2f}"),
    ("pg_active_frac", "pg_live", "{:.2f}"), ("vf_clipfrac", "vclip", "{:.2f}"),
    ("explained_variance", "ev", "{:+.2f}"), ("advantages_std", "adv_sd", "{:.2f}"),
    ("returns_mean", "ret", "{:+.2f}"), ("returns_std", "ret_sd", "{:.2f}"), ("values_mean", "v", "{:+.2f}"),
    ("values_std", "v_sd", "{:.2f}"), ("grad_norm_policy", "|g_pi|", "{:.3f}"), ("grad_norm_value", "|g_v|", "{:.3f}"),
    ("grad_norm", "|g|", "{:.3f}"),
)


def _fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return pattern.format(value)


def _mean(rows, key: str) -> float:
    values = [r[key] for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values else float("nan")


def greedy_id_success(checkpoint: str, spec, preset, rows, seed: int = 42) -> dict[str, float]:
    """Greedy ID success (within the task's graded tries) and first-try success of a checkpoint."""
    from transformers import GenerationConfig

    from sft_vs_rl.evaluation import episode_success
    from sft_vs_rl.evaluation.runner import evaluate
    from sft_vs_rl.models import load_model
    from sft_vs_rl.models.loading import tokenizer_of

    model, processor = load_model(checkpoint)
    tokenizer = tokenizer_of(processor)
    config = GenerationConfig(max_new_tokens=preset.max_new_tokens, do_sample=False,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    result = evaluate(model, rows, processor=processor, task=spec.task, split="id", method="rl", gflops=0.0,
                      batch_size=preset.eval_batch, generation_config=config, seed=seed, progress=False)
    metric = result.record.metrics["step_accuracy" if not spec.is_gp else "success"]
    out = {"id": metric.value, "id_stderr": metric.stderr, "n": metric.n}
    if spec.is_gp:
        out["first_try"] = episode_success(result.episodes, verify_iterations=1).value
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--init", required=True, help="Init checkpoint folder (a study's `init/`)")
    parser.add_argument("--task", default="gp-l")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--updates", type=int, default=16, help="PPO updates per variant")
    parser.add_argument("--eval-episodes", type=int, default=100)
    parser.add_argument("--variant", nargs=2, action="append", metavar=("NAME", "JSON"), default=None,
                        help="a named set of StudyPreset overrides (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="StudyPreset override for every variant (JSON value)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-threads", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="where the RL runs write (default: a temporary folder)")
    parser.add_argument("--output", default="benchmarks/results/ppo_diagnostics.json")
    args = parser.parse_args(argv)

    import torch

    from sft_vs_rl.study.pipeline import _stage_rl
    from sft_vs_rl.study.presets import resolve_study_preset
    from sft_vs_rl.study.tasks import task_spec

    torch.set_num_threads(args.num_threads)
    common = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    variants = args.variant or [["preset", "{}"]]
    spec = task_spec(args.task)
    init_path = str(Path(args.init).resolve())
    init_stage = json.loads((Path(init_path) / "stage.json").read_text())
    base_preset = resolve_study_preset(args.preset, args.task, rl_updates=args.updates, num_checkpoints=1, **common)
    eval_rows = spec.eval_dataset(base_preset, "id", args.eval_episodes)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="ppo_diag_"))

    report = {"init": init_path, "task": args.task, "preset": args.preset, "updates": args.updates,
              "eval_episodes": args.eval_episodes, "common": common, "variants": {}}
    t0 = time.time()
    report["init_eval"] = greedy_id_success(init_path, spec, base_preset, eval_rows)
    print(f"Init greedy ID: {report['init_eval']}", flush=True)
    for name, overrides in variants:
        changes = json.loads(overrides)
        preset = resolve_study_preset(base_preset, args.task, **changes)
        out = workdir / name
        start = time.time()
        stage = _stage_rl(spec, preset, init_path, init_stage["flops"], out, args.seed, spec.verify_iterations,
                          log_gradient_norms=True)
        train_s = time.time() - start
        last = max(stage["checkpoints"].values(), key=lambda c: c["step"])
        evaluation = greedy_id_success(str(out / f"checkpoint-{last['step']}"), spec, preset, eval_rows)
        report["variants"][name] = {"overrides": changes, "train_s": train_s, "eval": evaluation,
                                    "updates": stage["updates"]}
        print(f"\n## {name} {changes}  ({train_s:.0f} s)  greedy ID {evaluation}")
        print(" ".join(f"{h:>7}" for h in ("update",) + tuple(c[1] for c in COLUMNS)))
        for row in stage["updates"]:
            print(" ".join([f"{row['update']:>7}"] + [f"{_fmt(row.get(k), p):>7}" for k, _, p in COLUMNS]))
        sys.stdout.flush()

    init_eval = report["init_eval"]
    print(f"\n| variant | greedy ID (Init {100 * init_eval['id']:.1f} ± {100 * init_eval['id_stderr']:.1f}) | "
          "first try | training first-try success, first → last update | EV last | approx_kl mean | clipfrac mean |")
    print("|---|---|---|---|---|---|---|")
    for name, v in report["variants"].items():
        ups = v["updates"]
        print(f"| {name} | {100 * v['eval']['id']:.1f} ± {100 * v['eval']['id_stderr']:.1f} | "
              f"{100 * (v['eval'].get('first_try') or 0):.1f} | {ups[0].get('first_try_success', 0):.2f} → "
              f"{ups[-1].get('first_try_success', 0):.2f} | {ups[-1].get('explained_variance', float('nan')):+.2f} | "
              f"{_mean(ups, 'approx_kl'):.3f} | {_mean(ups, 'clipfrac'):.2f} |")
    report["wall_s"] = time.time() - t0
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.output} ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
