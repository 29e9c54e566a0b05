"""sft-vs-rl: SFT versus RL with outcome rewards and multi-turn verification, after "SFT Memorizes, RL Generalizes"
(Chu et al., 2025, https://huggingface.co/papers/2501.17161), built on TRL, transformers, datasets and accelerate.

Public names are imported lazily, so `import sft_vs_rl` stays cheap (no torch, no transformers) until a trainer
or a model is asked for. Importing the package registers the gymnasium ids `sft_vs_rl/GeneralPoints-v0` and
`sft_vs_rl/VIRL-v0`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gymnasium.envs.registration import register, registry

from sft_vs_rl.tasks import ENV_ENTRY_POINTS

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "load_dataset": "sft_vs_rl.data",
    "MultiTurnVerifierPPOTrainer": "sft_vs_rl.trainers",
    "MultiTurnVerifierPPOConfig": "sft_vs_rl.trainers",
    "build_tiny_model": "sft_vs_rl.models",
    "GeneralPointsEnv": "sft_vs_rl.envs.generalpoints",
    "VIRLEnv": "sft_vs_rl.envs.virl",
}

__all__ = [
    "GeneralPointsEnv",
    "MultiTurnVerifierPPOConfig",
    "MultiTurnVerifierPPOTrainer",
    "VIRLEnv",
    "__version__",
    "build_tiny_model",
    "load_dataset",
]

if TYPE_CHECKING:
    from sft_vs_rl.data import load_dataset
    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv
    from sft_vs_rl.envs.virl import VIRLEnv
    from sft_vs_rl.models import build_tiny_model
    from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig, MultiTurnVerifierPPOTrainer


def __getattr__(name: str) -> Any:
    if name in _LAZY_EXPORTS:
        return getattr(importlib.import_module(_LAZY_EXPORTS[name]), name)
    raise AttributeError(f"module 'sft_vs_rl' has no attribute {name!r}")


# String entry points: the environment modules are imported only when `gym.make` is called.
for _env_id, _entry_point in ENV_ENTRY_POINTS.items():
    if _env_id not in registry:
        register(id=_env_id, entry_point=_entry_point, disable_env_checker=False)
