"""The study's image corpus: GP-VL conversations whose cards are shown in an image, for pretraining a tiny VLM base.

A pretrained VLM reads cards in any colour; a tiny one must learn to. So, beside the rule-varied answers of the text
corpus (`sft_vs_rl.study.corpus.gp_corpus`: both face rules, targets 12-36, held-out multisets skipped), the image
corpus

* draws every hand in *both* suit colours (black, the training colour, and red, the visual-OOD colour), so the base
  carries a latent skill on red cards that Init and both arms (black only) can keep or lose, as Llama does;
* holds card-reading examples (`reading_fraction`): the image and a short question, answered with the `cards` field
  alone, on any hand (solvable or not), so reading is learnt on more hands than the answers cover.

Each example is a row `{"messages": [...], "images": [PIL.Image]}` (TRL's conversational vision format; the image
item sits in the first user turn). Prompts and feedback come from the environment's own functions, images from its
renderer (`render_hand`, cached card faces), so the base sees exactly what the environment shows.
"""

from __future__ import annotations

import random
from typing import Any

from sft_vs_rl.envs.generalpoints import card_values
from sft_vs_rl.envs.generalpoints.cards import SUIT_COLOURS
from sft_vs_rl.envs.generalpoints.prompts import format_prompt
from sft_vs_rl.envs.generalpoints.render import render_hand
from sft_vs_rl.envs.verifier_env import assistant_turn, user_turn
from sft_vs_rl.study.corpus import (
    GP_TARGETS,
    HELDOUT_FRACTION,
    _deal,
    _wrong_gp_answer,
    canonical_solution,
    gp_answer,
    heldout_multiset,
)

__all__ = ["CORPUS_SUIT_COLOURS", "READING_PROMPT", "gp_image_corpus", "reading_answer"]

CORPUS_SUIT_COLOURS = ("black", "red")
"""Suit colours of the image corpus: the training colour and the visual-OOD one, half of the examples each."""

READING_PROMPT = 'Read the four cards in the image.\nAnswer: {"cards": [...]}\n'
"""The question of a card-reading example (the answer is the `cards` field of a GeneralPoints answer)."""


def reading_answer(ranks: list[str]) -> str:
    """The answer of a card-reading example: the `cards` field as the GeneralPoints answer writes it.

    >>> print(reading_answer(["A", "10", "K", "5"]))
    <BLANKLINE>
    {
      "cards": ['A', '10', 'K', '5'],
    }
    """
    return f"\n{{\n  \"cards\": {ranks},\n}}"


def gp_image_corpus(
    size: int,
    seed: int = 0,
    *,
    prompt_style: str = "compact",
    answer_format: str = "paper",
    retry_fraction: float = 0.2,
    reading_fraction: float = 0.25,
    canvas_size: int = 64,
    suit_colours: tuple[str, ...] = CORPUS_SUIT_COLOURS,
    heldout_fraction: float = HELDOUT_FRACTION,
) -> dict[str, list[Any]]:
    """Rule- and colour-varied GP-VL examples for pretraining a tiny VLM base: columns `messages` and `images`.

    Each example draws a suit colour (uniform over `suit_colours`), 4 distinct ranks and their suits of that colour.
    With probability `reading_fraction` it is a card-reading example; otherwise it draws a rule (J/Q/K = 10 or
    11/12/13) and a target as `gp_corpus` does, keeps the hand only if solvable, and answers with the canonical
    solution (a `retry_fraction` of them after a failed try and the verifier's feedback). Held-out value multisets
    are skipped as in `gp_corpus` (under the example's rule; the ID rule for reading examples), so the hands of
    `unseen_success` stay unseen.

    >>> rows = gp_image_corpus(4, seed=0)
    >>> sorted(rows), rows["images"][0][0].size
    (['images', 'messages'], (64, 64))
    """
    from sft_vs_rl.envs.generalpoints import GeneralPointsEnv

    for colour in suit_colours:
        if colour not in SUIT_COLOURS:
            raise ValueError(f"suit_colours holds {colour!r}; valid colours are {list(SUIT_COLOURS)}.")
    rng = random.Random(seed)
    envs: dict[tuple[str, int], GeneralPointsEnv] = {}
    rows: dict[str, list[Any]] = {"messages": [], "images": []}
    while len(rows["messages"]) < size:
        colour = rng.choice(suit_colours)
        suits = [rng.choice(SUIT_COLOURS[colour]) for _ in range(4)]
        ranks = _deal(rng)
        if rng.random() < reading_fraction:
            if heldout_multiset(card_values(ranks, "10"), heldout_fraction):
                continue
            rows["messages"].append([user_turn(READING_PROMPT, num_images=1), assistant_turn(reading_answer(ranks))])
            rows["images"].append([render_hand(ranks, suits, canvas_size)])
            continue
        rule = "10" if rng.random() < 0.5 else "11-12-13"
        target = 24 if rng.random() < 0.5 else rng.choice(GP_TARGETS)
        numbers = card_values(ranks, rule)
        if heldout_multiset(numbers, heldout_fraction):
            continue
        formula = canonical_solution(tuple(sorted(numbers)), target)
        if formula is None:
            continue
        answer = gp_answer(ranks, numbers, formula, target, answer_format)
        messages = [user_turn(format_prompt(None, rule, target, visual=True, prompt_style=prompt_style),
                              num_images=1)]
        if rng.random() < retry_fraction:
            key = (rule, target)
            if key not in envs:
                envs[key] = GeneralPointsEnv(face_rule=rule, target=target, prompt_style=prompt_style, visual=True,
                                             canvas_size=canvas_size, require_face_card=False)
            env = envs[key]
            env.reset(seed=0, options={"ranks": ranks, "suits": suits})
            wrong = _wrong_gp_answer(rng, ranks, numbers, rule, target, answer_format)
            _, _, terminated, truncated, info = env.step(wrong)
            if not (terminated or truncated):
                messages = info["messages"]
        rows["messages"].append([*messages, assistant_turn(answer)])
        rows["images"].append([render_hand(ranks, suits, canvas_size)])
    return rows
