"""Does `torch.compile` speed up the study's generation on this CPU? Eager against compiled `generate`, same run.

The study generates with a static KV cache (`cache_implementation="static"`, the tiny preset's), which is what lets
transformers compile the decoding forward (`GenerationConfig(compile_config=...)`; on CPU only with the config's
`_compile_all_devices` flag). Two measurements, each eager first and then compiled, on the same inputs:

* **fixed shape**: `--repeats` calls at one batch × prompt length (the best case for compilation: one graph);
* **growing prompts**: one call at each of `--lengths` prompt lengths, as multi-turn evaluation makes them (every
  retry appends the feedback to the prompt), so every new shape pays a compilation.

Both check that the compiled model generates the same tokens (greedy). Prints a table and writes JSON
(`benchmarks/results/compile_generation.json`).

    python benchmarks/compile_generation.py --model tiny --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _generate(model, ids, config) -> tuple[float, object]:
    import torch

    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny", help="TINY_PRESETS name (default: tiny, the study's)")
    parser.add_argument("--batch", type=int, default=150, help="rows per generate call (default: the eval batch)")
    parser.add_argument("--prompt", type=int, default=120, help="prompt tokens of the fixed-shape calls")
    parser.add_argument("--new-tokens", type=int, default=64, help="new tokens per call (forced)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fixed-shape calls after one warm-up")
    parser.add_argument("--lengths", type=int, nargs="+", default=[120, 160, 200, 240], help="growing prompt lengths")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/compile_generation.json")
    args = parser.parse_args()

    import torch
    from transformers import CompileConfig, GenerationConfig

    from sft_vs_rl.models import build_tiny_model

    torch.set_num_threads(args.threads)
    model, tokenizer = build_tiny_model("llama", args.model, seed=0)
    model.eval()
    compiled = CompileConfig(fullgraph=True, dynamic=False, mode="default")
    compiled._compile_all_devices = True  # transformers compiles generation on CPU only with this flag
    configs = {
        name: GenerationConfig(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False,
                               pad_token_id=tokenizer.pad_token_id, eos_token_id=None, cache_implementation="static",
                               compile_config=cc)
        for name, cc in (("eager", None), ("compiled", compiled))
    }
    gen = torch.Generator().manual_seed(0)

    def prompt(length: int):
        return torch.randint(5, tokenizer.vocab_size - 1, (args.batch, length), generator=gen)

    fixed = prompt(args.prompt)
    growing = [prompt(n) for n in args.lengths]
    rows, outputs = {}, {}
    for name, config in configs.items():
        first, _ = _generate(model, fixed, config)  # warm-up (compiled: the compilation)
        times = [_generate(model, fixed, config)[0] for _ in range(args.repeats)]
        grow = []
        for ids in growing:
            seconds, out = _generate(model, ids, config)
            grow.append(seconds)
            outputs.setdefault(name, []).append(out)
        rows[name] = {"first_call_s": first, "fixed_shape_s": min(times), "growing_prompts_s": sum(grow),
                      "growing_per_length_s": grow}
    same = all(torch.equal(a, b) for a, b in zip(outputs["eager"], outputs["compiled"]))
    result = {
        "model": args.model, "batch": args.batch, "prompt": args.prompt, "new_tokens": args.new_tokens,
        "lengths": args.lengths, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "same_tokens": same, "runs": rows,
        "fixed_shape_speedup": rows["eager"]["fixed_shape_s"] / rows["compiled"]["fixed_shape_s"],
        "growing_prompts_speedup": rows["eager"]["growing_prompts_s"] / rows["compiled"]["growing_prompts_s"],
    }
    print(f"model {args.model}, batch {args.batch}, {args.new_tokens} new tokens, {args.threads} threads")
    print("| generate | first call (s) | fixed shape (s) | growing prompts (s) |\n|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['first_call_s']:.2f} | {row['fixed_shape_s']:.2f} | {row['growing_prompts_s']:.2f} |")
    print(f"speed-up: fixed shape x{result['fixed_shape_speedup']:.2f}, growing prompts "
          f"x{result['growing_prompts_speedup']:.2f}; same tokens: {same}")
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
