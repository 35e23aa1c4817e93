"""`SB3VecEnv`: a `MusicRecVectorEnv` as a Stable-Baselines3 `VecEnv`.

Stable-Baselines3 rejects Gymnasium vector envs and expects the same-step autoreset of its own
`VecEnv`s. This adapter runs the vector env in `AutoresetMode.SAME_STEP` and translates its
outputs: `dones`, and per session an info dict with `terminal_observation`,
`TimeLimit.truncated` and `effective_action` (the played tracks' vectors, which
`agents.algorithms` stores in the replay buffer instead of the proto-vectors):

    from stable_baselines3 import DDPG
    venv = SB3VecEnv(MusicRecVectorEnv(num_envs=8))   # or SB3VecEnv.make(8, data=...)
    model = DDPG("MlpPolicy", venv)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from musicgym.envs.vector import MusicRecVectorEnv


class SB3VecEnv(VecEnv):
    """Stable-Baselines3 `VecEnv` over a `MusicRecVectorEnv` (same-step autoreset).

    :param env: the vector env; one in next-step mode is rebuilt in same-step mode with the
        same config (its parts are cached, so this costs nothing)
    """

    def __init__(self, env: MusicRecVectorEnv) -> None:
        if env.metadata["autoreset_mode"] != AutoresetMode.SAME_STEP:
            env = MusicRecVectorEnv(env.num_envs, AutoresetMode.SAME_STEP,
                                    **vars(env.config))
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None

    @classmethod
    def make(cls, num_envs: int, **kwargs: Any) -> SB3VecEnv:
        """An adapter over a new `MusicRecVectorEnv(num_envs, **kwargs)`."""
        return cls(MusicRecVectorEnv(num_envs, AutoresetMode.SAME_STEP, **kwargs))

    def reset(self) -> np.ndarray:
        """Reset every session (seeded by the last `seed()` call, if any)."""
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions for `step_wait`."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every session; the ones that ended are reset in the same call."""
        obs, reward, terminated, truncated, info = self.env.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"effective_action": played}
                                       for played in info["played_vectors"]]
        for i in np.flatnonzero(dones):
            infos[i] |= {"terminal_observation": info["final_obs"][i],
                         "TimeLimit.truncated": bool(truncated[i] and not terminated[i])}
        return obs, reward.astype(np.float32), dones, infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        """Seed the next reset."""
        self._seed = seed
        return [seed] * self.num_envs

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """An attribute of the underlying env (None where it has none), once per sub-env."""
        return [getattr(self.env, attr_name, None)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute of the underlying env."""
        setattr(self.env, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None,
                   **kwargs: Any) -> list[Any]:
        """Call a method of the underlying env, once per sub-env."""
        return [getattr(self.env, method_name)(*args, **kwargs)
                for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """No sub-env is wrapped."""
        return [False] * len(self._get_indices(indices))
