"""FLOP accounting: formulas, parameter counts, the meter, and the SFT Trainer callback."""

import doctest

import pytest
import torch

from sft_vs_rl import compute
from sft_vs_rl.compute import (
    ComputeMeter,
    count_parameters,
    inference_flops,
    paper_rl_flops,
    to_gflops,
    training_flops,
)


def test_doctests():
    assert doctest.testmod(compute).failed == 0


@pytest.mark.parametrize(
    ("n", "d", "train", "infer"),
    [
        (10_700_000_000, 1_000, 6.42e13, 2.14e13),  # the paper's N ≈ 10.7B, one thousand tokens
        (1_000_000, 0, 0.0, 0.0),  # no tokens, no compute
        (3, 7, 126.0, 42.0),  # small integers, exact
    ],
)
def test_flop_formulas(n, d, train, infer):
    assert training_flops(n, d) == pytest.approx(train)
    assert inference_flops(n, d) == pytest.approx(infer)


def test_paper_rl_estimate_uses_task_lambda():
    # 6N(D_init + D_RL) + 2N·λ·D_RL with N=1, D_init=100, D_RL=10
    assert paper_rl_flops(1, 100, 10, "gp-l") == 6 * 110 + 2 * 6.0 * 10
    assert paper_rl_flops(1, 100, 10, "virl-vl") == pytest.approx(6 * 110 + 2 * 5.1 * 10)
    with pytest.raises(ValueError, match="task"):
        paper_rl_flops(1, 0, 1, "blackjack")


class _TinyLM(torch.nn.Module):
    """Embedding 10×4 tied with the output layer, one 4×4 linear with bias."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.hidden = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight

    def get_input_embeddings(self):
        return self.embed

    def get_output_embeddings(self):
        return self.head


def test_count_parameters_counts_tied_weights_once():
    model = _TinyLM()
    assert count_parameters(model) == 40 + 16 + 4
    assert count_parameters(model, include_embeddings=False) == 20  # the tied matrix is removed once


def test_compute_meter_counts_the_papers_flops():
    meter = ComputeMeter(n_params=100, initial_flops=1e3, train_tokens=10, inference_tokens=5)  # 6000 + 1000
    assert meter.metrics() == {
        "flops/total": 8000.0,
        "flops/train": 6000.0,
        "flops/inference": 1000.0,
        "flops/total_gflops": 8e-6,
    }
    assert to_gflops(meter.total_flops) == meter.total_gflops
    with pytest.raises(ValueError, match="train_tokens"):
        ComputeMeter(n_params=100, train_tokens=-1)
    with pytest.raises(ValueError, match="n_params"):
        ComputeMeter(n_params=0)


class _PaddedLM(torch.nn.Module):
    """A model the Trainer can train: returns a loss, counts tokens via `main_input_name`."""

    main_input_name = "input_ids"

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 10)

    def forward(self, input_ids, attention_mask=None, labels=None):
        logits = self.head(self.embed(input_ids))
        loss = torch.nn.functional.cross_entropy(logits.view(-1, 10), labels.view(-1), ignore_index=-100)
        return {"loss": loss, "logits": logits}


def test_sft_callback_logs_six_n_tokens(tmp_path):
    from transformers import Trainer, TrainingArguments

    from sft_vs_rl.evaluation.callbacks import SFTComputeCallback

    # Two examples per batch; attention masks hold 3 + 2 = 5 and 4 + 1 = 5 real tokens (padding not counted).
    rows = [
        {"input_ids": [1, 2, 3, 0], "attention_mask": [1, 1, 1, 0]},
        {"input_ids": [4, 5, 0, 0], "attention_mask": [1, 1, 0, 0]},
        {"input_ids": [1, 1, 1, 1], "attention_mask": [1, 1, 1, 1]},
        {"input_ids": [2, 0, 0, 0], "attention_mask": [1, 0, 0, 0]},
    ]
    for row in rows:
        row["labels"] = [t if m else -100 for t, m in zip(row["input_ids"], row["attention_mask"])]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,
    )
    model = _PaddedLM()
    n = count_parameters(model)
    callback = SFTComputeCallback(initial_flops=500.0)
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[callback])
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "flops/total" in entry]
    assert [entry["flops/total"] for entry in logged[:2]] == [500.0 + 6 * n * 5, 500.0 + 6 * n * 10]
    assert logged[-1]["flops/train"] == 6 * n * 10


def test_sft_callback_requires_token_counting(tmp_path):
    from transformers import Trainer, TrainingArguments

    from sft_vs_rl.evaluation.callbacks import SFTComputeCallback

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=1, report_to=[], use_cpu=True)
    rows = [{"input_ids": [1, 2], "attention_mask": [1, 1], "labels": [1, 2]}]
    trainer = Trainer(model=_PaddedLM(), args=args, train_dataset=rows, callbacks=[SFTComputeCallback(n_params=1)])
    with pytest.raises(ValueError, match='include_num_input_tokens_seen="non_padding"'):
        trainer.train()


@pytest.mark.slow
def test_sft_callback_with_trl_sft_trainer(tmp_path):
    """With TRL's SFTTrainer the token count equals TRL's own `num_tokens` (non-padding prompt + completion)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sft_vs_rl.evaluation.callbacks import SFTComputeCallback
    from sft_vs_rl.models import build_tiny_model

    model, tokenizer = build_tiny_model("llama", "nano")
    conversation = [{"role": "user", "content": "Cards: A 2 3 4"}, {"role": "assistant", "content": "(1+2+3)*4=24"}]
    dataset = Dataset.from_list([{"messages": conversation}] * 8)
    args = SFTConfig(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, logging_steps=1, report_to=[],
        use_cpu=True, bf16=False, include_num_input_tokens_seen="non_padding", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         callbacks=[SFTComputeCallback()])  # fmt: skip
    trainer.train()
    steps = [entry for entry in trainer.state.log_history if "num_tokens" in entry]
    n = count_parameters(model)
    assert [entry["flops/total"] for entry in steps] == [6 * n * entry["num_tokens"] for entry in steps]
