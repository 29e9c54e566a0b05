"""MultiTurnVerifierPPOConfig: paper defaults, derived GRPO fields, and errors that name the field and the fix."""

import pytest

from sft_vs_rl.trainers import MultiTurnVerifierPPOConfig


def make(**kwargs):
    base = dict(output_dir="unused", use_cpu=True, report_to="none", gradient_checkpointing=False)
    return MultiTurnVerifierPPOConfig(**{**base, **kwargs})


def test_paper_defaults_and_derived_fields():
    args = make(per_device_train_batch_size=4, steps_per_generation=3)
    assert (args.gamma, args.gae_lambda, args.clip_coef, args.vf_coef, args.vf_clip_coef) == (0.9, 0.95, 0.1, 0.5, 0.1)
    assert (args.num_ppo_epochs, args.thought_prob_coef, args.beta, args.entropy_coef) == (4, 0.5, 0.0, 0.0)
    assert args.temperature == 0.2 and args.max_completion_length == 512 and args.adam_epsilon == 1e-7
    # GRPO's names for the same knobs are derived, not set twice
    assert args.num_iterations == 4 and args.epsilon == args.epsilon_high == 0.1
    assert args.num_generations == 1 and args.turns_per_update == 12 and args.generation_batch_size == 12
    assert args.bf16 is False  # no CUDA here: unset bf16 resolves to False instead of TRL's True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_generations": 4}, "num_generations"),  # GRPO groups make no sense with a critic
        ({"num_iterations": 2}, "num_ppo_epochs"),  # conflicting duplicate of num_ppo_epochs
        ({"gamma": 1.5}, "gamma"),  # out of [0, 1]
        ({"clip_coef": 0.0}, "clip_coef"),  # must be positive
        ({"vf_clip_coef": -1.0}, "vf_clip_coef"),  # negative clip range
        ({"ratio_level": "sequense"}, "Did you mean 'sequence'"),  # typo gets the nearest valid value
        ({"num_envs": 0}, "num_envs"),  # no environments
        ({"temperature": 0.0}, "temperature"),  # greedy rollouts have no log-probs to ratio
        ({"generation_batch_size": 6, "per_device_train_batch_size": 4}, "divisible"),  # uneven split
        ({"steps_per_generation": 6, "num_mini_batches": 4}, "must divide"),  # uneven mini-batches
        ({"num_mini_batches": 0}, "num_mini_batches"),
        ({"reward_scale": 0.0}, "reward_scale"),
    ],
)
def test_bad_values_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("loss_type", "grpo"),  # GRPO's loss variants: this trainer's loss is the clipped PPO objective
        ("importance_sampling_level", "sequence"),  # `ratio_level` is this trainer's knob
        ("scale_rewards", "batch"),  # advantages come from GAE
        ("reward_weights", [2.0]),  # the verifier is the only reward
        ("multi_objective_aggregation", "normalize_then_sum"),
        ("mask_truncated_completions", True),
        ("top_entropy_quantile", 0.2),
        ("delta", 2.0),
        ("off_policy_mask_threshold", 0.5),
        ("use_adaptive_entropy", True),
        ("router_aux_loss_coef", 0.01),
        ("use_vllm", True),  # the rollout generates with `model.generate`
        ("use_transformers_continuous_batching", True),
        ("use_transformers_paged", True),
        ("chat_template_kwargs", {"enable_thinking": False}),  # the environments' conversations, plain template
        ("pad_to_multiple_of", 64),
        ("max_tool_calling_iterations", 3),
        ("log_completions", True),
        ("log_completions_hub_repo", "user/completions"),
        ("epsilon", 0.3),  # GRPO's name of `clip_coef`, derived from it
        ("epsilon_high", 0.3),
    ],
)
def test_grpo_fields_this_trainer_ignores_raise(field, value):
    with pytest.raises(ValueError, match=rf"`{field}` is .*{'clip_coef' if 'epsilon' in field else 'ignores'}"):
        make(**{field: value})


def test_ignored_grpo_fields_keep_grpo_defaults():
    import dataclasses

    from trl import GRPOConfig

    from sft_vs_rl.trainers.multiturn_ppo_config import _IGNORED_GRPO_FIELDS

    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    assert {name: default for name, (default, _) in _IGNORED_GRPO_FIELDS.items()} == {
        name: defaults[name] for name in _IGNORED_GRPO_FIELDS}
    make(**{name: default for name, (default, _) in _IGNORED_GRPO_FIELDS.items()})  # defaults set explicitly: fine
    make(epsilon=0.1, epsilon_high=0.1, num_iterations=4)  # the derived values themselves: fine


def test_value_clip_can_be_disabled():
    assert make(vf_clip_coef=None).vf_clip_coef is None


@pytest.mark.parametrize(
    ("kwargs", "accumulation", "steps_per_update"),
    [
        # the paper: 256 turns per GPU, micro-batch 1, 2 mini-batches of 128 accumulated turns, 4 epochs -> 8 steps
        ({"per_device_train_batch_size": 1, "steps_per_generation": 256, "num_mini_batches": 2}, 128, 8),
        # the same 2 mini-batches over a rollout of 4 micro-batches of 64 turns: accumulation 2, still 8 steps
        ({"per_device_train_batch_size": 64, "steps_per_generation": 4, "num_mini_batches": 2}, 2, 8),
        ({"per_device_train_batch_size": 64, "generation_batch_size": 256, "num_mini_batches": 4}, 1, 16),
        # without num_mini_batches the accumulation is taken as given: 4 micro-batches / 4 = 1 step per epoch
        ({"per_device_train_batch_size": 8, "steps_per_generation": 4, "gradient_accumulation_steps": 4}, 4, 4),
        # neither steps_per_generation nor generation_batch_size: the rollout holds num_mini_batches mini-batches
        ({"per_device_train_batch_size": 8, "gradient_accumulation_steps": 3, "num_mini_batches": 2}, 3, 8),
    ],
)
def test_optimizer_steps_per_update_are_epochs_times_mini_batches(kwargs, accumulation, steps_per_update):
    args = make(num_ppo_epochs=4, **kwargs)
    assert args.gradient_accumulation_steps == accumulation
    assert args.optimizer_steps_per_update == steps_per_update
    assert args.steps_per_generation % args.gradient_accumulation_steps == 0
