"""The tiny models with stock TRL trainers: what the chat template and processor must support (slow: imports TRL)."""

import pytest
from datasets import Dataset
from PIL import Image

from sft_vs_rl.models import build_tiny_model

pytestmark = pytest.mark.slow

COMMON = {
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
    "save_strategy": "no",
    "gradient_checkpointing": False,
    "max_steps": 1,
}


def test_sft_assistant_only_loss_mllama(tmp_path):
    from trl import SFTConfig, SFTTrainer

    model, processor = build_tiny_model("mllama", "nano")
    image = Image.new("RGB", (80, 40), (53, 101, 77))
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Cards?"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "(8-4)*3*2=24"}]},
        ],
        "images": [image],
    }
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, assistant_only_loss=True, **COMMON)
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list([row] * 2), processing_class=processor)
    batch = trainer.data_collator([dict(row), dict(row)])
    labels = batch["labels"][0]
    assert processor.tokenizer.decode(labels[labels != -100]) == "(8-4)*3*2=24<|eot_id|>"
    trainer.train()


def test_grpo_environment_factory_llama(tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    class Game:
        def reset(self, **kwargs):
            self.submitted = False

        def submit(self, formula: str) -> str:
            """Submit a formula.

            Args:
                formula: the formula to check
            """
            self.submitted = True
            return "Correct solution."

        def get_reward(self):
            return float(self.submitted)

    def zero(completions, **kwargs):
        return [0.0] * len(completions)

    model, tokenizer = build_tiny_model("llama", "nano")
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "Make 24 with 1 2 3 4"}]}] * 4)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_tool_calling_iterations=2,
        **COMMON,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=zero,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        environment_factory=Game,
    )
    trainer.train()
    assert "rewards/Game/mean" in trainer.state.log_history[0]
