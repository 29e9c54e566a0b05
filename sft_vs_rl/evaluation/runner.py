"""Evaluate a checkpoint on a task split with the paper's protocol, and record it in a results file.

The episodes are played by the library's batched multi-turn rollout (`sft_vs_rl.trainers.rollout.run_episodes`, on
the same `MultiTurnRollout` the PPO trainer collects with): `batch_size` environments step together, one batched
`generate` call per turn, finished episodes replaced at once. Checkpoint folders load with
`sft_vs_rl.models.load_model` and their step and compute come from `sft_vs_rl.models.read_checkpoint_compute`; task
facts (splits, dataset, environment id) come from `sft_vs_rl.tasks`. The protocol follows the original evaluator
(reference `sftvsrl_spec.md` §1.8, §2.7):

| task | episodes (test split) | graded tries | metrics |
|---|---|---|---|
| GeneralPoints | 234 | 5 (`verify_iterations` of the data) | `success`, `recognition` (GP-VL), `mean_return` |
| V-IRL ID / rule OOD | 48 | 2 per position | `step_accuracy`, `success`, `mean_return` |
| V-IRL visual OOD | 18 | 2 per position | `success`, `step_accuracy`, `mean_return` |

`recognition` is scored on each episode's first answer, which the model writes from exactly the prompt of the
paper's separate one-try run (`VITER=1`), so one run gives both numbers.

Generation follows the checkpoint's own `generation_config` (as the original evaluator did), with
`max_new_tokens=256`. Sampling is seeded: the rollout runs inside `torch.random.fork_rng` with `seed`, so results
are reproducible and the caller's global RNG is left as it was.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sft_vs_rl.evaluation.metrics import EpisodeRecord, compute_metrics
from sft_vs_rl.evaluation.results import ResultRecord, Results, load_results, save_results
from sft_vs_rl.tasks import METHODS, get_task, task_of_config

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "Evaluation", "evaluate", "evaluate_checkpoint"]

DEFAULT_MAX_NEW_TOKENS = 256  # the original evaluator's generation_config (spec §1.8)


@dataclass
class Evaluation:
    """What [`evaluate`] returns: the results record and the per-episode records it was computed from."""

    record: ResultRecord
    episodes: list[EpisodeRecord]


# ---------------------------------------------------------------------------------------------------------------------
# Inputs: rows, task and split, checkpoint, environments, generation settings
# ---------------------------------------------------------------------------------------------------------------------
def _rows(episodes: Any, num_episodes: int | None) -> list[Mapping[str, Any]]:
    rows = list(episodes)
    if not rows:
        raise ValueError("evaluate: `episodes` is empty; pass a test split with at least one row.")
    missing = [key for key in ("env_kwargs", "seed") if key not in rows[0]]
    if missing:
        raise ValueError(
            f"evaluate: episode rows lack {missing}; pass rows of a library dataset (e.g. "
            "sft_vs_rl.load_dataset('sft_vs_rl/generalpoints', 'gp-l-ood-rule', split='test')), which carry "
            "env_kwargs, seed and options."
        )
    return rows if num_episodes is None else rows[:num_episodes]


def _task_split_of(rows: Sequence[Mapping[str, Any]], task: str | None, split: str | None) -> tuple[str, str]:
    """Task and split from the rows' `config_name` (`"<task>-<split>"`) unless given, checked against the task table."""
    if task is None or split is None:
        name = rows[0].get("config_name")
        unknown = (f"evaluate: cannot tell the task and split of the episodes (config_name={name!r}); pass task= and "
                   "split=.")
        if not isinstance(name, str):
            raise ValueError(unknown)
        try:
            row_task, row_split = task_of_config(name)
        except ValueError as err:
            raise ValueError(unknown) from err
        task, split = task or row_task, split or row_split
    get_task(task).check_split(split)
    return task, split


def _checkpoint_compute(
    path: Path, record: Any, step: int | None, gflops: float | None, initial_gflops: float
) -> tuple[int | None, float | None]:
    """`step` and `gflops` as given, else the checkpoint record's (cumulative compute), else read from
    `trainer_state.json` (its `flops/total` plus `initial_gflops`)."""
    from sft_vs_rl.models import read_checkpoint_compute

    if record is not None:
        step = record.step if step is None else step
        gflops = record.gflops if gflops is None else gflops
    compute = read_checkpoint_compute(path)
    if step is None:
        step = compute.step
    if gflops is None and compute.gflops is not None:
        gflops = initial_gflops + compute.gflops
    return step, gflops


