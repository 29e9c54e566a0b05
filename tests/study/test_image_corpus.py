"""The GP-VL image corpus of the tiny base (`sft_vs_rl.study.image_corpus`)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from sft_vs_rl.envs.generalpoints import GeneralPointsEnv, card_values, has_answer_format
from sft_vs_rl.envs.generalpoints.cards import SUIT_COLOURS
from sft_vs_rl.envs.generalpoints.render import render_hand
from sft_vs_rl.study.corpus import heldout_multiset
from sft_vs_rl.study.image_corpus import READING_PROMPT, gp_image_corpus, reading_answer


@pytest.fixture(scope="module")
def rows():
    return gp_image_corpus(400, seed=3, retry_fraction=0.3, reading_fraction=0.25, canvas_size=64)


def _ranks(answer: str) -> list[str]:
    return re.findall(r"'(\w+)'", answer.split('"cards":')[1].split("]")[0])


def test_rows_pair_one_image_with_one_image_item(rows):
    assert len(rows["messages"]) == len(rows["images"]) == 400
    for conversation, images in zip(rows["messages"], rows["images"]):
        items = [item for m in conversation for item in m["content"] if item["type"] == "image"]
        assert len(items) == len(images) == 1 and conversation[0]["content"][0] == {"type": "image"}
        assert images[0].size == (64, 64) and conversation[-1]["role"] == "assistant"


def test_both_suit_colours_reading_and_answers_under_both_rules(rows):
    prompts = [c[0]["content"][1]["text"] for c in rows["messages"]]
    reading = [p == READING_PROMPT for p in prompts]
    assert 0.15 < np.mean(reading) < 0.35
    answers = [c[-1]["content"][0]["text"] for c, r in zip(rows["messages"], reading) if not r]
    assert all(has_answer_format(a) for a in answers)
    rules = {"J Q K = 10" in p for p, r in zip(prompts, reading) if not r}
    assert rules == {True, False}
    assert any(len(c) > 2 for c in rows["messages"])  # retries with the verifier's feedback
    # Red and black pixels: the card images are drawn in both colours (the base must see red suits too).
    reds = [np.asarray(img[0]).astype(int) for img in rows["images"][:60]]
    red_share = np.mean([((a[..., 0] > 150) & (a[..., 1] < 90)).sum() > 10 for a in reds])
    assert 0.25 < red_share < 0.75


def test_images_are_the_environments_renders_and_held_out_hands_stay_out(rows):
    for conversation, images in zip(rows["messages"][:40], rows["images"][:40]):
        prompt, answer = conversation[0]["content"][1]["text"], conversation[-1]["content"][0]["text"]
        ranks = _ranks(answer)
        rule = "11-12-13" if "J=11" in prompt else "10"  # reading examples: values under the ID rule
        assert not heldout_multiset(card_values(ranks, rule))
        # One suit of one colour per card: some such assignment renders exactly this image.
        renders = (np.asarray(render_hand(ranks, list(suits), 64))
                   for colour in ("black", "red") for suits in itertools.product(SUIT_COLOURS[colour], repeat=4))
        assert any(np.array_equal(r, np.asarray(images[0])) for r in renders)
    env = GeneralPointsEnv(visual=True, canvas_size=64)
    _, info = env.reset(seed=0, options={"ranks": ["A", "2", "3", "4"], "suits": ["H"] * 4})
    assert np.array_equal(np.asarray(info["images"][0]), np.asarray(render_hand(["A", "2", "3", "4"], ["H"] * 4, 64)))


def test_reading_answer_is_the_cards_field_and_the_corpus_is_deterministic():
    assert _ranks(reading_answer(["A", "10", "K", "5"])) == ["A", "10", "K", "5"]
    a, b = gp_image_corpus(20, seed=1), gp_image_corpus(20, seed=1)
    assert a["messages"] == b["messages"]
    assert all(np.array_equal(np.asarray(x[0]), np.asarray(y[0])) for x, y in zip(a["images"], b["images"]))
    with pytest.raises(ValueError, match="suit_colours holds 'green'"):
        gp_image_corpus(2, suit_colours=("green",))
    assert set(SUIT_COLOURS) >= {"black", "red"}
