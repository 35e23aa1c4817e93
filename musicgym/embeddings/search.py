"""Exact top-k search over a catalog of vectors: BLAS matmul + argpartition, in bounded memory.

The catalog is scanned in chunks of `catalog_chunk` rows and the queries in blocks of
`query_chunk`, so the score matrix held at once is at most `query_chunk x catalog_chunk` floats
(64 MiB with the defaults) whatever the catalog size. Results are sorted by score, descending,
with ties broken by the smaller row index, so the answer does not depend on the chunking (BLAS
may round a score by one ulp differently for another block shape, so only scores within an ulp
of each other can swap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Metric = Literal["dot", "cosine"]
Exclusions = np.ndarray | Sequence[Sequence[int] | np.ndarray] | None

CATALOG_CHUNK = 65_536
QUERY_CHUNK = 256


def topk(
    catalog: np.ndarray,
    queries: np.ndarray,
    k: int,
    metric: Metric = "dot",
    exclude_rows: Exclusions = None,
    catalog_chunk: int = CATALOG_CHUNK,
    query_chunk: int = QUERY_CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """Find the `k` catalog rows that score highest against each query.

    :param catalog: float vectors [n, dim].
    :param queries: one query [dim] or a batch [m, dim].
    :param k: how many rows to return per query; clipped to n.
    :param metric: "dot" (inner product) or "cosine" (inner product of unit vectors; a zero vector
        scores 0 against everything).
    :param exclude_rows: rows never to return: one 1-D array of rows for every query, or a
        sequence of m row lists, one per query.
    :param catalog_chunk: catalog rows scored at once.
    :param query_chunk: queries scored at once.

    :return: (rows int64 [m, k], scores float32 [m, k]), or [k] each for a single query. Where
        fewer than k rows remain after the exclusions, the tail is row -1 with score -inf.
    """
    if metric not in ("dot", "cosine"):
        raise ValueError(f"metric ({metric!r}) must be 'dot' or 'cosine'")
    if k < 1:
        raise ValueError(f"k ({k}) must be at least 1")
    if catalog_chunk < 1 or query_chunk < 1:
        raise ValueError(f"chunk sizes ({catalog_chunk}, {query_chunk}) must be at least 1")
    catalog = np.asarray(catalog, dtype=np.float32)
    q = np.asarray(queries, dtype=np.float32)
    single = q.ndim == 1
    q = np.atleast_2d(q)
    if catalog.ndim != 2 or q.ndim != 2 or q.shape[1] != catalog.shape[1]:
        raise ValueError(f"queries {q.shape} and catalog {catalog.shape} must share the last dim")
    k = min(k, catalog.shape[0])
    norms = None
    if metric == "cosine":
        q = _unit(q)
        norms = _safe_norms(catalog)
    per_query = _per_query_exclusions(exclude_rows, q.shape[0])
    rows = np.empty((q.shape[0], k), dtype=np.int64)
    scores = np.empty((q.shape[0], k), dtype=np.float32)
    for start in range(0, q.shape[0], query_chunk):
        stop = min(start + query_chunk, q.shape[0])
        excl = _block_exclusions(exclude_rows, per_query, start, stop)
        rows[start:stop], scores[start:stop] = _search_block(
            catalog, norms, q[start:stop], k, excl, catalog_chunk
        )
    rows[np.isneginf(scores)] = -1
    return (rows[0], scores[0]) if single else (rows, scores)


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows of `x` divided by their norms (zero rows stay zero)."""
    return x / _safe_norms(x)[:, None]


def _safe_norms(x: np.ndarray) -> np.ndarray:
    """Row norms of `x`, with zero norms replaced by 1 so division leaves zero rows at zero."""
    n = np.linalg.norm(x, axis=1)
    n[n == 0] = 1.0
    return n.astype(np.float32)


def _per_query_exclusions(exclude_rows: Exclusions, m: int) -> bool:
    """Whether `exclude_rows` lists rows per query (True) or one set for all queries (False)."""
    if exclude_rows is None:
        return False
    if isinstance(exclude_rows, np.ndarray) and exclude_rows.dtype != object:
        if exclude_rows.ndim != 1:
            raise ValueError("exclude_rows as an array must be 1-D (the same rows for all queries)")
        return False
    if len(exclude_rows) and np.ndim(exclude_rows[0]) == 0:
        return False
    if len(exclude_rows) != m:
        raise ValueError(f"exclude_rows has {len(exclude_rows)} lists for {m} queries")
    return True


def _block_exclusions(
    exclude_rows: Exclusions, per_query: bool, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(query offsets, rows) of the excluded pairs for queries start..stop, or None."""
    if exclude_rows is None:
        return None
    if not per_query:
        rows = np.unique(np.asarray(exclude_rows, dtype=np.int64))
        qi = np.repeat(np.arange(stop - start), rows.size)
        return qi, np.tile(rows, stop - start)
    lists = [np.asarray(r, dtype=np.int64).ravel() for r in exclude_rows[start:stop]]
    qi = np.repeat(np.arange(len(lists)), [r.size for r in lists])
    rows = np.concatenate(lists) if lists else np.empty(0, np.int64)
    return qi, rows


def _search_block(
    catalog: np.ndarray,
    norms: np.ndarray | None,
    q: np.ndarray,
    k: int,
    excl: tuple[np.ndarray, np.ndarray] | None,
    catalog_chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one block of queries, merging the top-k of each catalog chunk."""
    best_rows = np.empty((q.shape[0], 0), dtype=np.int64)
    best_scores = np.empty((q.shape[0], 0), dtype=np.float32)
    for c0 in range(0, catalog.shape[0], catalog_chunk):
        c1 = min(c0 + catalog_chunk, catalog.shape[0])
        s = q @ catalog[c0:c1].T
        if norms is not None:
            s /= norms[c0:c1]
        if excl is not None:
            inside = (excl[1] >= c0) & (excl[1] < c1)
            s[excl[0][inside], excl[1][inside] - c0] = -np.inf
        r, v = _chunk_topk(s, min(k, c1 - c0))
        best_rows, best_scores = _merge(
            np.hstack([best_rows, r + c0]), np.hstack([best_scores, v]), k
        )
    return best_rows, best_scores


def _chunk_topk(s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns of each row of `s`, ties at the k-th score resolved by the smaller column."""
    if k == s.shape[1]:
        cols = np.broadcast_to(np.arange(k), s.shape).copy()
        return cols, s.copy()
    cols = np.argpartition(-s, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(s, cols, axis=1)
    kth = vals.min(axis=1)
    # argpartition picks arbitrarily among scores equal to the k-th; redo those rows exactly.
    tied = np.flatnonzero((s >= kth[:, None]).sum(axis=1) > k)
    for i in tied:
        cand = np.flatnonzero(s[i] >= kth[i])
        order = np.lexsort((cand, -s[i, cand]))[:k]
        cols[i] = cand[order]
        vals[i] = s[i, cols[i]]
    return cols, vals


def _merge(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (rows, scores) of each query row: score descending, then row ascending."""
    order = np.lexsort((rows, -scores), axis=1)[:, :k]
    return np.take_along_axis(rows, order, axis=1), np.take_along_axis(scores, order, axis=1)
