"""`results.md` of a study: this run's version of the paper's Fig. 6 table, every checkpoint, and the figures."""

from __future__ import annotations

import logging
import math
import statistics
from pathlib import Path
from typing import Any

from sft_vs_rl.atomic import write_text
from sft_vs_rl.evaluation.results import ResultRecord, Results, equal_compute_limit
from sft_vs_rl.tasks import METHOD_LABELS, SPLIT_LABELS, get_task, headline_metric

logger = logging.getLogger(__name__)

__all__ = ["equal_compute_table", "write_report"]

def _pct(record: ResultRecord | None, metric: str) -> str:
    if record is None or metric not in record.metrics:
        return "–"
    m = record.metrics[metric]
    if m.value is None or math.isnan(m.value):
        return "–"
    err = f" ± {100 * m.stderr:.1f}" if m.stderr is not None else ""
    return f"{100 * m.value:.1f}{err} (n={m.n})"


def _main(results: Results, task: str, split: str, method: str) -> list[ResultRecord]:
    budget = results.metadata.get("verify_iterations")
    train_budget = budget if method == "rl" else None
    return [r for r in results.select(task=task, split=split, method=method)
            if r.train_verify_iterations in (None, train_budget)]


def equal_compute_table(results: Results, task: str) -> tuple[str, dict[str, Any]]:
    """Init, RL and SFT at equal compute (the last checkpoint of each arm at or below `equal_compute_limit`, the rule
    the figures use), on every split: the study's version of the paper's Fig. 6 table."""
    splits = [s for s in ("id", "ood-rule", "ood-visual") if results.select(task=task, split=s)]
    rl_id, sft_id = _main(results, task, "id", "rl"), _main(results, task, "id", "sft")
    if not rl_id or not sft_id:
        return "(no RL or SFT checkpoints evaluated)\n", {}
    limit = equal_compute_limit([rl_id[-1].gflops, sft_id[-1].gflops])
    picked = {}
    gp = get_task(task).family == "gp"
    rule = gp and any("rule_numbers" in r.metrics for r in results.records)
    extra = (" | ID unseen hands success" if gp else "") + (" | OOD rule-reading (number field)" if rule else "")
    lines = ["| method | step | GFLOPs | " + " | ".join(
        f"{SPLIT_LABELS[s]} {headline_metric(task, s).replace('_', ' ')}" for s in splits) + extra + " |"]
    lines.append("|" + "---|" * (3 + len(splits) + gp + rule))
    for method in ("base", "init", "sft", "rl"):
        by_split = {}
        for s in splits:
            recs = [r for r in _main(results, task, s, method) if r.gflops <= limit]
            by_split[s] = recs[-1] if recs else None
        first = by_split.get("id")
        if first is None:
            continue
        picked[method] = by_split
        row = f"| {METHOD_LABELS[method]} | {first.step} | {first.gflops:.4g} | " + " | ".join(
            _pct(by_split[s], headline_metric(task, s)) for s in splits)
        if gp:
            row += f" | {_pct(first, 'unseen_success')}"
        if rule:
            row += f" | {_pct(by_split.get('ood-rule'), 'rule_numbers')}"
        lines.append(row + " |")
    return "\n".join(lines) + "\n", picked


def _all_checkpoints(results: Results, task: str) -> str:
    gp = get_task(task).family == "gp"
    head = "| method | train VIter | step | GFLOPs | split | success | " + (
        "first-try success | unseen success |" if gp else "per-step accuracy |")
    order = {m: i for i, m in enumerate(("base", "init", "sft", "rl"))}
    records = sorted(results.select(task=task), key=lambda r: (order[r.method], r.train_verify_iterations or 0,
                                                                r.gflops, r.split))
    recognition = any("recognition" in r.metrics for r in records)
    head += " recognition |" if recognition else ""
    kl = any("kl_from_init" in r.metrics for r in records)
    head += " KL from Init |" if kl else ""
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in records:
        row = (f"| {METHOD_LABELS[r.method]} | {r.train_verify_iterations or ''} | {r.step} | {r.gflops:.4g} | "
               f"{r.split} | {_pct(r, 'success')} | ")
        row += (f"{_pct(r, 'first_try_success')} | {_pct(r, 'unseen_success')} |" if gp
                else f"{_pct(r, 'step_accuracy')} |")
        if recognition:
            row += f" {_pct(r, 'recognition')} |"
        if kl:
            m = r.metrics.get("kl_from_init")
            row += f" {m.value:.4f} ± {m.stderr or 0:.4f} |" if m is not None else " |"
        lines.append(row)
    return "\n".join(lines) + "\n"


