"""Text the tiny tokenizer is trained on: the library's own task text.

The default corpus gathers the module-level strings (and string-valued dicts) of the environment prompt modules
(`sft_vs_rl.envs.generalpoints.prompts`, `sft_vs_rl.envs.virl.prompts`), format fields removed, and adds
representative text: the paper's GeneralPoints and V-IRL prompt templates (taken from those modules;
reference/sftvsrl_spec.md §1.4, §2.5) filled with seeded random hands, formulas, instructions and observation
histories, the JSON answer formats, a compact prompt style, and the verifiers' feedback messages. The tokenizer is
byte-level, so text outside the corpus still encodes; the corpus only decides which strings get short encodings
(so any change to this text, or to those modules' strings, changes the tiny vocabulary; each is deterministic).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import random
import string
from collections.abc import Iterable
from functools import cache

from sft_vs_rl.envs.generalpoints import cards as gp_cards
from sft_vs_rl.envs.generalpoints import prompts as gp_prompts
from sft_vs_rl.envs.verifier_env import FAILURE_PREFIX
from sft_vs_rl.envs.virl import prompts as virl_prompts
from sft_vs_rl.envs.virl import verifier as virl_verifier

logger = logging.getLogger(__name__)

__all__ = ["ENV_PROMPT_MODULES", "corpus_fingerprint", "default_corpus"]

ENV_PROMPT_MODULES = ("sft_vs_rl.envs.generalpoints.prompts", "sft_vs_rl.envs.virl.prompts")
"""Modules whose module-level strings join the default corpus when they import."""

ENV_EPISODES = (("sft_vs_rl.envs.virl", "VIRLEnv", ({}, {"action_space": "relative"}, {"prompt_style": "compact"})),)
"""Environments (text mode, training city) whose first-turn prompts join the default corpus when they import.

V-IRL only: its prompts carry generated landmark names (V-IRL-L paper prompts: 490 → 427 tokens on average with
them). GeneralPoints prompts are fully covered by the templates (same token counts), and dealing a hand runs the
solver (~20 ms), so GP episodes are left out."""

RANKS = gp_cards.RANKS
FACE_CARD_MSGS = tuple(gp_cards.FACE_RULES.values())  # face rule "10", then "11-12-13"
ABSOLUTE_DIRECTIONS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")
RELATIVE_DIRECTIONS = ("left", "right", "slightly left", "slightly right")
LANDMARK_RELATIONS = ("left", "right", "left front", "right front", "left behind", "right behind")
LANDMARKS = (
    "Hotel 32One", "Korean War Memorial", "MoMA Design Store", "Aritzia", "Miller's Deli", "Blue Harbor Cafe",
    "Trattoria da Marco", "Farmacia San Luca", "The Fox & Anchor", "Patel Sweets", "Mama Ada Kitchen",
    "Golden Jewellery", "City Library", "Central Park", "Grand Hotel", "Subway Station", "Corner Bakery",
    "Riverside Museum", "St. Mary's Church", "Green Pharmacy", "Union Bank", "Sunrise Gym",
)

# The environment's paper templates (`Q_GeneralPoint_EQN_L` / `_VL`, reference/sftvsrl_spec.md §1.4), with the title's
# target fixed at 24 as the corpus always had it: the tiny tokenizer's vocabulary (and the studies built on it) depend
# on this exact text.
GP_L_TEMPLATE = gp_prompts._GP_L.replace("expert {target_number} points", "expert 24 points")
GP_VL_TEMPLATE = gp_prompts._GP_VL.replace("expert {target_number} points", "expert 24 points")

GP_COMPACT_PROMPT = "Rule: J,Q,K={rule}. Target: {target}. Cards: [{cards}]"
GP_COMPACT_RESPONSE = '{{"cards": [{cards}], "number": [{numbers}], "formula": "{formula}={target}"}}'

GP_FEEDBACK = (
    "Correct solution.",
    "partial solution.",
    "illegal characters.",
    "invalid sequence after number.",
    "invalid sequence after operator.",
    "invalid sequence before '('.",
    "unmatched closing parenthesis.",
    "invalid sequence after ')'.",
    "unknown token.",
    "you recognized wrong cards",
    "your formula does not match any solution.",
    "your formula is incorrect.",
    "step_limit_reached",
)

VIRL_L_TEMPLATE = virl_prompts.Q_VIRL_L  # verbatim `Q_VIRL_L` (reference/sftvsrl_spec.md §2.5)
# Kept here, not imported: the environment's `Q_VIRL_VL` puts [Observation format] before [Action space], this text
# after [Observations and actions sequence]; the tiny tokenizer's vocabulary depends on this exact text.
VIRL_VL_TEMPLATE = """
[Task Description]
You are an expert in navigation. You will receive a sequence of instructions to follow while observing your surrounding stree tviews. You
are also provided with your observation and action history in text. Your goal is to first analyze the instruction and identify the next sentence to be executed.\u0020
Then, you need to provide the action to be taken based on the current observation and instruction.

