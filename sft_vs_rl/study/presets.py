"""Study presets: every size, step count and learning rate of a study, in one table (`STUDY_PRESETS`).

* `smoke`: a pipeline check that finishes within minutes on 2 CPU cores (the README's first command). Small numbers;
  expect near-zero success.
* `tiny`: the CPU study (reference/tiny_feasibility.md §8): the 0.16 M-parameter `nano` Llama pretrained from scratch
  on the rule-varied corpus, ≥ 300 evaluation episodes per split (binomial standard error ≤ 2.9 points). The 1.1 M
  `tiny` model (`--set model=tiny`) costs about 8× more per token; the committed results use `nano`.
* `paper`: the paper's settings (reference/sftvsrl_spec.md §3.1-§3.3) for GPUs, on Llama-3.2-11B-Vision-Instruct
  (loaded only when run; never in tests).

Per-task values (the paper's V-IRL Init is 25 SFT steps, GeneralPoints' 400) sit in `task_overrides`.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from dataclasses import dataclass, field
from typing import Any

from sft_vs_rl.tasks import get_task

logger = logging.getLogger(__name__)

__all__ = ["ANSWER_FORMATS", "ANSWER_TOKENS", "STUDY_PRESETS", "StudyPreset", "resolve_study_preset"]

ANSWER_FORMATS = ("paper", "steps")
"""`"paper"`: the paper's JSON answer (cards → number → formula). `"steps"`: the same JSON with a `steps` field before
the formula, an arithmetic scratchpad of the formula's intermediate results (`"10-4=6, 6*4=24"`)."""

ANSWER_TOKENS = {"paper": 50, "steps": 81}
"""Longest GeneralPoints answer of each format, in tokens of the tiny tokenizer with EOS (the canonical solution of
every solvable hand at target 24): `max_new_tokens` must be at least this, or answers are cut off and never graded."""


