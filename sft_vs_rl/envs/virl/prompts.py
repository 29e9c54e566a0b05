"""Prompt templates, action-space texts and the response format of V-IRL, verbatim from SFTvsRL
(`prompt_lib/prompts.py`, `utils_rl.set_str_action_space`), plus a compact style for tiny CPU models.

The paper templates keep the original's quirks on purpose (reference/virl_spec.md §1.11, quirks 5-6): the line
break after "You", the trailing space after "executed.", the "stree tviews" typo and the trailing commas of the output
schema. The released checkpoints were trained on these exact strings.
"""

from __future__ import annotations

__all__ = [
    "ACTION_SPACE_ABSOLUTE",
    "ACTION_SPACE_RELATIVE",
    "Q_VIRL_L",
    "Q_VIRL_VL",
    "RESPONSE_VIRL",
    "format_prompt",
    "format_response",
]

Q_VIRL_L = """
[Task Description]
You are an expert in navigation. You will receive a sequence of instructions to follow. You
are also provided with your observation and action history in text. Your goal is to first analyze the instruction and identify the next sentence to be executed. 
Then, you need to provide the action to be taken based on the current observation and instruction.

[Instruction]
{instruction}

[Action space]
{action_space}

[Observations and actions sequence]
{obs_act_seq}

[Output]
{{
  "current observation": latest observation from the observation sequence,
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}}
"""  # noqa: W291

Q_VIRL_VL = """
[Task Description]
You are an expert in navigation. You will receive a sequence of instructions to follow while observing your surrounding stree tviews. You
are also provided with your observation and action history in text. Your goal is to first analyze the instruction and identify the next sentence to be executed. 
Then, you need to provide the action to be taken based on the current observation and instruction.

[Instruction]
{instruction}

[Observation format]
You observe a 2x2 grid of streetview images with the following headings:
[front, right
 back, left]
You need to identify if any of the landmarks in the instruction are visible in the street view grid.

[Action space]
{action_space}

[Observations and actions sequence]
{obs_act_seq}

[Output]
{{
  "current observation": latest observation from the street view grid,
  "current instruction": analyze the full instruction and identify the sentence to be executed,
  "action": the action to be taken chosen from the action space,
}}
"""  # noqa: W291

RESPONSE_VIRL = """
{{
  "current observation": "{current_observation}",
  "current instruction": "{current_instruction}",
  "action": "{action}",
}}
"""

ACTION_SPACE_ABSOLUTE = """"forward()": indicates moving forward one step
"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be any following 8 directions ['north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', 'northwest']
"stop()": indicates the navigation is finished."""

ACTION_SPACE_RELATIVE = """"forward()": indicates moving forward one step
"turn_direction(x)": indicates adjust the ego agent direction towards x direction. x could be any following ['left', 'right', 'slightly left', 'slightly right']
"stop()": indicates the navigation is finished."""

_COMPACT = """Follow the route.
Instruction:
{instruction}Actions: forward(), stop(), turn_direction(x) with x in {choices}{views}
History:
{obs_act_seq}Reply in JSON with keys "current observation", "current instruction", "action"."""

_COMPACT_VIEWS = "\nImage: 2x2 street views [front, right / back, left]"
_COMPACT_CHOICES = {
    "absolute": "north, northeast, east, southeast, south, southwest, west, northwest",
    "relative": "left, right, slightly left, slightly right",
}


def action_space_text(action_space: str) -> str:
    """The `[Action space]` block for `"absolute"` or `"relative"` actions."""
    return ACTION_SPACE_ABSOLUTE if action_space == "absolute" else ACTION_SPACE_RELATIVE


def format_prompt(
    instruction: str, obs_act_seq: str, action_space: str = "absolute", visual: bool = False, style: str = "paper"
) -> str:
    """Render the user prompt of one step.

    Args:
        instruction (`str`): The numbered instruction (`Episode.instruction`).
        obs_act_seq (`str`): The `O_i` / `A_i` history (`observe.observation_action_sequence`).
        action_space (`str`, *optional*, defaults to `"absolute"`): `"absolute"` or `"relative"`.
        visual (`bool`, *optional*, defaults to `False`): V-IRL-VL template.
        style (`str`, *optional*, defaults to `"paper"`): `"paper"` (verbatim `Q_VIRL_L` / `Q_VIRL_VL`) or
            `"compact"` (the same information in a few short lines).
    """
    if style == "paper":
        template = Q_VIRL_VL if visual else Q_VIRL_L
        return template.format(
            instruction=instruction, action_space=action_space_text(action_space), obs_act_seq=obs_act_seq
        )
    return _COMPACT.format(
        instruction=instruction,
        choices=_COMPACT_CHOICES[action_space],
        views=_COMPACT_VIEWS if visual else "",
        obs_act_seq=obs_act_seq,
    )


def format_response(observation: str, instruction: str, action: str) -> str:
    """The paper's `ResponseVIRL` answer (the SFT target: oracle observation, current sentence, expected action).

    >>> print(format_response("No landmarks nearby; ", "First, turn left to face north.", "turn_direction(north)"))
    <BLANKLINE>
    {
      "current observation": "No landmarks nearby; ",
      "current instruction": "First, turn left to face north.",
      "action": "turn_direction(north)",
    }
    <BLANKLINE>
    """
    return RESPONSE_VIRL.format(current_observation=observation, current_instruction=instruction, action=action)
