"""Hub pushes: the dry run writes exactly the upload tree, offline pushes fail fast naming the cause.
HF_HUB_OFFLINE=1 is set by tests/conftest.py."""

import socket
import time

import pytest

from sft_vs_rl import hub
from sft_vs_rl.hub import HubUnreachableError, check_hub_reachable, push_folder


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