@dataclass(frozen=True)
class StudyPreset:
    """Sizes and schedules of one study preset. Step counts are optimizer steps; batch sizes are per process.

    Args:
        model (`str`): a `TINY_PRESETS` name (`"nano"`, `"tiny"`, `"small"`) built offline and pretrained from scratch
            (stage 1), or a Hub id / local path used as the base as it is (the `paper` preset).
        prompt_style (`str`): `"compact"` (tiny models) or `"paper"` (the original templates).
        answer_format (`str`): see `ANSWER_FORMATS`.
        vocab_size (`int`): BPE vocabulary of a tiny model's tokenizer (trained on the corpus).
        tokenizer_texts (`int`): corpus texts the tokenizer is trained on.
        corpus_size (`int`): examples of the rule-varied pretraining corpus.
        corpus_retry_fraction (`float`): share of corpus examples that hold a failed try, the verifier's feedback and
            the corrected answer (teaches the multi-turn format).
        corpus_reading_fraction (`float`): GP-VL: share of image-corpus examples that only read the cards
            (`sft_vs_rl.study.image_corpus`).
        canvas_size (`int`): GP-VL card image side in pixels, in the corpus, the datasets and the environments (224 is
            the library's default, 1200 the paper's).
        image_size (`int`, *optional*): side of a tiny VLM's image tile (its processor resizes every image to it);
            `None` keeps the model preset's.
        base_recognition_threshold (`float`, *optional*): GP-VL base quality gate: the study stops before Init unless
            the base lists the cards right on at least this share of held-out hands in *each* suit colour (greedy
            first answers, `base_gate_episodes` per colour); `None` measures and records it without stopping.
        base_gate_episodes (`int`): held-out hands per suit colour of the gate.
        pretrain_steps, pretrain_batch_size, pretrain_lr, pretrain_warmup (`int`/`float`): base pretraining
            (full-sequence loss, cosine to 10%).
        init_steps, init_batch_size, init_lr (`int`/`float`): Init = SFT of the base on ID data; `init_steps` is the
            most it runs when `init_format_threshold` is set.
        init_format_threshold (`float`, *optional*): stop Init at the first check where this share of greedy answers
            to the first 64 ID training prompts has the task's answer format (GP: `cards`, `number` and a well-formed
            `formula`; V-IRL: an observation and a grammatical action), the paper's reason for Init; `None`: run
            `init_steps`.
        init_check_every (`int`): optimizer steps between format checks.
        sft_batch_size, sft_lr: the continued-SFT arm (its step count is set by compute matching).
        sft_train_size (`int`): ID training episodes (SFT pairs) generated for Init and the SFT arm.
        rl_updates (`int`): PPO updates of the RL arm; sets the compute budget of both arms.
        rl_turns_per_update, rl_micro_batch, rl_epochs, rl_lr, rl_num_envs, rl_temperature: PPO settings
            (`MultiTurnVerifierPPOConfig`).
        rl_mini_batches (`int`): optimizer steps per PPO epoch (`num_mini_batches`), so one update makes
            `rl_epochs × rl_mini_batches` optimizer steps whatever `rl_turns_per_update` is.
        rl_ratio_level, rl_vf_clip, rl_reward_scale, rl_value_lr: `ratio_level`, `vf_clip_coef` (`None`: no value
            clipping), `reward_scale` and `value_learning_rate` (`None`: `rl_lr`) of the PPO config.
        rl_warmup_updates (`int`): linear learning-rate warm-up of the RL arm, in PPO updates.
        rl_extra_config (`dict`): any other `MultiTurnVerifierPPOConfig` fields (e.g. `{"advantage_estimator":
            "reinforce"}` for a diagnostic arm).
        max_new_tokens (`int`): longest answer, in rollouts and evaluation.
        num_checkpoints (`int`): checkpoints per arm, at equal fractions of the RL budget (matched for SFT).
        eval_episodes (`int`): episodes per evaluation split (ID, ID unseen hands, OOD).
        eval_batch (`int`): environments stepping together in evaluation.
        eval_sampled_episodes (`int`): episodes per split also played *sampled* at `rl_temperature` (seed 42, top-k
            and top-p off, as the RL arm samples), recorded beside the greedy metrics as `sampled/success` (V-IRL:
            `sampled/step_accuracy`); 0 skips the sampled pass.
        virl_num_milestones (`tuple[int, int]`): route length range of V-IRL episodes.
        max_length (`int`): longest training sequence in tokens.
        pretrain_packing (`bool`): pretrain the base on `max_length` blocks of the corpus stream (TRL's `"wrapped"`
            packing: no padding) instead of one padded conversation per row.
        group_by_length (`bool`): batch SFT rows of similar length together (`train_sampling_strategy="group_by_length"`:
            less padding in Init and the SFT arm).
        cache_implementation (`str`, *optional*): the KV cache of rollouts and evaluation (`"static"`: preallocated;
            `None`: transformers' dynamic cache).
        task_overrides (`dict[str, dict]`): per-task replacements of the fields above.
    """

    model: str
    prompt_style: str = "compact"
    answer_format: str = "paper"
    vocab_size: int = 512
    tokenizer_texts: int = 5000
    corpus_size: int = 2000
    corpus_retry_fraction: float = 0.2
    corpus_reading_fraction: float = 0.25
    canvas_size: int = 224
    image_size: int | None = None
    base_recognition_threshold: float | None = None
    base_gate_episodes: int = 100
    pretrain_steps: int = 100
    pretrain_batch_size: int = 32
    pretrain_lr: float = 3e-3
    pretrain_warmup: int = 10
    init_steps: int = 20
    init_batch_size: int = 32
    init_lr: float = 5e-4
    init_format_threshold: float | None = None
    init_check_every: int = 10
    sft_batch_size: int = 32
    sft_lr: float = 5e-4
    sft_train_size: int = 2000
    rl_updates: int = 4
    rl_turns_per_update: int = 32
    rl_micro_batch: int = 16
    rl_epochs: int = 2
    rl_mini_batches: int = 1
    rl_ratio_level: str = "sequence"
    rl_vf_clip: float | None = 0.1
    rl_reward_scale: float = 1.0
    rl_value_lr: float | None = None
    rl_warmup_updates: int = 0
    rl_extra_config: dict[str, Any] = field(default_factory=dict)
    rl_lr: float = 1e-4
    rl_num_envs: int = 16
    rl_temperature: float = 1.0
    max_new_tokens: int = 64
    num_checkpoints: int = 2
    eval_episodes: int = 32
    eval_batch: int = 32
    eval_sampled_episodes: int = 0
    virl_num_milestones: tuple[int, int] = (2, 3)
    max_length: int = 512
    pretrain_packing: bool = False
    group_by_length: bool = False
    cache_implementation: str | None = None
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def for_task(self, task: str) -> StudyPreset:
        """The preset with `task_overrides[task]` applied."""
        changes = dict(self.task_overrides.get(task, {}))
        return dataclasses.replace(self, **changes) if changes else self

    @property
    def pretrained_from_scratch(self) -> bool:
        from sft_vs_rl.models import TINY_PRESETS

        return self.model in TINY_PRESETS