def _read_record(path: Path):
    """The checkpoint record of `path` (`None` for a Hub id, a tiny spec or a folder without one)."""
    from sft_vs_rl.models import read_checkpoint_record

    return read_checkpoint_record(path) if path.is_dir() else None


def checkpoint_identity(path: str | Path, record: Any, task: str | None, method: str | None) -> tuple[str, str]:
    """`(task, method)` of a checkpoint: the arguments where given, else its checkpoint `record`'s, else
    `method="rl"`.

    Raises `ValueError` when `task` is missing and the checkpoint holds no record, or when `task` contradicts the
    record (a GP checkpoint evaluated on V-IRL measures nothing).
    """
    from sft_vs_rl.models.record import RECORD_NAME

    if task is None:
        if record is None:
            raise ValueError(
                f"`task` is not given and {str(path)!r} holds no {RECORD_NAME} that would say it; pass the task "
                "(`--task gp-l`, `gp-vl`, `virl-l` or `virl-vl`)."
            )
        task = record.task
    elif record is not None and record.task != task:
        raise ValueError(
            f"`task` is {task!r} but {str(path)!r} is a {record.task} checkpoint (its {RECORD_NAME}); evaluate it on "
            f"{record.task} (drop `--task`), or name a {task} checkpoint."
        )
    get_task(task)
    return task, method or (record.method if record is not None else "rl")


def check_model_fits_task(model: Any, task: str, checkpoint: str | Path) -> None:
    """Refuse a text-only model for an image task: its prompts hold images the model cannot read."""
    if not get_task(task).visual:
        return
    from sft_vs_rl.models.loading import is_image_text

    if not is_image_text(model.config):
        kind = getattr(model.config, "model_type", type(model).__name__)
        text_task = task.replace("-vl", "-l")
        raise ValueError(
            f"`task` is {task!r}, an image task, but {str(checkpoint)!r} is a text-only model ({kind}); evaluate it "
            f"on {text_task}, or name an image-text checkpoint (Mllama; `tiny:mllama` builds one offline)."
        )


def _record_gflops(gflops: float | None, method: str) -> float:
    if gflops is not None:
        return float(gflops)
    if method != "base":
        raise ValueError(
            f"evaluate: the compute of this {method} checkpoint is unknown (no trainer_state.json with "
            "flops/total); pass gflops=… so that the record can be placed on the compute axis."
        )
    return 0.0


def _env_kwargs(rows: Sequence[Mapping[str, Any]], verify_iterations: int | None) -> dict[str, Any]:
    env_kwargs = dict(rows[0]["env_kwargs"])
    if any(dict(row["env_kwargs"]) != env_kwargs for row in rows):
        raise ValueError("evaluate: the rows mix environment settings (env_kwargs); evaluate one config at a time.")
    if verify_iterations is not None:
        env_kwargs["verify_iterations"] = verify_iterations
    return env_kwargs


def _make_envs(task: str, env_kwargs: Mapping[str, Any], count: int) -> list[Any]:
    """`count` environments of the task, made from its gymnasium id as the PPO trainer makes them."""
    import gymnasium

    return [gymnasium.make(get_task(task).env_id, **env_kwargs) for _ in range(count)]


def _generation_config(model, processor, max_new_tokens: int):
    from sft_vs_rl.models.loading import tokenizer_of

    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens = max_new_tokens
    tokenizer = tokenizer_of(processor)
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if config.eos_token_id is None:
        config.eos_token_id = tokenizer.eos_token_id
    return config


# ---------------------------------------------------------------------------------------------------------------------
# Playing
# ---------------------------------------------------------------------------------------------------------------------
def _play(model, processor, envs: Sequence[Any], rows: Sequence[Mapping[str, Any]], generation_config, *, seed: int,
          progress: bool, desc: str) -> list[EpisodeRecord]:
    """Play every row's episode with [`run_episodes`], sampling seeded without touching the caller's torch RNG."""
    import torch

    from sft_vs_rl.trainers.rollout import run_episodes

    specs = [{"seed": int(row["seed"]), "options": row.get("options")} for row in rows]
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        played = run_episodes(model, processor, envs, specs, generation_config, seed=seed, progress=progress,
                              desc=desc)
    return [EpisodeRecord.from_steps(episode.rewards, episode.infos) for episode in played]


