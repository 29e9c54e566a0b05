"""The `sft-vs-rl` command line.

Each subcommand is a thin shell over a library function; heavy imports happen inside the handlers so that
`sft-vs-rl --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


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
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. --set heldout_fraction=0.25")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return kwargs


def _dataset_ids(name: str) -> list[str]:
    from sft_vs_rl.data import DATASETS

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
        build_dataset_tree(repo_id, folder, args.config or None, **kwargs)
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
    for repo_id in _dataset_ids(args.dataset):
        dry_run = args.dry_run
        if dry_run is not None and args.dataset == "all":
            dry_run = f"{dry_run}/{repo_id.split('/')[-1]}"
        result = push_dataset(
            repo_id,
            args.repo_id if args.dataset != "all" else None,
            args.config or None,
            dry_run=dry_run,
            private=args.private,
            commit_message=args.commit_message,
            **kwargs,
        )
        print(f"{repo_id}: {'dry run written to' if dry_run else 'pushed to'} {result}")
    return 0


def _build_tiny(args: argparse.Namespace) -> int:
    """Build a tiny offline model + tokenizer/processor and save both to a folder."""
    from sft_vs_rl.models import build_tiny_model

    try:
        model, processing_class = build_tiny_model(args.kind, args.preset, vocab_size=args.vocab_size, seed=args.seed)
    except ValueError as err:
        print(f"sft-vs-rl build-tiny: error: {err}", file=sys.stderr)
        return 2
    model.save_pretrained(args.output_dir)
    processing_class.save_pretrained(args.output_dir)
    num_parameters, vocab = model.num_parameters(), model.config.get_text_config().vocab_size
    print(f"Built a tiny {args.kind} ({args.preset}): {num_parameters:,} parameters, vocab {vocab}")
    summary = {"path": args.output_dir, "kind": args.kind, "preset": args.preset, "num_parameters": num_parameters}
    print(json.dumps(summary))
    return 0


def _add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        choices=["generalpoints", "virl", "all"],
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
    parser.add_argument("--test-size", type=int, help="test rows (default: the config's, the paper's sizes)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config field (JSON value)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sft-vs-rl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="play one GeneralPoints episode with the verifier, no model needed")
    demo.add_argument("--seed", type=int, default=0, help="episode seed (default: 0)")
    demo.add_argument("--face-rule", choices=["10", "11-12-13"], default="10", help="J/Q/K values (default: 10)")
    demo.add_argument("--visual", action="store_true", help="GP-VL: also draw the card image")
    demo.set_defaults(handler=_demo)

    build_data = sub.add_parser("build-data", help="build dataset configs to parquet (push_to_hub's layout), offline")
    _add_dataset_arguments(build_data)
    build_data.add_argument("--output-dir", required=True, help="folder to write (per dataset with --dataset all)")
    build_data.set_defaults(handler=_build_data)

    push_data = sub.add_parser("push-data", help="push dataset configs to the Hub (or --dry-run DIR)")
    _add_dataset_arguments(push_data)
    push_data.add_argument("--repo-id", help="destination dataset repo (default: sft_vs_rl/<dataset>)")
    push_data.add_argument("--dry-run", metavar="DIR", help="write the exact upload tree to DIR; no network")
    push_data.add_argument("--private", action="store_true", help="create the Hub repo as private")
    push_data.add_argument("--commit-message", help="commit message of the upload")
    push_data.set_defaults(handler=_push_data)

    tiny = sub.add_parser("build-tiny", help="build a tiny offline Llama/Mllama + tokenizer and save it to a folder")
    tiny.add_argument("--kind", default="llama", help="llama (text) or mllama (vision) (default: llama)")
    tiny.add_argument("--preset", default="tiny", help="nano, tiny or small (default: tiny)")
    tiny.add_argument("--vocab-size", type=int, help="target BPE vocabulary (default: the preset's, 1024)")
    tiny.add_argument("--seed", type=int, default=0, help="weight-initialisation seed (default: 0)")
    tiny.add_argument("--output-dir", required=True, help="folder to write (save_pretrained layout)")
    tiny.set_defaults(handler=_build_tiny)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
