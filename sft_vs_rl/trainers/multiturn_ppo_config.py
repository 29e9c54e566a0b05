"""Configuration of [`MultiTurnVerifierPPOTrainer`]: the paper's multi-turn PPO as a `trl.GRPOConfig` subclass."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig
from trl.trainer.base_config import _BaseConfig

logger = logging.getLogger(__name__)

_RATIO_LEVELS = ("sequence", "token")
_ADVANTAGE_ESTIMATORS = ("gae", "reinforce")

# GRPOConfig fields whose behaviour lives in code this trainer replaces (GRPOTrainer's `_generate_and_score_completions`,
# `_calculate_rewards`, `_generate` and `_compute_loss`), or, for `use_vllm`, that would start an engine the rollout
# never calls: field -> (GRPOConfig default, what this trainer does instead). Fields that only matter once one of
# these is switched on (`vllm_*`, `sapo_*`, `vespo_*`, `entropy_coef_min`, ...) are inert and not listed.
_IGNORED_GRPO_FIELDS: dict[str, tuple[Any, str]] = {
    "loss_type": ("dapo", "its loss is the clipped PPO objective (`ratio_level`, `clip_coef`, `vf_coef`)"),
    "importance_sampling_level": ("token", "set `ratio_level` ('sequence' or 'token') instead"),
    "scale_rewards": ("group", "advantages are GAE estimates, normalised by `normalize_advantages`"),
    "reward_weights": (None, "the environment's verifier is the only reward (scale it with `reward_scale`)"),
    "multi_objective_aggregation": ("sum_then_normalize", "the environment's verifier is the only reward"),
    "mask_truncated_completions": (False, "every generated turn is trained on"),
    "top_entropy_quantile": (1.0, "every response token is trained on, weighted by `thought_prob_coef`"),
    "delta": (None, "the policy ratio is clipped by `clip_coef` only"),
    "off_policy_mask_threshold": (None, "no turn is masked as off-policy"),
    "use_adaptive_entropy": (False, "the entropy bonus is the fixed `entropy_coef`"),
    "router_aux_loss_coef": (None, "its loss adds no Mixture-of-Experts auxiliary term"),
    "use_vllm": (False, "the rollout generates with the model's own `generate` (`MultiTurnRollout`)"),
    "use_transformers_continuous_batching": (False, "the rollout generates with the model's own `generate`"),
    "use_transformers_paged": (False, "the rollout generates with the model's own `generate`"),
    "chat_template_kwargs": (None, "the environments' conversations are rendered with the plain chat template"),
    "pad_to_multiple_of": ("auto", "rollout batches are padded to their longest turn"),
    "max_tool_calling_iterations": (None, "the environment, not tool calls, answers each turn"),
    "log_completions": (False, "completions are not logged as tables; see the `env/*` and `completions/*` metrics"),
    "log_completions_hub_repo": (None, "completions are not logged as tables"),
}


@dataclass
class MultiTurnVerifierPPOConfig(GRPOConfig):
    r"""
    Configuration class for the [`MultiTurnVerifierPPOTrainer`]: PPO with a value head and turn-level GAE over batched
    multi-turn verify-and-retry rollouts, as in [SFT Memorizes, RL Generalizes](https://huggingface.co/papers/2501.17161)
    (Chu et al., 2025).

    Only the parameters specific to this trainer are listed here; every other field is a
    [`~trl.GRPOConfig`] / [`~transformers.TrainingArguments`] field. The GRPOConfig fields that switch on something
    this trainer does not do raise a `ValueError` when set to anything but their default: GRPO's loss and reward
    variants (`loss_type`, `importance_sampling_level`, `scale_rewards`, `reward_weights`,
    `multi_objective_aggregation`, `mask_truncated_completions`, `top_entropy_quantile`, `delta`,
    `off_policy_mask_threshold`, `use_adaptive_entropy`, `router_aux_loss_coef`), other generation engines
    (`use_vllm`, `use_transformers_continuous_batching`, `use_transformers_paged`), prompt rendering
    (`chat_template_kwargs`, `pad_to_multiple_of`), tools (`max_tool_calling_iterations`) and completion tables
    (`log_completions`, `log_completions_hub_repo`). `num_iterations`, `epsilon` and `epsilon_high` are derived
    from `num_ppo_epochs` and `clip_coef`.

    How PPO maps onto GRPO's batching (per process):

    - one *update* collects `per_device_train_batch_size × steps_per_generation` model turns (transitions) with
      `num_envs` environments stepping together, then trains on them for `num_ppo_epochs` epochs;
    - one epoch walks the rollout in `steps_per_generation` micro-batches of `per_device_train_batch_size` turns;
      `gradient_accumulation_steps` micro-batches make one optimizer step (one PPO mini-batch);
    - so one update makes `num_ppo_epochs × num_mini_batches` optimizer steps, `num_mini_batches =
      steps_per_generation / gradient_accumulation_steps`. Setting `num_mini_batches` (CleanRL's name) derives the
      accumulation from it, so the number of optimizer steps does not change with the rollout size.

    The paper's setting (256 turns per GPU, micro-batch 1, accumulation 128, 4 epochs: 256 / 128 = 2 mini-batches,
    4 × 2 = 8 optimizer steps per update) is `per_device_train_batch_size=1, steps_per_generation=256,
    num_mini_batches=2, num_ppo_epochs=4`.

    > Parameters that control the environments and the rollout

    Args:
        env_id (`str`, *optional*):
            Gymnasium id of the verifier environment, e.g. `"sft_vs_rl/GeneralPoints-v0"`. Ignored when an
            `env_factory` is given to the trainer.
        env_kwargs (`dict[str, Any]`, *optional*):
            Keyword arguments for `gymnasium.make(env_id, **env_kwargs)`, e.g. `{"face_rule": "10"}`.
        num_envs (`int`, *optional*, defaults to `8`):
            Environments stepping together on each process. Every live episode's next turn is one batched
            `generate` call; a finished episode is replaced at once from the dataset so the batch stays full.
        seed_column (`str`, *optional*, defaults to `"seed"`):
            Dataset column holding the episode seed for `env.reset(seed=...)`. Rows without it get a seed from the
            rollout's own generator (saved in checkpoints).
        action_key (`str`, *optional*):
            Overrides the environment's `action_key` class attribute (`GeneralPointsEnv.action_key = "formula"`,
            `VIRLEnv.action_key = "action"`): the JSON field of the response that holds the graded answer. Tokens
            before its last occurrence are "thought" tokens weighted by `thought_prob_coef`. If `None`, the
            environment's attribute is used.

    > Parameters that control the PPO objective

    Args:
        gamma (`float`, *optional*, defaults to `0.9`):
            Discount factor across the turns of an episode.
        gae_lambda (`float`, *optional*, defaults to `0.95`):
            Lambda of the generalized advantage estimate (GAE).
        clip_coef (`float`, *optional*, defaults to `0.1`):
            Clipping range of the policy ratio (PPO's ε). Sets `epsilon`.
        vf_coef (`float`, *optional*, defaults to `0.5`):
            Weight of the value loss.
        vf_clip_coef (`float` or `None`, *optional*, defaults to `0.1`):
            Clipping range of the value prediction around its rollout value. `None` disables value clipping.
        num_ppo_epochs (`int`, *optional*, defaults to `4`):
            Passes over each rollout. Sets `num_iterations`.
        num_mini_batches (`int`, *optional*):
            Optimizer steps per PPO epoch. Sets `gradient_accumulation_steps = steps_per_generation /
            num_mini_batches` (must divide). If `None`, `gradient_accumulation_steps` is used as given.
        thought_prob_coef (`float`, *optional*, defaults to `0.5`):
            Weight of the log-probabilities of the response tokens before `action_key` (the paper's "thought"
            tokens); the action tokens have weight 1.
        ratio_level (`str`, *optional*, defaults to `"sequence"`):
            `"sequence"`: one ratio per turn, `exp` of the difference of the weighted summed log-probabilities (the
            paper). `"token"`: one ratio per token, the clipped surrogate averaged with the token weights.
        value_learning_rate (`float`, *optional*):
            Learning rate of the value head's parameters (the backbone they share with the policy keeps
            `learning_rate`, and the schedule scales both). Adam moves each weight by about the learning rate per
            step, so at a policy-sized learning rate a freshly initialised head moves its output slowly (measured on
            the tiny GP-L model at lr 1e-4: ~0.07 per step), far too slow for returns of several units within a short
            run. If `None`, `learning_rate`.
        reward_scale (`float`, *optional*, defaults to `1.0`):
            Factor on the environment rewards before GAE, so the critic regresses returns of order one (the paper's
            GP returns span about −21 … +5). Advantages are normalised anyway; this sets the scale of the value
            targets (relative to `vf_clip_coef` and to how fast the head can move) and of the value loss.
            Logged rewards stay unscaled.
        advantage_estimator (`str`, *optional*, defaults to `"gae"`):
            `"gae"`: turn-level GAE from the critic (the paper). `"reinforce"`: the discounted Monte-Carlo return of
            each turn (no critic in the advantage; the batch mean is the baseline after normalisation), a plain
            policy-gradient control for diagnosing the critic; the value head still trains on the GAE returns.
        normalize_advantages (`bool`, *optional*, defaults to `True`):
            Whether to normalise the advantages over the whole rollout (all processes) to zero mean, unit variance.
        log_gradient_norms (`bool`, *optional*, defaults to `False`):
            Diagnostic: on the first micro-batch of every update, log the norms of the policy and the (weighted) value
            loss gradients on the shared backbone (`ppo/grad_norm_policy`, `ppo/grad_norm_value`) and their cosine.
            Costs two extra backward passes per update; single process only.
        gae_across_truncation (`bool`, *optional*, defaults to `False`):
            Reproduces the original code, where a truncated episode (retry budget exhausted) does not end the GAE
            recursion, so its last turn bootstraps into the next episode's first state. By default every episode
            end (terminated or truncated) stops the recursion.

    > Parameters whose default values are overridden from GRPOConfig / TrainingArguments

    Args:
        temperature (`float`, *optional*, defaults to `0.2`):
            Sampling temperature of the rollouts (paper: 0.2). The same temperature scales the logits of the
            log-probabilities in the loss.
        num_generations (`int`, *optional*, defaults to `1`):
            Must be 1: PPO plays each dataset row once and uses the critic, not a group, as baseline.
        adam_epsilon (`float`, *optional*, defaults to `1e-7`):
            Adam epsilon of the paper's optimizer.
        disable_dropout (`bool`, *optional*, defaults to `True`):
            The rollout log-probs and values must come from the same function the loss differentiates.
        bf16 (`bool`, *optional*):
            If unset, `True` when a CUDA device is available and `use_cpu` is off, else `False` (TRL turns it on
            everywhere, which breaks CPU runs). On CPU pass `use_cpu=True, bf16=False` explicitly in scripts.
        remove_unused_columns (`bool`, *optional*, defaults to `False`):
            Keeps the columns the environment needs to replay an episode.

    Example:

    ```python
    >>> from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig
    >>> args = MultiTurnVerifierPPOConfig(output_dir="out", env_id="sft_vs_rl/GeneralPoints-v0", use_cpu=True,
    ...                                   bf16=False, per_device_train_batch_size=4, steps_per_generation=4)
    >>> args.num_iterations, args.epsilon
    (4, 0.1)
    ```
    """

    _VALID_DICT_FIELDS = GRPOConfig._VALID_DICT_FIELDS + ["env_kwargs"]

    # Parameters that control the environments and the rollout
    env_id: str | None = field(
        default=None,
        metadata={"help": "Gymnasium id of the verifier environment, e.g. `sft_vs_rl/GeneralPoints-v0`."},
    )
    env_kwargs: dict[str, Any] | str | None = field(
        default=None,
        metadata={"help": "Keyword arguments for `gymnasium.make(env_id, **env_kwargs)`."},
    )
    num_envs: int = field(
        default=8,
        metadata={"help": "Environments stepping together on each process (batch size of each `generate` call)."},
    )
    seed_column: str | None = field(
        default="seed",
        metadata={"help": "Dataset column holding the episode seed; rows without it get one from the rollout RNG."},
    )
    action_key: str | None = field(
        default=None,
        metadata={
            "help": "Overrides the environment's `action_key` attribute: the JSON field holding the graded answer "
            "(`formula`, `action`); tokens before it are weighted by `thought_prob_coef`."
        },
    )

    # Parameters that control the PPO objective
    gamma: float = field(default=0.9, metadata={"help": "Discount factor across the turns of an episode."})
    gae_lambda: float = field(default=0.95, metadata={"help": "Lambda of the generalized advantage estimate."})
    clip_coef: float = field(default=0.1, metadata={"help": "Clipping range of the policy ratio (sets `epsilon`)."})
    vf_coef: float = field(default=0.5, metadata={"help": "Weight of the value loss."})
    vf_clip_coef: float | None = field(
        default=0.1,
        metadata={"help": "Clipping range of the value around its rollout value; `None` disables value clipping."},
    )
    num_ppo_epochs: int = field(
        default=4, metadata={"help": "Passes over each rollout (sets `num_iterations`)."}
    )
    num_mini_batches: int | None = field(
        default=None,
        metadata={"help": "Optimizer steps per PPO epoch; derives `gradient_accumulation_steps` from "
                  "`steps_per_generation` (CleanRL's num_minibatches). Unset: the accumulation as given."},
    )
    thought_prob_coef: float = field(
        default=0.5,
        metadata={"help": "Weight of the log-probabilities of the tokens before `action_key` (paper: 0.5)."},
    )
    ratio_level: str = field(
        default="sequence",
        metadata={
            "help": "`sequence`: one ratio per turn from the weighted summed log-probabilities (paper); `token`: one "
            "ratio per token.",
            "choices": list(_RATIO_LEVELS),
        },
    )
    value_learning_rate: float | None = field(
        default=None,
        metadata={"help": "Learning rate of the value head (the shared backbone keeps `learning_rate`). If unset, "
                  "`learning_rate`."},
    )
    reward_scale: float = field(
        default=1.0,
        metadata={"help": "Factor on the environment rewards before GAE (the scale of the critic's targets)."},
    )
    advantage_estimator: str = field(
        default="gae",
        metadata={"help": "`gae` (critic, the paper) or `reinforce` (discounted Monte-Carlo returns, no critic).",
                  "choices": list(_ADVANTAGE_ESTIMATORS)},
    )
    normalize_advantages: bool = field(
        default=True, metadata={"help": "Normalise advantages over the whole rollout (all processes)."}
    )
    log_gradient_norms: bool = field(
        default=False,
        metadata={"help": "Log the policy and value gradient norms on the shared backbone once per update (2 extra "
                  "backward passes; single process only)."},
    )
    gae_across_truncation: bool = field(
        default=False,
        metadata={
            "help": "Original behaviour: a truncated episode does not stop the GAE recursion and bootstraps into the "
            "next episode. Off by default (every episode end stops it)."
        },
    )

    # Parameters whose default values are overridden from GRPOConfig / TrainingArguments
    temperature: float = field(default=0.2, metadata={"help": "Sampling temperature of the rollouts (paper: 0.2)."})
    num_generations: int = field(
        default=1, metadata={"help": "Must be 1: PPO plays each row once and uses a critic as baseline."}
    )
    adam_epsilon: float = field(default=1e-7, metadata={"help": "Adam epsilon (paper: 1e-7)."})
    disable_dropout: bool = field(
        default=True, metadata={"help": "Disable dropout, so rollout log-probs and the loss use the same function."}
    )
    remove_unused_columns: bool | None = field(
        default=False, metadata={"help": "Keep the dataset columns the environment needs to replay an episode."}
    )

    def __post_init__(self):
        # `GRPOConfig.__post_init__` derives the batch sizes and then refuses `num_generations < 2` (GRPO's group
        # baseline), which PPO's critic replaces, so it cannot run here: this runs the TRL base post-init and derives
        # the two batching fields as GRPO does, plus `num_mini_batches`.
        self._check_ppo_fields()
        self._reject_ignored_grpo_fields()
        # GRPOTrainer's names for the PPO epochs / clip range are derived, not set twice.
        self.num_iterations = self.num_ppo_epochs
        self.epsilon = self.epsilon_high = self.clip_coef
        if self.env_kwargs is None:
            self.env_kwargs = {}
        if self.bf16 is None and not self.fp16:
            import torch

            if self.use_cpu or not torch.cuda.is_available():
                logger.info("No CUDA device (or `use_cpu=True`): `bf16` is unset, so it is set to False.")
                self.bf16 = False
        self._derive_accumulation()  # before TrainingArguments' post-init, which fills DeepSpeed's "auto" values
        _BaseConfig.__post_init__(self)
        if self.log_gradient_norms and self.world_size > 1:
            raise ValueError(
                f"`log_gradient_norms=True` runs extra backward passes outside the distributed wrapper and supports one "
                f"process only, but {self.world_size} processes are running. Turn it off for distributed runs."
            )
        if self.auto_find_batch_size:
            raise ValueError(
                "`auto_find_batch_size=True` is not supported: the rollout size is derived from "
                "`per_device_train_batch_size`. Set it to False and lower `per_device_train_batch_size` instead."
            )
        self._derive_batch_sizes()

    def _check_ppo_fields(self) -> None:
        """Reject values of this trainer's own fields that PPO cannot run with."""
        if self.num_generations != 1:
            raise ValueError(
                f"`num_generations` is {self.num_generations}, but PPO plays every dataset row once and uses its "
                "value head as baseline. Set `num_generations=1` (the default) and raise `num_envs` or "
                "`per_device_train_batch_size` for more samples."
            )
        for name in ("num_envs", "num_ppo_epochs", "num_mini_batches", "per_device_train_batch_size",
                     "steps_per_generation", "max_completion_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"`{name}` is {getattr(self, name)}; it must be a positive integer.")
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` is {value}; it must lie in [0, 1] (paper: gamma=0.9, gae_lambda=0.95).")
        if self.clip_coef <= 0.0:
            raise ValueError(f"`clip_coef` is {self.clip_coef}; it must be positive (paper: 0.1).")
        if self.vf_clip_coef is not None and self.vf_clip_coef <= 0.0:
            raise ValueError(
                f"`vf_clip_coef` is {self.vf_clip_coef}; it must be positive, or `None` to disable value clipping."
            )
        if self.value_learning_rate is not None and not self.value_learning_rate > 0.0:
            raise ValueError(
                f"`value_learning_rate` is {self.value_learning_rate}; it must be positive, or `None` to use "
                "`learning_rate`."
            )
        if not self.reward_scale > 0.0:
            raise ValueError(f"`reward_scale` is {self.reward_scale}; it must be positive (1.0 keeps the rewards).")
        if self.vf_coef < 0.0 or self.thought_prob_coef < 0.0:
            raise ValueError(
                f"`vf_coef` ({self.vf_coef}) and `thought_prob_coef` ({self.thought_prob_coef}) must be >= 0."
            )
        for name, valid in (("ratio_level", _RATIO_LEVELS), ("advantage_estimator", _ADVANTAGE_ESTIMATORS)):
            value = getattr(self, name)
            if value not in valid:
                close = difflib.get_close_matches(value, valid, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"`{name}` is {value!r}; valid values are {list(valid)}.{hint}")
        if self.temperature <= 0.0:
            raise ValueError(
                f"`temperature` is {self.temperature}; PPO samples the rollouts and scales the loss logits by it, so "
                "it must be positive (paper: 0.2)."
            )

    def _reject_ignored_grpo_fields(self) -> None:
        """Refuse a GRPOConfig field this trainer ignores when it is set to anything but its default, rather than
        silently training something else than asked for."""
        for name, (default, instead) in _IGNORED_GRPO_FIELDS.items():
            value = getattr(self, name)
            if value != default:
                raise ValueError(
                    f"`{name}` is {value!r}, but MultiTurnVerifierPPOTrainer ignores this GRPOConfig field: {instead}. "
                    f"Leave it at its default ({default!r})."
                )
        # GRPO's names for the PPO epochs and the clip range: derived, so a different explicit value is a conflict.
        for name, default, ppo_name in (("num_iterations", 1, "num_ppo_epochs"), ("epsilon", 0.2, "clip_coef"),
                                        ("epsilon_high", None, "clip_coef")):
            value, ppo_value = getattr(self, name), getattr(self, ppo_name)
            if value not in (default, ppo_value):
                raise ValueError(
                    f"`{name}` is {value} but `{ppo_name}` is {ppo_value}. Set only `{ppo_name}`; `{name}` is "
                    "GRPOTrainer's name for it and is derived from it."
                )

    def _derive_batch_sizes(self) -> None:
        """`steps_per_generation` and `generation_batch_size` as `GRPOConfig.__post_init__` derives them (by default
        the rollout holds `num_mini_batches` mini-batches of `gradient_accumulation_steps` micro-batches), then the
        accumulation from `num_mini_batches`."""
        global_batch = self.per_device_train_batch_size * self.world_size
        if self.generation_batch_size is not None and self.steps_per_generation is not None:
            raise ValueError("Set `generation_batch_size` or `steps_per_generation`, not both.")
        if self.generation_batch_size is not None:
            if self.generation_batch_size % global_batch != 0:
                raise ValueError(
                    f"`generation_batch_size` ({self.generation_batch_size}) must be divisible by the global batch "
                    f"size `per_device_train_batch_size × processes` ({global_batch})."
                )
            self.steps_per_generation = self.generation_batch_size // global_batch
        elif self.steps_per_generation is None:
            self.steps_per_generation = self.gradient_accumulation_steps * (self.num_mini_batches or 1)
        self.generation_batch_size = global_batch * self.steps_per_generation
        self._derive_accumulation()
        for name in ("steps_per_generation", "gradient_accumulation_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` is {getattr(self, name)}; it must be at least 1.")
        if self.steps_per_generation % self.gradient_accumulation_steps != 0:
            logger.warning(
                "`steps_per_generation` (%d) is not a multiple of `gradient_accumulation_steps` (%d): an optimizer "
                "step will mix turns of two PPO epochs.",
                self.steps_per_generation,
                self.gradient_accumulation_steps,
            )

    def _derive_accumulation(self) -> None:
        """`gradient_accumulation_steps = steps_per_generation / num_mini_batches` once both are known."""
        if self.num_mini_batches is None or self.steps_per_generation is None:
            return
        if self.steps_per_generation % self.num_mini_batches != 0:
            raise ValueError(
                f"`num_mini_batches` ({self.num_mini_batches}) must divide `steps_per_generation` "
                f"({self.steps_per_generation}), the micro-batches of one update, so that every mini-batch "
                "accumulates the same number of them. Pick a divisor, or change `steps_per_generation`."
            )
        self.gradient_accumulation_steps = self.steps_per_generation // self.num_mini_batches

    @property
    def optimizer_steps_per_update(self) -> int:
        """Optimizer steps of one PPO update: `num_ppo_epochs × steps_per_generation / gradient_accumulation_steps`."""
        return self.num_ppo_epochs * self.steps_per_generation // self.gradient_accumulation_steps

    @property
    def turns_per_update(self) -> int:
        """Model turns (transitions) each process collects per PPO update."""
        return self.per_device_train_batch_size * self.steps_per_generation
