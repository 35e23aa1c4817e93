"""`TrackAgent`: the one interface of every recommender that evaluation plays.

`select(env, obs, rng)` returns a slate of catalog rows [N, K] for the env's sessions
(recommendable tracks only, none already played in the session, none twice in a slate), which
evaluation lets the sessions hear with `env.sessions.play`. `predict(obs)` is SB3's interface:
the chosen tracks' vectors as proto-vectors, which the env decodes back to exactly those tracks
with `decoding="nearest"` (with "dot", to the tracks whose dot product is highest).

Agents may read the env's sessions through `SessionBatch`'s public API (the full history, the
world's predictions), not only the observation, which holds the last H tracks: `obs` must
describe the env's current sessions. `PolicyAgent` wraps a trained SB3 model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.catalogs import check_catalog
from agents.policy import wolpertinger_tracks
from musicgym.envs.bundle import SimulatorBundle
from musicgym.envs.sessions import SessionBatch


class SessionEnv(Protocol):
    """What agents read: a `MusicRecVectorEnv` or an unwrapped `MusicRecEnv`."""

    sessions: SessionBatch
    bundle: SimulatorBundle


class TrackAgent(ABC):
    """A recommender that picks tracks directly; see the module docstring for the contract.

    :param env: the env `predict` recommends for (a `MusicRecVectorEnv` or `MusicRecEnv`,
        wrapped or not); `select` takes its env as an argument and does not need it
    :param seed: seed of the generator `predict` hands to `select`
    """

    def __init__(self, env: Any | None = None, seed: int = 0) -> None:
        self.env: SessionEnv | None = env.unwrapped if env is not None else None
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def select(self, vec_env: SessionEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Catalog rows [N, K] to recommend to each session of `vec_env`."""

    def slate_size(self, env: SessionEnv) -> int:
        """Tracks per slate in `env`."""
        return env.sessions.config.slate_size

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """SB3-style actions: the vectors of the selected tracks, flattened per session."""
        if self.env is None:
            raise ValueError(f"{type(self).__name__}.predict needs the env: pass env= when "
                             "building the agent")
        batch = np.atleast_2d(obs)
        if len(batch) != self.env.sessions.n:
            raise ValueError(f"obs holds {len(batch)} sessions, the env {self.env.sessions.n}")
        rows = self.select(self.env, batch, self.rng)
        actions = self.env.bundle.catalog.vectors[rows].reshape(len(batch), -1)
        return (actions[0] if np.ndim(obs) == 1 else actions), None


class PolicyAgent(TrackAgent):
    """A trained SB3 actor-critic model (DDPG, TD3 or SAC) as a `TrackAgent`.

    Its proto-vectors are decoded by the env's decoder.

    :param model: a trained DDPG, TD3 or SAC model, or its policy (as
        `agents.training.load_policy` returns it from a run folder); actions are deterministic
    :param wolpertinger_k: when above 0, refine each slot among its k nearest tracks with the
        critic (`wolpertinger_tracks`) instead of decoding
    """

    def __init__(self, model: BaseAlgorithm, env: Any | None = None, seed: int = 0,
                 wolpertinger_k: int = 0) -> None:
        super().__init__(env, seed)
        self.model, self.wolpertinger_k = model, wolpertinger_k

    def select(self, vec_env: SessionEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """The model's slate for each session."""
        check_catalog(getattr(self.model, "policy", self.model), vec_env.bundle.catalog)
        if self.wolpertinger_k > 0:
            return wolpertinger_tracks(self.model, vec_env, obs, self.wolpertinger_k)
        protos = self.model.predict(obs, deterministic=True)[0]
        protos = protos.reshape(len(obs), self.slate_size(vec_env), -1)
        return vec_env.bundle.decoder.decode(protos, vec_env.sessions.played)[0]

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """The model's own actions (or, with Wolpertinger, the refined tracks' vectors)."""
        if self.wolpertinger_k > 0:
            return super().predict(obs, state, episode_start, deterministic)
        return self.model.predict(obs, deterministic=True)[0], None
