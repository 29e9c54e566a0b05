"""Wall time of a study's parallel part (`sft-vs-rl study --workers N`) against one process, in the same run.

After Init, a study's arms (each seed's RL arm and the SFT arm that follows its compute, RL from the base) and then
the evaluation of every checkpoint are independent jobs; `--workers N` runs them in N spawned processes that share
`--num-threads` (`sft_vs_rl.study.workers`). This script times exactly that part: it runs the study once to make a
base and an Init, keeps only those two stages, and then, for each repeat and each worker count in turn, copies them
into a fresh folder and runs the same study command there (so both runs resume from the same base and Init and
redo everything after it). Worker counts alternate within each repeat, so a change in the machine's load hits them
alike; the fastest repeat of each is kept.

    python benchmarks/workers.py                    # smoke preset, seeds 0 1, RL from the base: 3 arms, 2 threads
    python benchmarks/workers.py --preset tiny --set rl_updates=4 --set eval_episodes=150

Prints a table and writes `benchmarks/results/workers.json` (`runs` → workers → seconds, `speedup`). Run on quiet
cores: the point is how two processes share two cores, which other jobs change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEPT = ("base", "init", "study.json")
"""What the timed runs start from: the base, Init and the folder's study description."""


def _study(out: Path, args: argparse.Namespace, workers: int) -> float:
    command = [sys.executable, "-m", "sft_vs_rl.cli", "study", "--task", args.task, "--preset", args.preset,
               "--output-dir", str(out), "--num-threads", str(args.threads), "--workers", str(workers),
               "--seeds", *map(str, args.seeds), *(["--rl-from-base"] if args.rl_from_base else [])]
    for item in args.set:
        command += ["--set", item]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"workers.py: the study failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="gp-l", choices=["gp-l", "virl-l"])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="StudyPreset override")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--no-rl-from-base", dest="rl_from_base", action="store_false")
    parser.add_argument("--threads", type=int, default=2, help="torch threads shared by the workers (default 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts compared")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--note", default="", help="how the machine was loaded, stored in the JSON")
    parser.add_argument("--output", default="benchmarks/results/workers.json")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    runs: dict[int, list[float]] = {w: [] for w in args.workers}
    with tempfile.TemporaryDirectory(prefix="bench_workers_") as tmp:
        prepared = Path(tmp) / "prepared"
        print("preparing the base and Init (one full study) ...", flush=True)
        prepare_s = _study(prepared, args, 1)
        for item in prepared.iterdir():
            if item.name not in KEPT:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        for repeat in range(args.repeats):
            for workers in args.workers:
                out = Path(tmp) / f"run-{repeat}-{workers}"
                shutil.copytree(prepared, out)
                runs[workers].append(_study(out, args, workers))
                print(f"repeat {repeat}: --workers {workers}: {runs[workers][-1]:.1f} s", flush=True)
                shutil.rmtree(out)
    best = {w: min(times) for w, times in runs.items()}
    first = args.workers[0]
    print(f"\n{'workers':>8} {'best s':>8} {'speed-up':>9}   (after Init; {args.preset}, seeds {args.seeds}, "
          f"{args.threads} threads in all)")
    for w in args.workers:
        print(f"{w:>8} {best[w]:>8.1f} {best[first] / best[w]:>8.2f}x")
    report = {"task": args.task, "preset": args.preset, "overrides": args.set, "seeds": args.seeds,
              "rl_from_base": args.rl_from_base, "threads": args.threads, "prepare_s": prepare_s,
              "runs": {str(w): t for w, t in runs.items()}, "best_s": {str(w): t for w, t in best.items()},
              "speedup": {str(w): best[first] / best[w] for w in args.workers}, "machine": platform.platform(),
              "cpus": os.cpu_count(), "note": args.note}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
