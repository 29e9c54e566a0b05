"""CPU throughput of every stage of the tiny study, against this machine's fp32 GEMM peak measured in the same run.

Each stage runs as the study runs it (`sft_vs_rl.study.pipeline`'s own stage functions, the study preset's batch
sizes, sequence lengths and generation settings), only with fewer steps:

* `pretrain`: the base's pretraining (`_stage_base`, full-sequence loss on the rule-varied corpus);
* `sft`: Init / SFT-arm steps (`_sft` on the ID prompt → answer pairs) from that base;
* `ppo_update`: the PPO arm's optimizer steps (`_stage_rl`), rollout time taken out;
* `rollout`: the PPO arm's rollouts (`MultiTurnRollout.collect`: templating, generation, environment steps);
* `eval`: the study's evaluation of a checkpoint (`_Evaluator`: greedy, the task's graded tries).

Model FLOPs follow the study's accounting (`sft_vs_rl.compute`, N with embeddings): 6·N per trained token
(pretrain, sft), (6·epochs + 2)·N per rollout token for a PPO update (training epochs plus the scoring forward), 2·N
per token a rollout or an evaluation processes (prompt + completion). MFU = model GFLOP/s ÷ the GEMM peak. The
first steps of each trained stage are warm-up and are not timed.

    python benchmarks/throughput.py                    # tiny preset (the study's: nano model), gp-l
    python benchmarks/throughput.py --set model=tiny   # the 1.1 M model (the README's table)
    python benchmarks/throughput.py --quick            # fewer steps

Prints a table and writes `benchmarks/results/throughput.json` (`peak_gflops`, `stages` → name → `tokens_per_s`,
`gflops_per_s`, `mfu`). Run on quiet cores: timings of a shared machine are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

STAGES = ("pretrain", "sft", "ppo_update", "rollout", "eval")


def gemm_peak_gflops(size: int = 2048, repeats: int = 20) -> float:
    """Best fp32 `torch.mm` GFLOP/s of a `size`-square product (2·size³ FLOPs) on the current thread count."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(2):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _step_timer(warmup: int, rollout: dict | None = None):
    """A `TrainerCallback` timing each optimizer step after `warmup` steps, with the trained tokens of each; with a
    `rollout` meter, the time spent in rollouts during a step is taken out of it."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds, self.tokens, self._t0, self._seen, self._rollout_s = [], [], 0.0, 0, 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self._t0, self._seen = time.perf_counter(), int(state.num_input_tokens_seen or 0)
            self._rollout_s = rollout["seconds"] if rollout else 0.0

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step > warmup:
                in_rollout = (rollout["seconds"] - self._rollout_s) if rollout else 0.0
                self.seconds.append(time.perf_counter() - self._t0 - in_rollout)
                self.tokens.append(int(state.num_input_tokens_seen or 0) - self._seen)

    return StepTimer()


@contextmanager
def _rollout_meter():
    """Time `MultiTurnRollout.collect` and count the tokens its `generate` calls process (prompt + completion)."""
    from sft_vs_rl.trainers import rollout as rollout_module

    meter = {"seconds": 0.0, "tokens": 0, "calls": []}  # calls: (seconds, tokens) of each collect
    collect, generate = rollout_module.MultiTurnRollout.collect, rollout_module.MultiTurnRollout._generate

    def timed_collect(self, *args, **kwargs):
        start, tokens = time.perf_counter(), meter["tokens"]
        try:
            return collect(self, *args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            meter["seconds"] += seconds
            meter["calls"].append((seconds, meter["tokens"] - tokens))

    def counted_generate(self, model, slots):
        out = generate(self, model, slots)
        prompts, completions = out[0], out[1]
        meter["tokens"] += sum(len(p) for p in prompts) + sum(len(c) for c in completions)
        return out

    rollout_module.MultiTurnRollout.collect = timed_collect
    rollout_module.MultiTurnRollout._generate = counted_generate
    try:
        yield meter
    finally:
        rollout_module.MultiTurnRollout.collect, rollout_module.MultiTurnRollout._generate = collect, generate


def _row(tokens: float, seconds: float, flops_per_token: float, peak: float) -> dict[str, float]:
    tokens_per_s = tokens / seconds if seconds > 0 else float("nan")
    gflops = tokens_per_s * flops_per_token / 1e9
    return {"tokens_per_s": tokens_per_s, "gflops_per_s": gflops, "mfu": gflops / peak, "tokens": tokens,
            "seconds": seconds}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (nano model)")
    parser.add_argument("--task", default="gp-l", choices=["gp-l", "virl-l"])
    parser.add_argument("--preset", default="tiny", help="study preset (default: tiny)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="StudyPreset override (JSON value), e.g. --set model=small")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the CI machine's cores)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per trained stage (default 8, 3 quick)")
    parser.add_argument("--output", default="benchmarks/results/throughput.json")
    args = parser.parse_args(argv)

    import torch

    from sft_vs_rl.study import pipeline
    from sft_vs_rl.study.presets import resolve_study_preset
    from sft_vs_rl.study.tasks import task_spec

    torch.set_num_threads(args.threads)
    steps = args.steps or (3 if args.quick else 8)
    warmup = 2
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.quick:
        overrides.setdefault("model", "nano")
    spec = task_spec(args.task)
    preset = resolve_study_preset(args.preset, args.task, **overrides)
    preset = resolve_study_preset(
        preset, args.task, corpus_size=min(preset.corpus_size, 40 * preset.pretrain_batch_size * (steps + warmup)),
        tokenizer_texts=min(preset.tokenizer_texts, 4000), pretrain_steps=warmup + steps, init_steps=warmup + steps,
        sft_train_size=min(preset.sft_train_size, preset.init_batch_size * (warmup + steps)), rl_updates=3,
        num_checkpoints=1, eval_episodes=min(preset.eval_episodes, preset.eval_batch),
    )
    peak = gemm_peak_gflops()
    print(f"fp32 GEMM peak: {peak:.1f} GFLOP/s ({args.threads} threads)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="throughput_"))
    stages: dict[str, dict[str, float]] = {}

    timer = _step_timer(warmup)
    base = pipeline._stage_base(spec, preset, work / "base", 0, callbacks=[timer])
    n = base["n_params"]
    stages["pretrain"] = _row(sum(timer.tokens), sum(timer.seconds), 6.0 * n, peak)

    timer = _step_timer(warmup)
    trainer, _ = pipeline._sft(str(work / "base"), spec.sft_dataset(preset), work / "sft", steps=warmup + steps,
                                  batch=preset.init_batch_size, lr=preset.init_lr, seed=0, preset=preset,
                                  callbacks=[timer])
    trainer.save_model(str(work / "init"))
    trainer.processing_class.save_pretrained(str(work / "init"))
    (work / "init" / pipeline.STAGE_FILE).write_text(json.dumps({"flops": 0.0}))
    stages["sft"] = _row(sum(timer.tokens), sum(timer.seconds), 6.0 * n, peak)

    # PPO: the first update is warm-up; the later ones are timed, their rollouts apart from their optimizer steps.
    steps_per_update = preset.rl_epochs * preset.rl_mini_batches
    with _rollout_meter() as rollout:
        timer = _step_timer(steps_per_update, rollout)
        start = time.perf_counter()
        pipeline._stage_rl(spec, preset, str(work / "init"), 0.0, work / "rl", 0, spec.verify_iterations,
                           callbacks=[timer])
        rl_seconds = time.perf_counter() - start
    timed = rollout["calls"][1:]
    rollout_tokens = sum(t for _, t in timed)
    stages["rollout"] = _row(rollout_tokens, sum(s for s, _ in timed), 2.0 * n, peak)
    epochs = preset.rl_epochs  # each rollout token is trained `epochs` times and scored once
    stages["ppo_update"] = _row(epochs * rollout_tokens, sum(timer.seconds), (6.0 * epochs + 2) / epochs * n, peak)

    checkpoint = str(work / "rl" / max((p.name for p in (work / "rl").glob("checkpoint-*")),
                                       key=lambda s: int(s.split("-")[1])))
    evaluator = pipeline._Evaluator(spec, preset, work / "eval")
    with _rollout_meter() as evaluation:
        evaluator.evaluate("rl", checkpoint, "rl", 0, 0.0)
    stages["eval"] = _row(evaluation["tokens"], evaluation["seconds"], 2.0 * n, peak)

    print(f"\n{'stage':<11} {'tokens/s':>10} {'GFLOP/s':>9} {'MFU':>6}   (model {preset.model}, N = {n:,}, "
          f"{args.threads} threads, peak {peak:.0f} GFLOP/s)")
    for name in STAGES:
        row = stages[name]
        print(f"{name:<11} {row['tokens_per_s']:>10.0f} {row['gflops_per_s']:>9.1f} {100 * row['mfu']:>5.1f}%")
    report = {"peak_gflops": peak, "stages": stages, "model": preset.model, "n_params": n, "task": args.task,
              "preset": args.preset, "overrides": overrides, "threads": args.threads, "timed_steps": steps,
              "rl_stage_s": rl_seconds, "torch": torch.__version__, "machine": platform.processor() or platform.machine()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
