"""RL on GeneralPoints (GP-L, GP-VL): multi-turn verifier PPO from an SFT checkpoint, on the ID training episodes.

`MultiTurnVerifierPPOTrainer` plays the dataset's training episodes in `GeneralPointsEnv` (the row's seed and dealt
cards replay each episode exactly); after a wrong answer the verifier's feedback comes back as a new user turn, up to
`verify_iterations` graded tries. PPO with a value head and turn-level GAE learns from every turn. The environment
kwargs are the dataset's own (`env_kwargs` column, so prompts match SFT), updated by `env_kwargs` from the YAML.
The final policy, processor and value head are saved to `output_dir`.

Tiny offline run on a CPU, starting from the checkpoint `sft_gp.py` wrote:

```bash
accelerate launch --config_file recipes/accelerate/cpu.yaml recipes/rl_gp.py --config recipes/configs/tiny/rl_gp_l.yaml
```

Two CPU processes (gloo), data parallel:

```bash
torchrun --nproc_per_node 2 recipes/rl_gp.py --config recipes/configs/tiny/rl_gp_l.yaml
```

Paper settings (Llama-3.2-11B-Vision from GP-L-Init, 8 GPUs):

```bash
accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/rl_gp.py \
    --config recipes/configs/llama-3.2-11b-vision/rl_gp_l.yaml
```

Command-line flags override the YAML, e.g. `--model_name_or_path runs/tiny/sft_gp_l --max_steps 2`.
`--push_to_hub --hub_model_id ORG/NAME` uploads the final checkpoint with its model card (checked before training;
`--push_dry_run DIR` writes the upload tree instead).
"""

from dataclasses import dataclass, field

from _common import RecipeScriptArguments


@dataclass
class GeneralPointsRLScriptArguments(RecipeScriptArguments):
    """Script arguments of the GeneralPoints RL recipe (see `RecipeScriptArguments` for the shared ones)."""

    dataset_name: str = field(default="sft_vs_rl/generalpoints", metadata={"help": "Dataset of the library."})
    dataset_config: str = field(default="gp-l-id", metadata={"help": "ID config: gp-l-id or gp-vl-id."})


ENV_ID = "sft_vs_rl/GeneralPoints-v0"
ACTION_KEY = "formula"  # the graded field of the paper's ResponseEqn; the tokens before it are "thought" tokens


def main(script_args, training_args, model_args):
    from _common import (
        card_context,
        check_enough_episodes,
        dataset_env_kwargs,
        load_model_and_processor,
        load_task_dataset,
        plan_push,
        push_checkpoint,
        reset_options,
    )
    from trl import get_peft_config

    from sft_vs_rl import MultiTurnVerifierPPOTrainer

    push = plan_push(script_args, training_args)  # before any long work: an offline push fails now

    # Model
    model, processor = load_model_and_processor(model_args, seed=training_args.seed)

    # Dataset: the ID training episodes, replayed in the environment
    train_dataset = load_task_dataset(script_args, script_args.dataset_train_split)
    check_enough_episodes(train_dataset, training_args)
    training_args.env_id = training_args.env_id or ENV_ID
    training_args.env_kwargs = dataset_env_kwargs(train_dataset, training_args.env_kwargs)
    training_args.action_key = training_args.action_key or ACTION_KEY

    # Training
    trainer = MultiTurnVerifierPPOTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=processor,
        reset_options_fn=reset_options,
        peft_config=get_peft_config(model_args),
    )
    trainer.accelerator.print(f"Environment {training_args.env_id} with {training_args.env_kwargs}")
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the model card reads the step and `flops/total` from it
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(training_args.output_dir)
    trainer.accelerator.print(f"Saved the RL checkpoint (policy + value head) to {training_args.output_dir}")

    if push is not None and trainer.accelerator.is_main_process:
        values = training_args.to_dict()  # JSON-ready (enums as their values)
        keys = (
            "learning_rate", "num_ppo_epochs", "gamma", "gae_lambda",
            "clip_coef", "vf_coef", "temperature", "num_envs",
        )
        training = {k: values[k] for k in keys}
        training["verify_iterations"] = training_args.env_kwargs.get("verify_iterations")
        result = push_checkpoint(push, training_args.output_dir, card_context(script_args, model_args, "rl", training))
        where = f"dry run written to {result.dry_run_dir}" if result.dry_run_dir else f"pushed: {result.commit_url}"
        trainer.accelerator.print(f"{len(result.paths)} files for {result.repo_id}; {where}")
    trainer.accelerator.wait_for_everyone()


def make_parser():
    from trl import ModelConfig, TrlParser

    from sft_vs_rl import MultiTurnVerifierPPOConfig

    return TrlParser((GeneralPointsRLScriptArguments, MultiTurnVerifierPPOConfig, ModelConfig))


if __name__ == "__main__":
    parser = make_parser()
    main(*parser.parse_args_and_config())
