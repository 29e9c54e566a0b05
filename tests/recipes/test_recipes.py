"""The recipes: every YAML parses with its script's parser (flags override YAML), and each script runs end to end on
its tiny config as a subprocess (SFT, then RL from the SFT output), with tiny sizes (slow)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sft_vs_rl.models import read_checkpoint_record

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
CONFIGS = sorted(c for c in (RECIPES / "configs").glob("*/*.yaml") if c.stem.startswith(("sft_", "rl_")))

# Tiny sizes for the end-to-end runs: a few rows, two optimizer steps, short completions.
SFT_TINY = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--logging_steps", "1"]
RL_TINY = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--num_envs", "4", "--steps_per_generation", "2",
           "--gradient_accumulation_steps", "1", "--num_ppo_epochs", "1", "--max_completion_length", "12",
           "--logging_steps", "1"]
DATA = {  # dataset_config_kwargs of each task for the runs (the SFT and RL steps must share prompts)
    "gp-l": {"train_size": 8, "test_size": 2, "prompt_style": "compact"},
    "gp-vl": {"train_size": 8, "test_size": 2, "prompt_style": "compact", "canvas_size": 64},
    "virl-l": {"train_size": 2, "test_size": 2, "prompt_style": "compact"},
    "virl-vl": {"train_size": 2, "test_size": 2, "prompt_style": "compact", "tile_size": 32},
}


def script_for(config: Path) -> Path:
    """`sft_gp_vl_lora.yaml` → `recipes/sft_gp.py`."""
    method, task = config.stem.split("_")[:2]
    return RECIPES / f"{method}_{task}.py"


def load_script(path: Path):
    sys.path.insert(0, str(RECIPES))
    try:
        spec = importlib.util.spec_from_file_location(f"recipe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(RECIPES))
    return module


def run(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return proc


def recipe(script: str, config: str, *flags: str) -> list[str]:
    return [sys.executable, f"recipes/{script}.py", "--config", f"recipes/configs/tiny/{config}.yaml", *flags]


def last_log(output_dir: Path, key: str):
    state = json.loads((output_dir / "trainer_state.json").read_text())
    values = [entry[key] for entry in state["log_history"] if key in entry]
    assert values, f"{key} was never logged"
    return values[-1]


# ------------------------------------------------------------------------------------------------- configs
def test_every_script_has_tiny_and_paper_configs():
    names = {c.relative_to(RECIPES / "configs").as_posix() for c in CONFIGS}
    for stem in ("sft_gp_l", "sft_gp_vl", "rl_gp_l", "rl_gp_vl", "sft_virl_l", "sft_virl_vl", "rl_virl_l", "rl_virl_vl"):
        assert f"tiny/{stem}.yaml" in names
        assert f"llama-3.2-11b-vision/{stem}.yaml" in names
        assert f"llama-3.2-11b-vision/{stem}_lora.yaml" in names
        if "_vl" in stem:  # Qwen2.5-VL recipes for the vision tasks, full and LoRA
            for size in ("3b", "7b"):
                assert {f"qwen2.5-vl-{size}/{stem}.yaml", f"qwen2.5-vl-{size}/{stem}_lora.yaml"} <= names


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.parent.name}/{c.name}")
def test_config_parses_and_flags_override_yaml(config):
    import yaml

    values = yaml.safe_load(config.read_text())
    parser = load_script(script_for(config)).make_parser()
    # CPU here: the GPU configs' bf16/tf32 are overridden on the command line, which is what this test checks too.
    script_args, training_args, model_args = parser.parse_args_and_config(
        ["--config", str(config), "--bf16", "false", "--tf32", "false", "--output_dir", "elsewhere"]
    )
    assert training_args.bf16 is False and training_args.output_dir == "elsewhere"  # flags win over the YAML
    assert training_args.learning_rate == values["learning_rate"]  # the rest comes from the YAML
    assert model_args.model_name_or_path == values["model_name_or_path"]
    assert script_args.dataset_config == values["dataset_config"]
    assert script_args.dataset_config_kwargs == values["dataset_config_kwargs"]
    if config.parent.name == "tiny":
        assert values["use_cpu"] is True and values["bf16"] is False and values["gradient_checkpointing"] is False
        assert values["report_to"] == "none"
    if config.stem.startswith("rl_"):
        vi = 5 if "_gp_" in config.stem else 2
        assert training_args.env_kwargs["verify_iterations"] == vi
        assert (training_args.gamma, training_args.gae_lambda, training_args.clip_coef) == (0.9, 0.95, 0.1)
        assert training_args.temperature == 0.2


@pytest.mark.parametrize(
    "name, lr",
    [
        ("sft_gp_l", 1e-6),  # GP-L SFT
        ("sft_gp_vl", 5e-7),  # VL SFT is half the text lr
        ("sft_virl_l", 1e-6),
        ("sft_virl_vl", 5e-7),
        ("rl_gp_l", 1e-6),
        ("rl_virl_vl", 1e-7),  # the one RL run with a smaller lr
    ],
)
def test_paper_learning_rates(name, lr):
    import yaml

    values = yaml.safe_load((RECIPES / "configs" / "llama-3.2-11b-vision" / f"{name}.yaml").read_text())
    assert values["learning_rate"] == lr and values["bf16"] is True
    if name.startswith("sft_"):
        world = 8 * values["per_device_train_batch_size"] * values["gradient_accumulation_steps"]
        assert world == 128 and values["adam_beta2"] == 0.98 and values["adam_epsilon"] == 1e-7


def test_bad_dataset_config_kwargs_name_the_field():
    parser = load_script(RECIPES / "sft_gp.py").make_parser()
    with pytest.raises(ValueError, match="dataset_config_kwargs"):
        parser.parse_args_and_config(["--config", str(RECIPES / "configs/tiny/sft_gp_l.yaml"),
                                      "--dataset_config_kwargs", "train_size=3"])


# ------------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_gp_l_sft_then_rl_with_push_dry_run(tmp_path):
    sft, rl, dry = tmp_path / "sft", tmp_path / "rl", tmp_path / "upload"
    data = ["--dataset_config_kwargs", json.dumps(DATA["gp-l"])]
    # SFT under `accelerate launch` with the CPU config, as the README shows
    run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", "recipes/accelerate/cpu.yaml",
         *recipe("sft_gp", "sft_gp_l", "--model_name_or_path", "tiny:llama:nano", "--output_dir", str(sft),
                 *SFT_TINY, *data)[1:]])
    assert (sft / "model.safetensors").is_file() and (sft / "tokenizer.json").is_file()
    assert last_log(sft, "flops/total") > 0  # the paper's SFT compute, logged by SFTComputeCallback
    init = read_checkpoint_record(sft)  # SFT of a tiny base is Init
    assert (init.task, init.method, init.dataset_config, init.base_model) == ("gp-l", "init", "gp-l-id",
                                                                              "tiny:llama:nano")
    assert init.gflops == pytest.approx(last_log(sft, "flops/total") / 1e9)
    # RL from the SFT output, then the model upload tree written by the dry run
    run(recipe("rl_gp", "rl_gp_l", "--model_name_or_path", str(sft), "--output_dir", str(rl), *RL_TINY, *data,
               "--push_to_hub", "--hub_model_id", "me/gp-l-rl", "--push_dry_run", str(dry)))
    assert (rl / "value_head.safetensors").is_file()
    assert last_log(rl, "flops/total") > 0 and "env/reward_per_turn" in json.dumps(
        json.loads((rl / "trainer_state.json").read_text())["log_history"])
    record = read_checkpoint_record(rl)  # the RL record counts the Init's compute on
    assert (record.method, record.base_model) == ("rl", "tiny:llama:nano")
    assert record.gflops == pytest.approx(init.gflops + last_log(rl, "flops/total") / 1e9)
    uploaded = sorted(p.name for p in dry.iterdir())
    assert {"README.md", "config.json", "model.safetensors", "value_head.safetensors"} <= set(uploaded)
    assert "rl" in (dry / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("model", ["tiny:mllama:nano", "tiny:qwen2_5_vl:nano", "tiny:gemma3:nano"])
def test_gp_vl_sft_then_rl(tmp_path, model):
    sft, rl = tmp_path / "sft", tmp_path / "rl"
    data = ["--dataset_config_kwargs", json.dumps(DATA["gp-vl"])]
    run(recipe("sft_gp", "sft_gp_vl", "--model_name_or_path", model, "--output_dir", str(sft),
               *SFT_TINY, *data, "--push_to_hub", "--hub_model_id", "me/gp-vl-init", "--model_card_method", "init",
               "--push_dry_run", str(tmp_path / "upload")))
    assert (sft / "processor_config.json").is_file()
    card = (tmp_path / "upload" / "README.md").read_text()
    assert "gp-vl" in card and "init" in card and (tmp_path / "upload" / "processor_config.json").is_file()
    run(recipe("rl_gp", "rl_gp_vl", "--model_name_or_path", str(sft), "--output_dir", str(rl), *RL_TINY, *data))
    assert (rl / "value_head.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["l", "vl"])
def test_virl_sft_then_rl(tmp_path, kind):
    sft, rl = tmp_path / "sft", tmp_path / "rl"
    task = f"virl-{kind}"
    model = "tiny:llama:nano" if kind == "l" else "tiny:mllama:nano"
    run(recipe("sft_virl", f"sft_virl_{kind}", "--model_name_or_path", model, "--output_dir", str(sft), *SFT_TINY,
               "--dataset_config_kwargs", json.dumps(DATA[task])))
    episodes = {**DATA[task], "train_rows": "episodes", "train_size": 8}  # one PPO update: 4 × 2 turns
    run(recipe("rl_virl", f"rl_virl_{kind}", "--model_name_or_path", str(sft), "--output_dir", str(rl), *RL_TINY,
               "--dataset_config_kwargs", json.dumps(episodes)))
    assert last_log(rl, "env/reward_per_turn") is not None and (rl / "value_head.safetensors").is_file()


@pytest.mark.slow
def test_offline_push_fails_before_training(tmp_path):
    out = tmp_path / "sft"
    args = recipe("sft_gp", "sft_gp_l", "--model_name_or_path", "tiny:llama:nano", "--output_dir", str(out),
                  "--push_to_hub", "--hub_model_id", "me/gp-l-init")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr  # one message, no traceback
    assert "sft_gp.py: error:" in proc.stderr and "HF_HUB_OFFLINE" in proc.stderr and "--dry-run DIR" in proc.stderr
    assert "Tokenizing" not in proc.stderr and not (out / "model.safetensors").exists()  # nothing was trained


@pytest.mark.slow
def test_rl_torchrun_two_cpu_processes(tmp_path):
    rl = tmp_path / "rl"
    data = ["--dataset_config_kwargs", json.dumps({**DATA["gp-l"], "train_size": 16})]  # one update on each process
    # Data parallel on CPUs (gloo); an untrained tiny model stands in for the SFT checkpoint to keep the test short.
    run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         *recipe("rl_gp", "rl_gp_l", "--model_name_or_path", "tiny:llama:nano", "--output_dir", str(rl), *RL_TINY,
                 *data)[1:]])
    assert (rl / "value_head.safetensors").is_file()
