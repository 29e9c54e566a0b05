"""How far a checkpoint's policy has moved from a reference (the study's Init): KL on a fixed probe set.

`probe_kl` runs the checkpoint and the reference over the same prompt → completion pairs (the first ID SFT pairs of
the study) and averages, over the completion tokens, the KL divergence of the checkpoint's next-token distribution
from the reference's, KL(π ‖ π_ref) = Σ_v π(v) (log π(v) − log π_ref(v)). It needs no sampling, so it is exact and the
same for every checkpoint; the standard error is over the probe sequences. Both arms are measured on the same pairs,
so an SFT checkpoint and an RL checkpoint of equal compute can be compared by how far each moved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sft_vs_rl.evaluation.metrics import MetricValue

__all__ = ["PROBE_SIZE", "probe_kl"]

PROBE_SIZE = 64
"""Probe pairs of the study's `kl_from_init` metric (the first ID SFT pairs)."""


def _encode(tokenizer: Any, pair: Mapping[str, Any]) -> tuple[list[int], int]:
    """Prompt + completion token ids and the number of prompt tokens. The two parts are tokenised apart, as a rollout
    sees them (the templated prompt, then the generated tokens), so no BPE merge crosses the boundary."""
    prompt = tokenizer.apply_chat_template(list(pair["prompt"]), add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(list(pair["prompt"]) + list(pair["completion"]), tokenize=False)
    if not full.startswith(prompt) or len(full) == len(prompt):
        raise ValueError("probe_kl: the chat template of prompt + completion does not start with the prompt's text")
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tail = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    return list(head) + list(tail), len(head)


def probe_kl(model: Any, reference: Any, tokenizer: Any, pairs: Sequence[Mapping[str, Any]], *,
             batch_size: int = 32) -> MetricValue:
    """Mean per-token KL(model ‖ reference) at the completion tokens of prompt → completion `pairs`.

    Args:
        model, reference (`PreTrainedModel`): causal LMs over the same tokenizer (e.g. a checkpoint and its Init).
        tokenizer (`PreTrainedTokenizerBase`): with a chat template.
        pairs (`Sequence[Mapping]`): conversational rows with `prompt` and `completion` message lists.
        batch_size (`int`, *optional*, defaults to `32`): sequences per forward pass.

    Returns:
        `MetricValue`: the mean over sequences of each sequence's mean per-token KL (nats), its standard error, and
        `n` = the number of sequences.
    """
    import torch

    encoded = [_encode(tokenizer, pair) for pair in pairs]
    per_sequence: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with torch.no_grad():
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, (seq, _) in enumerate(chunk):  # right padding: positions are the same as unpadded
                ids[row, : len(seq)] = torch.tensor(seq)
                mask[row, : len(seq)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            logq = torch.log_softmax(reference(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            kl = (logp.exp() * (logp - logq)).sum(-1)  # [batch, width]: KL of the distribution after each position
            for row, (seq, prompt_len) in enumerate(chunk):
                # Logits at positions P-1 … L-2 predict the completion tokens P … L-1.
                per_sequence.append(float(kl[row, prompt_len - 1 : len(seq) - 1].mean()))
    n = len(per_sequence)
    if n == 0:
        return MetricValue(value=math.nan, stderr=None, n=0)
    mean = sum(per_sequence) / n
    stderr = math.sqrt(sum((x - mean) ** 2 for x in per_sequence) / (n - 1) / n) if n > 1 else None
    return MetricValue(value=mean, stderr=stderr, n=n)
