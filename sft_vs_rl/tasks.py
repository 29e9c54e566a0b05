"""The paper's four tasks and every fact about them, in one table that the rest of the library reads.

No torch, no transformers, no package imports: this module sits below everything else (`tasks → envs → data →
models → trainers → evaluation → model_card / hub → study / cli / recipes`).

| task | label | environment | dataset | graded tries | evaluation splits |
|---|---|---|---|---|---|
| `gp-l` | GP-L | `sft_vs_rl/GeneralPoints-v0` (text) | `sft_vs_rl/generalpoints` | 5 | `id`, `ood-rule` |
| `gp-vl` | GP-VL | `sft_vs_rl/GeneralPoints-v0` (image) | `sft_vs_rl/generalpoints` | 5 | `id`, `ood-rule`, `ood-visual` |
| `virl-l` | V-IRL-L | `sft_vs_rl/VIRL-v0` (text) | `sft_vs_rl/virl` | 2 | `id`, `ood-rule` |
| `virl-vl` | V-IRL-VL | `sft_vs_rl/VIRL-v0` (street views) | `sft_vs_rl/virl` | 2 | `id`, `ood-rule`, `ood-visual` |

A split's dataset config is `"<task>-<split>"` (e.g. `gp-l-ood-rule`). What the split changes in the environment
(`TaskInfo.split_env_kwargs`): GeneralPoints `ood-rule` reads J/Q/K as 11/12/13 and `ood-visual` draws red suits;
V-IRL `ood-rule` uses relative actions and `ood-visual` unseen cities (the dataset rows carry their city). The JSON
field holding the graded answer (`action_key`) is a fact of the environment (its class attribute), not of the task.

>>> get_task("virl-vl").splits, get_task("gp-l").dataset_config("ood-rule")
(('id', 'ood-rule', 'ood-visual'), 'gp-l-ood-rule')
>>> task_of_config("gp-vl-ood-visual")
('gp-vl', 'ood-visual')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CITATION_BIBTEX",
    "GP_DATASET",
    "GP_ENV_ID",
    "METHODS",
    "METHOD_LABELS",
    "PAPER_URL",
    "SPLITS",
    "SPLIT_LABELS",
    "TASKS",
    "TASK_NAMES",
    "TaskInfo",
    "VIRL_DATASET",
    "VIRL_ENV_ID",
    "get_task",
    "headline_metric",
    "task_of_config",
]

SPLITS = ("id", "ood-rule", "ood-visual")
"""Evaluation splits: in distribution, rule variant, visual variant (vision tasks only)."""

METHODS = ("base", "init", "sft", "rl")
"""Checkpoint kinds of a study: the pretrained base, the SFT Init, and the two arms."""

SPLIT_LABELS = {"id": "in-distribution", "ood-rule": "OOD (rule)", "ood-visual": "OOD (visual)"}
METHOD_LABELS = {"base": "Base", "init": "Init", "sft": "SFT", "rl": "RL"}

GP_DATASET = "sft_vs_rl/generalpoints"
VIRL_DATASET = "sft_vs_rl/virl"
"""The library's datasets (`sft_vs_rl.load_dataset` repo ids; packaged builders in `datasets_builders/`)."""

GP_ENV_ID = "sft_vs_rl/GeneralPoints-v0"
VIRL_ENV_ID = "sft_vs_rl/VIRL-v0"
ENV_ENTRY_POINTS = {
    GP_ENV_ID: "sft_vs_rl.envs.generalpoints.env:GeneralPointsEnv",
    VIRL_ENV_ID: "sft_vs_rl.envs.virl.env:VIRLEnv",
}
"""gymnasium ids of the verifier environments and their entry points (registered when `sft_vs_rl` is imported)."""

PAPER_URL = "https://huggingface.co/papers/2501.17161"
CITATION_BIBTEX = """@inproceedings{chu2025sft,
  title     = {SFT Memorizes, RL Generalizes: A Comparative Study of Foundation Model Post-training},
  author    = {Chu, Tianzhe and Zhai, Yuexiang and Yang, Jihan and Tong, Shengbang and Xie, Saining and
               Schuurmans, Dale and Le, Quoc V. and Levine, Sergey and Ma, Yi},
  booktitle = {International Conference on Machine Learning (ICML)},
  year      = {2025}
}"""


