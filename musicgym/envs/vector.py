"""`MusicRecVectorEnv`: N sessions of `MusicRec-v0` stepped with array operations.

`gym.make_vec("MusicRec-v0", num_envs=N, vectorization_mode="vector_entry_point")` builds it:
one `SessionBatch` of N sessions, no Python loop over envs. It autoresets in Gymnasium's
default next-step mode (the step after a session ends resets it; its action is ignored, its
reward is 0), or, with `autoreset_mode=AutoresetMode.SAME_STEP`, in the step that ends it
(the final observation in `infos["final_obs"]`), which is what Stable-Baselines3 expects:
`agents.vec_env.SB3VecEnv` adapts it to SB3's `VecEnv`.

Besides Gymnasium's keys, `infos` holds per session the recommended track ids (`tracks`), their
outcome codes (`outcomes`: indices of `OUTCOME_NAMES`, the schema's `OUTCOMES`, -1 for slots not
played; see the legend in `MusicRecEnv`'s docstring), the proto-to-track distances, the
ensemble's disagreement about each track (`disagreement`: the standard deviation of P(listened)
across the world's user models; 0 with one), how over-recommended each track is
(`concentration`, 0 unless `concentration_penalty` is set), the standard error bound of each
track's listen rate from its training plays (`rate_error`, what `support_penalty` multiplies)
and the vectors of the tracks played (`played_vectors`, [N, slate_size * dim]).

As in the single env, `step` before `reset` raises `ResetNeededError`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from musicgym.data.schema import OUTCOMES
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvArgumentError, EnvConfig
from musicgym.envs.music_rec import ResetNeededError, check_action, check_seed
from musicgym.envs.sessions import SessionBatch

AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


class MusicRecVectorEnv(VectorEnv):
    """N simulated sessions of `MusicRec-v0` advanced together.

    :param num_envs: sessions stepped together
    :param autoreset_mode: `AutoresetMode.NEXT_STEP` (Gymnasium's default) or `SAME_STEP`
    :param kwargs: the arguments of `MusicRec-v0` (see `MusicRecEnv`)
    """

    OUTCOME_NAMES: ClassVar[tuple[str, ...]] = OUTCOMES
    """Name of each code in `infos["outcomes"]` (-1: not played)."""

    def __init__(self, num_envs: int = 1,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 **kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, Integral) or num_envs < 1:
            raise EnvArgumentError(f"num_envs ({num_envs!r}) must be an integer of at least 1")
        mode = _autoreset_mode(autoreset_mode)
        self.metadata = {"autoreset_mode": mode}
        self.config = EnvConfig.from_kwargs(**kwargs)
        self._needs_reset = True
        self.bundle = load_bundle(self.config)
        self.num_envs = int(num_envs)
        self.sessions = SessionBatch(self.bundle, self.config, num_envs)
        self.layout = self.sessions.layout
        self.dim = self.layout.dim
        k = self.config.slate_size
        self.single_action_space = spaces.Box(-1.0, 1.0, (k * self.dim,), np.float32)
        self.single_observation_space = self.layout.space()
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start N new sessions."""
        super().reset(seed=check_seed(seed), options=options)
        if seed is not None:
            self.sessions.forget_recommendations()
        self.sessions.reset(np.arange(self.num_envs), self.np_random)
        self._autoreset[:] = False
        self._needs_reset = False
        return self.sessions.observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                  np.ndarray, dict[str, Any]]:
        """Step every session; ended sessions reset as `autoreset_mode` says."""
        if self._needs_reset:
            raise ResetNeededError("step() called before reset(); call reset() first")
        protos = check_action(actions, self.action_space.shape)
        protos = protos.reshape(self.num_envs, self.config.slate_size, self.dim)
        resetting = self._autoreset.copy()
        if resetting.any():
            self.sessions.reset(np.flatnonzero(resetting), self.np_random)
        out = self.sessions.step(protos, self.np_random, active=~resetting)
        truncated = self.sessions.done & ~resetting
        stepped = ~resetting
        ids = self.bundle.catalog.track_ids
        played = self.bundle.catalog.vectors[out["tracks"]].reshape(self.num_envs, -1)
        infos = {"tracks": ids[out["tracks"]], "_tracks": stepped,
                 "outcomes": out["outcomes"], "_outcomes": stepped,
                 "distances": out["distances"], "_distances": stepped,
                 "disagreement": out["disagreement"], "_disagreement": stepped,
                 "concentration": out["concentration"], "_concentration": stepped,
                 "rate_error": out["rate_error"], "_rate_error": stepped,
                 "played_vectors": played, "_played_vectors": stepped}
        obs = self.sessions.observation()
        if self.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP:
            if truncated.any():
                infos |= {"final_obs": obs.copy(), "_final_obs": truncated.copy()}
                self.sessions.reset(np.flatnonzero(truncated), self.np_random)
                obs = self.sessions.observation()
        else:
            self._autoreset = truncated
        return obs, out["reward"], np.zeros(self.num_envs, bool), truncated, infos


def _autoreset_mode(value: AutoresetMode | str) -> AutoresetMode:
    """The autoreset mode `value` names, or an error that lists the modes."""
    names = ", ".join(f"{m.value!r}" for m in AUTORESET_MODES)
    try:
        mode = AutoresetMode(value)
    except (TypeError, ValueError):
        mode = None
    if mode not in AUTORESET_MODES:
        raise EnvArgumentError(f"autoreset_mode ({value!r}) must be one of {names} (or the "
                               "AutoresetMode members NEXT_STEP, SAME_STEP)")
    return mode
