"""Evaluate recommendation agents on simulated sessions started from held-out logged sessions.

Every agent is a `TrackAgent` and chooses tracks through one call,
`agent.select(vec_env, obs, rng) -> catalog rows [N, K]`;
the same sessions (same seed) are replayed for every agent, so differences between agents are
not differences between users. Metrics per recommended track and per session:

| metric | meaning |
|---|---|
| listened | share of recommended tracks listened (skip_2 false) |
| listen_score | mean of 0, 1/3, 2/3, 1 for skip_1, skip_2, skip_3, not skipped |
| session_return | mean reward (the env's reward) summed over a session |
| diversity | 1 - mean pairwise cosine of the tracks recommended within a session |
| coverage | distinct tracks recommended over all sessions / recommendable tracks |
| top10_share | share of all recommendations that went to the 10 most recommended tracks |
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from agents.track_agent import TrackAgent
from musicgym.data.schema import listened
from musicgym.envs.sessions import LISTEN_REWARD
from musicgym.envs.vector import MusicRecVectorEnv

METRICS = ("listened", "listen_score", "session_return", "diversity", "coverage", "top10_share")


def _diversity(vectors: np.ndarray, rows: list[list[int]]) -> float:
    """Mean over sessions of 1 - mean pairwise cosine of the recommended tracks."""
    values = []
    for session in rows:
        if len(session) < 2:
            continue
        v = vectors[session]
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        sim = v @ v.T
        n = len(session)
        values.append(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
    return float(np.mean(values)) if values else float("nan")


def evaluate(agent: TrackAgent, vec_env: MusicRecVectorEnv, rounds: int,
             seed: int) -> dict[str, float]:
    """Replay every session of the env's split `rounds` times with `agent`; return `METRICS`.

    Sessions are taken in order, not drawn, so every agent meets the same users; `seed` seeds
    the outcomes and the agent's own draws.
    """
    rng = np.random.default_rng(seed)
    n, width = len(vec_env.bundle.sampler), vec_env.num_envs
    outcomes, returns, recommended = [], [], []
    for _ in range(rounds):
        for start in range(0, n, width):
            logged = np.arange(start, min(start + width, n))
            o, r, rec = _play_sessions(agent, vec_env, logged, rng)
            outcomes += o
            returns.append(r)
            recommended += rec
    flat = np.concatenate(outcomes)
    every = [r for session in recommended for r in session]
    return {
        "listened": float(listened(flat).mean()),
        "listen_score": float(LISTEN_REWARD[flat].mean()),
        "session_return": float(np.concatenate(returns).mean()),
        "diversity": _diversity(vec_env.bundle.catalog.vectors, recommended),
        "coverage": len(set(every)) / len(vec_env.bundle.decoder),
        "top10_share": _top_share(every, 10),
    }


def _top_share(recommended: list[int], k: int) -> float:
    """Share of the recommendations that went to the k most recommended tracks."""
    counts = np.sort(np.unique(recommended, return_counts=True)[1])[::-1]
    return float(counts[:k].sum() / max(counts.sum(), 1))


def _play_sessions(agent: TrackAgent, vec_env: MusicRecVectorEnv, logged: np.ndarray,
                   rng: np.random.Generator) -> tuple[list, np.ndarray, list[list[int]]]:
    """Play the logged sessions `logged` (at most num_envs) to their end with `agent`."""
    sessions, used = vec_env.sessions, len(logged)
    slots = np.arange(vec_env.num_envs)
    # spare slots replay the last session and are not counted
    sessions.reset(slots, rng, np.resize(logged, vec_env.num_envs))
    counted = slots < used
    per_session: list[list[int]] = [[] for _ in range(used)]
    outcomes, ret = [], np.zeros(vec_env.num_envs)
    obs = sessions.observation()
    while not sessions.done.all():
        active = ~sessions.done
        tracks = np.asarray(agent.select(vec_env, obs, rng), np.int64)
        out = sessions.play(tracks, rng, active)
        played = (out["outcomes"] >= 0) & counted[:, None]
        outcomes.append(out["outcomes"][played])
        ret += out["reward"]
        for i, k in zip(*np.nonzero(played), strict=True):
            per_session[i].append(int(tracks[i, k]))
        obs = sessions.observation()
    return outcomes, ret[:used], per_session


def confidence_interval(values: list[float], level: float = 0.95) -> dict[str, float]:
    """Mean and Student-t confidence interval of per-seed values.

    With one value there is no interval: `ci_low` and `ci_high` are the mean itself (so every
    summary has the same numeric shape), and the tables print the mean alone.
    """
    x = np.asarray(values, float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError("values must hold one number per seed, and at least one seed")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level ({level}) must be between 0 and 1")
    mean = float(x.mean())
    if len(x) < 2:
        return {"mean": mean, "ci_low": mean, "ci_high": mean}
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half}


def summarize(per_seed: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Per agent and metric, the mean and 95% interval over seeds: agent -> [a run per seed]."""
    if not per_seed:
        raise ValueError("per_seed holds no agent: run at least one seed (seeds must be at "
                         "least 1)")
    for agent, runs in per_seed.items():
        if not runs:
            raise ValueError(f"per_seed[{agent!r}] holds no run: seeds must be at least 1")
        for run in runs:
            missing = [m for m in METRICS if m not in run]
            if missing:
                raise ValueError(f"per_seed[{agent!r}]: a run lacks the metrics {missing}")
    return {agent: {m: confidence_interval([run[m] for run in runs]) for m in METRICS}
            for agent, runs in per_seed.items()}
