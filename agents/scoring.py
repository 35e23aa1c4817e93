"""Track scores that baselines and the greedy teacher share: popularity, item-kNN, greedy.

Functions of a `SessionEnv` (a `MusicRecVectorEnv` or anything with its `sessions` and `bundle`)
that import nothing from the agents above them, so the training algorithms (`agents.algorithms`,
whose teacher ranks tracks as greedy-by-model does) and the baselines both use them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicgym.data.schema import MAX_SESSION_LENGTH, listened
from musicgym.embeddings.catalog import rate_error
from musicgym.simulator.user_model import World


def top_slate(scores: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """Catalog positions [N, k] of the k highest-scoring allowed tracks, best first."""
    masked = np.where(allowed, scores, -np.inf)
    top = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def popularity(env: Any) -> np.ndarray:
    """Training plays of every recommendable track [recommendable]."""
    return np.asarray(env.bundle.catalog.plays, np.float64)[env.bundle.decoder.rows]


def knn_scores(env: Any) -> np.ndarray:
    """Cosine similarity [N, catalog] of each track to the session's taste vector.

    The taste vector is the mean vector of the tracks listened to in the session (skip_2 false,
    `schema.listened`); with none, of the whole history; with no history at all, the scores are
    the tracks' popularity ranks.
    """
    s, decoder = env.sessions, env.bundle.decoder
    heard = np.arange(MAX_SESSION_LENGTH)[None, :] < s.n_played[:, None]
    liked = heard & listened(s.outcomes)
    weights = np.where(liked.any(axis=1)[:, None], liked, heard).astype(np.float32)
    query = np.einsum("np,npd->nd", weights, env.bundle.catalog.vectors[s.played])
    norm = np.linalg.norm(query, axis=1, keepdims=True)
    cosine = (query / np.maximum(norm, 1e-12)) @ decoder.vectors.T
    cosine /= np.maximum(np.linalg.norm(decoder.vectors, axis=1), 1e-12)[None, :]
    plays = popularity(env)
    rank = plays / max(plays.max(), 1.0)
    return np.where(norm > 0, cosine, rank[None, :])


def greedy_candidates(env: Any, full_catalog_limit: int = 5000, n_popular: int = 200,
                      n_knn: int = 200) -> np.ndarray:
    """Mask [N, catalog] of the tracks greedy-by-model scores for each session.

    The whole catalog when it has at most `full_catalog_limit` tracks; otherwise the `n_popular`
    most popular plus each session's `n_knn` item-kNN tracks.
    """
    n, size = env.sessions.n, len(env.bundle.decoder)
    if size <= full_catalog_limit:
        return np.ones((n, size), bool)
    mask = np.zeros((n, size), bool)
    mask[:, np.argsort(-popularity(env), kind="stable")[:n_popular]] = True
    if n_knn > 0:
        knn = knn_scores(env)
        near = np.argpartition(-knn, min(n_knn, size) - 1, axis=1)[:, :n_knn]
        mask[np.arange(n)[:, None], near] = True
    return mask


def greedy_scores(env: Any, candidates: np.ndarray, world: World | None = None,
                  pessimism: float = 0.0, chunk: int = 65536,
                  concentration: float = 0.0, taste: float = 0.0) -> np.ndarray:
    """P(listened) [N, catalog] of each candidate now, less `pessimism` x its rate error.

    With `concentration` > 0 it is also less that times how over-recommended the track is
    among the env's recent recommendations (`SessionBatch.concentration`), as the env's
    `concentration_penalty` charges. With `taste` > 0 every track also gains that times its
    cosine to the session's taste vector (`knn_scores`): among tracks the model rates about
    equally, each listener gets the ones nearest their own taste, so the picks depend on who is
    listening and spread over the catalog (the DDPG/TD3 teacher's `teacher_taste`).

    `world`: the world whose users predict (None: the env's own). Tracks outside `candidates`
    score below every candidate before the taste is added (and above the -inf of tracks not
    allowed).
    """
    s = env.sessions
    b, c = np.nonzero(candidates)
    rows = env.bundle.decoder.rows[c]
    p = np.empty(len(b))
    for lo in range(0, len(b), chunk):
        part = slice(lo, lo + chunk)
        p[part] = s.listen_probs(b[part], rows[part], world)
    if pessimism > 0:
        p -= pessimism * rate_error(popularity(env))[c]
    if concentration > 0:
        p -= concentration * s.concentration(rows)
    scores = np.full((s.n, len(env.bundle.decoder)), -1.0 - pessimism - concentration)
    scores[b, c] = p
    if taste > 0:
        scores += taste * knn_scores(env)
    return scores


def greedy_tracks(env: Any, world: World | None = None, pessimism: float = 0.0,
                  concentration: float = 0.0, taste: float = 0.0) -> np.ndarray:
    """Catalog rows [N, slate_size] greedy-by-model recommends now: best allowed first."""
    scores = greedy_scores(env, greedy_candidates(env), world, pessimism,
                           concentration=concentration, taste=taste)
    top = top_slate(scores, env.sessions.allowed(), env.sessions.config.slate_size)
    return env.bundle.decoder.rows[top]
