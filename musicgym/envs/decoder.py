"""`ActionDecoder`: turn proto-vectors in embedding space into recommendable tracks.

"dot" scores every catalog track by its dot product with the proto-vector (LIRD); "nearest"
picks the closest track by Euclidean distance (Wolpertinger's nearest neighbour), which is the
same argmax over 2 p.e - |e|^2; "cosine" is "dot" over the track vectors scaled to unit length
(`ActionDecoder.vectors` then holds the unit vectors). Tracks already played in the session,
and tracks chosen for an earlier slot of the same slate, are never chosen.

Small catalogs are searched exactly by BLAS. Large ones (`IndexSpec`: from `index_threshold`
recommendable tracks) are searched approximately:

- "dot" under `decoder_index="auto"`: exactly, but only over a candidate pool, the tracks that
  are among the `POOL_TOP` best for some of `POOL_DIRECTIONS` seeded random directions
  (`musicgym.envs.pool`). The
  best track for a proto-vector is an extreme point of the catalog in its direction, and few
  tracks are (2,493 distinct best tracks for 10,000 random protos among the 575,735
  recommendable tracks of a generated 1M-track set): the pool holds 9,278 tracks there,
  gives recall@1 0.976 and decodes 256 protos in 2 to 4 ms, where the HNSW inner-product
  index gave 0.92 in 124 ms (NOTES.md "Scale"). A played track in the pool is masked; a
  proto-vector whose pool is all banned is decoded by exact search. The pool is built once
  per catalog (20 s at 575k tracks, one BLAS thread) and kept in the cache folder, keyed by
  the catalog's checksum.
- "nearest", "cosine", and "dot" with `decoder_index="faiss"`: a faiss HNSW index, inner
  product for "dot" and "cosine", L2 for "nearest". The index fetches, for every proto-vector,
  more candidates than the session has banned tracks (played, or earlier in the slate), so its
  exact top candidates always hold an allowed one; the candidates are rescored exactly, the
  banned ones dropped, and a proto-vector whose candidates are all banned is decoded by exact
  search. So the result is the exact one whenever the index finds the exact top candidates.
  The index is built on one thread, which makes it deterministic.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from musicgym.embeddings.catalog import Catalog
from musicgym.envs.config import CHECKS, FAISS_INSTALL, EnvConfig, faiss_missing
from musicgym.envs.pool import cached_pool
from musicgym.threads import one_faiss_thread

_warned_no_faiss = False
POOL_CHUNK = 64
"""Proto-vectors decoded at once against the pool (their scores fit in the CPU cache)."""


@dataclass(frozen=True)
class IndexSpec:
    """How `ActionDecoder` searches the catalog: exactly, or through a faiss HNSW index.

    The fields are the env arguments `decoder_index`, `index_threshold`, `index_hnsw_m` and
    `index_ef_search`, checked the same way.
    """

    kind: str = "auto"
    """"exact", "faiss", or "auto": faiss from `threshold` tracks when it is installed."""
    threshold: int = 100_000
    """Catalog size from which "auto" searches the index."""
    hnsw_m: int = 32
    """Neighbours per node of the HNSW graph (faiss `M`)."""
    ef_search: int = 64
    """Candidates kept by the HNSW search (faiss `efSearch`)."""

    def __post_init__(self) -> None:
        for argument, attr in (("decoder_index", "kind"), ("index_threshold", "threshold"),
                               ("index_hnsw_m", "hnsw_m"), ("index_ef_search", "ef_search")):
            object.__setattr__(self, attr, CHECKS[argument](argument, getattr(self, attr)))

    @classmethod
    def of(cls, config: EnvConfig) -> IndexSpec:
        """The index settings of an env config."""
        return cls(config.decoder_index, config.index_threshold, config.index_hnsw_m,
                   config.index_ef_search)

    def pooled(self, decoding: str, size: int) -> bool:
        """Whether "dot" decoding over `size` tracks searches the candidate pool ("auto" only)."""
        return self.kind == "auto" and decoding == "dot" and size >= self.threshold

    def faiss_for(self, size: int) -> Any | None:
        """The faiss module when a catalog of `size` tracks is searched through it, else None.

        "faiss" without faiss installed is an error; "auto" without it warns once (when the
        catalog is large enough to want the index) and searches exactly.
        """
        if self.kind == "exact" or (self.kind == "auto" and size < self.threshold):
            return None
        try:
            import faiss
        except ImportError:
            if self.kind == "faiss":
                raise faiss_missing("decoder_index") from None
            _warn_no_faiss(size, self.threshold)
            return None
        return faiss


def _warn_no_faiss(size: int, threshold: int) -> None:
    """Warn once per process that a large catalog is searched exactly for want of faiss."""
    global _warned_no_faiss
    if not _warned_no_faiss:
        _warned_no_faiss = True
        warnings.warn(f"decoding searches all {size} recommendable tracks exactly (at least "
                      f"index_threshold={threshold}) because faiss is not installed; "
                      f"{FAISS_INSTALL} for the faster approximate index, or pass "
                      "decoder_index='exact' to silence this", RuntimeWarning, stacklevel=4)


class ActionDecoder:
    """Decoding of proto-vectors [B, K, dim] to catalog tracks, batched: exact, or via faiss."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray, decoding: str = "dot",
                 index: IndexSpec | None = None, cache_key: str | None = None) -> None:
        """Decode over the catalog `vectors` [n, dim]; `rows` are their simulator rows.

        `index` says how the catalog is searched (default `IndexSpec()`: faiss from 100,000
        tracks when it is installed). With `cache_key` (the catalog's checksum), a candidate
        pool is kept in the cache folder and loaded by later processes.
        """
        decoding = CHECKS["decoding"]("decoding", decoding)
        if len(vectors) != len(rows) or len(rows) == 0:
            raise ValueError("the catalog needs one vector per row and at least one track")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if decoding == "cosine":
            length = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self.vectors = self.vectors / np.maximum(length, 1e-12)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.decoding = decoding
        self.by_dot_product = decoding != "nearest"
        """Whether a proto-vector gets the track of `vectors` with the highest dot product."""
        self.bias = (np.zeros(len(rows), np.float32) if self.by_dot_product
                     else -0.5 * (self.vectors**2).sum(axis=1))
        lookup = np.full(self.rows.max() + 1, -1, np.int64)
        lookup[self.rows] = np.arange(len(self.rows))
        self._position = lookup
        self.index_spec = index if index is not None else IndexSpec()
        self.pool = (cached_pool(self.vectors, cache_key)
                     if self.index_spec.pooled(decoding, len(rows)) else None)
        """Catalog positions (ascending) that pooled "dot" decoding searches, or None."""
        self._faiss = None if self.pool is not None else self.index_spec.faiss_for(len(rows))
        self.index = None if self._faiss is None else self._build_index()
        """The faiss HNSW index searched by `decode`, or None for exact (or pooled) search."""
        if self.pool is not None:
            self._pool_vectors = np.ascontiguousarray(self.vectors[self.pool])
            self._in_pool = np.full(len(rows), -1, np.int64)
            self._in_pool[self.pool] = np.arange(len(self.pool))

    @classmethod
    def for_catalog(cls, catalog: Catalog, decoding: str = "dot",
                    index: IndexSpec | None = None) -> ActionDecoder:
        """Decode over the recommendable tracks of `catalog` (rows are catalog rows)."""
        rows = catalog.recommendable
        return cls(catalog.vectors[rows], rows, decoding, index, cache_key=catalog.checksum)

    def _build_index(self) -> Any:
        faiss, spec = self._faiss, self.index_spec
        metric = faiss.METRIC_INNER_PRODUCT if self.by_dot_product else faiss.METRIC_L2
        index = faiss.IndexHNSWFlat(self.vectors.shape[1], spec.hnsw_m, metric)
        index.hnsw.efSearch = spec.ef_search
        with one_faiss_thread(faiss):
            index.add(self.vectors)
        return index

    def __len__(self) -> int:
        return len(self.rows)

    def catalog_index(self, rows: np.ndarray) -> np.ndarray:
        """Catalog positions of simulator `rows` (-1 for rows outside the catalog)."""
        rows = np.asarray(rows, np.int64)
        inside = (rows >= 0) & (rows < len(self._position))
        out = np.full(rows.shape, -1, np.int64)
        out[inside] = self._position[rows[inside]]
        return out

    def banned(self, played: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(session, catalog position) pairs of the tracks each session may not hear again.

        `played` [B, P] holds the rows already heard in each session (-1 for none).
        """
        index = self.catalog_index(played)
        b, c = np.nonzero(index >= 0)
        return b, index[b, c]

    def allowed(self, played: np.ndarray) -> np.ndarray:
        """Mask [B, n] of the catalog tracks each session may still hear."""
        allowed = np.ones((len(played), len(self.rows)), bool)
        allowed[self.banned(played)] = False
        return allowed

    def scores(self, protos: np.ndarray) -> np.ndarray:
        """Scores [B, n] of every catalog track for proto-vectors [B, dim] (exact)."""
        return protos.astype(np.float32, copy=False) @ self.vectors.T + self.bias

    def decode(self, protos: np.ndarray, played: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tracks (simulator rows) [B, K] and proto-to-track distances [B, K].

        `played` [B, P] holds simulator rows already heard in each session (-1 for none).
        """
        protos = np.asarray(protos, np.float32)
        ban = self.catalog_index(played)
        if self.pool is not None:
            chosen = self._pool_decode(protos, ban)
        elif self.index is not None:
            chosen = self._index_decode(protos, ban)
        else:
            chosen = self._exact_decode(protos, ban)
        distance = np.linalg.norm(self.vectors[chosen] - protos, axis=-1)
        return self.rows[chosen], distance

    def _best_exact(self, protos: np.ndarray, ban: np.ndarray) -> np.ndarray:
        """Best catalog positions [m] for proto-vectors [m, dim], skipping `ban` [m, j] (-1s)."""
        s = self.scores(protos)
        b, c = np.nonzero(ban >= 0)
        s[b, ban[b, c]] = -np.inf
        return s.argmax(axis=1)

    def _exact_decode(self, protos: np.ndarray, ban: np.ndarray) -> np.ndarray:
        batch, slots, _ = protos.shape
        chosen = np.empty((batch, slots), np.int64)
        for k in range(slots):
            chosen[:, k] = self._best_exact(protos[:, k], np.hstack([ban, chosen[:, :k]]))
        return chosen

    def _index_decode(self, protos: np.ndarray, ban: np.ndarray) -> np.ndarray:
        batch, slots, dim = protos.shape
        # more candidates than any session has banned tracks plus earlier slots: the exact top
        # `fetch` always hold an allowed track
        fetch = min(len(self.rows), int((ban >= 0).sum(axis=1).max(initial=0)) + slots)
        with one_faiss_thread(self._faiss):
            _, found = self.index.search(np.ascontiguousarray(protos.reshape(-1, dim)), fetch)
        # ascending positions, so that argmax breaks ties as exact search does; -1: none found
        candidates = np.sort(found.reshape(batch, slots, fetch), axis=-1)
        score = (np.einsum("bkfd,bkd->bkf", self.vectors[candidates], protos)
                 + self.bias[candidates])
        score[(candidates < 0) | (candidates[..., None] == ban[:, None, None, :]).any(-1)] = -np.inf
        everyone = np.arange(batch)
        chosen = np.empty((batch, slots), np.int64)
        for k in range(slots):
            s = score[:, k]
            if k:
                repeated = (candidates[:, k, :, None] == chosen[:, None, :k]).any(-1)
                s = np.where(repeated, -np.inf, s)
            best = s.argmax(axis=1)
            chosen[:, k] = candidates[everyone, k, best]
            stuck = np.flatnonzero(np.isneginf(s[everyone, best]))
            if len(stuck):
                chosen[stuck, k] = self._best_exact(protos[stuck, k],
                                                    np.hstack([ban[stuck], chosen[stuck, :k]]))
        return chosen

    def _pool_decode(self, protos: np.ndarray, ban: np.ndarray) -> np.ndarray:
        # a few sessions at a time, so that their scores stay in the CPU cache for the argmax
        step = max(1, POOL_CHUNK // protos.shape[1])
        return np.vstack([self._pool_chunk(protos[i:i + step], ban[i:i + step])
                          for i in range(0, len(protos), step)])

    def _pool_chunk(self, protos: np.ndarray, ban: np.ndarray) -> np.ndarray:
        batch, slots, dim = protos.shape
        score = (protos.reshape(-1, dim) @ self._pool_vectors.T).reshape(batch, slots, -1)
        # banned tracks that are in the pool, as pool positions (-1: not in it)
        banned = np.where(ban >= 0, self._in_pool[np.maximum(ban, 0)], -1)
        b, c = np.nonzero(banned >= 0)
        score[b, :, banned[b, c]] = -np.inf
        everyone = np.arange(batch)
        chosen = np.empty((batch, slots), np.int64)
        for k in range(slots):
            best = score[:, k].argmax(axis=1)
            chosen[:, k] = self.pool[best]
            stuck = np.flatnonzero(np.isneginf(score[everyone, k, best]))
            score[everyone, k + 1:, best] = -np.inf  # later slots may not repeat it
            if len(stuck):
                chosen[stuck, k] = self._best_exact(protos[stuck, k],
                                                    np.hstack([ban[stuck], chosen[stuck, :k]]))
                inside = self._in_pool[chosen[stuck, k]]
                score[stuck[inside >= 0], k + 1:, inside[inside >= 0]] = -np.inf
        return chosen

    def nearest(self, proto: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k catalog tracks (simulator rows) nearest to `proto` [dim], and their vectors."""
        k = min(k, len(self.rows))
        d = ((self.vectors - proto[None, :]) ** 2).sum(axis=1)
        top = np.argpartition(d, k - 1)[:k]
        top = top[np.lexsort((top, d[top]))]
        return self.rows[top], self.vectors[top]

