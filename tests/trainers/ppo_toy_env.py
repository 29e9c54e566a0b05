"""A trivially learnable verifier environment following the contract of `sft_vs_rl.envs.verifier_env`.

The model must write a target string (default `"4"`); each try is graded (+1 and the episode ends, or -1 and the
verifier's feedback becomes a new user turn) until `verify_iterations` tries are used (then truncation). Used by the
trainer tests and the rollout benchmark until they run on the real tasks.
"""

from __future__ import annotations

import gymnasium as gym

from sft_vs_rl.envs.verifier_env import MAX_RESPONSE_CHARS, retry_turns, text_space, user_turn


class TargetWordEnv(gym.Env):
    """Reward +1 when the response contains `target`, else -1 and a retry turn; `verify_iterations` tries."""

    metadata = {"render_modes": []}
    action_key = "answer"

    def __init__(self, verify_iterations: int = 2, visual: bool = False, image_size: int = 32):
        self.verify_iterations = verify_iterations
        self.visual = visual
        self.image_size = image_size
        self.observation_space = text_space()
        self.action_space = text_space()

    def _info(self, success: bool, feedback: str):
        return {
            "messages": [dict(m) for m in self.messages],
            "images": list(self.images),
            "success": success,
            "feedback": feedback,
            "verify_iteration": self.tries,
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.target = (options or {}).get("target", "4")
        self.tries = 0
        self.images = []
        if self.visual:
            from PIL import Image

            shade = int(self.np_random.integers(0, 255))
            self.images = [Image.new("RGB", (self.image_size, self.image_size), (shade, 128, 64))]
        self.messages = [user_turn(f"Write {self.target}.", num_images=len(self.images))]
        return self.messages[-1]["content"][-1]["text"], self._info(False, "")

    def step(self, action: str):
        response = action[:MAX_RESPONSE_CHARS]
        self.tries += 1
        success = self.target in response
        feedback = "Correct." if success else f"you did not write {self.target}."
        terminated = success
        truncated = not success and self.tries >= self.verify_iterations
        if not (terminated or truncated):
            self.messages = self.messages + retry_turns(response, feedback)
        obs = self.messages[-1]["content"][-1]["text"]
        return obs, 1.0 if success else -1.0, terminated, truncated, self._info(success, feedback)
