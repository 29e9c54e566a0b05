"""SFT on GeneralPoints (GP-L, GP-VL): `trl.SFTTrainer` on the optimal single-turn answers of the ID training split.

The dataset rows are prompt-completion pairs (`prompt`: the environment's first user turn, `completion`: the paper's
`ResponseEqn` JSON; GP-VL adds the card image in `images`), so only the completion is trained (the paper masks the
prompt). The run logs the paper's SFT compute `6·N·tokens` as `flops/total` and saves the final model and processor
to `output_dir`; that folder is the *Init* (or continued-SFT) checkpoint that `rl_gp.py` starts from.

Tiny offline run on a CPU (a model named `tiny:<kind>[:<preset>]` is built offline, nothing is downloaded):

```bash
accelerate launch --config_file recipes/accelerate/cpu.yaml recipes/sft_gp.py --config recipes/configs/tiny/sft_gp_l.yaml
```

Paper settings (Llama-3.2-11B-Vision, 8 GPUs):

```bash
accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/sft_gp.py \
    --config recipes/configs/llama-3.2-11b-vision/sft_gp_l.yaml
```

Command-line flags override the YAML, e.g. `--max_steps 2 --output_dir out/sft`. `--push_to_hub --hub_model_id
ORG/NAME` uploads the final checkpoint with its model card (checked before training; `--push_dry_run DIR` writes the
upload tree instead).
"""

from dataclasses import dataclass, field

from _common import RecipeScriptArguments

from sft_vs_rl.tasks import GP_DATASET


@dataclass
class GeneralPointsSFTScriptArguments(RecipeScriptArguments):
    """Script arguments of the GeneralPoints SFT recipe (see `RecipeScriptArguments` for the shared ones).

    Args:
        initial_flops (`float`, *optional*):
            Compute already spent on the starting checkpoint (e.g. `6·N·D_init` when continuing SFT from Init); the
            logged `flops/total` starts from it. Defaults to the starting checkpoint's record (the checkpoints the
            recipes and the study write carry one), else 0.
    """

    dataset_name: str = field(default=GP_DATASET, metadata={"help": "Dataset of the library."})
    dataset_config: str = field(default="gp-l-id", metadata={"help": "ID config: gp-l-id or gp-vl-id."})
    initial_flops: float | None = field(
        default=None, metadata={"help": "FLOPs spent before this run (default: the starting checkpoint's record)."}
    )


def main(script_args, training_args, model_args):
    from _common import run_sft

    run_sft(script_args, training_args, model_args)  # Model / Dataset / Training: see `_common.run_sft`


def make_parser():
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((GeneralPointsSFTScriptArguments, SFTConfig, ModelConfig))


if __name__ == "__main__":
    from _common import run_recipe

    raise SystemExit(run_recipe(make_parser, main))
