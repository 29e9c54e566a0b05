"""GPU check: a few multi-turn PPO updates of GP-VL on the paper-size VLMs, built from their configs (no downloads).

On one GPU, for each model: the full architecture with random weights in bf16, LoRA adapters on the language model
(the value head fully trained), `MultiTurnVerifierPPOTrainer` playing GP-VL episodes (paper prompts, 5 graded
tries, 560 px cards). It reports peak GPU memory, rollout tokens/s (generated tokens over the time spent in the
trainer's own rollout) and seconds per PPO update, and writes them as JSON.

    python benchmarks/gpu_check.py                       # both models on the GPU (about 10 min on an H100)
    python benchmarks/gpu_check.py --models qwen2.5-vl-7b --updates 2
    python benchmarks/gpu_check.py --dry-run             # CPU: the same loop on tiny models of the same families

`--dry-run` proves the wiring on a CPU: it builds both full-size architectures on the meta device (parameter counts,
LoRA's trainable share, no memory used) and runs the same measurement loop, trainer and LoRA set-up on the tiny
offline models of the same families (`tiny:mllama`, `tiny:qwen2_5_vl`), reporting the same fields (peak memory is the
process's maximum RSS there). Random weights never solve a hand, so every episode plays all 5 tries and every turn
generates `--new-tokens` tokens: the timings measure the full multi-turn load.

The architectures are written out below from the released `config.json` files (meta-llama/Llama-3.2-11B-Vision-
Instruct, Qwen/Qwen2.5-VL-7B-Instruct); the vocabulary is the real size, the tokenizer the library's offline one of
the family padded with reserved tokens to it.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

# Llama-3.2-11B-Vision-Instruct's config.json (text: 40 layers of which 8 cross-attention; vision: 32 + 8 global).
MLLAMA_11B = {
    "text_config": {
        "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 40,
        "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38], "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 131072, "rms_norm_eps": 1e-5,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    },
    "vision_config": {
        "hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_global_layers": 8,
        "attention_heads": 16, "image_size": 560, "patch_size": 14, "max_num_tiles": 4,
        "intermediate_layers_indices": [3, 7, 15, 23, 30], "vision_output_dim": 7680,
        "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
    },
}
# Qwen2.5-VL-7B-Instruct's config.json (text: 28 layers, GQA 28/4; vision: 32 blocks, full attention every 8th).
QWEN2_5_VL_7B = {
    "text_config": {
        "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 128000, "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
    },
    "vision_config": {
        "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 3584,
        "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
    },
}
MODELS = {"llama-3.2-11b-vision": ("mllama", MLLAMA_11B), "qwen2.5-vl-7b": ("qwen2_5_vl", QWEN2_5_VL_7B)}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def full_size(kind: str, spec: dict, *, meta: bool, dtype=None):
    """The paper-size model of `kind` with random weights (on the meta device: shapes only), and its processor."""
    import torch

    from sft_vs_rl.models import build_tiny_model

    _, processor = build_tiny_model(kind, "small")  # the family's offline processor and chat template
    tok = processor.tokenizer
    vocab = spec["text_config"]["vocab_size"]
    tok.add_tokens([f"<|reserved_{i}|>" for i in range(len(tok), vocab)], special_tokens=True)
    ids = tok.convert_tokens_to_ids
    text = {**spec["text_config"], "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id,
            "pad_token_id": tok.pad_token_id}
    if kind == "mllama":
        from transformers import MllamaConfig, MllamaForConditionalGeneration
        from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

        config = MllamaConfig(vision_config=spec["vision_config"], text_config=text, image_token_index=ids("<|image|>"))
        model_cls = MllamaForConditionalGeneration
        processor.image_processor = MllamaImageProcessorPil(size={"height": 560, "width": 560}, max_image_tiles=4)
    else:
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        config = Qwen2_5_VLConfig(
            vision_config=spec["vision_config"], text_config=text, image_token_id=ids("<|image_pad|>"),
            video_token_id=ids("<|video_pad|>"), vision_start_token_id=ids("<|vision_start|>"),
            vision_end_token_id=ids("<|vision_end|>"),
        )
        model_cls = Qwen2_5_VLForConditionalGeneration
        processor.image_processor = Qwen2VLImageProcessorPil(min_pixels=560 * 560, max_pixels=560 * 560)
    if meta:
        with torch.device("meta"):
            return model_cls(config), processor
    with torch.device("cuda"):
        model = model_cls._from_config(config, dtype=dtype)  # built in bf16: no fp32 copy on the GPU
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, processor


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=64, lora_alpha=128, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")


def describe(model) -> dict:
    """Parameter counts of a model and of its LoRA adapters (works on the meta device)."""
    from peft import get_peft_model

    total = sum(p.numel() for p in model.parameters())
    peft_model = get_peft_model(model, lora_config())
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    return {"parameters": total, "lora_trainable": trainable}


def ppo_updates(model, processor, *, cpu: bool, updates: int, turns: int, num_envs: int, new_tokens: int,
                canvas: int, output_dir: str) -> dict:
    """A few PPO updates of GP-VL with LoRA; peak memory, rollout tokens/s and seconds per update."""
    import torch
    from datasets import Dataset

    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv
    from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer

    micro = min(8, turns // 2)  # 2 mini-batches x 2 epochs = 4 optimizer steps per update
    args = MultiTurnVerifierPPOConfig(
        output_dir=output_dir, use_cpu=cpu, bf16=not cpu, gradient_checkpointing=not cpu, report_to="none",
        save_strategy="no", per_device_train_batch_size=micro, steps_per_generation=turns // micro,
        gradient_accumulation_steps=turns // micro // 2, num_ppo_epochs=2, num_envs=num_envs,
        max_completion_length=new_tokens, max_steps=updates * 4, logging_steps=1, learning_rate=1e-5,
        temperature=0.2, seed=0,
    )
    rows = Dataset.from_dict({"seed": list(range(turns * updates * 2))})
    trainer = MultiTurnVerifierPPOTrainer(
        model=model, args=args, processing_class=processor, train_dataset=rows, peft_config=lora_config(),
        env_factory=lambda: GeneralPointsEnv(prompt_style="paper", verify_iterations=5, visual=True,
                                             canvas_size=canvas),
        reset_options_fn=lambda row: None,
    )
    rollout_s = 0.0
    collect = trainer.rollout.collect

    def timed_collect(*a, **k):
        nonlocal rollout_s
        start = time.perf_counter()
        out = collect(*a, **k)
        rollout_s += time.perf_counter() - start
        return out

    trainer.rollout.collect = timed_collect
    if not cpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    generated = trainer._counters["tokens/generated_total"]
    peak = (torch.cuda.max_memory_allocated() if not cpu
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {
        "updates": updates, "turns_per_update": turns, "new_tokens_per_turn": new_tokens,
        "peak_memory_gib": peak / 2**30, "peak_memory_kind": "cuda max allocated" if not cpu else "process max RSS",
        "rollout_tokens_per_s": generated / rollout_s if rollout_s else None,
        "seconds_per_update": wall / updates, "rollout_share": rollout_s / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU: meta-device sizes + the loop on tiny models")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--updates", type=int, default=3, help="PPO updates per model (default 3)")
    parser.add_argument("--turns", type=int, default=None, help="turns per update (default 64 GPU, 16 dry run)")
    parser.add_argument("--new-tokens", type=int, default=None, help="new tokens per turn (default 512, 16 dry run)")
    parser.add_argument("--output", default="benchmarks/results/gpu_check.json")
    args = parser.parse_args()

    import tempfile

    import torch

    from sft_vs_rl.models import build_tiny_model

    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA device here: run on a GPU machine, or pass --dry-run to check the wiring on CPU")
    turns = args.turns or (16 if args.dry_run else 64)
    if turns < 2 or turns % 2 or turns > 16 and turns % 16:
        parser.error(f"--turns is {turns}: use an even number up to 16, or a multiple of 16 (2 mini-batches of "
                     "micro-batches of 8)")
    new_tokens = args.new_tokens or (16 if args.dry_run else 512)
    result = {"dry_run": args.dry_run, "machine": platform.platform(),
              "device": "cpu" if args.dry_run else torch.cuda.get_device_name(), "models": {}}
    for name in args.models:
        kind, spec = MODELS[name]
        entry = {"architecture": describe(full_size(kind, spec, meta=True)[0])}
        if args.dry_run:
            model, processor = build_tiny_model(kind, "nano")
            entry["loop_model"] = f"tiny:{kind}:nano"
            canvas = 64
        else:
            model, processor = full_size(kind, spec, meta=False, dtype=torch.bfloat16)
            entry["loop_model"] = f"{name} (random weights, bf16)"
            canvas = 560
        with tempfile.TemporaryDirectory() as out:
            entry["ppo"] = ppo_updates(model, processor, cpu=args.dry_run, updates=args.updates, turns=turns,
                                       num_envs=min(turns, 16), new_tokens=new_tokens, canvas=canvas, output_dir=out)
        result["models"][name] = entry
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    print(f"{'model':<24}{'params (B)':>12}{'LoRA (M)':>10}{'peak GiB':>10}{'rollout tok/s':>15}{'s/update':>10}")
    for name, e in result["models"].items():
        a, p = e["architecture"], e["ppo"]
        print(f"{name:<24}{a['parameters'] / 1e9:>12.2f}{a['lora_trainable'] / 1e6:>10.1f}"
              f"{p['peak_memory_gib']:>10.2f}{p['rollout_tokens_per_s'] or 0:>15.0f}{p['seconds_per_update']:>10.1f}")
    if args.dry_run:
        print("dry run: sizes from the meta device, the PPO loop on", ", ".join(e["loop_model"] for e in
                                                                             result["models"].values()))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
