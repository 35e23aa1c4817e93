"""Baseline recommenders for `MusicRec-v0`, and an adapter for SB3 models, behind one interface.

Every agent is a `TrackAgent`: `select(env, obs, rng)` returns a slate of simulator rows
[N, K] for the env's sessions (catalog tracks only, none already played in the session, none
twice in a slate), to be heard with `env.sessions.play`. `predict(obs)` is SB3's interface:
the chosen tracks' vectors as proto-vectors, which the env decodes back to exactly those
tracks with `decoding="nearest"` (with "dot", to the tracks whose dot product is highest).

Agents read the env's session state (full history, user state) rather than the observation,
which only holds the last H tracks: `obs` must describe the env's current sessions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.policy import wolpertinger_tracks
from musicgym.data.schema import MAX_SESSION_LENGTH
from musicgym.envs.bundle import SimulatorBundle
from musicgym.envs.sessions import SessionBatch

LISTENED = 2
"""Outcome classes from this one on (skip_3, not_skipped) count as listened."""


class SessionEnv(Protocol):
    """What agents read: a `MusicRecVectorEnv` or an unwrapped `MusicRecEnv`."""

    sessions: SessionBatch
    bundle: SimulatorBundle


def allowed_tracks(env: SessionEnv) -> np.ndarray:
    """Mask [N, catalog] of catalog tracks not yet played in each session."""
    decoder = env.bundle.decoder
    allowed = np.ones((env.sessions.n, len(decoder)), bool)
    index = decoder.catalog_index(env.sessions.played)
    b, c = np.nonzero(index >= 0)
    allowed[b, index[b, c]] = False
    return allowed


def top_slate(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Catalog positions [N, k] of the k highest-scoring allowed tracks, best first."""
    masked = np.where(allowed, scores, -np.inf)
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def popularity(env: SessionEnv) -> np.ndarray:
    """Training plays of every catalog track [catalog]."""
    plays = env.bundle.simulator.response.stats.plays
    return np.asarray(plays, np.float64)[env.bundle.decoder.rows]


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
        """Simulator rows [N, K] to recommend to each session of `vec_env`."""

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
        decoder = self.env.bundle.decoder
        actions = decoder.vectors[decoder.catalog_index(rows)].reshape(len(batch), -1)
        return (actions[0] if np.ndim(obs) == 1 else actions), None


