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


@dataclass
class GeneralPointsSFTScriptArguments(RecipeScriptArguments):
    """Script arguments of the GeneralPoints SFT recipe (see `RecipeScriptArguments` for the shared ones).

    Args:
        initial_flops (`float`, *optional*, defaults to `0.0`):
            Compute already spent on the starting checkpoint (e.g. `6·N·D_init` when continuing SFT from Init); the
            logged `flops/total` starts from it.
    """

    dataset_name: str = field(default="sft_vs_rl/generalpoints", metadata={"help": "Dataset of the library."})
    dataset_config: str = field(default="gp-l-id", metadata={"help": "ID config: gp-l-id or gp-vl-id."})
    initial_flops: float = field(default=0.0, metadata={"help": "FLOPs spent before this run (counted on)."})


def main(script_args, training_args, model_args):
    from _common import (
        card_context,
        load_model_and_processor,
        load_task_dataset,
        plan_push,
        push_checkpoint,
        sft_columns,
    )
    from trl import SFTTrainer, get_peft_config

    from sft_vs_rl.evaluation import SFTComputeCallback

    push = plan_push(script_args, training_args)  # before any long work: an offline push fails now

    # Model
    model, processor = load_model_and_processor(model_args, seed=training_args.seed)

    # Dataset
    train_dataset = sft_columns(load_task_dataset(script_args, script_args.dataset_train_split))
    if "messages" in train_dataset.column_names:
        training_args.assistant_only_loss = True  # vision rows are conversations: train the answer only

    # Training
    # The paper's SFT compute, 6·N·tokens, counted from the non-padding tokens the Trainer sees (`flops/total`)
    training_args.include_num_input_tokens_seen = "non_padding"
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=processor,
        peft_config=get_peft_config(model_args),
        callbacks=[SFTComputeCallback(initial_flops=script_args.initial_flops)],
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model(training_args.output_dir)
    trainer.save_state()  # trainer_state.json: the model card reads the step and `flops/total` from it
    if trainer.accelerator.is_main_process:
        processor.save_pretrained(training_args.output_dir)
    trainer.accelerator.print(f"Saved the SFT checkpoint to {training_args.output_dir}")

    if push is not None and trainer.accelerator.is_main_process:
        values = training_args.to_dict()  # JSON-ready (enums as their values)
        keys = (
            "learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
            "lr_scheduler_type", "warmup_steps",
        )
        training = {k: values[k] for k in keys}
        result = push_checkpoint(push, training_args.output_dir,
                                 card_context(script_args, model_args, "sft", training))
        where = f"dry run written to {result.dry_run_dir}" if result.dry_run_dir else f"pushed: {result.commit_url}"
        trainer.accelerator.print(f"{len(result.paths)} files for {result.repo_id}; {where}")
    trainer.accelerator.wait_for_everyone()


def make_parser():
    from trl import ModelConfig, SFTConfig, TrlParser

    return TrlParser((GeneralPointsSFTScriptArguments, SFTConfig, ModelConfig))


if __name__ == "__main__":
    parser = make_parser()
    main(*parser.parse_args_and_config())