STUDY_PRESETS: dict[str, StudyPreset] = {
    # A pipeline check: every stage runs, on a 0.2 M model, in ~1-3 min on 2 quiet cores.
    "smoke": StudyPreset(
        model="nano", vocab_size=384, tokenizer_texts=2000, corpus_size=1500, pretrain_steps=60,
        pretrain_batch_size=32, pretrain_lr=3e-3, pretrain_warmup=6, init_steps=10, init_batch_size=16,
        sft_batch_size=16, sft_train_size=256, rl_updates=2, rl_turns_per_update=16, rl_micro_batch=16,
        rl_epochs=1, rl_num_envs=16, max_new_tokens=56, num_checkpoints=2, eval_episodes=24, eval_batch=24,
        eval_sampled_episodes=8, init_format_threshold=0.95, init_check_every=5,
        max_length=384,
        task_overrides={"gp-vl": {"canvas_size": 64}, "virl-l": {"max_length": 640}, "virl-vl": {"max_length": 640}},
    ),
    # The CPU study (tiny_feasibility.md §8): the 0.16 M nano Llama pretrained 2000 steps × 64 (the committed
    # results/tiny runs; the 1.1 M tiny model costs ~8x per token), Init by the format criterion, 300 episodes/split.
    "tiny": StudyPreset(
        model="nano", vocab_size=512, tokenizer_texts=20000, corpus_size=96_000, pretrain_steps=2000,
        pretrain_batch_size=64, pretrain_lr=3e-3, pretrain_warmup=100, init_steps=100, init_batch_size=64,
        init_lr=5e-4, sft_batch_size=64, sft_lr=5e-4, sft_train_size=20_000, rl_updates=16, rl_turns_per_update=256,
        # Init stops at the first 10-step check where >= 95 % of first answers have the format (at most 100 steps).
        init_format_threshold=0.95, init_check_every=10,
        rl_num_envs=64, max_new_tokens=64, num_checkpoints=4, eval_episodes=300, eval_batch=150,
        eval_sampled_episodes=150, max_length=512,
        # RL settings, each chosen from training-time and ID signals on a tiny GP-L Init (greedy ID 21.0 ± 2.4 %,
        # `benchmarks/ppo_diagnostics.py`, results in benchmarks/results/ppo_diagnostics.json); OOD never read:
        # * 2 epochs x 4 mini-batches = 8 optimizer steps per update, the paper's count (1 per epoch moved the policy
        #   by approx_kl ~0.001 per update: nothing learned);
        # * T = 0.2, the paper's: at T = 1 the sampled policy solved 5-12 % of episodes against 21 % greedy, so PPO
        #   trained a policy other than the one evaluated;
        # * token-level ratio: the paper's sequence-level ratio (a sum over ~45 tokens) reached approx_kl 0.3-5.6
        #   and clipfrac 0.55 per update at T = 0.2, token-level 0.003-0.03 and 0.03;
        # * rewards x 0.2 and a value-head lr of 3e-3: a fresh head at the policy lr moves its output by ~0.07 per
        #   step, so against returns of mean -5 and spread 3 the critic explained no variance (EV 0.00 in every
        #   update); with both, EV rose to 0.24 (value clip 0.1 kept: it removed no gradient in the shipped run);
        # * lr 1e-4: approx_kl 0.003-0.03 per update; 3e-4 gave 0.1-0.36 and greedy ID fell to 10 %.
        rl_epochs=2, rl_mini_batches=4, rl_lr=1e-4, rl_temperature=0.2, rl_ratio_level="token", rl_reward_scale=0.2,
        rl_value_lr=3e-3,
        # Speed (benchmarks/throughput.py on 2 cores): a static KV cache gives the same greedy episodes and ran
        # evaluation x1.27 and rollouts x1.13 faster; length-grouped SFT batches ran Init / the SFT arm x1.21 faster.
        # Packed pretraining (x1.26) is not used yet: it changes the tokens per step, so the base's schedule must be
        # re-chosen and its quality checked first.
        cache_implementation="static", group_by_length=True,
        # PPO micro-batches of 16 (4 per 64-turn mini-batch, grouped by turn length; the same gradient as one micro-batch
        # of 64): the PPO update ran x1.69 faster (benchmarks/results/throughput_ppo_grouping.json).
        rl_micro_batch=16,
        task_overrides={
            # V-IRL's headline metric is per-step accuracy: 100 episodes give ~1000 graded tries (error ≤ ±1.6).
            # V-IRL: 128 turns in 2 mini-batches of 64 (each 4 length-grouped micro-batches of 16); rewards are +-1 per
            # position, so its returns are of order one unscaled. Measured in the three-seed tiny V-IRL-L run (training
            # signals only): approx_kl ~0.001 median per optimizer step (max 0.06), clipfrac ~0.01, explained variance
            # rising 0.00 -> 0.22-0.26, training per-step accuracy rising in every seed (0.24 -> 0.41, 0.23 -> 0.27,
            # 0.10 -> 0.23).
            "virl-l": {"corpus_size": 40_000, "pretrain_steps": 800, "init_steps": 40, "sft_train_size": 2000,
                       "rl_turns_per_update": 128, "rl_mini_batches": 2, "rl_reward_scale": 1.0, "max_length": 1024,
                       "max_new_tokens": 72, "eval_episodes": 100},
            "virl-vl": {"corpus_size": 40_000, "pretrain_steps": 800, "init_steps": 40, "sft_train_size": 2000,
                        "rl_turns_per_update": 128, "rl_mini_batches": 2, "rl_reward_scale": 1.0, "max_length": 1024,
                        "max_new_tokens": 72, "eval_episodes": 100},
        },
    ),
    # The paper (sftvsrl_spec.md §3.2-§3.3): Llama-3.2-11B-Vision, SFT batch 128 at lr 1e-6 (Init = step 400 for GP,
    # 25 for V-IRL), PPO 256 turns/GPU × 8 GPUs, 4 epochs, T = 0.2, 512 new tokens, 234 GP / 48 V-IRL test episodes.
    "paper": StudyPreset(
        model="meta-llama/Llama-3.2-11B-Vision-Instruct", prompt_style="paper", corpus_size=0, pretrain_steps=0,
        init_steps=400, init_batch_size=16, init_lr=1e-6, sft_batch_size=16, sft_lr=1e-6, sft_train_size=51_200,
        # 256 turns per GPU in micro-batches of 1, accumulation 128: 2 mini-batches × 4 epochs = 8 optimizer steps per
        # update (sftvsrl_spec.md §3.2).
        rl_updates=20, rl_turns_per_update=256, rl_micro_batch=1, rl_epochs=4, rl_mini_batches=2, rl_lr=1e-6,
        rl_num_envs=8,
        rl_temperature=0.2, max_new_tokens=512, num_checkpoints=5, eval_episodes=234, eval_batch=16,
        virl_num_milestones=(2, 8), max_length=4096,
        task_overrides={
            "gp-vl": {"init_lr": 5e-7, "sft_lr": 5e-7, "canvas_size": 1200},  # the paper's card images
            "virl-l": {"init_steps": 25, "sft_train_size": 3200, "rl_updates": 15, "eval_episodes": 48},
            "virl-vl": {"init_steps": 25, "init_lr": 5e-7, "sft_lr": 5e-7, "sft_train_size": 3200, "rl_updates": 15,
                        "rl_lr": 1e-7, "eval_episodes": 48},
        },
    ),
}  # fmt: skip


