"""Per-update PPO diagnostics from a [`MultiTurnVerifierPPOTrainer`]'s log history.

With `logging_steps=1` the trainer logs once per optimizer step. The rollout metrics of an update (`env/*`, the
advantage / return / value statistics, explained variance) are recorded once, when the rollout is collected, so they
land in the log of the update's first optimizer step; the loss metrics (`ppo/approx_kl`, `ppo/clipfrac`, ...) land in
every step's log. [`per_update_diagnostics`] folds the logs of each update into one row: rollout metrics as logged,
loss metrics averaged over the update's steps, plus `approx_kl_last` / `clipfrac_last` (the last step's, which show how
far the policy moved from the rollout policy by the end of the update).

These rows answer "is PPO learning?" at a glance: training success and reward rising, explained variance above zero,
approx_kl and clipfrac in a moderate band, most turns' gradients surviving clipping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ROLLOUT_KEYS", "STEP_KEYS", "per_update_diagnostics"]

ROLLOUT_KEYS = (
    "env/first_try_success", "env/episode_success", "env/episode_return", "env/reward_per_turn", "env/step_accuracy",
    "env/recognition_accuracy", "ppo/explained_variance", "ppo/advantages_mean", "ppo/advantages_std",
    "ppo/returns_mean", "ppo/returns_std", "ppo/returns_min", "ppo/returns_max", "ppo/values_mean", "ppo/values_std",
    "completions/mean_length", "completions/clipped_ratio", "ppo/grad_norm_policy", "ppo/grad_norm_value",
    "ppo/grad_cosine_policy_value",
)
"""Metrics logged once per update (rollout, GAE and the optional gradient split)."""

STEP_KEYS = (
    "ppo/approx_kl", "ppo/clipfrac", "ppo/pg_active_frac", "ppo/vf_clipfrac", "ppo/policy_loss", "ppo/value_loss",
    "ppo/entropy", "ppo/kl", "grad_norm", "learning_rate",
)
"""Metrics logged at every optimizer step (averaged over the update's steps)."""


def per_update_diagnostics(log_history: Sequence[dict[str, Any]], steps_per_update: int) -> list[dict[str, Any]]:
    """One row of diagnostics per PPO update.

    Args:
        log_history (`Sequence[dict]`): `trainer.state.log_history` of a run logged at every optimizer step.
        steps_per_update (`int`): optimizer steps per update (`args.optimizer_steps_per_update`).

    Returns:
        `list[dict]`: per update, `update` (1-based), `step` (its last optimizer step), the rollout metrics without
        their prefix (`episode_success`, `explained_variance`, ...), the step metrics averaged (`approx_kl`, ...) and
        `approx_kl_last`, `clipfrac_last`.

    >>> logs = [{"step": 1, "env/episode_success": 0.2, "ppo/approx_kl": 0.0},
    ...         {"step": 2, "ppo/approx_kl": 0.02}]
    >>> per_update_diagnostics(logs, steps_per_update=2)
    [{'update': 1, 'step': 2, 'episode_success': 0.2, 'approx_kl': 0.01, 'approx_kl_last': 0.02}]
    """
    if steps_per_update < 1:
        raise ValueError(f"`steps_per_update` is {steps_per_update}; it must be a positive integer.")
    by_update: dict[int, list[dict[str, Any]]] = {}
    for entry in log_history:
        step = entry.get("step")
        if step is None or not any(k in entry for k in STEP_KEYS + ROLLOUT_KEYS):
            continue  # the final train summary and evaluation entries
        by_update.setdefault((int(step) - 1) // steps_per_update, []).append(entry)
    rows = []
    for index in sorted(by_update):
        entries = sorted(by_update[index], key=lambda e: e["step"])
        row: dict[str, Any] = {"update": index + 1, "step": int(entries[-1]["step"])}
        for key in ROLLOUT_KEYS + STEP_KEYS:
            values = [e[key] for e in entries if e.get(key) is not None]
            if not values:
                continue
            name = key.split("/", 1)[-1]  # `ppo/approx_kl` -> `approx_kl`; `grad_norm` stays
            if key in ROLLOUT_KEYS:
                row[name] = values[0]
                continue
            row[name] = sum(values) / len(values)
            if name in ("approx_kl", "clipfrac"):
                row[f"{name}_last"] = values[-1]
        rows.append(row)
    return rows
