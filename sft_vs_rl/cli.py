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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sft-vs-rl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="play one GeneralPoints episode with the verifier, no model needed")
    demo.add_argument("--seed", type=int, default=0, help="episode seed (default: 0)")
    demo.add_argument("--face-rule", choices=["10", "11-12-13"], default="10", help="J/Q/K values (default: 10)")
    demo.add_argument("--visual", action="store_true", help="GP-VL: also draw the card image")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
