"""`ActionDecoder`: turn proto-vectors in embedding space into recommendable tracks.

"dot" scores every catalog track by its dot product with the proto-vector (LIRD); "nearest"
picks the closest track by Euclidean distance (Wolpertinger's nearest neighbour), which is the
same argmax over 2 p.e - |e|^2. Tracks already played in the session, and tracks chosen for an
earlier slot of the same slate, are never chosen. Exact search by BLAS over the catalog.
"""

from __future__ import annotations

import numpy as np

from musicgym.embeddings.catalog import Catalog


class ActionDecoder:
    """Exact decoding of proto-vectors [B, K, dim] to catalog tracks, batched."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray, decoding: str = "dot") -> None:
        """Decode over the catalog `vectors` [n, dim]; `rows` are their simulator rows."""
        if len(vectors) != len(rows) or len(rows) == 0:
            raise ValueError("the catalog needs one vector per row and at least one track")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.decoding = decoding
        self.bias = (-0.5 * (self.vectors**2).sum(axis=1) if decoding == "nearest"
                     else np.zeros(len(rows), np.float32))
        lookup = np.full(self.rows.max() + 1, -1, np.int64)
        lookup[self.rows] = np.arange(len(self.rows))
        self._position = lookup

    @classmethod
    def for_catalog(cls, catalog: Catalog, decoding: str = "dot") -> ActionDecoder:
        """Decode over the recommendable tracks of `catalog` (rows are catalog rows)."""
        rows = catalog.recommendable
        return cls(catalog.vectors[rows], rows, decoding)

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
        """Scores [B, n] of every catalog track for proto-vectors [B, dim]."""
        return protos.astype(np.float32, copy=False) @ self.vectors.T + self.bias

    def decode(self, protos: np.ndarray, played: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tracks (simulator rows) [B, K] and proto-to-track distances [B, K].

        `played` [B, P] holds simulator rows already heard in each session (-1 for none).
        """
        batch, slots, _ = protos.shape
        banned = self.banned(played)
        chosen = np.empty((batch, slots), np.int64)
        for k in range(slots):
            s = self.scores(protos[:, k])
            s[banned] = -np.inf
            if k:
                s[np.arange(batch)[:, None], chosen[:, :k]] = -np.inf
            chosen[:, k] = s.argmax(axis=1)
        distance = np.linalg.norm(self.vectors[chosen] - protos, axis=-1)
        return self.rows[chosen], distance

    def nearest(self, proto: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k catalog tracks (simulator rows) nearest to `proto` [dim], and their vectors."""
        k = min(k, len(self.rows))
        d = ((self.vectors - proto[None, :]) ** 2).sum(axis=1)
        top = np.argpartition(d, k - 1)[:k]
        top = top[np.lexsort((top, d[top]))]
        return self.rows[top], self.vectors[top]
