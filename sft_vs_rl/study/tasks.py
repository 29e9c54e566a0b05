"""What each study task trains and evaluates on: the dataset configs, environments and episode specs.

All data come from the library's packaged builders (`sft_vs_rl.load_dataset`) with the study's prompt style and
held-out fraction, except the base's pretraining corpus (`sft_vs_rl.study.corpus`). Evaluation splits:

| task | `id` | `id` unseen (GP) | `ood-rule` |
|---|---|---|---|
| GP-L | J/Q/K = 10, hands of the training pool, new deals | J/Q/K = 10, held-out value multisets | J/Q/K = 11/12/13, at least one face card |
| V-IRL-L | training city, absolute actions, held-out routes | - | training city, relative actions, held-out routes |

GP-VL has the same splits in images of black suits, plus `ood-visual` (red suits, ID rule). V-IRL-VL's tiny base
needs a street-view image corpus, which is not built yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sft_vs_rl.data import sft_columns
from sft_vs_rl.study.corpus import HELDOUT_FRACTION, gp_answer, gp_corpus, virl_corpus
from sft_vs_rl.study.image_corpus import gp_image_corpus
from sft_vs_rl.study.presets import StudyPreset
from sft_vs_rl.tasks import TASK_NAMES, TaskInfo, get_task

__all__ = ["STUDY_TASKS", "TaskSpec", "task_spec"]

STUDY_TASKS = TASK_NAMES
_DATA_SEED = 1000  # SFT pairs (Init and the SFT arm)
_RL_SEED = 2000  # RL episodes
_EVAL_SEED = 3000  # evaluation episodes


@dataclass(frozen=True)
class TaskSpec:
    """What the study trains and evaluates on for one task (`info`, from `sft_vs_rl.tasks`).

    Args:
        info (`sft_vs_rl.tasks.TaskInfo`): the task's facts (dataset, environment, graded tries, splits).
    """

    info: TaskInfo

    @property
    def task(self) -> str:
        return self.info.name

    @property
    def repo_id(self) -> str:
        return self.info.dataset

    @property
    def env_id(self) -> str:
        return self.info.env_id

    @property
    def kind(self) -> str:
        return self.info.tiny_kind

    @property
    def verify_iterations(self) -> int:
        """The paper's graded tries (5 for GP, 2 for V-IRL), in training and evaluation."""
        return self.info.verify_iterations

    @property
    def is_gp(self) -> bool:
        return self.info.family == "gp"

    @property
    def visual(self) -> bool:
        return self.info.visual

    def has_answer_format(self, answer: str) -> bool:
        """Whether a model answer has the task's format (the Init criterion): the environment family's own check."""
        if self.is_gp:
            from sft_vs_rl.envs.generalpoints import has_answer_format
        else:
            from sft_vs_rl.envs.virl import has_answer_format
        return has_answer_format(answer)

    def config_kwargs(self, preset: StudyPreset, **extra: Any) -> dict[str, Any]:
        kwargs = {"prompt_style": preset.prompt_style, "heldout_fraction": HELDOUT_FRACTION}
        if not self.is_gp:
            kwargs["num_milestones"] = tuple(preset.virl_num_milestones)
        elif self.visual:
            kwargs["canvas_size"] = preset.canvas_size
        kwargs.update(extra)
        return kwargs

    # ------------------------------------------------------------------ data
    def corpus(self, preset: StudyPreset, seed: int = 0) -> dict[str, list[Any]]:
        """The base's pretraining rows: column `messages` (rule-varied conversations, `sft_vs_rl.study.corpus`), and
        `images` for GP-VL (`sft_vs_rl.study.image_corpus`)."""
        if self.visual and not self.is_gp:
            raise NotImplementedError(
                f"Pretraining a tiny base for {self.task!r} needs a street-view image corpus, which the study does not "
                "build yet (GP-VL's card corpus exists); run gp-l, gp-vl or virl-l, or the `paper` preset with a "
                "pretrained vision model."
            )
        if self.visual:
            return gp_image_corpus(preset.corpus_size, seed, prompt_style=preset.prompt_style,
                                   answer_format=preset.answer_format, retry_fraction=preset.corpus_retry_fraction,
                                   reading_fraction=preset.corpus_reading_fraction, canvas_size=preset.canvas_size)
        if self.is_gp:
            return {"messages": gp_corpus(preset.corpus_size, seed, prompt_style=preset.prompt_style,
                                          answer_format=preset.answer_format,
                                          retry_fraction=preset.corpus_retry_fraction)}
        return {"messages": virl_corpus(preset.corpus_size, seed, prompt_style=preset.prompt_style,
                                        num_milestones=tuple(preset.virl_num_milestones),
                                        retry_fraction=preset.corpus_retry_fraction)}

    def sft_dataset(self, preset: StudyPreset):
        """ID prompt → optimal completion pairs for Init and the SFT arm: columns `prompt`, `completion` (text
        tasks), or `messages` and `images` (image tasks; see `sft_vs_rl.data.sft_columns`)."""
        from sft_vs_rl import load_dataset

        id_config = f"{self.task}-id"
        if self.is_gp:
            ds = load_dataset(self.repo_id, id_config, split="train",
                              **self.config_kwargs(preset, train_size=preset.sft_train_size, seed=_DATA_SEED))
            fmt = preset.answer_format
            from sft_vs_rl.study.corpus import canonical_solution

            def rewrite(row):
                # The study's answer: canonical solution (a fixed function of the hand, like the corpus) in the
                # chosen answer format; the builder's own row holds a random solution in the paper format.
                formula = canonical_solution(row["numbers"], 24)
                text = gp_answer(row["ranks"], row["numbers"], formula, 24, fmt)
                return {"completion": [{"role": "assistant", "content": [{"type": "text", "text": text}]}]}

            ds = ds.map(rewrite)
        else:
            routes = max(1, preset.sft_train_size // 8)  # ~8 rail positions per route at (2, 3) milestones
            ds = load_dataset(self.repo_id, id_config, split="train",
                              **self.config_kwargs(preset, train_size=routes, seed=_DATA_SEED))
        return sft_columns(ds)


    def rl_dataset(self, preset: StudyPreset, num_rows: int, seed: int = 0):
        """ID episodes (one row each) for the PPO arm."""
        from sft_vs_rl import load_dataset

        extra = {"train_size": num_rows, "seed": _RL_SEED + seed}
        if not self.is_gp:
            extra["train_rows"] = "episodes"
        return load_dataset(self.repo_id, f"{self.task}-id", split="train", **self.config_kwargs(preset, **extra))

    def env_kwargs(self, preset: StudyPreset, split: str = "id", verify_iterations: int | None = None) -> dict:
        """Keyword arguments of the environment of `split` (`"id"` for training; `"id-unseen"` plays ID rules)."""
        kwargs = {**self.info.split_env_kwargs("id" if split == "id-unseen" else split),
                  "prompt_style": preset.prompt_style, "verify_iterations": verify_iterations or self.verify_iterations}
        if not self.is_gp:
            kwargs["num_milestones"] = tuple(preset.virl_num_milestones)
        elif self.visual:
            kwargs["canvas_size"] = preset.canvas_size
        return kwargs

    def eval_splits(self) -> tuple[str, ...]:
        """Evaluation sets: the task's splits, with `id-unseen` (held-out value multisets) after `id` for GP."""
        return tuple(s for split in self.info.splits for s in ((split, "id-unseen") if split == "id" and self.is_gp
                                                               else (split,)))

    def eval_dataset(self, preset: StudyPreset, split: str, size: int, seed: int = _EVAL_SEED):
        """The evaluation episodes of `split` (rows with `seed`, `options`, `env_kwargs`); `seed` deals them."""
        from sft_vs_rl import load_dataset

        p = self.task
        if self.is_gp:
            if split == "id":  # hands of the training pool (value multisets seen in training), new deals
                return load_dataset(self.repo_id, f"{p}-id", split="train",
                                    **self.config_kwargs(preset, train_size=size, seed=seed))
            if split == "id-unseen":  # held-out value multisets: never in any training stage
                return load_dataset(self.repo_id, f"{p}-id", split="test",
                                    **self.config_kwargs(preset, test_size=size, seed=seed))
            if split == "ood-rule":  # rule-B readings of training-pool hands (at least one J/Q/K)
                return load_dataset(self.repo_id, f"{p}-ood-rule", split="train",
                                    **self.config_kwargs(preset, has_train=True, train_size=size, seed=seed))
            return load_dataset(self.repo_id, f"{p}-ood-visual", split="test",
                                **self.config_kwargs(preset, test_size=size, seed=seed))
        return load_dataset(self.repo_id, f"{p}-{split}", split="test",
                            **self.config_kwargs(preset, test_size=size, seed=seed))


def task_spec(task: str) -> TaskSpec:
    """The `TaskSpec` of `task`, or a `ValueError` naming the valid tasks."""
    return TaskSpec(get_task(task))