def _seed_table(results: Results, task: str) -> str:
    seed_records = results.metadata.get("seed_records")
    if not seed_records:
        return ""
    per_seed = [[ResultRecord.from_dict(r) for r in recs] for recs in seed_records.values()]
    lines = ["| method | split | metric | mean | spread (min–max) | seeds |", "|---|---|---|---|---|---|"]
    for method in ("rl", "sft"):
        for split in ("id", "ood-rule", "ood-visual"):
            values: dict[str, list[float]] = {}
            for seed_recs in per_seed:
                recs = [r for r in seed_recs if r.method == method and r.split == split]
                if recs:
                    last = max(recs, key=lambda r: r.step)
                    for metric in (headline_metric(task, split), "recognition"):
                        if metric in last.metrics:
                            values.setdefault(metric, []).append(100 * last.metrics[metric].value)
            for metric, vals in values.items():
                lines.append(f"| {METHOD_LABELS[method]} (final) | {split} | {metric.replace('_', ' ')} | "
                             f"{statistics.mean(vals):.1f} | {min(vals):.1f}–{max(vals):.1f} | {len(vals)} |")
    return "\n## Seeds\n\nFinal checkpoint of each arm, over seeds (%):\n\n" + "\n".join(lines) + "\n"


def _why_table(results: Results, task: str, picked: dict[str, Any]) -> str:
    """At equal compute, per method and split: greedy and sampled headline metric, and the diagnostics of
    `sft_vs_rl.evaluation.metrics` (first-try verdict shares, answers under the ID face rule, V-IRL accuracy by
    expected action): what kind of answer moved."""
    headline = {s: headline_metric(task, s) for s in ("id", "ood-rule", "ood-visual")}
    keys = sorted({k for by_split in picked.values() for r in by_split.values() if r is not None for k in r.metrics
                   if k.startswith(("verdict/", "step_accuracy/")) and "/turn_" not in k}, key=lambda k: (
                       not k.startswith("step_accuracy/"), k != "verdict/correct", k))
    sampled = any(f"sampled/{headline[s]}" in r.metrics for by_split in picked.values()
                  for s, r in by_split.items() if r is not None)
    rule = any("id_face_rule" in r.metrics for by_split in picked.values() for r in by_split.values() if r is not None)
    if not keys and not sampled:
        return ""
    columns = (["sampled"] if sampled else []) + (["id_face_rule"] if rule else []) + keys
    names = {"sampled": "sampled", "id_face_rule": "J/Q/K as 10"} | {k: k.split("/", 1)[1] for k in keys}
    lines = ["| method | split | greedy | " + " | ".join(names[c] for c in columns) + " |",
             "|---|---|---|" + "---|" * len(columns)]
    for method in ("base", "init", "sft", "rl"):
        for split, record in picked.get(method, {}).items():
            if record is None:
                continue
            cells = []
            for column in columns:
                key = f"sampled/{headline[split]}" if column == "sampled" else column
                metric = record.metrics.get(key)
                cells.append("–" if metric is None or math.isnan(metric.value) else f"{100 * metric.value:.1f}")
            lines.append(f"| {METHOD_LABELS[method]} | {split} | {100 * record.metrics[headline[split]].value:.1f} | "
                         + " | ".join(cells) + " |")
    what = ("first-try verdict shares" if get_task(task).family == "gp"
            else "per-step accuracy by expected action and the share of graded tries per verdict")
    return ("\n## Why: decoding and kinds of answer\n\nAt equal compute, in %: the headline metric greedy and sampled at "
            f"the RL temperature (n = {_sampled_n(picked, headline)}), {what}"
            + (", and the share of first answers on J/Q/K hands that count J/Q/K as 10 (the ID rule)" if rule else "")
            + ".\n\n" + "\n".join(lines) + "\n")


def _sampled_n(picked: dict[str, Any], headline: dict[str, str]) -> str:
    ns = {r.metrics[f"sampled/{headline[s]}"].n for by_split in picked.values() for s, r in by_split.items()
          if r is not None and f"sampled/{headline[s]}" in r.metrics}
    return "/".join(str(n) for n in sorted(ns)) or "–"


