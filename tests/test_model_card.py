"""Model cards render with and without results (never invented numbers); a checkpoint's upload tree holds exactly
the files to publish; `sft-vs-rl push --dry-run` writes it. HF_HUB_OFFLINE=1 is set by tests/conftest.py."""

import json
import time

import pytest
from huggingface_hub import ModelCard

from sft_vs_rl.cli import main
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.evaluation.results import ResultRecord, Results, save_results
from sft_vs_rl.model_card import ModelCardContext, prepare_model_upload, render_model_card


def _results():
    def metric(p):
        return MetricValue(p, 0.02, 234)

    return Results(
        records=[
            ResultRecord("rl", 40, 25.5, "gp-l", "id", {"success": metric(0.61)}, checkpoint="rl/checkpoint-40"),
            ResultRecord("rl", 40, 25.5, "gp-l", "ood-rule", {"success": metric(0.15)}, checkpoint="rl/checkpoint-40"),
            ResultRecord("sft", 40, 26.0, "gp-l", "ood-rule", {"success": metric(0.034)}, checkpoint="sft/ckpt-40"),
        ]
    )


def test_card_without_results_says_not_evaluated():
    card = render_model_card({"task": "gp-l", "method": "rl", "base_model": "meta-llama/Llama-3.2-11B-Vision"})
    assert "Not evaluated: no evaluation results were provided" in card
    assert "%" not in card.split("## Evaluation")[1].split("## Intended use")[0]  # no invented numbers
    metadata = ModelCard(card).data.to_dict()
    assert {"sft-vs-rl", "trl", "rl", "gp-l"} <= set(metadata["tags"])
    assert metadata["base_model"] == "meta-llama/Llama-3.2-11B-Vision"
    assert "@inproceedings{chu2025sft" in card


def test_card_with_results_shows_only_this_checkpoint():
    context = ModelCardContext(task="gp-l", method="rl", step=40, results=_results())
    card = render_model_card(context)
    assert "| in-distribution | success rate | 61.0% ± 2.0 | 234 | – |" in card
    assert "| OOD (rule) | success rate | 15.0% ± 2.0 | 234 | – |" in card
    assert "3.4%" not in card  # the SFT checkpoint's record is not this model's
    by_name = render_model_card(
        ModelCardContext(task="gp-l", method="sft", checkpoint="sft/ckpt-40", results=_results())
    )
    assert "3.4% ± 2.0" in by_name and "61.0%" not in by_name
    other = render_model_card(ModelCardContext(task="gp-l", method="rl", step=99, results=_results()))
    assert "Not evaluated: the results file given holds no record of this checkpoint." in other


def test_card_context_validation():
    with pytest.raises(ValueError, match="task='gp'"):
        ModelCardContext(task="gp", method="rl")
    with pytest.raises(ValueError, match=r"Unknown model card field\(s\) \['lr'\]"):
        render_model_card({"task": "gp-l", "method": "rl", "lr": 1e-6})


@pytest.fixture
def checkpoint(tmp_path):
    """A Trainer checkpoint of a tiny Llama with a value head, tokenizer files and training state."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, tie_word_embeddings=True,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    folder = tmp_path / "checkpoint-40"
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "value_head_config.json"):
        (folder / name).write_text("{}")
    (folder / "value_head.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "training_args.bin"):  # stay local
        (folder / name).write_bytes(b"\0")
    state = {
        "global_step": 40,
        "log_history": [{"step": 20, "flops/total": 1.0e10}, {"step": 40, "flops/total": 2.5e10}],
    }
    (folder / "trainer_state.json").write_text(json.dumps(state))
    return folder, model.num_parameters()


def test_prepare_model_upload(checkpoint, tmp_path):
    folder, n_params = checkpoint
    out = prepare_model_upload(folder, tmp_path / "upload", {"task": "gp-l", "method": "rl", "results": _results()})
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "chat_template.jinja",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "sft_vs_rl_checkpoint.json",
        "sft_vs_rl_results.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "value_head.safetensors",
        "value_head_config.json",
    ]
    card = (out / "README.md").read_text()
    assert f"| parameters | {n_params:,} |" in card  # counted from the header, value head excluded
    assert "| step | 40 |" in card and "**25 GFLOPs**" in card  # from trainer_state.json
    assert "15.0% ± 2.0" in card
    with pytest.raises(ValueError, match="not empty"):
        prepare_model_upload(folder, out, {"task": "gp-l", "method": "rl"})
    with pytest.raises(ValueError, match="no config.json"):
        prepare_model_upload(tmp_path / "upload" / "..", tmp_path / "other", {"task": "gp-l", "method": "rl"})


def test_cli_push_dry_run_and_offline(checkpoint, tmp_path, capsys):
    folder, _ = checkpoint
    results = save_results(_results(), tmp_path / "results.json")
    args = ["push", str(folder), "--repo-id", "me/gp-l-rl", "--task", "gp-l", "--method", "rl"]
    assert main([*args, "--results", str(results), "--dry-run", str(tmp_path / "dry")]) == 0
    out = capsys.readouterr().out
    assert "dry run written to" in out and "README.md" in out.splitlines()
    assert (tmp_path / "dry" / "model.safetensors").is_file() and not (tmp_path / "dry" / "optimizer.pt").exists()
    assert "15.0% ± 2.0" in (tmp_path / "dry" / "README.md").read_text()
    card_context = tmp_path / "card.json"
    card_context.write_text(json.dumps({"training": {"learning_rate": 1e-6}, "task_config": {"face_rule": "10"}}))
    assert main([*args, "--card-context", str(card_context), "--dry-run", str(tmp_path / "dry2")]) == 0
    card = (tmp_path / "dry2" / "README.md").read_text()
    assert "| learning_rate | `1e-06` |" in card and "| face_rule | `10` |" in card
    card_context.write_text(json.dumps({"lr": 1}))
    assert main([*args, "--card-context", str(card_context), "--dry-run", str(tmp_path / "dry3")]) == 2
    assert "Unknown model card field(s) ['lr']" in capsys.readouterr().err
    start = time.perf_counter()
    assert main(args) == 2  # offline: fails before copying anything
    assert time.perf_counter() - start < 5
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err
