"""RL on V-IRL (V-IRL-L, V-IRL-VL): multi-turn verifier PPO from an SFT checkpoint, on the ID training routes.

`MultiTurnVerifierPPOTrainer` plays the dataset's training routes in `VIRLEnv` (the row's route, initial heading and
forward mask replay each episode exactly; use `train_rows: episodes` so that each route is one row); every rail
position is a model turn, and after a wrong action the verifier's feedback comes back as a new user turn, up to
`verify_iterations` graded tries per position. PPO with a value head and turn-level GAE learns from every turn. The environment
kwargs are the dataset's own (`env_kwargs` column, so prompts match SFT), updated by `env_kwargs` from the YAML.
The final policy, processor and value head are saved to `output_dir`.

Tiny offline run on a CPU, starting from the checkpoint `sft_virl.py` wrote:

```bash
accelerate launch --config_file recipes/accelerate/cpu.yaml recipes/rl_virl.py --config recipes/configs/tiny/rl_virl_l.yaml
```

Two CPU processes (gloo), data parallel:

```bash
torchrun --nproc_per_node 2 recipes/rl_virl.py --config recipes/configs/tiny/rl_virl_l.yaml
```

Paper settings (Llama-3.2-11B-Vision from V-IRL-L-Init, 8 GPUs):

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/rl_virl.py \
    --config recipes/configs/llama-3.2-11b-vision/rl_virl_l.yaml
```

Command-line flags override the YAML, e.g. `--model_name_or_path runs/tiny/sft_virl_l --max_steps 2`.
`--push_to_hub --hub_model_id ORG/NAME` uploads the final checkpoint with its model card (checked before training;
`--push_dry_run DIR` writes the upload tree instead).
"""

from dataclasses import dataclass, field

from _common import RecipeScriptArguments

from sft_vs_rl.tasks import VIRL_DATASET, VIRL_ENV_ID


@dataclass
class VIRLRLScriptArguments(RecipeScriptArguments):
    """Script arguments of the V-IRL RL recipe (see `RecipeScriptArguments` for the shared ones)."""

    dataset_name: str = field(default=VIRL_DATASET, metadata={"help": "Dataset of the library."})
    dataset_config: str = field(default="virl-l-id", metadata={"help": "ID config: virl-l-id or virl-vl-id."})


def main(script_args, training_args, model_args):
    from _common import run_rl

    run_rl(script_args, training_args, model_args, env_id=VIRL_ENV_ID)  # see `_common.run_rl`


def make_parser():
    from trl import ModelConfig, TrlParser

    from sft_vs_rl import MultiTurnVerifierPPOConfig

    return TrlParser((VIRLRLScriptArguments, MultiTurnVerifierPPOConfig, ModelConfig))


if __name__ == "__main__":
    from _common import run_recipe

    raise SystemExit(run_recipe(make_parser, main))