def _rl_from_base(results: Results, task: str) -> str:
    """Paper Fig. 9: RL straight from the base, without Init, beside the base and the main RL arm from Init."""
    raw = results.metadata.get("rl_from_base_records")
    if not raw:
        return ""
    records = sorted((ResultRecord.from_dict(r) for r in raw), key=lambda r: (r.step, r.split))
    gp = get_task(task).family == "gp"
    format_key = "verdict/illegal_formula" if gp else "verdict/no_action"
    lines = ["| arm | step | GFLOPs | split | " + ("success" if gp else "per-step accuracy") + " | first-try "
             + ("illegal formula" if gp else "no action") + " |", "|---|---|---|---|---|---|"]
    reference = [("Base", r) for r in _main(results, task, "id", "base") + _main(results, task, "ood-rule", "base")]
    reference += [("RL from Init (final)", r) for s in ("id", "ood-rule") for r in _main(results, task, s, "rl")[-1:]]
    for label, r in reference + [("RL from base", r) for r in records]:
        metric = headline_metric(task, r.split)
        lines.append(f"| {label} | {r.step} | {r.gflops:.4g} | {r.split} | {_pct(r, metric)} | {_pct(r, format_key)} |")
    return ("\n## RL without Init (the paper's Fig. 9)\n\nThe RL arm trained straight from the base with the main arm's "
            "settings and budget (its GFLOPs count from the base, whose pretraining is not counted), beside the base "
            "and the main RL arm's final checkpoint. The last column is the share of first tries the verifier could "
            "not read (the format Init is for).\n\n" + "\n".join(lines) + "\n")


def _stage_table(results: Results) -> str:
    stages = results.metadata.get("stages", {})
    lines = ["| stage | wall time (s) | optimizer steps |", "|---|---|---|"]
    for name, info in stages.items():
        lines.append(f"| {name} | {info.get('wall_s', float('nan')):.0f} | {info.get('steps', '')} |")
    checks = (stages.get("init") or {}).get("format_checks")
    if checks:
        rates = ", ".join(f"{100 * c['format_rate']:.0f}% at step {c['step']}" for c in checks)
        how = "stopped by" if stages["init"].get("stopped_by_format") else "ran its step cap without meeting"
        lines.append(f"\nInit {how} the format criterion (share of greedy first answers with the task's format: "
                     f"{rates}).")
    return "\n".join(lines) + "\n"


_RL_COLUMNS = (("first_try_success", "first-try success", "{:.2f}"), ("reward_per_turn", "reward/turn", "{:+.2f}"),
               ("approx_kl", "approx_kl", "{:.3f}"), ("clipfrac", "clipfrac", "{:.2f}"),
               ("pg_active_frac", "live gradient", "{:.2f}"), ("explained_variance", "EV", "{:+.2f}"),
               ("policy_loss", "policy loss", "{:+.3f}"), ("value_loss", "value loss", "{:.3f}"))


def _rl_diagnostics(results: Results) -> str:
    """Per-update PPO diagnostics of each RL arm: is PPO learning?"""
    arms = results.metadata.get("rl_diagnostics") or {}
    parts = []
    for arm, updates in arms.items():
        if not updates:
            continue
        lines = ["| update | " + " | ".join(label for _, label, _ in _RL_COLUMNS) + " |",
                 "|---|" + "---|" * len(_RL_COLUMNS)]
        for u in updates:
            cells = [fmt.format(u[key]) if isinstance(u.get(key), (int, float)) else "–" for key, _, fmt in _RL_COLUMNS]
            lines.append(f"| {u['update']} | " + " | ".join(cells) + " |")
        parts.append(f"\n`{arm}`:\n\n" + "\n".join(lines) + "\n")
    if not parts:
        return ""
    return ("\n## RL diagnostics per update\n\nTraining first-try success (fresh episodes every update), reward per "
            "turn, approx_kl / clipfrac (mean over the update's optimizer steps), share of turns whose policy gradient "
            "survives clipping, the critic's explained variance, loss terms.\n" + "".join(parts))


