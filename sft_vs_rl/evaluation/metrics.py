"""Evaluation metrics of the paper, as plain functions over per-episode records.

The metrics follow the original `StatLogger` (reference `sftvsrl_spec.md` §1.8, §2.7) and the paper's App. C.3:

| metric | task | definition |
|---|---|---|
| `success` | GP, V-IRL | fraction of episodes solved within the verification budget |
| `recognition` | GP-VL | fraction of episodes whose *first* answer lists the dealt cards correctly (one try, no verification) |
| `step_accuracy` | V-IRL | fraction of graded tries that were correct; every try, retries included, is one sample |
| `unseen_success` | GP | `success` restricted to episodes whose value multiset is not in a given training set |
| `mean_return` | all | mean of the summed rewards of an episode |
| `verdict/<kind>` | all | share of first tries (GP) or of graded tries (V-IRL) whose verifier verdict is `<kind>` |
| `id_face_rule` | GP | share of first answers on hands with a J/Q/K whose numbers count J/Q/K as 10 (the ID rule) |
| `step_accuracy/<kind>` | V-IRL | `step_accuracy` over the tries whose expected action is `forward`, `stop` or `turn` |
| `step_accuracy/turn_<direction>` | V-IRL | `step_accuracy` over the tries whose expected action turns to `<direction>` |

The diagnostic metrics (the last four rows) say *why* a success rate moved: which kind of error grew, whether OOD
answers still apply the ID face rule, which V-IRL actions fail. They are only computed when the records carry the
environments' `verdict`, `numbers_rule` and `graded_action` info keys.

Every metric comes back as a [`MetricValue`] carrying its binomial standard error √(p(1−p)/N) (paper C.3; for
`mean_return` the standard error of the mean), so plots can draw error bars without re-reading the episodes.

We use plain Python rather than `evaluate` metrics: `evaluate` is in maintenance mode and loads Hub metrics by name,
which fails offline (reference `ecosystem_api.md` §6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sft_vs_rl.tasks import get_task

__all__ = [
    "EpisodeRecord",
    "MetricValue",
    "binomial_stderr",
    "compute_metrics",
    "episode_success",
    "face_rule_share",
    "mean_return",
    "proportion",
    "recognition_accuracy",
    "step_accuracy",
    "step_accuracy_by_action",
    "unseen_multiset_success",
    "verdict_shares",
]


@dataclass(frozen=True)
class MetricValue:
    """One metric estimate: its value, standard error and sample count.

    Args:
        value (`float`):
            The estimate (a proportion in [0, 1] for rates).
        stderr (`float` or `None`):
            Standard error of `value`; `None` when it cannot be estimated (no samples).
        n (`int`):
            Number of samples the estimate is based on (episodes, or graded tries for `step_accuracy`).
    """

    value: float
    stderr: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        """Return the `{"value", "stderr", "n"}` mapping stored in results files."""
        return {"value": self.value, "stderr": self.stderr, "n": self.n}


@dataclass(frozen=True)
class EpisodeRecord:
    """What evaluation keeps of one episode.

    Args:
        success (`bool`):
            Whether the episode was solved (GP: a correct formula; V-IRL: the route was completed).
        turns (`int`):
            Number of model turns the episode used (≥ 1). For GeneralPoints these are its graded tries; for V-IRL
            they span every position of the route.
        rewards (`Sequence[float]`, *optional*):
            Reward of every graded try, in order.
        recognized_correctly (`bool` or `None`, *optional*):
            GP-VL: whether the *first* answer listed the dealt cards correctly. `None` when not applicable.
        step_correct (`Sequence[bool]`, *optional*):
            V-IRL: whether each graded try (retries included) chose the expected action.
        numbers (`Sequence[int]` or `None`, *optional*):
            GP: the card values of the hand (after the face-card rule), used by [`unseen_multiset_success`].
        verdicts (`Sequence[str | None]`, *optional*):
            The verifier's verdict kind of every graded try (`info["verdict"]`), for [`verdict_shares`].
        numbers_rules (`Sequence[str | None]`, *optional*):
            GP: which face rule each try's numbers follow (`info["numbers_rule"]`), for [`face_rule_share`].
        graded_actions (`Sequence[str | None]`, *optional*):
            V-IRL: the expected action of every graded try (`info["graded_action"]`), for
            [`step_accuracy_by_action`].
    """

    success: bool
    turns: int
    rewards: Sequence[float] = field(default_factory=tuple)
    recognized_correctly: bool | None = None
    step_correct: Sequence[bool] = field(default_factory=tuple)
    numbers: Sequence[int] | None = None
    verdicts: Sequence[str | None] = field(default_factory=tuple)
    numbers_rules: Sequence[str | None] = field(default_factory=tuple)
    graded_actions: Sequence[str | None] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.turns, int) or self.turns < 1:
            raise ValueError(f"EpisodeRecord.turns must be an integer ≥ 1 (graded tries used), got {self.turns!r}.")
        if self.rewards and len(self.rewards) != self.turns:
            raise ValueError(
                f"EpisodeRecord.rewards has {len(self.rewards)} entries but turns={self.turns}; "
                "store one reward per graded try."
            )

    @classmethod
    def from_steps(cls, rewards: Sequence[float], infos: Sequence[Mapping[str, Any]]) -> EpisodeRecord:
        """Build a record from the rewards and `info` dicts that `env.step` returned, one per graded try.

        Reads the keys of the shared verifier contract (`sft_vs_rl.envs.verifier_env`): `success` of the last
        step, `recognized_correctly` of the first step (GP-VL), `step_correct` of every step (V-IRL) and `numbers`
        (GP).

        >>> infos = [{"success": False, "step_correct": False}, {"success": True, "step_correct": True}]
        >>> EpisodeRecord.from_steps([-1.0, 1.0], infos).step_correct
        (False, True)
        """
        if not infos or len(rewards) != len(infos):
            raise ValueError(
                f"from_steps needs one reward per step info and at least one step, got {len(rewards)} rewards and "
                f"{len(infos)} infos."
            )
        first, last = infos[0], infos[-1]
        step_correct = tuple(bool(info["step_correct"]) for info in infos if info.get("step_correct") is not None)
        recognized = first.get("recognized_correctly")
        numbers = first.get("numbers")
        graded = [info for info in infos if info.get("verdict") is not None]
        return cls(
            success=bool(last["success"]),
            turns=len(infos),
            rewards=tuple(float(r) for r in rewards),
            recognized_correctly=None if recognized is None else bool(recognized),
            step_correct=step_correct,
            numbers=None if numbers is None else tuple(int(x) for x in numbers),
            verdicts=tuple(info["verdict"] for info in graded),
            numbers_rules=tuple(info.get("numbers_rule") for info in graded),
            graded_actions=tuple(info.get("graded_action") for info in graded if "graded_action" in info),
        )


def binomial_stderr(p: float, n: int) -> float | None:
    """Standard error √(p(1−p)/N) of a proportion `p` estimated from `n` samples (paper App. C.3).

    Returns `None` when `n` is 0.

    >>> round(binomial_stderr(0.5, 100), 3)
    0.05
    """
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial_stderr needs 0 ≤ p ≤ 1 and n ≥ 0, got p={p!r}, n={n!r}.")
    if n == 0:
        return None
    return math.sqrt(p * (1.0 - p) / n)


def proportion(outcomes: Iterable[bool]) -> MetricValue:
    """Fraction of `True` outcomes with its binomial standard error. An empty input gives `value=nan, n=0`.

    >>> proportion([True, False, True, True])
    MetricValue(value=0.75, stderr=0.21650635094610965, n=4)
    """
    flags = [bool(x) for x in outcomes]
    if not flags:
        return MetricValue(value=math.nan, stderr=None, n=0)
    p = sum(flags) / len(flags)
    return MetricValue(value=p, stderr=binomial_stderr(p, len(flags)), n=len(flags))


def episode_success(records: Sequence[EpisodeRecord], verify_iterations: int | None = None) -> MetricValue:
    """Fraction of episodes solved within the verification budget.

    Args:
        records (`Sequence[EpisodeRecord]`):
            One record per finished episode.
        verify_iterations (`int`, *optional*):
            GeneralPoints budget of graded tries. An episode counts as solved only if it succeeded within its first
            `verify_iterations` tries, so a run evaluated with a budget of 10 can be re-scored for budgets 1–10.
            Defaults to the budget the episodes were run with. (V-IRL budgets are per position: leave it unset.)

    >>> recs = [EpisodeRecord(True, 1), EpisodeRecord(True, 3), EpisodeRecord(False, 5)]
    >>> episode_success(recs).value, episode_success(recs, verify_iterations=1).value
    (0.6666666666666666, 0.3333333333333333)
    """
    if verify_iterations is not None and verify_iterations < 1:
        raise ValueError(f"verify_iterations must be ≥ 1, got {verify_iterations!r}.")
    budget = math.inf if verify_iterations is None else verify_iterations
    return proportion(r.success and r.turns <= budget for r in records)


def recognition_accuracy(records: Sequence[EpisodeRecord]) -> MetricValue:
    """GP-VL card-recognition accuracy: fraction of episodes whose first answer lists the dealt cards correctly.

    The paper measures it with one try and verification off (`VITER=1`), so only the first answer counts. Episodes
    whose `recognized_correctly` is `None` (text tasks) are skipped; a set of records with none raises.

    >>> recognition_accuracy([EpisodeRecord(False, 1, recognized_correctly=True),
    ...                       EpisodeRecord(False, 1, recognized_correctly=False)]).value
    0.5
    """
    flags = [r.recognized_correctly for r in records if r.recognized_correctly is not None]
    if records and not flags:
        raise ValueError(
            "recognition_accuracy: no record has `recognized_correctly` set; it is defined for GP-VL episodes only "
            "(the environment's `info['recognized_correctly']`)."
        )
    return proportion(flags)


def step_accuracy(records: Sequence[EpisodeRecord]) -> MetricValue:
    """V-IRL per-step accuracy: correct graded tries over all graded tries.

    Retries count as independent samples (paper App. C.3: "intermediate verification steps are counted as
    independent samples"), so `n` is the number of graded tries, not of episodes.

    >>> step_accuracy([EpisodeRecord(True, 3, step_correct=[True, False, True]),
    ...                EpisodeRecord(False, 1, step_correct=[False])]).value
    0.5
    """
    flags = [flag for r in records for flag in r.step_correct]
    if records and not flags:
        raise ValueError(
            "step_accuracy: no record has `step_correct` entries; it is defined for V-IRL episodes only "
            "(the environment's `info['step_correct']`)."
        )
    return proportion(flags)


def _multiset(numbers: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(int(x) for x in numbers))


def unseen_multiset_success(
    records: Sequence[EpisodeRecord],
    train_multisets: Iterable[Sequence[int]],
    verify_iterations: int | None = None,
) -> MetricValue:
    """GP success restricted to episodes whose value multiset never occurs in the training set.

    Separates generalisation from memorisation: a hand whose four values (in any order) were seen in training can
    be solved by recall.

    Args:
        records (`Sequence[EpisodeRecord]`):
            GP episodes with `numbers` set.
        train_multisets (`Iterable[Sequence[int]]`):
            The value lists of the training hands (order does not matter).
        verify_iterations (`int`, *optional*):
            Verification budget, as in [`episode_success`].

    >>> recs = [EpisodeRecord(True, 1, numbers=[1, 2, 3, 4]), EpisodeRecord(False, 5, numbers=[6, 6, 6, 6])]
    >>> unseen_multiset_success(recs, train_multisets=[[4, 3, 2, 1]])
    MetricValue(value=0.0, stderr=0.0, n=1)
    """
    seen = {_multiset(m) for m in train_multisets}
    unseen = []
    for index, record in enumerate(records):
        if record.numbers is None:
            raise ValueError(
                f"unseen_multiset_success: records[{index}].numbers is None; GP records need the hand's values "
                "(the environment's `info['numbers']`)."
            )
        if _multiset(record.numbers) not in seen:
            unseen.append(record)
    return episode_success(unseen, verify_iterations=verify_iterations)


def mean_return(records: Sequence[EpisodeRecord]) -> MetricValue:
    """Mean episode return (sum of the graded tries' rewards) with the standard error of the mean.

    >>> mean_return([EpisodeRecord(True, 1, rewards=[5.0]), EpisodeRecord(True, 2, rewards=[-1.0, 5.0])]).value
    4.5
    """
    returns = [float(sum(r.rewards)) for r in records]
    n = len(returns)
    if n == 0:
        return MetricValue(value=math.nan, stderr=None, n=0)
    mean = sum(returns) / n
    if n == 1:
        return MetricValue(value=mean, stderr=None, n=1)
    variance = sum((x - mean) ** 2 for x in returns) / (n - 1)
    return MetricValue(value=mean, stderr=math.sqrt(variance / n), n=n)




def verdict_shares(records: Sequence[EpisodeRecord], *, first_try_only: bool = True) -> dict[str, MetricValue]:
    """Share of tries per verifier verdict kind, keyed `verdict/<kind>`: a histogram of what went right and wrong.

    GeneralPoints counts each episode's first try (one independent sample per episode); V-IRL passes
    `first_try_only=False` and counts every graded try, as `step_accuracy` does. Records without verdicts are skipped.

    >>> shares = verdict_shares([EpisodeRecord(True, 1, verdicts=["correct"]),
    ...                          EpisodeRecord(False, 2, verdicts=["no_solution", "illegal_formula"])])
    >>> {k: v.value for k, v in shares.items()}
    {'verdict/correct': 0.5, 'verdict/no_solution': 0.5}
    """
    kinds = [v for r in records if r.verdicts for v in (r.verdicts[:1] if first_try_only else r.verdicts)]
    return {f"verdict/{kind}": proportion(k == kind for k in kinds) for kind in sorted(set(kinds), key=kinds.index)}


def face_rule_share(records: Sequence[EpisodeRecord], rule: str = "10") -> MetricValue:
    """Share of first answers, on hands with a J/Q/K, whose numbers follow face rule `rule`.

    Evaluated on the rule-OOD split (J/Q/K = 11/12/13) with `rule="10"`, it is the share of answers that still apply
    the ID rule: SFT's memorised rule shows up here, not only as a lower success rate.

    >>> face_rule_share([EpisodeRecord(False, 1, numbers_rules=["10"]), EpisodeRecord(True, 1, numbers_rules=["neither"]),
    ...                  EpisodeRecord(True, 1, numbers_rules=[None])]).value
    0.5
    """
    firsts = [r.numbers_rules[0] for r in records if r.numbers_rules and r.numbers_rules[0] is not None]
    return proportion(first == rule for first in firsts)


def _action_kind(action: str) -> tuple[str, str | None]:
    """(`"forward"` | `"stop"` | `"turn"` | `"other"`, the turn's direction or `None`)."""
    name, _, rest = action.partition("(")
    if name == "turn_direction":
        return "turn", rest.rstrip(")") or None
    return (name if name in ("forward", "stop") else "other"), None


def step_accuracy_by_action(records: Sequence[EpisodeRecord]) -> dict[str, MetricValue]:
    """V-IRL per-step accuracy split by the expected action: `step_accuracy/forward`, `/stop`, `/turn`, and
    `step_accuracy/turn_<direction>` for every direction word (absolute or relative vocabulary) that occurs.

    >>> recs = [EpisodeRecord(True, 2, step_correct=[True, True], graded_actions=["forward()", "stop()"]),
    ...         EpisodeRecord(False, 1, step_correct=[False], graded_actions=["turn_direction(left)"])]
    >>> {k: v.value for k, v in step_accuracy_by_action(recs).items()}
    {'step_accuracy/forward': 1.0, 'step_accuracy/stop': 1.0, 'step_accuracy/turn': 0.0, 'step_accuracy/turn_left': 0.0}
    """
    groups: dict[str, list[bool]] = {}
    for record in records:
        for action, correct in zip(record.graded_actions, record.step_correct):
            if action is None:
                continue
            kind, direction = _action_kind(action)
            groups.setdefault(f"step_accuracy/{kind}", []).append(correct)
            if direction:
                groups.setdefault(f"step_accuracy/turn_{direction}", []).append(correct)
    order = {"step_accuracy/forward": 0, "step_accuracy/stop": 1, "step_accuracy/turn": 2}
    return {key: proportion(groups[key]) for key in sorted(groups, key=lambda k: (order.get(k, 3), k))}


def compute_metrics(
    records: Sequence[EpisodeRecord],
    task: str,
    *,
    verify_iterations: int | None = None,
    train_multisets: Iterable[Sequence[int]] | None = None,
) -> dict[str, MetricValue]:
    """Every metric that applies to `task`, keyed by the names used in results files.

    Args:
        records (`Sequence[EpisodeRecord]`):
            The evaluated episodes.
        task (`str`):
            One of `"gp-l"`, `"gp-vl"`, `"virl-l"`, `"virl-vl"`.
        verify_iterations (`int`, *optional*):
            GeneralPoints verification budget for `success` (defaults to the budget the episodes ran with). Ignored
            for V-IRL, whose budget applies per position.
        train_multisets (`Iterable[Sequence[int]]`, *optional*):
            GP training value lists; when given, `unseen_success` is added.

    Returns:
        `dict[str, MetricValue]`: `success` and `mean_return` always; `recognition` for GP-VL when the records carry
        it; `unseen_success` for GP when `train_multisets` is given; `step_accuracy` for V-IRL; the diagnostic
        `verdict/<kind>`, `id_face_rule` (GP) and `step_accuracy/<action>` (V-IRL) when the records carry them.
    """
    info = get_task(task)
    gp = info.family == "gp"
    metrics = {
        "success": episode_success(records, verify_iterations=verify_iterations if gp else None),
        "mean_return": mean_return(records),
    }
    if gp:
        if info.visual and any(r.recognized_correctly is not None for r in records):
            metrics["recognition"] = recognition_accuracy(records)
        if train_multisets is not None:
            metrics["unseen_success"] = unseen_multiset_success(records, train_multisets, verify_iterations)
        if any(r.numbers_rules and r.numbers_rules[0] is not None for r in records):
            metrics["id_face_rule"] = face_rule_share(records, "10")
    else:
        metrics["step_accuracy"] = step_accuracy(records)
        metrics |= step_accuracy_by_action(records)
    metrics |= verdict_shares(records, first_try_only=gp)
    return metrics
