"""`Catalog`: the tracks an agent sees and recommends, with their agent-facing vectors.

The catalog is the agent's whole interface to tracks: the ids of every track that can appear
in a listening history, one vector per track scaled by a single number into [-1, 1] (the
action space's box), which of them may be recommended, and their training plays. It is built
from track embeddings and training-split play counts, below the envs; the user model that
judges recommendations (a `simulator.World`) is a separate object that maps tracks by id.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from musicgym.embeddings.store import TrackEmbeddings


@dataclass(frozen=True, eq=False)
class Catalog:
    """Track ids, agent-facing vectors and the recommendable subset, indexed by catalog row.

    Row `unknown_row` (the last) stands for a track outside the catalog: id "" and a zero
    vector, which is how empty history slots read too.

    :param track_ids: [n + 1] ids, the last one ""
    :param vectors: [n + 1, dim] float32 vectors in [-1, 1], the last row zeros
    :param recommendable: catalog rows an agent may recommend, ascending
    :param plays: [n + 1] training plays of each track
    :param scale: the one factor that mapped the embeddings into the box
    """

    track_ids: np.ndarray
    vectors: np.ndarray
    recommendable: np.ndarray
    plays: np.ndarray
    scale: float

    @classmethod
    def from_embeddings(cls, embeddings: TrackEmbeddings, plays: np.ndarray,
                        min_plays: int) -> Catalog:
        """The catalog of `embeddings`, scaled by one factor into [-1, 1].

        Tracks with at least `min_plays` training plays and a real (not fallback) vector are
        recommendable; the factor maps the largest of their coordinates to 1.

        :param embeddings: track vectors, one row per track
        :param plays: training plays of each embedded track [len(embeddings)]
        :param min_plays: training plays a track needs to be recommendable
        """
        plays = np.asarray(plays)[: len(embeddings)]
        rows = np.flatnonzero((plays >= min_plays) & ~embeddings.fallback)
        top = float(np.abs(embeddings.matrix[rows]).max()) if len(rows) else 1.0
        scale = 1.0 / top if top > 0 else 1.0
        vectors = np.zeros((len(embeddings) + 1, embeddings.dim), np.float32)
        vectors[:-1] = embeddings.matrix * scale
        return cls(track_ids=np.append(np.asarray(embeddings.ids, dtype=object), ""),
                   vectors=np.clip(vectors, -1.0, 1.0), recommendable=rows,
                   plays=np.append(plays, 0), scale=scale)

    @property
    def dim(self) -> int:
        """Dimension of the track vectors (of one proto-vector of an action)."""
        return int(self.vectors.shape[1])

    @property
    def unknown_row(self) -> int:
        """The row of a track outside the catalog (and of empty history slots)."""
        return len(self.track_ids) - 1

    @cached_property
    def checksum(self) -> str:
        """SHA-256 over the ids, vectors and recommendable rows: the catalog's identity."""
        digest = hashlib.sha256()
        digest.update("\n".join(map(str, self.track_ids)).encode())
        digest.update(np.ascontiguousarray(self.vectors, np.float32).tobytes())
        digest.update(np.asarray(self.recommendable, np.int64).tobytes())
        return digest.hexdigest()