class ScoringAgent(TrackAgent):
    """An agent that scores every catalog track and recommends the top K allowed ones."""

    @abstractmethod
    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        """Scores [N, catalog]; higher is better."""

    def select(self, vec_env: SessionEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """The K best-scoring tracks not yet played."""
        scores = self.scores(vec_env, rng)
        top = top_slate(scores, allowed_tracks(vec_env), self.slate_size(vec_env))
        return vec_env.bundle.decoder.rows[top]


class RandomAgent(ScoringAgent):
    """Uniformly random catalog tracks not yet played."""

    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        """Uniform random scores."""
        return rng.random((env.sessions.n, len(env.bundle.decoder)))


class MostPopularAgent(ScoringAgent):
    """The most played tracks of the training split, not yet played."""

    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        """Training plays, the same for every session."""
        return np.broadcast_to(popularity(env), (env.sessions.n, len(env.bundle.decoder)))


class ItemKNNAgent(ScoringAgent):
    """Tracks nearest (cosine) to the mean vector of the tracks listened to in the session.

    Listened: outcome skip_3 or not_skipped; with none, the mean of the whole history; with no
    history at all, the most popular tracks.
    """

    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        """Cosine similarity of each catalog track to the session's taste vector."""
        s, decoder = env.sessions, env.bundle.decoder
        heard = np.arange(MAX_SESSION_LENGTH)[None, :] < s.n_played[:, None]
        listened = heard & (s.outcomes >= LISTENED)
        weights = np.where(listened.any(axis=1)[:, None], listened, heard).astype(np.float32)
        query = np.einsum("np,npd->nd", weights, env.bundle.vectors[s.played])
        norm = np.linalg.norm(query, axis=1, keepdims=True)
        cosine = (query / np.maximum(norm, 1e-12)) @ decoder.vectors.T
        cosine /= np.maximum(np.linalg.norm(decoder.vectors, axis=1), 1e-12)[None, :]
        rank = popularity(env) / max(popularity(env).max(), 1.0)
        return np.where(norm > 0, cosine, rank[None, :])


class GreedyModelAgent(ScoringAgent):
    """Tracks the simulator's response model gives the highest P(not skipped) right now.

    It scores candidates with the user's current state at the next position; for slates it
    takes the K best without advancing the user through the slate (greedy slot by slot, each
    slot updating nothing). This is an oracle-like baseline: it reads the simulator itself.

    :param full_catalog_limit: score the whole catalog when it has at most this many tracks;
        otherwise `n_popular` most popular plus each session's `n_knn` item-kNN tracks
    """

    def __init__(self, env: Any | None = None, seed: int = 0, full_catalog_limit: int = 5000,
                 n_popular: int = 200, n_knn: int = 200, chunk: int = 65536) -> None:
        super().__init__(env, seed)
        self.full_catalog_limit, self.n_popular, self.n_knn = full_catalog_limit, n_popular, n_knn
        self.chunk = chunk

    def candidates(self, env: SessionEnv) -> np.ndarray:
        """Mask [N, catalog] of the tracks this agent scores for each session."""
        n, size = env.sessions.n, len(env.bundle.decoder)
        if size <= self.full_catalog_limit:
            return np.ones((n, size), bool)
        mask = np.zeros((n, size), bool)
        mask[:, np.argsort(-popularity(env), kind="stable")[: self.n_popular]] = True
        knn = ItemKNNAgent().scores(env, self.rng)
        near = np.argpartition(-knn, min(self.n_knn, size) - 1, axis=1)[:, : self.n_knn]
        mask[np.arange(n)[:, None], near] = True
        return mask

    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        """P(not skipped) of each candidate; -1 for tracks outside the candidate set."""
        s, response = env.sessions, env.bundle.response
        b, c = np.nonzero(self.candidates(env))
        rows = env.bundle.decoder.rows[c]
        p = np.empty(len(b))
        for lo in range(0, len(b), self.chunk):
            i, part = b[lo:lo + self.chunk], slice(lo, lo + self.chunk)
            probs = response.probs(s.state[i], rows[part], s.context[i], s.n_played[i] + 1,
                                   s.length[i])
            p[part] = probs[:, 2] + probs[:, 3]
        scores = np.full((s.n, len(env.bundle.decoder)), -1.0)
        scores[b, c] = p
        return scores


class LoggedAgent(TrackAgent):
    """The tracks the real session played next; the most popular one where that is not allowed.

    Slot j of the slate is the logged track at the session's next position + j; it falls back
    to the most popular allowed track when that is outside the catalog, already played, already
    in the slate, or past the logged session's end.
    """

    def select(self, vec_env: SessionEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """The next K logged tracks, with most-popular fallbacks."""
        s, decoder = vec_env.sessions, vec_env.bundle.decoder
        allowed = allowed_tracks(vec_env)
        pop = popularity(vec_env)
        rows = np.arange(s.n)
        chosen = np.empty((s.n, self.slate_size(vec_env)), np.int64)
        for j in range(chosen.shape[1]):
            slot = s.n_played + j
            logged = np.where(slot < MAX_SESSION_LENGTH,
                              s.logged[rows, np.minimum(slot, MAX_SESSION_LENGTH - 1)], -1)
            index = decoder.catalog_index(logged)
            ok = (index >= 0) & allowed[rows, np.maximum(index, 0)]
            fallback = np.where(allowed, pop[None, :], -np.inf).argmax(axis=1)
            chosen[:, j] = np.where(ok, index, fallback)
            allowed[rows, chosen[:, j]] = False
        return decoder.rows[chosen]


class DDPGTrackAgent(TrackAgent):
    """An SB3 actor-critic model as a `TrackAgent`: its protos decoded by the env's decoder.

    :param model: a trained DDPG, TD3 or SAC model (deterministic actions)
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