def evaluate(
    model_or_path: Any,
    episodes: Iterable[Mapping[str, Any]],
    *,
    processor: Any = None,
    task: str | None = None,
    split: str | None = None,
    method: str | None = None,
    step: int | None = None,
    gflops: float | None = None,
    initial_gflops: float = 0.0,
    checkpoint: str | None = None,
    batch_size: int = 16,
    generation_config: Any = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    seed: int = 42,
    verify_iterations: int | None = None,
    num_episodes: int | None = None,
    train_multisets: Iterable[Sequence[int]] | None = None,
    progress: bool = True,
) -> Evaluation:
    """Play the episodes of one task split with a model and compute the paper's metrics.

    Args:
        model_or_path (`PreTrainedModel` or `str`):
            A model (then pass `processor`) or a checkpoint folder (loaded with `sft_vs_rl.models.load_model`).
        episodes (`Iterable[Mapping]`):
            Rows of a library test split (`datasets.Dataset` or dicts) with `env_kwargs`, `seed`, `options`.
        processor (*optional*):
            Tokenizer or processor of `model_or_path` (left padding); required when a model object is given.
        task (`str`, *optional*), split (`str`, *optional*):
            Defaults to what the rows' `config_name` says (e.g. `"gp-l-ood-rule"` → `"gp-l"`, `"ood-rule"`).
        method (`str`, *optional*):
            `"base"`, `"init"`, `"sft"` or `"rl"`, as recorded in the results; defaults to the checkpoint record's
            (`sft_vs_rl_checkpoint.json`) when a path is given, else `"rl"`.
        step (`int`, *optional*):
            Training step of the checkpoint; read from its record or `trainer_state.json` when a path is given,
            else 0.
        gflops (`float`, *optional*):
            Training compute of the checkpoint in GFLOPs. Read from the checkpoint record (cumulative) or
            `trainer_state.json` (`flops/total`) when a path is given; required otherwise, except for
            `method="base"` (0).
        initial_gflops (`float`, *optional*, defaults to `0.0`):
            Added to the compute read from `trainer_state.json` (e.g. the Init's SFT compute for an RL run, whose
            trainer counts only its own); not to a checkpoint record's, which is cumulative already.
        checkpoint (`str`, *optional*):
            Name stored in the record; defaults to the path.
        batch_size (`int`, *optional*, defaults to `16`):
            Environments stepping together (rows of each `generate` call).
        generation_config (`GenerationConfig`, *optional*):
            Defaults to the model's own, with `max_new_tokens`.
        max_new_tokens (`int`, *optional*, defaults to `256`):
            Generation length when `generation_config` is not given.
        seed (`int`, *optional*, defaults to `42`):
            Seed of sampling (the original evaluator's seed).
        verify_iterations (`int`, *optional*):
            Override the graded tries per episode (GP) or per position (V-IRL) stored in the rows.
        num_episodes (`int`, *optional*):
            Evaluate only the first `num_episodes` rows.
        train_multisets (`Iterable[Sequence[int]]`, *optional*):
            GP training hands' values; adds `unseen_success`.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar over episodes.

    Returns:
        [`Evaluation`]: the [`ResultRecord`] and the episode records.

    Example:

    ```python
    >>> from sft_vs_rl import load_dataset
    >>> data = load_dataset("sft_vs_rl/generalpoints", "gp-l-ood-rule", split="test")
    >>> evaluation = evaluate("runs/gp-l/rl/checkpoint-40", data, method="rl")
    >>> evaluation.record.metrics["success"]
    MetricValue(value=..., stderr=..., n=234)
    ```
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"evaluate: method={method!r} is not valid; choose one of {', '.join(METHODS)}.")
    for name, value in (("batch_size", batch_size), ("max_new_tokens", max_new_tokens), ("num_episodes", num_episodes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"evaluate: `{name}` is {value!r}; it must be an int ≥ 1.")
    rows = _rows(episodes, num_episodes)
    task, split = _task_split_of(rows, task, split)
    if isinstance(model_or_path, (str, Path)):
        from sft_vs_rl.models import load_model

        path = Path(model_or_path)
        record = _read_record(path)
        task, method = checkpoint_identity(path, record, task, method)
        step, gflops = _checkpoint_compute(path, record, step, gflops, initial_gflops)
        checkpoint = checkpoint or str(path)
        model, loaded_processor = load_model(path)
        check_model_fits_task(model, task, path)
        processor = processor if processor is not None else loaded_processor
    elif processor is None:
        raise ValueError("evaluate: pass processor= (the model's tokenizer or processor) with a model object.")
    else:
        model = model_or_path
    method = method or "rl"
    gflops = _record_gflops(gflops, method)
    env_kwargs = _env_kwargs(rows, verify_iterations)

    envs = _make_envs(task, env_kwargs, min(batch_size, len(rows)))
    config = generation_config or _generation_config(model, processor, max_new_tokens)
    records = _play(model, processor, envs, rows, config, seed=seed, progress=progress, desc=f"eval {task} {split}")

    budget = env_kwargs.get("verify_iterations")
    metrics = compute_metrics(records, task, train_multisets=train_multisets)
    record = ResultRecord(
        method=method,
        step=int(step or 0),
        gflops=gflops,
        task=task,
        split=split,
        metrics=metrics,
        checkpoint=checkpoint,
        verify_iterations=int(budget) if budget is not None else None,
    )
    logger.info("%s %s: %s", task, split, {k: round(v.value, 4) for k, v in metrics.items()})
    return Evaluation(record=record, episodes=records)


def evaluate_checkpoint(
    checkpoint: str | Path,
    task: str | None = None,
    *,
    splits: Sequence[str] | None = None,
    output: str | Path | None = None,
    dataset_kwargs: Mapping[str, Any] | None = None,
    **evaluate_kwargs: Any,
) -> list[ResultRecord]:
    """Evaluate a checkpoint folder on the test splits of a task, and append the records to a results file.

    Args:
        checkpoint (`str` or `Path`):
            Checkpoint folder (loaded once for all splits).
        task (`str`, *optional*):
            `"gp-l"`, `"gp-vl"`, `"virl-l"` or `"virl-vl"`; defaults to the checkpoint record's (a checkpoint the
            library wrote says what it is). A task that contradicts the record, or an image task for a text-only
            model, raises `ValueError`.
        splits (`Sequence[str]`, *optional*):
            Defaults to every split of the task (`sft_vs_rl.tasks.get_task(task).splits`).
        output (`str` or `Path`, *optional*):
            Results file to create or extend (existing records are kept; the file is validated first).
        dataset_kwargs (`Mapping`, *optional*):
            Config overrides for `sft_vs_rl.load_dataset` (e.g. `{"test_size": 300}`).
        **evaluate_kwargs:
            Passed to [`evaluate`] (`method`, `step`, `gflops`, `initial_gflops`, `batch_size`, `num_episodes`, …).

    Returns:
        `list[ResultRecord]`: one per split.
    """
    from sft_vs_rl.data import load_dataset
    from sft_vs_rl.models import load_model

    path = Path(checkpoint)
    record = _read_record(path)
    task, evaluate_kwargs["method"] = checkpoint_identity(path, record, task, evaluate_kwargs.get("method"))
    info = get_task(task)
    splits = [info.check_split(split) for split in splits] if splits else list(info.splits)
    results = load_results(output) if output is not None and Path(output).is_file() else Results()
    model, processor = load_model(path)
    check_model_fits_task(model, task, path)
    evaluate_kwargs["step"], evaluate_kwargs["gflops"] = _checkpoint_compute(
        path, record, evaluate_kwargs.get("step"), evaluate_kwargs.get("gflops"),
        float(evaluate_kwargs.pop("initial_gflops", 0.0)),
    )
    evaluate_kwargs.setdefault("checkpoint", str(path))
    records = []
    for split in splits:
        data = load_dataset(info.dataset, info.dataset_config(split), split="test", **dict(dataset_kwargs or {}))
        evaluation = evaluate(model, data, processor=processor, task=task, split=split, **evaluate_kwargs)
        records.append(evaluation.record)
        if output is not None:  # saved after every split, so an interrupted run keeps what it measured
            results.extend([evaluation.record])
            results.metadata.setdefault("task", task)
            save_results(results, output)
    return records
