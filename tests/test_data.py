"""Tests of `sft_vs_rl.data` and the packaged builders (`datasets_builders/*/builder.py`): every config builds, rows
replay their episodes exactly, optimal completions earn the top reward, splits never overlap, generation is
deterministic, the stock `datasets.load_dataset` works offline after seeding, and the push tree loads back."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch

from sft_vs_rl.data import (
    build_dataset_tree,
    get_dataset_config_names,
    load_dataset,
    load_dataset_builder,
    push_dataset,
)
from sft_vs_rl.rewards import completion_text

GP, VIRL = "sft_vs_rl/generalpoints", "sft_vs_rl/virl"
SMALL = {GP: {"train_size": 6, "test_size": 5}, VIRL: {"train_size": 2, "test_size": 3}}
CONFIGS = [(GP, name) for name in get_dataset_config_names(GP)] + [(VIRL, n) for n in get_dataset_config_names(VIRL)]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("datasets_cache"))


@pytest.fixture(scope="module")
def built(cache_dir):
    """Every config at small sizes, built once for the module."""
    return {(repo, name): load_dataset(repo, name, cache_dir=cache_dir, **SMALL[repo]) for repo, name in CONFIGS}


def _make_env(repo: str, env_kwargs: dict):
    if repo == GP:
        from sft_vs_rl.envs.generalpoints import GeneralPointsEnv

        return GeneralPointsEnv(**env_kwargs)
    from sft_vs_rl.envs.virl import VIRLEnv

    return VIRLEnv(**env_kwargs)


def _replay(repo: str, row: dict):
    """Rebuild the row's episode from its stored state: reset, then follow the optimal answers to its position."""
    env = _make_env(repo, row["env_kwargs"])
    _, info = env.reset(seed=row["seed"], options=row["options"])
    for _ in range(row.get("position") or 0):
        _, _, _, _, info = env.step(env.optimal_response())
    return env, info