def resolve_study_preset(name: str | StudyPreset, task: str, **changes: Any) -> StudyPreset:
    """The preset `name` for `task`, with `changes` (field → value) applied last.

    >>> resolve_study_preset("tiny", "virl-l").init_steps
    40
    """
    if isinstance(name, StudyPreset):
        preset = name
    elif name in STUDY_PRESETS:
        preset = STUDY_PRESETS[name]
    else:
        close = difflib.get_close_matches(str(name), STUDY_PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown study preset {name!r}; valid presets are {list(STUDY_PRESETS)}.{hint}")
    preset = preset.for_task(task)
    fields = {f.name for f in dataclasses.fields(StudyPreset)}
    unknown = [k for k in changes if k not in fields]
    if unknown:
        raise ValueError(f"Unknown StudyPreset field(s) {unknown}; valid fields are {sorted(fields)}.")
    if changes:
        preset = dataclasses.replace(preset, **changes)
    if preset.answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format={preset.answer_format!r} must be one of {list(ANSWER_FORMATS)}.")
    _check_sizes(preset)
    return _fit_answers(preset, task, explicit="max_new_tokens" in changes)


_COUNTS_FROM_ZERO = ("corpus_size", "pretrain_steps", "pretrain_warmup", "rl_warmup_updates", "eval_sampled_episodes")
"""Count fields where 0 is meaningful (no pretraining corpus or steps for a Hub base; no warm-up; no sampled pass)."""


def _check_sizes(preset: StudyPreset) -> None:
    """Every count of the preset is an int ≥ 1 (≥ 0 for `_COUNTS_FROM_ZERO`), every learning rate > 0."""
    for f in dataclasses.fields(StudyPreset):
        value = getattr(preset, f.name)
        if f.type in ("int", int):
            low = 0 if f.name in _COUNTS_FROM_ZERO else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"StudyPreset field `{f.name}` is {value!r}; it must be an int ≥ {low} "
                                 f"(e.g. --set {f.name}={max(low, 1)}).")
        elif f.name.endswith("_lr") and f.name != "rl_value_lr" and not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"StudyPreset field `{f.name}` is {value!r}; a learning rate must be a number > 0.")
    threshold = preset.init_format_threshold
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise ValueError(f"StudyPreset field `init_format_threshold` is {threshold!r}; it must be a share in (0, 1] "
                         "(e.g. --set init_format_threshold=0.95) or null to run `init_steps`.")


def _fit_answers(preset: StudyPreset, task: str, explicit: bool) -> StudyPreset:
    """Raise a tiny preset's `max_new_tokens` to the longest answer of its format, to a multiple of 16. A value the
    caller set is kept (a pipeline check may want short answers), with a warning that answers will be cut off."""
    needed = ANSWER_TOKENS[preset.answer_format]
    if get_task(task).family != "gp" or not preset.pretrained_from_scratch or preset.max_new_tokens >= needed:
        return preset
    if explicit:
        logger.warning("max_new_tokens=%d cuts off %r answers (up to %d tokens with EOS): they are never graded "
                       "correct; set max_new_tokens to at least %d.", preset.max_new_tokens, preset.answer_format,
                       needed, needed)
        return preset
    return dataclasses.replace(preset, max_new_tokens=-(-needed // 16) * 16)