def _paper_comparison(task: str, picked: dict[str, Any]) -> str:
    """The paper's OOD numbers at equal compute (Fig. 6 rule, Fig. 7 visual) beside this run's."""
    info = get_task(task)
    lines = []
    for split, paper, figure in (("ood-rule", info.paper_ood_rule, "Fig. 6"),
                                 ("ood-visual", info.paper_ood_visual, "Fig. 7")):
        if not paper or split not in picked.get("init", {}):
            continue
        metric = headline_metric(task, split)
        ours = {}
        for method in ("init", "rl", "sft"):
            rec = picked.get(method, {}).get(split)
            ours[method] = 100 * rec.metrics[metric].value if rec is not None else math.nan
        lines += [f"| {SPLIT_LABELS[split]} | paper ({figure}) | {paper['init']:.1f} | {paper['rl']:.1f} | "
                  f"{paper['sft']:.1f} | {paper['rl'] - paper['init']:+.1f} | {paper['sft'] - paper['init']:+.1f} |",
                  f"| {SPLIT_LABELS[split]} | this run | {ours['init']:.1f} | {ours['rl']:.1f} | {ours['sft']:.1f} | "
                  f"{ours['rl'] - ours['init']:+.1f} | {ours['sft'] - ours['init']:+.1f} |"]
    if not lines:
        return ""
    return ("\n## Against the paper\n\n| split | | Init | RL | SFT | RL − Init | SFT − Init |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")


def _recognition_table(results: Results, task: str, picked: dict[str, Any]) -> str:
    """GP-VL card recognition (the first answer's `cards` field, one try) at equal compute on every split, and along
    training for each arm: the numbers behind the paper's Fig. 8."""
    if not picked or not any("recognition" in r.metrics for r in results.select(task=task)):
        return ""
    splits = list(next(iter(picked.values())))  # every method's row has the table's splits
    lines = ["| method | " + " | ".join(SPLIT_LABELS[s] for s in splits) + " |", "|---|" + "---|" * len(splits)]
    for method in ("base", "init", "sft", "rl"):
        by_split = picked.get(method)
        if by_split:
            lines.append(f"| {METHOD_LABELS[method]} | " + " | ".join(
                _pct(by_split.get(s), "recognition") for s in splits) + " |")
    return ("\n## Recognition (the paper's Fig. 8)\n\nAt equal compute: share of episodes whose first answer lists "
            "the dealt cards (greedy, one try, no verification). Along training, see the `recognition` column of "
            "every checkpoint below and the recognition-vs-success figure.\n\n" + "\n".join(lines) + "\n")


def _figures(results: Results, task: str, folder: Path) -> list[Path]:
    """Every figure of `sft_vs_rl.evaluation.plots` the results support, as PNG; one that fails is logged and skipped
    (a plotting failure must not lose the results)."""
    from sft_vs_rl.evaluation import plots

    files: list[Path] = []
    for plot in (plots.plot_compute_curves, plots.plot_ood_bars, plots.plot_recognition_vs_success,
                 plots.plot_verification_ablation, plots.plot_training_curves):
        try:
            files += plot(results, task, folder, formats=("png",))
        except plots.MissingDataError as err:
            logger.info("Skipping %s: %s", plot.__name__, err)
        except (ValueError, IndexError, RuntimeError) as err:
            logger.warning("%s failed, figure skipped: %r", plot.__name__, err)
    return files


def write_report(results: Results, output_dir: str | Path, *, figures: bool = True) -> Path:
    """Write `results.md` (and, with `figures=True`, `figures/*.png` from `sft_vs_rl.evaluation.plots`)."""
    out = Path(output_dir)
    task = results.metadata.get("task") or results.tasks()[0]
    table, picked = equal_compute_table(results, task)
    meta = results.metadata
    text = [f"# {get_task(task).label} study ({meta.get('preset', '?')} preset)\n",
            f"GFLOPs are counted from the {meta.get('gflops_from', 'start of Init')}; evaluation is "
            f"{meta.get('decoding', 'greedy')} decoding with {meta.get('verify_iterations')} graded tries per "
            "episode (per position for V-IRL); ± is the binomial standard error √(p(1−p)/n).\n",
            "## Equal compute (the paper's Fig. 6 layout)\n", table, _paper_comparison(task, picked),
            _seed_table(results, task), _recognition_table(results, task, picked), _why_table(results, task, picked),
            "\n## Every checkpoint\n",
            _all_checkpoints(results, task), _rl_from_base(results, task),
            _rl_diagnostics(results), "\n## Stages\n", _stage_table(results)]
    if figures:
        files = _figures(results, task, out / "figures")
        if files:
            text.append("\n## Figures\n")
            text += [f"![{f.stem}](figures/{f.name})\n" for f in files]
    path = out / "results.md"
    return write_text(path, "\n".join(text))
