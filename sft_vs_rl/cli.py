"""The `sft-vs-rl` command line.

Each subcommand is a thin shell over a library function; heavy imports happen inside the handlers so that
`sft-vs-rl --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from sft_vs_rl.data import DATASETS
from sft_vs_rl.envs.generalpoints.cards import FACE_RULES
from sft_vs_rl.study.presets import ANSWER_FORMATS, STUDY_PRESETS
from sft_vs_rl.tasks import METHODS, SPLITS, TASK_NAMES

DEBUG_ENV = "SFT_VS_RL_DEBUG"
"""Set to 1 to see the full traceback of an error instead of its one-line message (like `--debug`)."""

USER_ERRORS = (ValueError, OSError, NotImplementedError, ImportError)
"""What bad input raises inside the library: the message names the argument, the bad value and the fix.
(`HubUnreachableError` is a `ConnectionError`, an `OSError`; `ResultsFormatError` a `ValueError`.)"""


def positive_int(text: str) -> int:
    """argparse type of a count: an int ≥ 1 (argparse reports the flag, the value and this message, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be ≥ 1")
    return value


def _demo(args: argparse.Namespace) -> int:
    """Play one GeneralPoints episode: a wrong answer first (to show the verifier's feedback), then a solution."""
    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv, format_response, solve

    env = GeneralPointsEnv(face_rule=args.face_rule, visual=args.visual)
    obs, info = env.reset(seed=args.seed)
    print(f"Dealt {info['ranks']} -> numbers {info['numbers']} (face-card rule {args.face_rule!r})")
    print("Prompt the model sees:\n" + obs)
    numbers = info["numbers"]
    wrong = format_response(info["ranks"], numbers, "+".join(str(n) for n in numbers) + "=24")
    right = format_response(info["ranks"], numbers, solve(numbers, target=env.target)[0] + "=24")
    for answer in (wrong, right):
        obs, reward, terminated, truncated, info = env.step(answer)
        print(f"\nModel answer:\n{answer}\n-> reward {reward:+g}, success={info['success']}, feedback: {info['feedback']!r}")
        if terminated or truncated:
            break
    print(json.dumps({"turns": info["verify_iteration"], "success": info["success"]}))
    return 0


def _config_kwargs(args: argparse.Namespace) -> dict:
    """Dataset config overrides from `--seed`, `--train-size`, `--test-size` and `--set KEY=VALUE` (JSON values)."""
    kwargs = {}
    for name in ("seed", "train_size", "test_size"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    kwargs.update(_parse_set(args.set, example="heldout_fraction=0.25"))
    return kwargs


def _parse_set(items: Sequence[str] | None, example: str) -> dict:
    """`--set KEY=VALUE` items as a dict, each value read as JSON where it parses (else kept as a string)."""
    values = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set {example}")
        try:
            values[key] = json.loads(value)
        except ValueError:
            values[key] = value
    return values


def _dataset_ids(name: str) -> list[str]:
    return list(DATASETS) if name == "all" else [name]


def _build_data(args: argparse.Namespace) -> int:
    """Build dataset configs into `push_to_hub`'s multi-config layout (parquet + README), loadable offline."""
    import time
    from pathlib import Path

    import datasets

    from sft_vs_rl.data import build_dataset_tree

    kwargs = _config_kwargs(args)
    dataset_ids = _dataset_ids(args.dataset)
    for repo_id in dataset_ids:
        folder = Path(args.output_dir) / repo_id.split("/")[-1] if len(dataset_ids) > 1 else Path(args.output_dir)
        start = time.perf_counter()
        build_dataset_tree(repo_id, folder, args.config or None, num_proc=args.num_proc, **kwargs)
        seconds = time.perf_counter() - start
        for config in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            for parquet in sorted((folder / config).glob("*.parquet")):
                rows = datasets.Dataset.from_parquet(str(parquet)).num_rows
                print(f"{repo_id:26s} {config:20s} {parquet.name:36s} {rows:7d} rows")
        print(f"wrote {folder} in {seconds:.1f} s; load with datasets.load_dataset({str(folder)!r}, <config>)")
    return 0


def _push_data(args: argparse.Namespace) -> int:
    """Push dataset configs to the Hub, or write the exact upload tree with `--dry-run DIR`."""
    from sft_vs_rl.data import push_dataset

    kwargs = _config_kwargs(args)
    if args.repo_id and args.dataset == "all":
        raise ValueError("--repo-id names one repository; add --dataset generalpoints or virl")
    for repo_id in _dataset_ids(args.dataset):
        dry_run = args.dry_run
        if dry_run is not None and args.dataset == "all":
            dry_run = f"{dry_run}/{repo_id.split('/')[-1]}"
        result = push_dataset(
            repo_id,
            args.repo_id,
            args.config or None,
            dry_run=dry_run,
            private=args.private,
            commit_message=args.commit_message,
            **kwargs,
        )
        _print_push(result, f"dataset {result.repo_id}")
    return 0


def _print_push(result, what: str) -> None:
    """The uploaded (or dry-run) paths of a `sft_vs_rl.hub.PushResult`, then where they went."""
    for path in result.paths:
        print(path)
    where = f"dry run written to {result.dry_run_dir}" if result.dry_run_dir else f"pushed: {result.commit_url}"
    print(f"{len(result.paths)} files for {what}; {where}")


def _build_tiny(args: argparse.Namespace) -> int:
    """Build a tiny offline model + tokenizer/processor and save both to a folder."""
    from sft_vs_rl.models import build_tiny_model

    model, processing_class = build_tiny_model(args.kind, args.preset, vocab_size=args.vocab_size, seed=args.seed)
    model.save_pretrained(args.output_dir)
    processing_class.save_pretrained(args.output_dir)
    num_parameters, vocab = model.num_parameters(), model.config.get_text_config().vocab_size
    print(f"Built a tiny {args.kind} ({args.preset}): {num_parameters:,} parameters, vocab {vocab}")
    summary = {"path": args.output_dir, "kind": args.kind, "preset": args.preset, "num_parameters": num_parameters}
    print(json.dumps(summary))
    return 0


def _eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on a task's test splits and append the records to a results file."""
    from sft_vs_rl.evaluation.results import Results, results_table_markdown
    from sft_vs_rl.evaluation.runner import evaluate_checkpoint

    dataset_kwargs = {"test_size": args.test_size} if args.test_size is not None else {}
    kwargs = {
        "method": args.method,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "seed": args.seed,
        "initial_gflops": args.initial_gflops,
    }
    for name in ("step", "gflops", "verify_iterations", "num_episodes"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    records = evaluate_checkpoint(
        args.checkpoint, args.task, splits=args.split, output=args.output, dataset_kwargs=dataset_kwargs, **kwargs
    )
    print(results_table_markdown(Results(records=records)), end="")
    print(f"appended {len(records)} records to {args.output}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    """Draw the paper's figures from a results file."""
    from sft_vs_rl.evaluation.plots import plot_all
    from sft_vs_rl.evaluation.results import load_results

    results = load_results(args.results)
    written = plot_all(results, args.output_dir, smooth=args.smooth, formats=args.format)
    for path in written:
        print(path)
    if not written:
        print("sft-vs-rl plot: the results hold no data for any figure (need SFT or RL records)", file=sys.stderr)
        return 1
    return 0


def _push(args: argparse.Namespace) -> int:
    """Push a checkpoint with its model card to the Hub, or write the exact upload tree with `--dry-run DIR`."""
    import tempfile
    from pathlib import Path

    from sft_vs_rl.hub import check_hub_reachable, push_folder
    from sft_vs_rl.model_card import prepare_model_upload
    from sft_vs_rl.models import read_checkpoint_record

    context = {"task": args.task, "method": args.method, "repo_id": args.repo_id, "base_model": args.base_model}
    if args.card_context:
        extra = json.loads(Path(args.card_context).read_text(encoding="utf-8"))
        if not isinstance(extra, dict):
            raise ValueError(f"--card-context {args.card_context}: the file must hold a JSON object")
        context.update({k: v for k, v in extra.items() if v is not None})
    optional = {"results": args.results, "checkpoint": args.checkpoint_name, "step": args.step,
                "datasets": args.dataset, "license": args.license}
    context.update({k: v for k, v in optional.items() if v is not None})
    if args.dry_run is None:
        check_hub_reachable()  # before copying weights: fail in seconds, not after the long work
    with tempfile.TemporaryDirectory(prefix="sft_vs_rl_upload_") as tmp:
        # Task, method, base model, step and compute default to the checkpoint record's (flags override them).
        tree = prepare_model_upload(args.checkpoint, tmp, {k: v for k, v in context.items() if v is not None})
        result = push_folder(
            tree,
            args.repo_id,
            dry_run=args.dry_run,
            private=args.private,
            # the tree's record says what its card says (the checkpoint's record, overridden by the flags)
            commit_message=args.commit_message
            or f"Upload {read_checkpoint_record(tree).method} checkpoint with sft-vs-rl",
        )
    _print_push(result, result.repo_id)
    return 0


def _study(args: argparse.Namespace) -> int:
    """Run (or resume) the SFT-versus-RL study of one task: base → Init → {SFT, RL} → ID/OOD → results and figures."""
    import logging
    import time

    from sft_vs_rl.study import run_study

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("sft_vs_rl.study").setLevel(logging.INFO)
    overrides = _parse_set(args.set, example="rl_updates=8")
    if args.answer_format:
        overrides["answer_format"] = args.answer_format
    start = time.time()
    path = run_study(args.task, args.preset, args.output_dir, seeds=args.seeds,
                     verify_iterations=args.verify_iterations, rl_from_base=args.rl_from_base, force=args.force,
                     num_threads=args.num_threads, workers=args.workers, **overrides)
    print((path.parent / "results.md").read_text(encoding="utf-8"))
    print(f"study done in {time.time() - start:.0f} s: {path}, {path.parent / 'results.md'}, {path.parent / 'figures'}")
    return 0


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        choices=[*(repo_id.split("/")[-1] for repo_id in DATASETS), "all"],
        default="all",
        help="which dataset (default: all)",
    )
    parser.add_argument(
        "--config",
        action="append",
        help="config name, repeatable (default: every config of the dataset), e.g. --config gp-l-id",
    )
    parser.add_argument("--seed", type=int, help="config seed (default: the config's, 0)")
    parser.add_argument("--train-size", type=int, help="training rows of ID configs (default: the config's)")
    parser.add_argument("--test-size", type=positive_int, help="test rows (default: the config's, the paper's sizes)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config field (JSON value)")


def build_parser() -> argparse.ArgumentParser:
    """The `sft-vs-rl` parser: one subcommand per job, each with its handler as `args.handler`."""
    parser = argparse.ArgumentParser(prog="sft-vs-rl", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help=f"show tracebacks of errors (or set {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_data_commands(sub)
    _add_model_commands(sub)
    _add_study_commands(sub)
    return parser


def _add_data_commands(sub) -> None:
    """`demo`, `build-data`, `push-data`: environments and datasets, no model."""
    demo = sub.add_parser("demo", help="play one GeneralPoints episode with the verifier, no model needed")
    demo.add_argument("--seed", type=int, default=0, help="episode seed (default: 0)")
    demo.add_argument("--face-rule", choices=FACE_RULES, default="10", help="J/Q/K values (default: 10)")
    demo.add_argument("--visual", action="store_true", help="GP-VL: also draw the card image")
    demo.set_defaults(handler=_demo)

    build_data = sub.add_parser("build-data", help="build dataset configs to parquet (push_to_hub's layout), offline")
    _add_dataset_arguments(build_data)
    build_data.add_argument("--output-dir", required=True, help="folder to write (per dataset with --dataset all)")
    build_data.add_argument("--num-proc", type=positive_int, help="worker processes for generation (same data)")
    build_data.set_defaults(handler=_build_data)

    push_data = sub.add_parser("push-data", help="push dataset configs to the Hub (or --dry-run DIR)")
    _add_dataset_arguments(push_data)
    push_data.add_argument("--repo-id", help="destination dataset repo, ORG/NAME (default: sft_vs_rl/<dataset>)")
    push_data.add_argument("--dry-run", metavar="DIR", help="write the exact upload tree to DIR; no network")
    push_data.add_argument("--private", action="store_true", help="create the Hub repo as private")
    push_data.add_argument("--commit-message", help="commit message of the upload")
    push_data.set_defaults(handler=_push_data)


def _add_model_commands(sub) -> None:
    """`build-tiny`, `eval`, `push`: one checkpoint at a time."""
    tiny = sub.add_parser("build-tiny", help="build a tiny offline Llama / Mllama / Qwen2.5-VL / Gemma 3 + tokenizer and save it to a folder")
    tiny.add_argument("--kind", default="llama", help="llama (text), mllama, qwen2_5_vl or gemma3 (vision) (default: llama)")
    tiny.add_argument("--preset", default="tiny", help="nano, tiny or small (default: tiny)")
    tiny.add_argument("--vocab-size", type=int, help="target BPE vocabulary (default: the preset's, 1024)")
    tiny.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (default: 0)")
    tiny.add_argument("--output-dir", required=True, help="folder to write (save_pretrained layout)")
    tiny.set_defaults(handler=_build_tiny)

    evaluate = sub.add_parser("eval", help="evaluate a checkpoint on a task's ID/OOD test splits (results JSON)")
    evaluate.add_argument("checkpoint", help="checkpoint folder (save_pretrained layout or Trainer checkpoint-N)")
    evaluate.add_argument("--task", choices=TASK_NAMES, help="task (default: the checkpoint record's)")
    evaluate.add_argument("--split", nargs="+", choices=SPLITS, help="default: all")
    evaluate.add_argument("--method", choices=METHODS, help="default: the checkpoint record's, else rl")
    evaluate.add_argument("--output", default="results.json", help="results file to create or extend")
    evaluate.add_argument("--step", type=int, help="checkpoint step (default: from trainer_state.json)")
    evaluate.add_argument("--gflops", type=float,
                          help="training GFLOPs (default: the checkpoint record's, else trainer_state.json's)")
    evaluate.add_argument("--initial-gflops", type=float, default=0.0,
                          help="added to trainer_state.json's compute (Init's) for checkpoints without a record")
    evaluate.add_argument("--num-episodes", type=positive_int, help="evaluate only the first N test episodes")
    evaluate.add_argument("--test-size", type=positive_int, help="test split size override of the dataset config")
    evaluate.add_argument("--batch-size", type=positive_int, default=16,
                          help="environments per generate call (default: 16)")
    evaluate.add_argument("--max-new-tokens", type=positive_int, default=256, help="tokens per answer (default: 256)")
    evaluate.add_argument("--verify-iterations", type=positive_int, help="graded tries override (default: the data's)")
    evaluate.add_argument("--seed", type=int, default=42, help="sampling seed (default: 42)")
    evaluate.set_defaults(handler=_eval)

    push = sub.add_parser("push", help="push a checkpoint with its model card to the Hub (or --dry-run DIR)")
    push.add_argument("checkpoint", help="checkpoint folder (save_pretrained layout or Trainer checkpoint-N)")
    push.add_argument("--repo-id", required=True, help="destination model repo, ORG/NAME")
    push.add_argument("--task", choices=TASK_NAMES, help="task (default: the checkpoint record's)")
    push.add_argument("--method", choices=METHODS, help="how it was trained (default: the checkpoint record's)")
    push.add_argument("--base-model", help="model training started from (default: the checkpoint record's)")
    push.add_argument("--results", help="results JSON; the card shows this checkpoint's records")
    push.add_argument("--checkpoint-name", help="the checkpoint's `checkpoint` field in the results file")
    push.add_argument("--step", type=int, help="the checkpoint's step (default: from trainer_state.json)")
    push.add_argument("--dataset", action="append", help="training dataset, repeatable (e.g. sft_vs_rl/generalpoints)")
    push.add_argument("--license", help="license id for the card metadata")
    push.add_argument(
        "--card-context",
        metavar="JSON",
        help="JSON object of more card fields (task_config, training, datasets, gflops, notes, ...)",
    )
    push.add_argument("--dry-run", metavar="DIR", help="write the exact upload tree to DIR; no network")
    push.add_argument("--private", action="store_true", help="create the Hub repo as private")
    push.add_argument("--commit-message", help="commit message of the upload")
    push.set_defaults(handler=_push)


def _add_study_commands(sub) -> None:
    """`study`, `plot`: the whole study, and its figures from a results file."""
    study = sub.add_parser("study", help="the SFT-vs-RL study: base, Init, SFT and RL at matched compute, ID/OOD")
    study.add_argument("--task", required=True, choices=TASK_NAMES, help="task")
    study.add_argument("--preset", default="smoke", choices=list(STUDY_PRESETS), help="default: smoke")
    study.add_argument("--output-dir", required=True, help="folder of every stage's output (resumable)")
    study.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the SFT and RL arms (default: 0)")
    study.add_argument("--verify-iterations", type=positive_int, nargs="+", metavar="V",
                       help="RL training budgets of the verification-iteration ablation, e.g. 1 3 5 10")
    study.add_argument("--rl-from-base", action="store_true",
                       help="also train RL straight from the base, without Init (the paper's Fig. 9)")
    study.add_argument("--answer-format", choices=ANSWER_FORMATS, help="GP answer format (default: the preset's)")
    study.add_argument("--set", action="append", metavar="KEY=VALUE", help="any StudyPreset field (JSON value)")
    study.add_argument("--num-threads", type=positive_int, default=2, help="torch threads on CPU (default: 2)")
    study.add_argument("--workers", type=positive_int, default=1,
                       help="processes for the arms after Init and for evaluation, sharing --num-threads (default: 1)")
    study.add_argument("--force", action="store_true", help="delete the output folder first and redo every stage")
    study.set_defaults(handler=_study)

    plot = sub.add_parser("plot", help="draw the paper's figures (PNG + SVG) from a results JSON file")
    plot.add_argument("results", help="results file written by `sft-vs-rl eval` or `sft-vs-rl study`")
    plot.add_argument("--output-dir", required=True, help="folder for the figures")
    plot.add_argument("--smooth", action="store_true",
                      help="add Savitzky-Golay smoothing to curves of at least 7 checkpoints (default: measured points)")
    plot.add_argument(
        "--format", nargs="+", default=["png", "svg"], help="file formats (default: png svg)", metavar="FMT"
    )
    plot.set_defaults(handler=_plot)



def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Bad input ends with one `sft-vs-rl COMMAND: error: ...` line and exit status 2; the
    traceback is shown only with `--debug` or `SFT_VS_RL_DEBUG=1`."""
    import os

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return args.handler(args)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"sft-vs-rl {args.command}: error: {err}", file=sys.stderr)
        print(f"(run with --debug or {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sft-vs-rl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
