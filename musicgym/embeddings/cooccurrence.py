"""Track embeddings from within-session co-occurrence: PPMI factorized by truncated SVD.

Two tracks co-occur when they are played in the same session (within `window` positions of each
other when a window is given). The co-occurrence counts of the tracks played at least
`min_count` times become a positive pointwise mutual information matrix (Levy & Goldberg 2014,
with context-distribution smoothing alpha=0.75), factorized as PPMI ~ U S V^T; a track's vector
is its row of U sqrt(S).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from musicgym.embeddings.store import TrackEmbeddings

Solver = Literal["randomized", "arpack"]

DENSE_SVD_MAX = 2_000
"""Vocabularies up to this size are factorized by a dense SVD, larger ones by ARPACK."""


def encode_log(
    session_ids: Sequence[str] | np.ndarray, track_ids: Sequence[str] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer-code a log's session and track columns for `from_cooccurrence`.

    Returns (session_index, track_index, track_vocabulary): codes in order of first
    appearance, and the track id of each track code.
    """
    session_index, _ = pd.factorize(np.asarray(session_ids))
    track_index, vocab = pd.factorize(np.asarray(track_ids))
    return session_index.astype(np.int64), track_index.astype(np.int64), np.asarray(vocab, str)


def from_cooccurrence(
    session_index: np.ndarray,
    track_index: np.ndarray,
    n_tracks: int,
    *,
    track_ids: Sequence[str] | np.ndarray | None = None,
    dim: int = 32,
    window: int | None = None,
    min_count: int = 2,
    seed: int = 0,
    cds_alpha: float = 0.75,
    fallback_shrink: float = 0.1,
    solver: Solver = "randomized",
) -> TrackEmbeddings:
    """Embed tracks by the PPMI of their within-session co-occurrence, factorized by SVD.

    Rows of the log are ordered by session then position, and each session's rows are
    contiguous. Tracks played fewer than `min_count` times (or never co-occurring with another
    embedded track) get a fallback vector and `fallback=True`: the co-occurrence-weighted mean
    vector of the embedded tracks they were played with, or, with no such neighbour, the mean of
    all embedded vectors times `fallback_shrink` (a weak, near-centre guess).

    :param session_index: session code of each log row [rows].
    :param track_index: track code of each log row [rows], in 0..n_tracks-1.
    :param n_tracks: number of track codes (rows of the result).
    :param track_ids: the id of each track code; default "0", "1", ...
    :param dim: vector length; columns beyond the PPMI matrix's rank are zero.
    :param window: only positions at most this far apart co-occur; None means the whole session.
    :param min_count: plays a track needs to be embedded by the SVD.
    :param seed: seeds the SVD's start vector (the result is deterministic given it).
    :param cds_alpha: context-distribution smoothing exponent of the PPMI.
    :param fallback_shrink: factor on the mean vector given to tracks with no embedded neighbour.
    :param solver: SVD of vocabularies over `DENSE_SVD_MAX` tracks: "randomized" (fast, seeded
        Gaussian sketch) or "arpack" (scipy's svds, start vector from the seed).
    """
    session_index, track_index = _check_log(session_index, track_index, n_tracks)
    _check_options(dim, window, min_count, solver)
    ids = np.arange(n_tracks).astype(str) if track_ids is None else np.asarray(track_ids, str)
    if ids.size != n_tracks:
        raise ValueError(f"track_ids has {ids.size} ids for n_tracks={n_tracks}")
    counts = cooccurrence_counts(session_index, track_index, n_tracks, window)
    plays = np.bincount(track_index, minlength=n_tracks)
    vocab = np.flatnonzero(plays >= min_count)
    ppmi = _ppmi(counts[vocab][:, vocab], cds_alpha)
    vocab_vectors, singular = _factorize(ppmi, dim, seed, solver)
    vectors = np.zeros((n_tracks, dim))
    vectors[vocab] = vocab_vectors
    embedded = np.zeros(n_tracks, bool)
    embedded[vocab[ppmi.getnnz(axis=1) > 0]] = True
    vectors = _fill_fallback(vectors, embedded, counts, fallback_shrink)
    meta = {
        "source": "cooccurrence",
        "window": window,
        "min_count": min_count,
        "seed": seed,
        "solver": solver,
        "cds_alpha": cds_alpha,
        "fallback_shrink": fallback_shrink,
        "n_embedded": int(embedded.sum()),
        "singular_values": [round(float(s), 6) for s in singular],
    }
    return TrackEmbeddings(ids, vectors, ~embedded, meta)