def _plain_messages(messages: list[dict]) -> list[dict]:
    """Arrow stores `{"type": "image"}` items as `{"type": "image", "text": None}`; drop the `None`s to compare."""
    return [
        {"role": m["role"], "content": [{k: v for k, v in c.items() if v is not None} for c in m["content"]]}
        for m in messages
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Every config builds with the documented schema


def test_heldout_pool_docstring_examples_run():
    import doctest

    from sft_vs_rl.envs import heldout
    from sft_vs_rl.envs.generalpoints import cards

    for module in (heldout, cards):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted >= 1


def test_ten_configs_are_declared():
    assert get_dataset_config_names(GP) == [
        "gp-l-id", "gp-l-ood-rule", "gp-vl-id", "gp-vl-ood-rule", "gp-vl-ood-visual",
    ]  # fmt: skip
    assert get_dataset_config_names("virl") == [
        "virl-l-id", "virl-l-ood-rule", "virl-vl-id", "virl-vl-ood-rule", "virl-vl-ood-visual",
    ]  # fmt: skip


@pytest.mark.parametrize("repo,name", CONFIGS, ids=[name for _, name in CONFIGS])
def test_config_builds_with_schema(built, repo, name):
    ds = built[repo, name]
    assert sorted(ds) == (["test", "train"] if name.endswith("-id") else ["test"])  # train for ID configs only
    visual = "-vl-" in name
    for split, dataset in ds.items():
        assert ("images" in dataset.column_names) == visual
        if visual:
            assert isinstance(dataset.features["images"].feature, datasets.Image)
        row = dataset[0]
        assert row["prompt"][-1]["role"] == "user" and row["completion"][0]["role"] == "assistant"
        assert (row["config_name"], row["config_seed"], row["split"]) == (name, 0, split)  # provenance
        assert row["env_kwargs"]["visual"] is visual
        if visual:
            assert len(row["images"]) == 1 and row["images"][0].size[0] >= 32
    size = SMALL[repo]["test_size"]
    assert ds["test"].num_rows == size  # test rows are one per episode for both tasks
    assert sorted(set(ds["test"]["index"])) == list(range(size))


def test_default_sizes_are_the_papers():
    gp = load_dataset_builder(GP, "gp-l-id").config
    assert (gp.test_size, gp.train_size) == (234, 10_000)
    virl = load_dataset_builder(VIRL, "virl-l-id").config
    assert (virl.test_size, virl.train_size) == (48, 1000)
    mini = load_dataset_builder(VIRL, "virl-vl-ood-visual").config
    assert mini.test_size == 18 and len(mini.cities) == 9 and "nyc-like" not in mini.cities
    assert load_dataset_builder(GP, "gp-vl-ood-visual").config.suit_colour == "red"


def test_visual_ood_covers_each_unseen_city_twice(cache_dir):
    rows = load_dataset(VIRL, "virl-vl-ood-visual", split="test", cache_dir=cache_dir, visual=False)  # text: fast
    counts = {}
    for kw in rows["env_kwargs"]:
        counts[kw["city"]] = counts.get(kw["city"], 0) + 1
    assert len(counts) == 9 and set(counts.values()) == {2} and "nyc-like" not in counts
    assert {len(o["route"]["milestones"]) for o in rows["options"]} <= {2, 3}  # mini-benchmark route lengths


# ---------------------------------------------------------------------------------------------------------------------
# Rows replay their episodes; the optimal completion earns the top reward (oracle round trip)


@pytest.mark.parametrize("repo,name", CONFIGS, ids=[name for _, name in CONFIGS])
def test_rows_replay_and_oracle_round_trip(built, repo, name):
    for split, dataset in built[repo, name].items():
        for row in dataset.select(range(min(3, dataset.num_rows))):
            env, info = _replay(repo, row)
            assert _plain_messages(row["prompt"]) == info["messages"]  # exactly what the env shows
            if "images" in row:
                assert np.array_equal(np.asarray(row["images"][0]), np.asarray(info["images"][0]))
            _, reward, terminated, truncated, info = env.step(completion_text(row["completion"]))
            assert reward == (5.0 if repo == GP else 1.0), (split, row["index"], info["feedback"])
            assert not truncated and info["feedback"] in ("Correct solution.", "Correct action.")
            assert terminated == (repo == GP or row["expected_action"] == "stop()")


def test_virl_train_rows_cover_every_rail_position(built):
    train = built[VIRL, "virl-l-id"]["train"]
    for index in set(train["index"]):
        rows = train.filter(lambda r, i=index: r["index"] == i)
        assert rows["position"] == list(range(rows[0]["num_positions"]))
        assert rows[-1]["expected_action"] == "stop()"


# ---------------------------------------------------------------------------------------------------------------------
# Train and test never share an episode


def test_generalpoints_train_and_test_problems_are_disjoint(cache_dir):
    from sft_vs_rl.envs.generalpoints import card_values, is_heldout_hand

    def problems(ds):
        return {tuple(sorted(card_values(r, "10"))) for r in ds["ranks"]}

    id_ = load_dataset(GP, "gp-l-id", cache_dir=cache_dir, train_size=400, test_size=100)
    rule = load_dataset(GP, "gp-l-ood-rule", split="test", cache_dir=cache_dir, test_size=100)
    train = problems(id_["train"])
    assert not train & problems(id_["test"]) and not train & problems(rule)
    assert all(is_heldout_hand(r, 0.2) for r in id_["test"]["ranks"])
    assert not any(is_heldout_hand(r, 0.2) for r in id_["train"]["ranks"])


def test_virl_train_and_test_routes_are_disjoint(cache_dir):
    ds = load_dataset(VIRL, "virl-l-id", cache_dir=cache_dir, train_size=40, test_size=48, train_rows="episodes")

    def routes(split):
        return {(str(o["route"]["start"]), str([m["xy"] for m in o["route"]["milestones"]])) for o in split["options"]}

    assert not routes(ds["train"]) & routes(ds["test"])
    rule = load_dataset(VIRL, "virl-l-ood-rule", split="test", cache_dir=cache_dir)
    assert [o["route"] for o in rule["options"]] == [o["route"] for o in ds["test"]["options"]]  # paper: same routes


# ---------------------------------------------------------------------------------------------------------------------
# Determinism


@pytest.mark.parametrize("repo,name", [(GP, "gp-vl-id"), (VIRL, "virl-vl-id")])
def test_same_config_and_seed_give_identical_rows(tmp_path, repo, name):
    a = load_dataset(repo, name, cache_dir=str(tmp_path / "a"), **SMALL[repo])
    b = load_dataset(repo, name, cache_dir=str(tmp_path / "b"), **SMALL[repo])
    c = load_dataset(repo, name, cache_dir=str(tmp_path / "c"), seed=1, **SMALL[repo])
    for split in a:
        assert a[split]._fingerprint == b[split]._fingerprint
        assert a[split].data.table.equals(b[split].data.table)  # byte-identical, images included
        assert a[split]["options"] != c[split]["options"]  # seed + 1 differs


def test_num_proc_does_not_change_the_data(tmp_path):
    one = load_dataset(VIRL, "virl-l-id", cache_dir=str(tmp_path / "a"), train_size=3, test_size=3)
    two = load_dataset(VIRL, "virl-l-id", cache_dir=str(tmp_path / "b"), train_size=3, test_size=3, num_proc=2)
    for split in one:
        assert one[split].to_list() == two[split].to_list()


def test_rows_can_be_rebuilt_alone(tmp_path):
    """Row i does not depend on rows before it (per-row SeedSequence), so a longer split extends a shorter one."""
    short = load_dataset(GP, "gp-l-id", split="test", cache_dir=str(tmp_path), train_size=0, test_size=4)
    long = load_dataset(GP, "gp-l-id", split="test", cache_dir=str(tmp_path), train_size=0, test_size=9)
    assert long.select(range(4)).to_list() == short.to_list()


# ---------------------------------------------------------------------------------------------------------------------
# load_dataset: errors, stock datasets.load_dataset offline after seeding


def test_stock_load_dataset_works_offline_after_seeding(tmp_path):
    cache = str(tmp_path)
    ours = load_dataset(GP, "gp-vl-ood-rule", cache_dir=cache, test_size=4)
    stock = datasets.load_dataset(GP, "gp-vl-ood-rule", cache_dir=cache, test_size=4)
    assert stock["test"].to_list() == ours["test"].to_list()
    assert isinstance(stock["test"].features["images"].feature, datasets.Image)
    with pytest.raises(ValueError, match="Couldn't find cache"):  # not built yet: the stock loader cannot invent it
        datasets.load_dataset(GP, "gp-l-id", cache_dir=cache)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: load_dataset("sft_vs_rl/generalpoint", "gp-l-id"), "Did you mean 'sft_vs_rl/generalpoints'"),
        (lambda: load_dataset("nope"), "Valid ids"),
        (lambda: load_dataset(GP, "gp-l-od-rule"), "Did you mean 'gp-l-ood-rule'"),  # typo in the config
        (lambda: load_dataset(GP, "gp-l-ood-rule", split="train"), "no split='train'"),  # OOD has test only
        (lambda: load_dataset(GP, "gp-l-id", test_size=-1), "test_size=-1"),
        (lambda: load_dataset(GP, "gp-l-id", test_sise=5), "Did you mean 'test_size'"),  # typo in a field
        (lambda: load_dataset(VIRL, "virl-l-id", cities=["atlantis"]), "cities="),
        (lambda: load_dataset(VIRL, "virl-l-id", test_rows="all"), "test_rows='all'"),
    ],
)
def test_bad_names_and_values_fail_with_the_fix(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------------------------------------
# Push tree (dry run) and offline push


def test_push_dry_run_tree_loads_with_stock_load_dataset(tmp_path, cache_dir):
    result = push_dataset(GP, "me/generalpoints", ["gp-l-id", "gp-vl-ood-visual"], dry_run=tmp_path / "dry",
                          test_size=3, train_size=4)  # fmt: skip
    assert result.paths == [
        "README.md",
        "gp-l-id/test-00000-of-00001.parquet",
        "gp-l-id/train-00000-of-00001.parquet",
        "gp-vl-ood-visual/test-00000-of-00001.parquet",
    ]
    folder = str(tmp_path / "dry")
    assert datasets.get_dataset_config_names(folder) == ["gp-l-id", "gp-vl-ood-visual"]
    loaded = datasets.load_dataset(folder, "gp-vl-ood-visual", cache_dir=cache_dir)
    ours = load_dataset(GP, "gp-vl-ood-visual", cache_dir=cache_dir, test_size=3, train_size=4)
    assert loaded["test"].to_list() == ours["test"].to_list()  # images survive the parquet round trip
    assert datasets.load_dataset(folder, cache_dir=cache_dir)["train"].num_rows == 4  # gp-l-id is the default
    card = (tmp_path / "dry" / "README.md").read_text()
    assert "configs:" in card and "dataset_info:" in card and "# GeneralPoints" in card


def test_offline_push_fails_before_generating(tmp_path, monkeypatch):
    import sft_vs_rl.data as data
    from sft_vs_rl.hub import HubUnreachableError

    def fail(*args, **kwargs):
        raise AssertionError("data were generated before the Hub check")

    monkeypatch.setattr(data, "build_dataset_tree", fail)
    with pytest.raises(HubUnreachableError, match="offline"):
        push_dataset(GP, "me/generalpoints")


def test_build_tree_then_load_virl(tmp_path, cache_dir):
    build_dataset_tree(VIRL, tmp_path, ["virl-l-ood-rule"], cache_dir=cache_dir, test_size=2)
    assert sorted(p.name for p in (tmp_path / "virl-l-ood-rule").iterdir()) == ["test-00000-of-00001.parquet"]
    ds = datasets.load_dataset(str(tmp_path), "virl-l-ood-rule", split="test", cache_dir=cache_dir)
    assert ds.num_rows == 2 and ds[0]["env_kwargs"]["action_space"] == "relative"


# ---------------------------------------------------------------------------------------------------------------------
# CLI (entry point as a subprocess, tiny sizes)


def test_cli_build_data_and_push_data(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "sft_vs_rl.cli", *args], capture_output=True, text=True)

    out = run("build-data", "--dataset", "generalpoints", "--config", "gp-l-ood-rule", "--test-size", "3",
              "--output-dir", str(tmp_path / "built"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert datasets.load_dataset(str(tmp_path / "built"), "gp-l-ood-rule", split="test").num_rows == 3
    out = run("push-data", "--dataset", "virl", "--config", "virl-l-ood-rule", "--test-size", "2",
              "--repo-id", "me/virl", "--dry-run", str(tmp_path / "dry"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (Path(tmp_path) / "dry" / "virl-l-ood-rule" / "test-00000-of-00001.parquet").is_file()
    out = run("push-data", "--dataset", "virl", "--repo-id", "me/virl")
    assert out.returncode == 2 and "offline" in out.stderr


# ---------------------------------------------------------------------------------------------------------------------
# Stock trl.SFTTrainer on the prompt-completion rows


@pytest.mark.slow
def test_stock_sft_trains_on_prompt_completion_rows(tmp_path, built):
    from trl import SFTConfig, SFTTrainer

    from sft_vs_rl.models import build_tiny_model

    model, tokenizer = build_tiny_model("llama", "nano")
    args = SFTConfig(
        output_dir=str(tmp_path), use_cpu=True, bf16=False, gradient_checkpointing=False, report_to="none",
        save_strategy="no", max_steps=2, per_device_train_batch_size=3, logging_steps=1, learning_rate=1e-3,
    )  # fmt: skip
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = SFTTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=built[GP, "gp-l-id"]["train"])
    row = trainer.train_dataset[0]
    in_loss = sum(label != -100 for label in row["labels"])
    assert 0 < in_loss < len(row["input_ids"])  # loss on the completion only
    trainer.train()
    assert math.isfinite(trainer.state.log_history[-2]["loss"])
    for name, param in model.named_parameters():
        assert not torch.equal(before[name], param), name  # every trainable parameter changed
