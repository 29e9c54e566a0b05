"""Hub pushes: the dry run writes exactly the upload tree, offline pushes fail fast naming the cause, model cards
render with and without results. HF_HUB_OFFLINE=1 is set by tests/conftest.py."""

import json
import socket
import time

import pytest
from huggingface_hub import ModelCard

from sft_vs_rl import hub
from sft_vs_rl.cli import main
from sft_vs_rl.evaluation.metrics import MetricValue
from sft_vs_rl.evaluation.results import ResultRecord, Results, save_results
from sft_vs_rl.hub import (
    HubUnreachableError,
    ModelCardContext,
    check_hub_reachable,
    prepare_model_upload,
    push_folder,
    render_model_card,
)


@pytest.fixture
def tree(tmp_path):
    """An upload tree with a nested file, plus the folders upload_folder always skips."""
    root = tmp_path / "tree"
    files = {
        "README.md": "---\nlicense: apache-2.0\n---\n# card\n",
        "config.json": "{}",
        "gp-l-id/train-00000-of-00001.parquet": "parquet bytes",
        ".git/HEAD": "ref: refs/heads/main",  # skipped by upload_folder
        ".cache/huggingface/upload/x.lock": "",  # skipped by upload_folder
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_dry_run_writes_exactly_the_upload_tree(tree, tmp_path):
    dry = tmp_path / "dry"
    result = push_folder(tree, "me/gp-data", repo_type="dataset", dry_run=dry)
    expected = ["README.md", "config.json", "gp-l-id/train-00000-of-00001.parquet"]
    assert result.paths == expected
    written = sorted(p.relative_to(dry).as_posix() for p in dry.rglob("*") if p.is_file())
    assert written == expected
    assert all((dry / p).read_bytes() == (tree / p).read_bytes() for p in expected)
    assert result.dry_run_dir == dry and result.commit_url is None and result.repo_type == "dataset"


def test_dry_run_matches_upload_folder_selection(tree, monkeypatch):
    # The paths are those of the CommitOperationAdd objects huggingface_hub itself would build.
    from huggingface_hub import HfApi
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS

    monkeypatch.setattr(HfApi, "_validate_yaml", lambda *args, **kwargs: None)  # a Hub call; validated locally

    operations = HfApi()._prepare_upload_folder_additions(
        tree, "", ignore_patterns=list(DEFAULT_IGNORE_PATTERNS), repo_type="model"
    )
    assert sorted(op.path_in_repo for op in operations) == hub._upload_paths(tree)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repo_id": "no namespace"}, "not a valid Hub id"),  # spaces are not allowed
        ({"repo_id": "name-only"}, "lacks the namespace"),  # 'org/name' required
        ({"repo_id": "me/x", "repo_type": "models"}, "repo_type='models' is not valid"),
    ],
)
def test_bad_arguments(tree, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        push_folder(tree, dry_run=tmp_path / "dry", **kwargs)


def test_dry_run_refuses_non_empty_or_nested_target(tree, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="is not empty"):
        push_folder(tree, "me/x", dry_run=tmp_path / "full")
    with pytest.raises(ValueError, match="inside the folder"):
        push_folder(tree, "me/x", dry_run=tree / "sub")


def test_invalid_card_metadata_fails_before_upload(tree, tmp_path):
    (tree / "README.md").write_text("---\n- not a mapping\n---\n")
    with pytest.raises(ValueError, match="YAML metadata is invalid"):
        push_folder(tree, "me/x", dry_run=tmp_path / "dry")


def test_offline_push_fails_fast_with_cause(tree):
    start = time.perf_counter()
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE") as info:
        push_folder(tree, "me/x")
    # Guards against huggingface_hub's ~23 s retry loop; the flag check itself takes microseconds.
    assert time.perf_counter() - start < 5
    assert "--dry-run" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_is_named():
    endpoint = f"http://127.0.0.1:{_free_port()}"  # nothing listens there: connection refused
    with pytest.raises(HubUnreachableError, match=f"endpoint {endpoint} is unreachable \\(ConnectError"):
        check_hub_reachable(endpoint, offline=False, timeout=2)


def test_silent_endpoint_times_out():
    with socket.socket() as server:  # accepts connections (backlog) but never answers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(HubUnreachableError, match=r"unreachable \((Read|Connect)Timeout.*within 0.5 s"):
            check_hub_reachable(endpoint, offline=False, timeout=0.5)


def test_online_push_probes_then_creates_and_uploads(tree, monkeypatch):
    calls = []
    monkeypatch.setattr(hub, "check_hub_reachable", lambda endpoint=None: calls.append(("probe", endpoint)))

    class FakeApi:
        def __init__(self, endpoint=None, token=None):
            calls.append(("api", token))

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))
            return f"https://hub/{repo_id}"

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs["repo_id"], kwargs["repo_type"], kwargs["commit_message"]))
            return type("Commit", (), {"commit_url": "https://hub/me/x/commit/1"})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    result = push_folder(tree, "me/x", private=True, token="t", commit_message="msg")
    assert calls == [
        ("probe", None),
        ("api", "t"),
        ("create_repo", "me/x", {"repo_type": "model", "private": True, "exist_ok": True}),
        ("upload_folder", "me/x", "model", "msg"),
    ]
    assert result.commit_url == "https://hub/me/x/commit/1" and result.dry_run_dir is None


# Model cards and checkpoint upload trees


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
