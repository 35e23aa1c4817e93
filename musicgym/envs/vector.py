"""`MusicRecVectorEnv`: N sessions stepped with array operations, and an SB3 adapter.

`gym.make_vec("MusicRec-v0", num_envs=N, vectorization_mode="vector_entry_point")` builds the
native vector env: one `SessionBatch` of N sessions, no Python loop over envs. It autoresets in
Gymnasium's default next-step mode: the step after a session ends resets it (its action is
ignored, its reward is 0).

Stable-Baselines3 rejects Gymnasium vector envs; `SB3VecEnv(vector_env)` adapts one to SB3's
`VecEnv` (same-step reset, `terminal_observation` and `TimeLimit.truncated` in the infos):

    from stable_baselines3 import DDPG
    venv = SB3VecEnv(MusicRecVectorEnv(num_envs=8))
    model = DDPG("MlpPolicy", venv)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.music_rec import check_action
from musicgym.envs.sessions import SessionBatch


class MusicRecVectorEnv(VectorEnv):
    """N simulated sessions of `MusicRec-v0` advanced together."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs ({num_envs}) must be at least 1")
        self.config = EnvConfig(**kwargs)
        self.bundle = load_bundle(self.config)
        self.num_envs = num_envs
        self.sessions = SessionBatch(self.bundle, self.config, num_envs)
        self.layout = self.sessions.layout
        self.dim = self.layout.dim
        k = self.config.slate_size
        self.single_action_space = spaces.Box(-1.0, 1.0, (k * self.dim,), np.float32)
        self.single_observation_space = spaces.Box(-1.0, 1.05, (self.layout.size,), np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start N new sessions."""
        super().reset(seed=seed, options=options)
        self.sessions.reset(np.arange(self.num_envs), self.np_random)
        self._autoreset[:] = False
        return self.sessions.observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray, dict[str, Any]]:
        """Step every session; sessions that ended on the previous step are reset instead."""
        protos = check_action(actions, self.action_space.shape)
        protos = protos.reshape(self.num_envs, self.config.slate_size, self.dim)
        resetting = self._autoreset.copy()
        if resetting.any():
            self.sessions.reset(np.flatnonzero(resetting), self.np_random)
        out = self.sessions.step(protos, self.np_random, active=~resetting)
        truncated = self.sessions.done & ~resetting
        self._autoreset = truncated
        stepped = ~resetting
        infos = {"tracks": self.bundle.track_ids[out["tracks"]], "_tracks": stepped,
                 "outcomes": out["outcomes"], "_outcomes": stepped,
                 "distances": out["distances"], "_distances": stepped}
        return (self.sessions.observation(), out["reward"], np.zeros(self.num_envs, bool),
                truncated, infos)


class SB3VecEnv(VecEnv):
    """Stable-Baselines3 `VecEnv` over a `MusicRecVectorEnv` (same-step autoreset)."""

    def __init__(self, env: MusicRecVectorEnv) -> None:
        self.env = env
        super().__init__(env.num_envs, env.single_observation_space, env.single_action_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None

    def reset(self) -> np.ndarray:
        """Reset every session (seeded by the last `seed()` call, if any)."""
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions for `step_wait`."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every session and reset the ones that ended, in the same call."""
        env, sessions = self.env, self.env.sessions
        protos = check_action(self._actions, env.action_space.shape)
        out = sessions.step(protos.reshape(env.num_envs, -1, env.dim), env.np_random)
        obs = sessions.observation()
        dones = sessions.done.copy()
        # the played tracks' vectors: algorithms in agents/algorithms.py learn from these
        effective = env.bundle.vectors[out["tracks"]].reshape(env.num_envs, -1)
        infos: list[dict[str, Any]] = [{"effective_action": effective[i]}
                                       for i in range(env.num_envs)]
        ended = np.flatnonzero(dones)
        for i in ended:
            infos[i] |= {"terminal_observation": obs[i], "TimeLimit.truncated": True}
        if len(ended):
            sessions.reset(ended, env.np_random)
            obs = sessions.observation()
        return obs, out["reward"].astype(np.float32), dones, infos

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
