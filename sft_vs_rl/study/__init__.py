"""The SFT-versus-RL study (DESIGN.md §6): base → Init → {more SFT, PPO} at matched compute → ID/OOD → results.

>>> from sft_vs_rl.study import run_study, STUDY_PRESETS
>>> run_study("gp-l", "smoke", "runs/smoke")  # doctest: +SKIP
"""

from sft_vs_rl.study.pipeline import run_study
from sft_vs_rl.study.presets import ANSWER_FORMATS, STUDY_PRESETS, StudyPreset, resolve_study_preset
from sft_vs_rl.study.tasks import STUDY_TASKS, TaskSpec, task_spec

__all__ = [
    "ANSWER_FORMATS",
    "STUDY_PRESETS",
    "STUDY_TASKS",
    "StudyPreset",
    "TaskSpec",
    "resolve_study_preset",
    "run_study",
    "task_spec",
]