def _check_options(dim: int, window: int | None, min_count: int, solver: str) -> None:
    """Reject option values that `from_cooccurrence` cannot use."""
    if solver not in ("randomized", "arpack"):
        raise ValueError(f"solver ({solver!r}) must be 'randomized' or 'arpack'")
    if dim < 1 or min_count < 1 or (window is not None and window < 1):
        raise ValueError(f"dim ({dim}), min_count ({min_count}) and window ({window}) must be >= 1")


def _check_log(
    session_index: np.ndarray, track_index: np.ndarray, n_tracks: int
) -> tuple[np.ndarray, np.ndarray]:
    """The two code columns as int64, after checking lengths, ranges and session contiguity."""
    s = np.asarray(session_index).astype(np.int64, copy=False)
    t = np.asarray(track_index).astype(np.int64, copy=False)
    if s.shape != t.shape or s.ndim != 1:
        raise ValueError(f"session_index {s.shape} and track_index {t.shape} must be equal 1-D")
    if t.size and (t.min() < 0 or t.max() >= n_tracks):
        raise ValueError(f"track_index must lie in 0..{n_tracks - 1}; got {t.min()}..{t.max()}")
    starts = s[np.r_[True, s[1:] != s[:-1]]] if s.size else s
    if np.unique(starts).size != starts.size:
        raise ValueError("each session's rows must be contiguous (sort by session, position)")
    return s, t


PAIR_BLOCK_ROWS = 250_000
"""Log rows whose position pairs `cooccurrence_counts` counts at a time (whole sessions per
block): a block's pair arrays grow with its rows times the session span, so blocks bound the
memory while the counts, summed exactly, stay the same (scripts/benchmark_cooccurrence.py)."""


def cooccurrence_counts(
    session: np.ndarray, track: np.ndarray, n_tracks: int, window: int | None,
    block_rows: int = PAIR_BLOCK_ROWS,
) -> sp.csr_matrix:
    """Symmetric co-occurrence counts [n_tracks, n_tracks] over pairs of positions, no diagonal.

    The pairs are counted in blocks of about `block_rows` rows that never split a session.
    """
    counts = sp.csr_matrix((n_tracks, n_tracks), dtype=np.float64)
    if session.size == 0:
        return counts
    bounds = np.r_[np.flatnonzero(np.r_[True, session[1:] != session[:-1]]), session.size]
    reach = int(np.diff(bounds).max()) - 1
    reach = reach if window is None else min(window, reach)
    # block edges: the first session bound at or after each multiple of block_rows
    edges = np.unique(bounds[np.searchsorted(bounds, np.r_[np.arange(0, session.size,
                                                                      block_rows), session.size])])
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        counts = counts + _block_counts(session[lo:hi], track[lo:hi], n_tracks, reach)
    return counts


def _block_counts(session: np.ndarray, track: np.ndarray, n_tracks: int,
                  reach: int) -> sp.csr_matrix:
    """`cooccurrence_counts` of whole sessions, pairs at most `reach` positions apart."""
    left, right = [], []
    for d in range(1, reach + 1):
        same = session[:-d] == session[d:]  # contiguous sessions: equal ends means same session
        left.append(track[:-d][same])
        right.append(track[d:][same])
    a = np.concatenate(left) if left else np.empty(0, np.int64)
    b = np.concatenate(right) if right else np.empty(0, np.int64)
    keep = a != b  # a track repeated in a session says nothing about its neighbours
    a, b = a[keep], b[keep]
    data = np.ones(2 * a.size)
    counts = sp.coo_matrix((data, (np.r_[a, b], np.r_[b, a])), shape=(n_tracks, n_tracks))
    return counts.tocsr()


