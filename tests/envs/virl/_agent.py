"""A rule-based V-IRL agent that reads only the prompt text (instruction and O/A history), used by the tests."""

from __future__ import annotations

import re

from sft_vs_rl.envs.virl import format_response

_TURN = re.compile(r"^\d+\. (?:First, turn|Turn) (left|right|slightly left|slightly right) to face (\w+)\.$")
_SENTENCE = re.compile(r"^(\d+)\. (.*)$")


def read_prompt(text: str) -> tuple[list[str], list[tuple[str, str]], str]:
    """Return (numbered instruction lines, past (obs, action) pairs, current observation) from a prompt."""
    if "[Instruction]\n" in text:
        instruction = text.split("[Instruction]\n", 1)[1].split("\n\n[", 1)[0]
        history = text.split("[Observations and actions sequence]\n", 1)[1].split("\n\n[Output]", 1)[0]
    else:  # compact style
        instruction = text.split("Instruction:\n", 1)[1].split("Actions:", 1)[0]
        history = text.split("History:\n", 1)[1].split("Reply in JSON", 1)[0]
    lines = [ln for ln in instruction.split("\n") if _SENTENCE.match(ln)]
    obs = re.findall(r"^O_\d+: (.*)$", history, flags=re.M)
    acts = re.findall(r"^A_\d+: (.*)$", history, flags=re.M)
    past = list(zip(obs[:-1], acts[:-1]))
    return lines, past, obs[-1]


def act(text: str, action_space: str) -> str:
    """Answer like a perfect model: pick the action from the instruction, the history and the current observation."""
    lines, past, current = read_prompt(text)
    turns = [(m.group(1), m.group(2), ln) for ln in lines if (m := _TURN.match(ln))]
    done = sum(a.startswith("turn_direction(") for _, a in past)
    if done == 0 or "You observe an intersection" in current:
        rel, absolute, sentence = turns[done]
        action = f"turn_direction({absolute if action_space == 'absolute' else rel})"
    elif current.startswith("The destination "):
        action, sentence = "stop()", lines[-1]
    else:
        action, sentence = "forward()", lines[2 * done - 1]
    return format_response(current, _SENTENCE.match(sentence).group(2), action)
