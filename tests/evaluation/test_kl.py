"""`probe_kl`: KL(checkpoint ‖ reference) at the completion tokens of fixed prompt → completion pairs."""

import pytest
import torch

from sft_vs_rl.evaluation.kl import probe_kl


def _pairs(n):
    return [{"prompt": [{"role": "user", "content": f"cards {i} {i + 1} {i + 2} {i + 3} make 24"}],
             "completion": [{"role": "assistant", "content": f"({i}+{i + 1})*{i + 2}-{i + 3}" + "+1" * (i % 3)}]}
            for i in range(n)]


@pytest.fixture(scope="module")
def models():
    from sft_vs_rl.models import build_tiny_model

    model, tok = build_tiny_model("llama", "nano", seed=0)
    other, _ = build_tiny_model("llama", "nano", seed=1)
    return model.eval(), other.eval(), tok


def test_a_model_is_at_zero_kl_from_itself(models):
    model, _, tok = models
    kl = probe_kl(model, model, tok, _pairs(3))
    assert kl.n == 3 and abs(kl.value) < 1e-6


def test_kl_equals_a_direct_computation_per_sequence_whatever_the_batching(models):
    model, other, tok = models
    pairs = _pairs(5)
    expected = []
    for pair in pairs:  # one unpadded sequence at a time, with torch's own kl_div
        text = tok.apply_chat_template(pair["prompt"], add_generation_prompt=True, tokenize=False)
        answer = tok.apply_chat_template(pair["prompt"] + pair["completion"], tokenize=False)[len(text):]
        prompt = tok(text, add_special_tokens=False)["input_ids"]
        full = prompt + tok(answer, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([full])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
            logq = torch.log_softmax(other(input_ids=ids).logits[0], -1)
        per_token = torch.nn.functional.kl_div(logq, logp, log_target=True, reduction="none").sum(-1)
        expected.append(float(per_token[len(prompt) - 1 : len(full) - 1].mean()))
    mean = sum(expected) / len(expected)
    for batch_size in (1, 2, 32):  # right padding of different widths leaves each sequence's KL unchanged
        kl = probe_kl(model, other, tok, pairs, batch_size=batch_size)
        assert kl.value == pytest.approx(mean, rel=1e-4) and kl.n == 5 and kl.stderr > 0
