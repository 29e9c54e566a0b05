"""The SFT-versus-RL study as a recipe: base → Init → {more SFT, PPO} at matched compute → ID/OOD → results.

Runs `sft_vs_rl.study.run_study` (the same as `sft-vs-rl study`); every stage calls the library's trainers
(`trl.SFTTrainer`, `MultiTurnVerifierPPOTrainer`) and evaluation runner, and is skipped when its output exists.

```bash
accelerate launch --config_file recipes/accelerate/cpu.yaml --num_processes 1 recipes/study.py \
    --task gp-l --preset tiny --output_dir runs/tiny/gp-l
python recipes/study.py --task virl-l --preset smoke --output_dir runs/smoke-virl --seeds 0 1 2
python recipes/study.py --task gp-l --preset tiny --output_dir runs/ablation --verify_iterations 1 3 5 10
```

The study runs in one process (its stages write shared files); `--num_processes` above 1 is refused.
"""

from dataclasses import dataclass, field

from sft_vs_rl.study.presets import STUDY_PRESETS
from sft_vs_rl.tasks import TASK_NAMES


@dataclass
class StudyScriptArguments:
    """Arguments of the study recipe.

    Args:
        task (`str`): `gp-l`, `gp-vl`, `virl-l` or `virl-vl`.
        preset (`str`, *optional*, defaults to `"smoke"`): `smoke`, `tiny` or `paper` (`sft_vs_rl.study.STUDY_PRESETS`).
        output_dir (`str`): folder of every stage's output.
        seeds (`list[int]`, *optional*, defaults to `[0]`): seeds of the SFT and RL arms.
        verify_iterations (`list[int]`, *optional*): RL training budgets of the verification-iteration ablation.
        rl_from_base (`bool`, *optional*, defaults to `False`): also train RL from the base without Init (Fig. 9).
        overrides (`dict` or `str`, *optional*): `StudyPreset` fields to change, e.g. `{"answer_format": "steps"}`.
        num_threads (`int`, *optional*, defaults to `2`): torch threads on CPU.
        workers (`int`, *optional*, defaults to `1`): processes for the arms after Init and for evaluation.
        force (`bool`, *optional*, defaults to `False`): redo every stage.
    """

    task: str = field(metadata={"help": "Task.", "choices": list(TASK_NAMES)})
    output_dir: str = field(metadata={"help": "Folder of every stage's output (resumable)."})
    preset: str = field(default="smoke", metadata={"help": "Study preset.", "choices": list(STUDY_PRESETS)})
    seeds: list[int] = field(default_factory=lambda: [0], metadata={"help": "Seeds of the SFT and RL arms."})
    verify_iterations: list[int] | None = field(
        default=None, metadata={"help": "RL training budgets of the verification-iteration ablation, e.g. 1 3 5 10."}
    )
    rl_from_base: bool = field(default=False, metadata={"help": "Also train RL from the base without Init (Fig. 9)."})
    overrides: dict | str | None = field(
        default=None, metadata={"help": 'StudyPreset fields to change, as JSON, e.g. \'{"rl_updates": 8}\'.'}
    )
    num_threads: int = field(default=2, metadata={"help": "torch threads on CPU."})
    workers: int = field(default=1, metadata={"help": "Processes for the arms after Init and for evaluation."})
    force: bool = field(default=False, metadata={"help": "Delete the output folder first and redo every stage."})


def main(script_args: StudyScriptArguments) -> None:
    import json
    import logging
    import os

    from sft_vs_rl.study import run_study

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            f"The study runs in one process (WORLD_SIZE={os.environ['WORLD_SIZE']}); launch it with "
            "`--num_processes 1`."
        )
    overrides = script_args.overrides or {}
    if isinstance(overrides, str):
        overrides = json.loads(overrides)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("sft_vs_rl.study").setLevel(logging.INFO)
    path = run_study(script_args.task, script_args.preset, script_args.output_dir, seeds=script_args.seeds,
                     verify_iterations=script_args.verify_iterations, rl_from_base=script_args.rl_from_base,
                     force=script_args.force,
                     num_threads=script_args.num_threads, workers=script_args.workers, **overrides)
    print(f"Wrote {path} and {path.parent / 'results.md'}")


def make_parser():
    from trl import TrlParser

    return TrlParser((StudyScriptArguments,))


if __name__ == "__main__":
    from _common import run_recipe

    raise SystemExit(run_recipe(make_parser, main))