def _ppmi(counts: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """max(0, PMI) of a co-occurrence matrix, with context counts raised to `alpha`."""
    counts = counts.tocoo()
    total = counts.sum()
    if total == 0:
        return sp.csr_matrix(counts.shape)
    row_sum = np.asarray(counts.sum(axis=1)).ravel()
    context = row_sum**alpha  # symmetric counts: a track's context count is its row sum
    p_word = row_sum / total
    p_context = context / context.sum()
    # PMI(w, c) = log P(w, c) / (P(w) P_alpha(c))
    pmi = np.log(counts.data / total) - np.log(p_word[counts.row]) - np.log(p_context[counts.col])
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=counts.shape)


def _factorize(
    ppmi: sp.csr_matrix, dim: int, seed: int, solver: Solver
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of U sqrt(S) [n, dim] of the truncated SVD of `ppmi`, and the singular values."""
    n = ppmi.shape[0]
    k = min(dim, n - 1) if n > DENSE_SVD_MAX else min(dim, n)
    if k < 1 or ppmi.nnz == 0:
        return np.zeros((n, dim)), np.zeros(0)
    if n <= DENSE_SVD_MAX:
        u, s, _ = np.linalg.svd(ppmi.toarray())
        u, s = u[:, :k], s[:k]
    elif solver == "arpack":
        v0 = np.random.default_rng(seed).standard_normal(n)
        u, s, _ = svds(ppmi.astype(np.float64), k=k, v0=v0, solver="arpack")
        order = np.argsort(-s, kind="stable")
        u, s = u[:, order], s[order]
    else:
        u, s = _randomized_svd(ppmi.astype(np.float64), k, np.random.default_rng(seed))
    # A singular vector is defined up to sign; pin it so the same seed gives the same vectors.
    u = u * np.sign(u[np.abs(u).argmax(axis=0), np.arange(k)])
    out = np.zeros((n, dim))
    out[:, :k] = u * np.sqrt(s)
    return out, s


def _randomized_svd(
    a: sp.csr_matrix, k: int, rng: np.random.Generator, oversample: int = 10, n_iter: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k left singular vectors and values of `a` (Halko, Martinsson & Tropp 2011, alg. 4.4)."""
    width = min(k + oversample, a.shape[1])
    q, _ = np.linalg.qr(a @ rng.standard_normal((a.shape[1], width)))
    for _ in range(n_iter):  # power iterations sharpen the spectrum's decay
        q, _ = np.linalg.qr(a.T @ q)
        q, _ = np.linalg.qr(a @ q)
    ub, s, _ = np.linalg.svd((a.T @ q).T, full_matrices=False)  # B = Q^T A
    return (q @ ub)[:, :k], s[:k]


def _fill_fallback(
    vectors: np.ndarray, embedded: np.ndarray, counts: sp.csr_matrix, shrink: float
) -> np.ndarray:
    """Give each non-embedded track the mean of its embedded neighbours (else a shrunk mean)."""
    vectors = vectors.copy()
    missing = np.flatnonzero(~embedded)
    if not embedded.any() or missing.size == 0:
        vectors[missing] = 0.0
        return vectors
    emb_rows = np.flatnonzero(embedded)
    links = counts[missing][:, emb_rows]
    weight = np.asarray(links.sum(axis=1)).ravel()
    neighbour_mean = (links @ vectors[emb_rows]) / np.maximum(weight, 1.0)[:, None]
    global_mean = vectors[emb_rows].mean(axis=0) * shrink
    vectors[missing] = np.where((weight > 0)[:, None], neighbour_mean, global_mean)
    return vectors
