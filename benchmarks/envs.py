"""Environment throughput: our environments against a re-creation of the original implementation's hot paths.

Run: `python benchmarks/envs.py [--quick] [--only gp|virl]`. Prints a table and writes
`benchmarks/results/envs.json`. Single process, single core, no torch. Numbers depend on the machine and on what
else runs on it; compare the ratios, which are measured in the same run.

GeneralPoints rows (ours vs the original's way, re-created here for the benchmark only):

* `gp/verify`: grade one model answer (ResponseEqn text) for a hand. Ours: `verify` (bounded parser, exact
  arithmetic). Original: `json.loads` then regexes, the token walk, `Counter`s, float `eval` of the formula and the
  prefix check against the solution list.
* `gp/verify-formula`: the same, for the formula alone (ours: `verify_formula`; original: the same path on a
  one-key JSON answer, so its parse is a fast `json.loads`).
* `gp/deal`: deal one solvable hand. Ours: `deal_hand` (weighted draw from a cached table). Original: draw four
  ranks, then brute-force every permutation x operator triple x bracketing with `eval` until a hand is solvable.
* `gp-l/episode`, `gp-vl/episode`: `reset` + one `step` with an answer. Ours at the default 224 px canvas (GP-VL
  only renders). Original: the brute-force deal, plus a 1200 px canvas re-rendered from card PNGs (decoded from
  bytes each time, resized, pasted) at every reset and step, in both the text and the image variant.

Other environments add a group: a function returning `(group, name, ours_fn, baseline_fn, unit)` rows, registered
in `ROW_BUILDERS` (see `gp_rows`); `--only <group>` runs one group.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import platform
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "envs.json"

Row = tuple[str, str, Callable[[], object], Callable[[], object] | None, str]


def throughput(fn: Callable[[], object], min_time: float, min_calls: int = 3) -> float:
    """Calls per second of `fn`, timed over at least `min_time` seconds and `min_calls` calls."""
    fn()  # warm caches (lazy tables, face cache), as a long-running trainer would have them
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and calls >= min_calls:
            return calls / elapsed


# ---------------------------------------------------------------------------------------------------------------
# GeneralPoints: the original's way (benchmark-only re-creation; trusted inputs, eval allowed here)
# ---------------------------------------------------------------------------------------------------------------
_BRACKETS = ((), (0, 4), (0, 6), (2, 6), (2, 8), (4, 8), (0, 4, 6, 10))


def original_solve(numbers: list[int], target: int = 24) -> list[str]:
    """Rosetta-code brute force as in the original: permutations x operators x bracketings, each `eval`ed."""
    found = []
    for perm in sorted(set(itertools.permutations(numbers))):
        for ops in itertools.product("+-*/", repeat=3):
            digits = [f"F({d})" for d in perm] if "/" in ops else [str(d) for d in perm]
            infix = [digits[0], ops[0], digits[1], ops[1], digits[2], ops[2], digits[3]]
            for brackets in _BRACKETS:
                expr = list(infix)
                for point, char in zip(brackets, "()" * (len(brackets) // 2)):
                    expr.insert(point, char)
                text = "".join(expr)
                try:
                    value = eval(text, {"F": Fraction})  # noqa: S307 - benchmark baseline on generated formulas
                except ZeroDivisionError:
                    continue
                if value == target:
                    found.append(text.replace("F(", "(") if "/" in ops else text)
    return found


def original_deal(rng: random.Random) -> tuple[list[int], list[str], list[str]]:
    """Draw ranks with replacement until the brute-force solver finds a solution (the original's reset)."""
    while True:
        ranks = [rng.randint(1, 13) for _ in range(4)]
        suits = [rng.choice("SC") for _ in range(4)]
        numbers = [min(r, 10) for r in ranks]
        solutions = original_solve(numbers)
        if solutions:
            return ranks, suits, solutions


_FORMULA_RE = re.compile(r'"formula": "(.*?)"')
_CARDS_RE = re.compile(r'"cards": \[([^\]]+)\]')


def original_verify(response: str, numbers: list[int], solutions: list[str], target: int = 24) -> float:
    """The original's parse + `step_rewards` path: regex parse, token walk, Counters, float eval, prefix check."""
    try:
        formula = json.loads(response)["formula"]
    except Exception:  # noqa: BLE001 - mirrors the original's fallback
        match = _FORMULA_RE.search(response)
        formula = match.group(1) if match else "None"
    cards = _CARDS_RE.search(response)
    _ = [c.strip(" '") for c in cards.group(1).split(",")] if cards else []
    formula = formula.split("=")[0]
    tokens = re.findall(r"\d+|[+\-*/()]", formula)
    if "".join(tokens) != formula:
        return -3.0
    reward, prev, stack = 0.0, None, 0
    for tok in tokens:
        kind = "num" if tok.isdigit() else "op" if tok in "+-*/" else tok
        if kind == "num" and prev not in (None, "op", "("):
            reward -= 3
        elif kind == "op" and prev not in ("num", ")"):
            reward -= 3
        elif kind == "(":
            stack += 1
        elif kind == ")":
            stack -= 1
        prev = kind
    used, have = Counter(int(n) for n in re.findall(r"\d+", formula)), Counter(numbers)
    if any(n not in have for n in used) or any(used[n] > have[n] for n in used):
        reward -= 2
    if any(have[n] > used[n] for n in have):
        reward -= 2
    if reward == 0:
        try:
            if eval(formula) == target:  # noqa: S307 - benchmark baseline, trusted generated formulas
                return 5.0
        except Exception:  # noqa: BLE001
            if any(s.startswith(formula) for s in solutions):
                return 1.0
        register = ""
        for tok in tokens:
            register += tok
            if not any(s.startswith(register) for s in solutions):
                return -1.0
    return reward


class OriginalRenderer:
    """Re-render a 1200 px canvas from card images at every call, decoding PNG bytes each time."""

    def __init__(self) -> None:
        from sft_vs_rl.envs.generalpoints.render import card_face

        self.png: dict[tuple[str, str], bytes] = {}
        for rank in ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K"):
            for suit in "SCHD":
                buf = io.BytesIO()
                card_face(rank, suit, 750 // 3, 1050 // 3).resize((750, 1050)).save(buf, format="PNG")
                self.png[(rank, suit)] = buf.getvalue()

    def __call__(self, ranks: list[str], suits: list[str]):
        from PIL import Image

        canvas = Image.new("RGB", (1200, 1200), "#35654d")
        for i, (rank, suit) in enumerate(zip(ranks, suits)):
            card = Image.open(io.BytesIO(self.png[(rank, suit)])).convert("RGBA").resize((270, 378))
            canvas.paste(card, (5 + 297 * i, 411))
        return canvas


def gp_rows(quick: bool) -> list[Row]:
    from sft_vs_rl.envs.generalpoints import (
        GeneralPointsEnv,
        deal_hand,
        format_response,
        parse_response,
        solve,
        verify,
        verify_formula,
    )
    from sft_vs_rl.envs.generalpoints.cards import RANKS, card_values

    # A pool of answers of every kind, for hands dealt by our env (correct, wrong value, wrong numbers, illegal).
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(256):
        ranks, _suits = deal_hand(rng)
        numbers = card_values(ranks)
        solutions = solve(numbers)
        for formula in (solutions[0], "+".join(map(str, numbers)), "+".join(map(str, numbers[:3])), "4x6"):
            pool.append((format_response(ranks, numbers, formula + "=24"), ranks, numbers))
    cycle = itertools.cycle(pool)

    def ours_verify():
        response, ranks, _ = next(cycle)
        return verify(response, ranks)

    formulas = itertools.cycle([(parse_response(r).formula, numbers) for r, _, numbers in pool])

    def ours_verify_formula():
        formula, numbers = next(formulas)
        return verify_formula(formula, numbers)

    original_solutions = {}
    for _, _, numbers in pool[:64]:
        key = tuple(sorted(numbers))
        if key not in original_solutions:
            original_solutions[key] = original_solve(list(key))
    small_pool = itertools.cycle(pool[:64])

    def original_verify_row():
        response, _, numbers = next(small_pool)
        return original_verify(response, numbers, original_solutions[tuple(sorted(numbers))])

    small_formulas = itertools.cycle([(json.dumps({"formula": parse_response(r).formula}), n) for r, _, n in pool[:64]])

    def original_verify_formula_row():
        response, numbers = next(small_formulas)
        return original_verify(response, numbers, original_solutions[tuple(sorted(numbers))])

    deal_rng = np.random.default_rng(1)
    py_rng = random.Random(1)
    renderer = OriginalRenderer()
    envs = {visual: GeneralPointsEnv(visual=visual) for visual in (False, True)}

    def ours_episode(visual: bool) -> Callable[[], object]:
        env = envs[visual]

        def run():
            _, info = env.reset()
            ranks, numbers = info["ranks"], info["numbers"]
            return env.step(format_response(ranks, numbers, "+".join(map(str, numbers)) + "=24"))

        return run

    def original_episode():
        ranks, suits, solutions = original_deal(py_rng)
        plain = [RANKS[r - 1] for r in ranks]
        numbers = [min(r, 10) for r in ranks]
        renderer(plain, suits)  # reset: observation image (the original renders even for GP-L)
        response = format_response(plain, numbers, "+".join(map(str, numbers)) + "=24")
        original_verify(response, numbers, solutions)
        renderer(plain, suits)  # step: re-rendered again

    return [
        ("gp", "gp/verify", ours_verify, original_verify_row, "verifications/s"),
        ("gp", "gp/verify-formula", ours_verify_formula, original_verify_formula_row, "verifications/s"),
        ("gp", "gp/deal", lambda: deal_hand(deal_rng), lambda: original_deal(py_rng), "deals/s"),
        ("gp", "gp-l/episode", ours_episode(False), original_episode, "episodes/s"),
        ("gp", "gp-vl/episode", ours_episode(True), original_episode, "episodes/s"),
    ]


# ---------------------------------------------------------------------------------------------------------------
# V-IRL rows
#
# * `virl/route`: a new route in the training city + its episode draws + rail + numbered instruction text
#   (`route_for_index`, `draw_episode`, `build_episode`). No baseline: the original only parses stored routes.
# * `virl-vl/obs`: one rendered 2x2 observation at the default 96 px per view, at fresh rail positions of fresh
#   routes. Original's way (re-created here): four 640 px crops resized to 1200 px and pasted into a 2405 px canvas,
#   then converted to a numpy array, at every reset and step (panorama projection and JPEG decoding not counted).
# * `virl-l/episode`, `virl-vl/episode`: `reset` (new route) + one `step` with the optimal answer.
# ---------------------------------------------------------------------------------------------------------------


def original_virl_observation(crops: list) -> np.ndarray:
    from PIL import Image

    canvas = Image.new("RGB", (2405, 2405), (0, 0, 0))
    for i, crop in enumerate(crops):
        canvas.paste(crop.resize((1200, 1200)), ((i % 2) * 1205, (i // 2) * 1205))
    return np.array(canvas)


def virl_rows(quick: bool) -> list[Row]:
    from PIL import Image

    from sft_vs_rl.envs.virl import VIRLEnv, build_episode, draw_episode, generate_city, route_for_index
    from sft_vs_rl.envs.virl.render import render_views

    city = generate_city("nyc-like")
    counter = itertools.count()
    rng = random.Random(0)

    def route_row():
        route = route_for_index(city, next(counter))
        return build_episode(route, *draw_episode(route, rng)).instruction

    positions = itertools.cycle(
        [step for i in range(10**6, 10**6 + (300 if quick else 3000)) for step in build_episode(
            route_for_index(city, i), rng.randint(0, 359)).rail]
    )  # fmt: skip

    def render_row():
        step = next(positions)
        return render_views(city, step.xy, step.heading)

    crops = [Image.new("RGB", (640, 640), (40 * i, 90, 120)) for i in range(4)]
    envs = {visual: VIRLEnv(visual=visual) for visual in (False, True)}

    def episode(visual: bool) -> Callable[[], object]:
        env = envs[visual]

        def run():
            env.reset()
            return env.step(env.optimal_response())

        return run

    def original_vl_episode():
        original_virl_observation(crops)  # reset
        original_virl_observation(crops)  # step

    return [
        ("virl", "virl/route", route_row, None, "routes/s"),
        ("virl", "virl-vl/obs", render_row, lambda: original_virl_observation(crops), "observations/s"),
        ("virl", "virl-l/episode", episode(False), None, "episodes/s"),
        ("virl", "virl-vl/episode", episode(True), original_vl_episode, "episodes/s"),
    ]


ROW_BUILDERS: dict[str, Callable[[bool], list[Row]]] = {"gp": gp_rows, "virl": virl_rows}

GOALS = {
    "gp/verify": 100_000,
    "gp/verify-formula": 100_000,
    "gp/deal": 100_000,
    "gp-vl/episode": 1_000,
    "virl/route": 5_000,
    "virl-vl/obs": 200,
}
RATIO_GOALS = {"gp-l/episode": 100, "gp-vl/episode": 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short timings (CI smoke run)")
    parser.add_argument("--only", choices=sorted(ROW_BUILDERS), help="run one group of rows")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON output (default: {RESULTS})")
    args = parser.parse_args()
    ours_time, base_time = (0.3, 0.5) if args.quick else (2.0, 4.0)

    groups = [args.only] if args.only else sorted(ROW_BUILDERS)
    rows = []
    for group in groups:
        if group not in ROW_BUILDERS:
            print(f"no rows registered for group {group!r} yet")
            continue
        start = time.perf_counter()
        built = ROW_BUILDERS[group](args.quick)
        setup = time.perf_counter() - start
        for _, name, ours, baseline, unit in built:
            ours_rate = throughput(ours, ours_time)
            base_rate = throughput(baseline, base_time, min_calls=2) if baseline else None
            ratio = ours_rate / base_rate if base_rate else None
            row = {"name": name, "unit": unit, "ours": ours_rate, "original": base_rate, "ratio": ratio}
            if name in GOALS:
                row["goal"] = GOALS[name]
                row["goal_met"] = ours_rate >= GOALS[name]
            if name in RATIO_GOALS:
                row["ratio_goal"] = RATIO_GOALS[name]
                row["ratio_goal_met"] = ratio is not None and ratio >= RATIO_GOALS[name]
            rows.append(row)
        print(f"[{group}] setup {setup:.2f}s (tables, caches, baseline PNGs)")

    header = f"{'row':<18} {'unit':<16} {'ours':>12} {'original':>12} {'ratio':>9}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = f"{row['original']:12.1f}" if row["original"] else f"{'-':>12}"
        ratio = f"{row['ratio']:8.0f}x" if row["ratio"] else f"{'-':>9}"
        goals = []
        if "goal" in row:
            goals.append(f">={row['goal']:,}/s {'met' if row['goal_met'] else 'MISSED'}")
        if "ratio_goal" in row:
            goals.append(f">={row['ratio_goal']}x {'met' if row['ratio_goal_met'] else 'MISSED'}")
        print(f"{row['name']:<18} {row['unit']:<16} {row['ours']:12.0f} {base} {ratio}  {'; '.join(goals)}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "envs",
        "quick": args.quick,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "note": "single process, single core; timings depend on load from other processes on the machine",
        "rows": rows,
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