@dataclass(frozen=True)
class TaskInfo:
    """One task of the paper.

    Args:
        name (`str`): `"gp-l"`, `"gp-vl"`, `"virl-l"` or `"virl-vl"`.
        label (`str`): the paper's name of the task (`"GP-L"`, …).
        family (`str`): `"gp"` (GeneralPoints) or `"virl"` (V-IRL).
        visual (`bool`): the model sees images (the `-vl` tasks).
        dataset (`str`): the library's dataset (`sft_vs_rl.load_dataset` repo id).
        env_id (`str`): gymnasium id of the verifier environment.
        verify_iterations (`int`): the paper's graded tries per episode (GP 5, V-IRL 2), in training and evaluation.
        tiny_kind (`str`): kind of the library's tiny offline model for the task (`"llama"` or `"mllama"`).
        paper_ood_rule (`dict[str, float]`): the paper's rule-OOD headline numbers at equal compute (Fig. 6, in
            percent) for `init`, `rl` and `sft`.
        paper_ood_visual (`dict[str, float]`): the same for visual OOD (Fig. 7; VL tasks only).
    """

    name: str
    label: str
    family: str
    visual: bool
    dataset: str
    env_id: str
    verify_iterations: int
    tiny_kind: str
    paper_ood_rule: dict[str, float] = field(default_factory=dict, compare=False)
    paper_ood_visual: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def splits(self) -> tuple[str, ...]:
        """Evaluation splits: `id`, `ood-rule`, and `ood-visual` for the vision tasks."""
        return tuple(s for s in SPLITS if s != "ood-visual" or self.visual)

    def check_split(self, split: str) -> str:
        """`split`, or a `ValueError` naming the splits of this task."""
        if split not in self.splits:
            raise ValueError(f"split={split!r} is not a split of {self.name}; choose one of {list(self.splits)}.")
        return split

    def dataset_config(self, split: str) -> str:
        """The dataset config of `split`, e.g. `"gp-l-ood-rule"`."""
        return f"{self.name}-{self.check_split(split)}"

    def split_env_kwargs(self, split: str) -> dict[str, Any]:
        """Environment keyword arguments that `split` sets (the rule and the look; cities come with the rows)."""
        self.check_split(split)
        if self.family == "gp":
            return {"face_rule": "11-12-13" if split == "ood-rule" else "10",
                    "suit_colour": "red" if split == "ood-visual" else "black", "visual": self.visual}
        return {"action_space": "relative" if split == "ood-rule" else "absolute", "visual": self.visual}

    def headline_metric(self, split: str) -> str:
        """The metric the paper plots on `split`: GP `success`; V-IRL `step_accuracy`, but `success` for visual OOD
        (Figs. 5–7)."""
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not valid; choose one of {list(SPLITS)}.")
        return "step_accuracy" if self.family == "virl" and split != "ood-visual" else "success"


TASKS: dict[str, TaskInfo] = {
    task.name: task
    for task in (
        TaskInfo("gp-l", "GP-L", "gp", False, GP_DATASET, GP_ENV_ID, 5, "llama",
                 {"init": 11.5, "rl": 15.0, "sft": 3.4}),
        TaskInfo("gp-vl", "GP-VL", "gp", True, GP_DATASET, GP_ENV_ID, 5, "mllama",
                 {"init": 11.2, "rl": 14.2, "sft": 5.6}, {"init": 23.6, "rl": 41.2, "sft": 13.7}),
        TaskInfo("virl-l", "V-IRL-L", "virl", False, VIRL_DATASET, VIRL_ENV_ID, 2, "llama",
                 {"init": 80.8, "rl": 91.8, "sft": 1.3}),
        TaskInfo("virl-vl", "V-IRL-VL", "virl", True, VIRL_DATASET, VIRL_ENV_ID, 2, "mllama",
                 {"init": 35.7, "rl": 45.0, "sft": 2.5}, {"init": 16.7, "rl": 77.8, "sft": 11.1}),
    )
}
"""Every task by name. `paper_ood_rule` is the paper's Fig. 6, `paper_ood_visual` its Fig. 7 (reference
`sftvsrl_spec.md` §3.5)."""

TASK_NAMES = tuple(TASKS)


def get_task(name: str) -> TaskInfo:
    """The `TaskInfo` of task `name`, or a `ValueError` naming the valid tasks (and the closest one)."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(str(name), TASKS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown task {name!r}; valid tasks are {list(TASKS)}.{hint}")


def headline_metric(task: str, split: str) -> str:
    """The metric the paper plots for `task` on `split` (see `TaskInfo.headline_metric`).

    >>> headline_metric("virl-l", "ood-rule"), headline_metric("virl-vl", "ood-visual")
    ('step_accuracy', 'success')
    """
    return get_task(task).headline_metric(split)


def task_of_config(config_name: str) -> tuple[str, str]:
    """`(task, split)` of a dataset config name `"<task>-<split>"`, or a `ValueError` naming the valid configs."""
    for task in TASKS.values():
        for split in task.splits:
            if config_name == f"{task.name}-{split}":
                return task.name, split
    valid = [f"{t.name}-{s}" for t in TASKS.values() for s in t.splits]
    raise ValueError(f"Dataset config {config_name!r} is not a config of the library; valid configs are {valid}.")
