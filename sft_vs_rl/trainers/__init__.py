"""Multi-turn verifier PPO (the paper's RL) on TRL's GRPOTrainer machinery, and the batched multi-turn rollout."""

from sft_vs_rl.trainers.multiturn_ppo_config import MultiTurnVerifierPPOConfig
from sft_vs_rl.trainers.multiturn_ppo_trainer import (
    MultiTurnVerifierPPOTrainer,
    compute_turn_gae,
    ppo_losses,
    thought_token_weights,
    turn_advantages,
)
from sft_vs_rl.trainers.rollout import Episode, MultiTurnRollout, Transition, run_episodes

__all__ = [
    "Episode",
    "MultiTurnRollout",
    "MultiTurnVerifierPPOConfig",
    "MultiTurnVerifierPPOTrainer",
    "Transition",
    "compute_turn_gae",
    "ppo_losses",
    "run_episodes",
    "thought_token_weights",
    "turn_advantages",
]
