"""The study's corpus, answers and held-out hands."""

import itertools

import pytest

from sft_vs_rl.envs.generalpoints import RANKS, GeneralPointsEnv, card_values, is_heldout_hand, solve
from sft_vs_rl.study.corpus import (
    HELDOUT_FRACTION,
    canonical_solution,
    gp_answer,
    gp_corpus,
    heldout_multiset,
    scratchpad,
    seen_multisets,
    virl_corpus,
)


def test_heldout_matches_the_builder():
    # The builder's train splits (heldout_fraction=0.1) must never deal a hand the study holds out.
    for ranks in itertools.islice(itertools.product(RANKS, repeat=4), 0, 3000, 7):
        assert heldout_multiset(card_values(ranks, "10")) == is_heldout_hand(list(ranks), HELDOUT_FRACTION)


def test_seen_multisets_excludes_about_ten_percent():
    seen = seen_multisets()
    assert 0.85 < len(seen) / 1820 < 0.95
    assert all(not heldout_multiset(ms) for ms in seen)


@pytest.mark.parametrize(
    "values, target",
    [
        ((3, 3, 8, 8), 24),  # needs a fraction
        ((1, 2, 3, 4), 24),  # many solutions: the shortest
        ((10, 10, 4, 4), 24),
        ((1, 5, 11, 13), 30),  # a non-24 target of the corpus
    ],
)
def test_canonical_solution_is_a_solution(values, target):
    formula = canonical_solution(values, target)
    assert formula in solve(list(values), target)
    assert len(formula) == min(len(s) for s in solve(list(values), target))


def test_canonical_solution_none_when_unsolvable():
    assert canonical_solution((1, 1, 1, 1), 24) is None


@pytest.mark.parametrize("answer_format", ["paper", "steps"])
def test_answers_are_graded_correct(answer_format):
    # Oracle round trip: the study's SFT answer earns the top reward from the environment's own verifier.
    env = GeneralPointsEnv(prompt_style="compact")
    for seed in range(20):
        _, info = env.reset(seed=seed)
        formula = canonical_solution(info["numbers"], 24)
        answer = gp_answer(info["ranks"], info["numbers"], formula, 24, answer_format)
        assert env.step(answer)[1] == 5.0


def test_scratchpad_lists_intermediate_results():
    assert scratchpad("(10-4)*4") == "10-4=6, 6*4=24"
    assert scratchpad("1+2+3") == "1+2=3, 3+3=6"


def test_gp_corpus_is_rule_varied_and_holds_out_hands():
    corpus = gp_corpus(300, seed=1, retry_fraction=0.3)
    assert len(corpus) == 300
    prompts = [conv[0]["content"][0]["text"] for conv in corpus]
    assert any("J Q K = 10" in p for p in prompts) and any("J=11 Q=12 K=13" in p for p in prompts)
    assert any("Make 24 " in p for p in prompts) and any("Make 24 " not in p for p in prompts)
    retries = [conv for conv in corpus if len(conv) == 4]
    assert retries and all(c[2]["content"][0]["text"].startswith("You failed this trial because") for c in retries)
    for conv in corpus:
        answer = conv[-1]["content"][0]["text"]
        numbers = [int(x) for x in answer.split('"number": [')[1].split("]")[0].split(",")]
        assert not heldout_multiset(numbers)
    assert gp_corpus(20, seed=1) == gp_corpus(20, seed=1)


def test_virl_corpus_uses_both_action_spaces_and_many_cities():
    corpus = virl_corpus(40, seed=0, retry_fraction=0.3)
    prompts = [conv[0]["content"][0]["text"] for conv in corpus]
    assert any("northeast" in p.split("Actions:")[1] for p in prompts)
    assert any("slightly left" in p.split("Actions:")[1] for p in prompts)
    assert any(len(conv) > 2 for conv in corpus)
    assert all(conv[-1]["role"] == "assistant" and '"action"' in conv[-1]["content"][0]["text"] for conv in corpus)
