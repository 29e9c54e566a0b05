"""Bad input gets one clear message: it names the argument, the bad value and the fix, and the command line exits 2
without a traceback (unless `--debug` / `SFT_VS_RL_DEBUG=1`). One test per case, across the entry points: the
`sft-vs-rl` subcommands, the recipes, `load_dataset`, `load_model`, `evaluate`, the config and preset constructors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sft_vs_rl.cli import main

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture(scope="module")
def text_checkpoint(tmp_path_factory):
    """A saved tiny Llama with its tokenizer and a GP-L checkpoint record, as the study writes one."""
    from sft_vs_rl.models import CheckpointRecord, build_tiny_model, write_checkpoint_record

    folder = tmp_path_factory.mktemp("ckpt") / "init"
    model, tokenizer = build_tiny_model("llama", "nano")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_checkpoint_record(folder, CheckpointRecord("gp-l", "init", dataset_config="gp-l-id", step=3, gflops=1.5))
    return folder


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------------------------------------- model paths
def test_eval_missing_folder_says_no_such_folder(capsys):
    assert main(["eval", "/nonexistent/ckpt", "--task", "gp-l"]) == 2
    err = _error_line(capsys)
    assert "sft-vs-rl eval: error: `model_name_or_path` is '/nonexistent/ckpt': no such folder" in err
    assert "tiny:llama" in err  # the offline alternative


def test_hub_id_offline_says_unreachable(capsys):
    assert main(["eval", "someone/some-model", "--task", "gp-l"]) == 2
    err = _error_line(capsys)
    assert "as a Hub model id it cannot be loaded here (HF_HUB_OFFLINE=1 is set)" in err


def test_folder_without_model_files(tmp_path, capsys):
    (tmp_path / "checkpoint-4").mkdir()
    assert main(["eval", str(tmp_path), "--task", "gp-l"]) == 2
    err = _error_line(capsys)
    assert "a folder without config.json or adapter_config.json" in err
    assert "It holds Trainer checkpoints ['checkpoint-4']: name one of them." in err


def test_folder_without_tokenizer(tmp_path, text_checkpoint):
    from transformers import AutoConfig, AutoModelForCausalLM

    from sft_vs_rl.models import load_model

    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(text_checkpoint))
    model.save_pretrained(tmp_path / "weights-only")
    with pytest.raises(ValueError, match=r"holds a model \(config.json\) but no tokenizer .*save_pretrained\(folder\)"):
        load_model(tmp_path / "weights-only", device=None)


def test_debug_shows_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match="no such folder"):
        main(["--debug", "eval", "/nonexistent/ckpt", "--task", "gp-l"])
    monkeypatch.setenv("SFT_VS_RL_DEBUG", "1")
    with pytest.raises(ValueError, match="no such folder"):
        main(["eval", "/nonexistent/ckpt", "--task", "gp-l"])


# ------------------------------------------------------------------------------------------------- wrong checkpoint
def test_checkpoint_of_another_task(text_checkpoint, capsys):
    assert main(["eval", str(text_checkpoint), "--task", "virl-l"]) == 2
    err = _error_line(capsys)
    assert f"`task` is 'virl-l' but '{text_checkpoint}' is a gp-l checkpoint" in err and "drop `--task`" in err


def test_text_model_for_an_image_task(text_checkpoint, tmp_path):
    import shutil

    from sft_vs_rl.evaluation.runner import evaluate_checkpoint
    from sft_vs_rl.models.record import RECORD_NAME

    folder = tmp_path / "text"
    shutil.copytree(text_checkpoint, folder)
    (folder / RECORD_NAME).unlink()  # no record: the kind check must catch it on its own
    with pytest.raises(ValueError, match=r"`task` is 'gp-vl', an image task, but .* is a text-only model \(llama\)"):
        evaluate_checkpoint(folder, "gp-vl", num_episodes=1)


def test_eval_without_task_or_record(tmp_path, text_checkpoint, capsys):
    import shutil

    from sft_vs_rl.models.record import RECORD_NAME

    folder = tmp_path / "bare"
    shutil.copytree(text_checkpoint, folder)
    (folder / RECORD_NAME).unlink()
    assert main(["eval", str(folder)]) == 2
    err = _error_line(capsys)
    assert "`task` is not given and" in err and "pass the task (`--task gp-l`" in err


def test_missing_value_head_names_the_file(tmp_path):
    from sft_vs_rl.models import ValueHead

    with pytest.raises(FileNotFoundError, match="No value_head_config.json in .*ValueHead.save_pretrained"):
        ValueHead.from_pretrained(tmp_path)


def test_push_reads_task_and_method_from_the_record(text_checkpoint, tmp_path, capsys):
    assert main(["push", str(text_checkpoint), "--repo-id", "me/gp-l-init", "--dry-run", str(tmp_path / "dry")]) == 0
    card = (tmp_path / "dry" / "README.md").read_text()
    assert "gp-l" in card.lower() and "| step | 3 |" in card
    uploaded = json.loads((tmp_path / "dry" / "sft_vs_rl_checkpoint.json").read_text())
    assert (uploaded["task"], uploaded["method"]) == ("gp-l", "init")
    # a flag overrides the record, and the uploaded record says what the card says
    args = ["push", str(text_checkpoint), "--repo-id", "me/x", "--method", "sft", "--dry-run", str(tmp_path / "d2")]
    assert main(args) == 0
    assert json.loads((tmp_path / "d2" / "sft_vs_rl_checkpoint.json").read_text())["method"] == "sft"


def test_push_without_record_asks_for_task_and_method(text_checkpoint, tmp_path, capsys):
    import shutil

    from sft_vs_rl.models.record import RECORD_NAME

    folder = tmp_path / "bare"
    shutil.copytree(text_checkpoint, folder)
    (folder / RECORD_NAME).unlink()
    assert main(["push", str(folder), "--repo-id", "me/x", "--dry-run", str(tmp_path / "dry")]) == 2
    assert "task, method of" in (err := _error_line(capsys)) and "pass --task and --method" in err


# ------------------------------------------------------------------------------------------------- data and sizes
def test_unknown_dataset_config(capsys):
    assert main(["build-data", "--dataset", "generalpoints", "--config", "gp-l-foo", "--output-dir", "x"]) == 2
    assert "Unknown config name='gp-l-foo'" in _error_line(capsys)


def test_unknown_dataset_field():
    from sft_vs_rl import load_dataset

    with pytest.raises(ValueError, match=r"Unknown config field trainsize= .*Did you mean 'train_size'\?"):
        load_dataset("sft_vs_rl/generalpoints", "gp-l-id", trainsize=4)


def test_empty_train_split():
    from sft_vs_rl import load_dataset

    with pytest.raises(ValueError, match="train_size=0 is empty; set train_size ≥ 1"):
        load_dataset("sft_vs_rl/generalpoints", "gp-l-id", split="train", train_size=0)


@pytest.mark.parametrize("flag", ["--batch-size", "--num-episodes", "--max-new-tokens", "--test-size"])
def test_eval_counts_must_be_positive(flag, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "x", "--task", "gp-l", flag, "0"])
    assert exit_info.value.code == 2
    assert f"argument {flag}: 0 must be ≥ 1" in capsys.readouterr().err


def test_evaluate_counts_must_be_positive(text_checkpoint):
    from sft_vs_rl.evaluation.runner import evaluate

    with pytest.raises(ValueError, match="`max_new_tokens` is 0; it must be an int ≥ 1"):
        evaluate(text_checkpoint, [{"seed": 0}], task="gp-l", split="id", max_new_tokens=0)


def test_study_preset_sizes(capsys):
    assert main(["study", "--task", "gp-l", "--output-dir", "x", "--set", "rl_updates=0"]) == 2
    assert "StudyPreset field `rl_updates` is 0; it must be an int ≥ 1" in _error_line(capsys)
    assert main(["study", "--task", "gp-l", "--output-dir", "x", "--set", "init_format_threshold=95"]) == 2
    assert "`init_format_threshold` is 95; it must be a share in (0, 1]" in _error_line(capsys)


def test_ppo_config_sizes(tmp_path):
    from sft_vs_rl import MultiTurnVerifierPPOConfig

    with pytest.raises(ValueError, match="`per_device_train_batch_size` is 0; it must be a positive integer"):
        MultiTurnVerifierPPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=0)


# ------------------------------------------------------------------------------------------------- files
def test_results_file_of_the_wrong_schema(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"schema_version": 1, "records": [{"method": "rl"}]}))
    assert main(["plot", str(bad), "--output-dir", str(tmp_path / "figs")]) == 2
    err = _error_line(capsys)
    assert "sft-vs-rl plot: error:" in err and str(bad) in err


def test_recipe_yaml_key_no_dataclass_knows(tmp_path):
    config = tmp_path / "rl.yaml"
    config.write_text((RECIPES / "configs" / "tiny" / "rl_gp_l.yaml").read_text() + "learning_rat: 0.1\n")
    sys.path.insert(0, str(RECIPES))
    try:
        import _common
        import rl_gp
    finally:
        sys.path.pop(0)
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'learning_rat' \(did you mean 'learning_rate'\?\)"):
        _common.check_config_keys(rl_gp.make_parser(), ["--config", str(config)])


def test_rl_recipe_before_the_sft_recipe(tmp_path, monkeypatch):
    """The RL config starts from the folder the SFT config writes: the message names that config and command."""
    import subprocess

    monkeypatch.chdir(tmp_path)  # runs/tiny/sft_gp_l does not exist here
    run = subprocess.run([sys.executable, str(RECIPES / "rl_gp.py"), "--config",
                          str(RECIPES / "configs" / "tiny" / "rl_gp_l.yaml")], capture_output=True, text=True)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert "`model_name_or_path` is 'runs/tiny/sft_gp_l', which does not exist yet" in run.stderr
    assert "python recipes/sft_gp.py --config recipes/configs/tiny/sft_gp_l.yaml` first" in run.stderr


# ------------------------------------------------------------------------------------------------- study folders
def test_output_folder_of_another_study(tmp_path, capsys):
    from sft_vs_rl.atomic import write_json
    from sft_vs_rl.study.pipeline import STUDY_FILE

    write_json(tmp_path / STUDY_FILE, {"task": "virl-l", "preset": "smoke", "settings": {}})
    assert main(["study", "--task", "gp-l", "--output-dir", str(tmp_path)]) == 2
    err = _error_line(capsys)
    assert f"`output_dir` '{tmp_path}' holds another study (virl-l, preset smoke)" in err
    assert "task 'virl-l' → 'gp-l'" in err and "pass --force to delete it" in err


def test_output_folder_of_the_same_study_with_other_settings(tmp_path, capsys):
    import dataclasses

    from sft_vs_rl.atomic import write_json
    from sft_vs_rl.study.pipeline import STUDY_FILE
    from sft_vs_rl.study.presets import resolve_study_preset

    settings = json.loads(json.dumps(dataclasses.asdict(resolve_study_preset("smoke", "gp-l"))))
    settings.pop("task_overrides")
    write_json(tmp_path / STUDY_FILE, {"task": "gp-l", "preset": "smoke", "settings": settings})
    assert main(["study", "--task", "gp-l", "--output-dir", str(tmp_path), "--set", "rl_updates=3"]) == 2
    assert "differs in settings.rl_updates 2 → 3" in _error_line(capsys)


def test_force_refuses_a_folder_that_is_not_a_study(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["study", "--task", "gp-l", "--output-dir", str(tmp_path), "--force"]) == 2
    assert "holds files but no study.json, so not a study (--force would delete them)" in _error_line(capsys)
    assert (tmp_path / "notes.txt").is_file()
