"""Does more RL help? A finished study's RL arm, re-run longer from the same Init, evaluated along the way.

Trains the study's RL stage (`sft_vs_rl.study.pipeline._stage_rl`, the preset of the study's own `study.json` with
`rl_updates` and `num_checkpoints` replaced) from `STUDY/init`, then evaluates every checkpoint as the study does
(`_Evaluator`: greedy, the task's graded tries, the study's evaluation episodes). Prints a table of ID / unseen / OOD
success per checkpoint against the Init's, and writes JSON with the per-update PPO diagnostics.

    python benchmarks/rl_budget.py --study runs/tiny/gp-l --updates 48 --checkpoints 6 --output-dir runs/rl48
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", required=True, help="a finished study folder (its init/ and study.json)")
    parser.add_argument("--updates", type=int, required=True, help="PPO updates of the longer arm")
    parser.add_argument("--checkpoints", type=int, default=6, help="checkpoints (evaluated) along the arm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output-dir", required=True, help="where the arm, its evaluations and summary.json go")
    parser.add_argument("--output", default="benchmarks/results/rl_budget.json")
    args = parser.parse_args()

    import torch

    from sft_vs_rl.study.pipeline import _Evaluator, _stage_rl
    from sft_vs_rl.study.presets import StudyPreset, resolve_study_preset
    from sft_vs_rl.study.tasks import task_spec

    torch.set_num_threads(args.threads)
    study, out = Path(args.study), Path(args.output_dir)
    held = json.loads((study / "study.json").read_text())
    known = set(StudyPreset.__dataclass_fields__)
    settings = {k: (tuple(v) if k == "virl_num_milestones" else v) for k, v in held["settings"].items() if k in known}
    settings |= {"rl_updates": args.updates, "num_checkpoints": args.checkpoints}
    spec = task_spec(held["task"])
    preset = resolve_study_preset(StudyPreset(**settings), held["task"])
    init = json.loads((study / "init" / "stage.json").read_text())
    start = time.time()
    info = _stage_rl(spec, preset, str(study / "init"), init["flops"], out / "rl", args.seed, spec.verify_iterations)
    rl_s = time.time() - start
    evaluator = _Evaluator(spec, preset, out / "eval")
    rows = [("init", 0, evaluator.evaluate("init", str(study / "init"), "init", 0, init["flops"] / 1e9))]
    for name, c in sorted(info["checkpoints"].items(), key=lambda kv: kv[1]["step"]):
        update = c["step"] // (preset.rl_epochs * preset.rl_mini_batches)
        rows.append((name, update, evaluator.evaluate(f"rl-{c['step']}", str(out / "rl" / name), "rl", c["step"],
                                                      c["flops"] / 1e9, spec.verify_iterations)))
    headline = "success" if spec.is_gp else "step_accuracy"
    table = []
    print(f"| checkpoint | update | ID {headline} | ID unseen | OOD (rule) |\n|---|---|---|---|---|")
    for name, update, records in rows:
        by_split = {r["split"]: r["metrics"] for r in records}

        def cell(split, key, by_split=by_split):
            m = by_split.get(split, {}).get(key)
            return None if m is None else {"value": m["value"], "stderr": m["stderr"]}

        row = {"checkpoint": name, "update": update, "id": cell("id", headline),
               "id_unseen": cell("id", "unseen_success"), "ood_rule": cell("ood-rule", headline)}
        table.append(row)
        fmt = lambda m: "–" if m is None else f"{100 * m['value']:.1f} ± {100 * (m['stderr'] or 0):.1f}"  # noqa: E731
        print(f"| {name} | {update} | {fmt(row['id'])} | {fmt(row['id_unseen'])} | {fmt(row['ood_rule'])} |")
    result = {"study": str(study), "task": held["task"], "updates": args.updates, "seed": args.seed,
              "threads": args.threads, "rl_wall_s": rl_s, "eval_episodes": preset.eval_episodes, "table": table,
              "per_update": info["updates"]}
    for path in (out / "summary.json", Path(args.output)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