[Instruction]
{instruction}

[Action space]
{action_space}

[Observations and actions sequence]
{obs_act_seq}

[Observation format]
You observe a 2x2 grid of streetview images with the following headings:
[front, right
 back, left]
You need to identify if any of the landmarks in the instruction are visible in the street view grid.

[Output]
{{
  "current observation": latest observation from the street view grid,
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}}
"""

VIRL_FEEDBACK = (
    virl_verifier.CORRECT_ACTION,
    virl_verifier.INCORRECT_ACTION,
    virl_verifier.NOT_AT_INTERSECTION,
    virl_verifier.EXCEED_MAX_VERIFY,
)
# The chat template's system turn of every text-only prompt (Llama-3.2-Vision writes it only when there is no image).
SYSTEM_HEADER = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"


def _random_formula(rng: random.Random, numbers: list[int]) -> str:
    ops = "+-*/"
    parts = [str(n) for n in numbers]
    formula = parts[0]
    for part in parts[1:]:
        formula = f"{formula}{rng.choice(ops)}{part}"
        if rng.random() < 0.4:
            formula = f"({formula})"
    return formula


def _gp_texts(rng: random.Random, num_examples: int) -> list[str]:
    texts = []
    for i in range(num_examples):
        ranks = [rng.choice(RANKS) for _ in range(4)]
        face_rule = i % 2
        values = {"A": 1, "J": 10 + face_rule, "Q": 10 + 2 * face_rule, "K": 10 + 3 * face_rule}
        numbers = [values.get(r, 0) or int(r) for r in ranks]
        target = 24 if rng.random() < 0.6 else rng.randint(12, 36)
        formula = _random_formula(rng, rng.sample(numbers, 4))
        template = GP_L_TEMPLATE if i % 3 else GP_VL_TEMPLATE
        header = SYSTEM_HEADER if template is GP_L_TEMPLATE else ""
        prompt = template.format(face_card_msg=FACE_CARD_MSGS[face_rule], target_number=target, cards=ranks)
        texts.append(header + prompt)
        texts.append(gp_prompts.format_response(ranks, numbers, f"{formula}={target}"))
        plain = ", ".join(ranks)
        rule = "10" if face_rule == 0 else "11,12,13"
        texts.append(SYSTEM_HEADER + GP_COMPACT_PROMPT.format(rule=rule, target=target, cards=plain))
        texts.append(
            GP_COMPACT_RESPONSE.format(
                cards=plain, numbers=", ".join(map(str, numbers)), formula=formula, target=target
            )
        )
        if rng.random() < 0.5:
            feedback = rng.choice(GP_FEEDBACK)
            if rng.random() < 0.3:
                feedback = f"you used invalid numbers: [{rng.randint(1, 13)}], you didn't use numbers: [{numbers[0]}]."
            texts.append(FAILURE_PREFIX + feedback)
    return texts


def _virl_texts(rng: random.Random, num_examples: int) -> list[str]:
    texts = []
    for i in range(num_examples):
        relative = i % 2 == 1
        milestones = rng.randint(2, 6)
        sentences = []
        for k in range(milestones):
            rel, absolute = rng.choice(RELATIVE_DIRECTIONS), rng.choice(ABSOLUTE_DIRECTIONS)
            sentences.append(f"{'First, turn' if k == 0 else 'Turn'} {rel} to face {absolute}.")
            where = f"{rng.choice(LANDMARKS)} is on your {rng.choice(LANDMARK_RELATIONS)}"
            if k == milestones - 1:
                sentences.append(f"Move forward until you reach destination where The destination {where}.")
            elif rng.random() < 0.6:
                sentences.append(f"Move forward until you reach next intersection where {where}.")
            else:
                sentences.append("Move forward until you reach next intersection.")
        instruction = "".join(f"{n}. {s}\n" for n, s in enumerate(sentences, start=1))
        choices = RELATIVE_DIRECTIONS if relative else ABSOLUTE_DIRECTIONS
        action_space = virl_prompts.action_space_text("relative" if relative else "absolute")
        history, actions = [], []
        for step in range(1, rng.randint(2, 8)):
            roll = rng.random()
            if roll < 0.5:
                obs, action = "No landmarks nearby; ", "forward()"
            elif roll < 0.9:
                landmark = f"{rng.choice(LANDMARKS)} is on your {rng.choice(LANDMARK_RELATIONS)}"
                obs = f"{landmark}; You observe an intersection"
                action = f"turn_direction({rng.choice(choices)})"
            else:
                obs, action = f"The destination {rng.choice(LANDMARKS)} is on your left; ", "stop()"
            history.append(f"O_{step}: {obs}\nA_{step}: {action}\n")
            actions.append((obs, action))
        current = len(history) + 1
        visual = i % 3 == 0
        current_obs = "You observe an image of 4 views; " if visual else "No landmarks nearby; "
        obs_act_seq = "".join(history) + f"O_{current}: {current_obs}\nA_{current}: "
        template = VIRL_VL_TEMPLATE if visual else VIRL_L_TEMPLATE
        header = "" if visual else SYSTEM_HEADER
        texts.append(header + template.format(instruction=instruction, action_space=action_space, obs_act_seq=obs_act_seq))
        obs, action = actions[-1]
        # The paper's `ResponseVIRL` without its leading and trailing newline
        texts.append(virl_prompts.format_response(obs, rng.choice(sentences), action).strip("\n"))
        if rng.random() < 0.5:
            texts.append(FAILURE_PREFIX + rng.choice(VIRL_FEEDBACK))
    return texts


def _literal_text(value: str) -> str:
    # Drop `str.format` fields ("{cards}") and unescape "{{": the model never sees the placeholders.
    try:
        return "".join(literal for literal, *_ in string.Formatter().parse(value))
    except ValueError:  # not a format string (unbalanced braces): keep it as it is
        return value


def _env_module_texts(weight: int) -> list[str]:
    texts = []
    for name in ENV_PROMPT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # the environment package is optional for the tokenizer (byte-level anyway)
            logger.info("Tokenizer corpus: %s not importable (%s); using the built-in task text only.", name, err)
            continue
        for attr in sorted(vars(module)):
            value = getattr(module, attr)
            values = value.values() if isinstance(value, dict) else [value]
            if attr.startswith("__"):
                continue
            for text in values:
                if isinstance(text, str) and text.strip():
                    # Repeated so that the environments' own templates weigh as much as the built-in filled ones.
                    texts += [_literal_text(text)] * weight
    return texts


def _env_episode_texts(seed: int, num_episodes: int) -> list[str]:
    texts = []
    for module_name, class_name, settings in ENV_EPISODES:
        try:
            env_cls = getattr(importlib.import_module(module_name), class_name)
        except ImportError as err:
            logger.info("Tokenizer corpus: %s not importable (%s); using the built-in task text only.", module_name, err)
            continue
        for kwargs in settings:
            env = env_cls(**kwargs)
            for i in range(num_episodes):
                _, info = env.reset(seed=seed * 100_000 + i)
                for message in info["messages"]:
                    content = message["content"]
                    items = [{"type": "text", "text": content}] if isinstance(content, str) else content
                    texts += [item["text"] for item in items if item.get("type") == "text"]
    return texts


@cache
def _default_corpus(seed: int, num_examples: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    static = [*RANKS, *FACE_CARD_MSGS, *ABSOLUTE_DIRECTIONS, *RELATIVE_DIRECTIONS, *GP_FEEDBACK, *VIRL_FEEDBACK]
    static += ["0123456789", "+ - * / ( ) = [ ] { } , : ' \"", " ".join(str(n) for n in range(100))]
    texts = _env_module_texts(max(1, num_examples // 4)) + _env_episode_texts(seed, max(1, num_examples // 8)) + static
    return tuple(texts + _gp_texts(rng, num_examples) + _virl_texts(rng, num_examples))


def default_corpus(seed: int = 0, num_examples: int = 400) -> list[str]:
    """Return the default tokenizer training text: the library's task text, deterministic for a seed.

    It holds the environments' template strings and the first turns of seeded `VIRLEnv` episodes (text mode,
    training city, both action spaces, both prompt styles) when those packages import, plus the built-in filled
    templates, answers and feedback messages of this module. Cached per arguments.

    Args:
        seed (`int`, *optional*, defaults to `0`):
            Seed of the `random.Random` that fills the built-in templates and of the environment episodes.
        num_examples (`int`, *optional*, defaults to `400`):
            Filled built-in examples per task (each gives a prompt, an answer, the compact style, sometimes
            feedback); `num_examples // 8` V-IRL episodes per setting.

    Returns:
        `list[str]`: the texts, in a fixed order.

    Example:

    ```python
    >>> texts = default_corpus(num_examples=2)
    >>> any("[Task Description]" in t for t in texts)
    True

    ```
    """
    if not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"`num_examples` must be a positive int, got {num_examples!r}.")
    return list(_default_corpus(seed, num_examples))


def corpus_fingerprint(texts: Iterable[str]) -> str:
    """Return a sha256 hex digest of a sequence of texts (order and boundaries included).

    >>> corpus_fingerprint(["a", "b"]) == corpus_fingerprint(["ab"])
    False
    """
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()
