"""TrackEmbeddings: one vector per track, id <-> row lookups, top-k search, open file formats."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musicgym.artifacts import CorruptArtifactError, atomic_path, unreadable
from musicgym.embeddings.search import CATALOG_CHUNK, QUERY_CHUNK, Exclusions, Metric, topk

FORMAT_NAME = "musicgym.track_embeddings"
FORMAT_VERSION = 1
_NPZ_KEYS = ("ids", "vectors", "fallback", "metadata")
FIX = "save the embeddings again from their source (a cache entry is rebuilt on its next use)"


class TrackEmbeddings:
    """Track vectors indexed by track id: row i holds the vector of `ids[i]`.

    :param ids: unique track ids, one per row.
    :param vectors: finite vectors [n, dim], stored as float32.
    :param fallback: True for tracks seen too rarely to embed, whose vector is a stand-in
        (see the builder that made them); all False when omitted.
    :param metadata: JSON-serializable facts about how the vectors were made (source, parameters).
    """

    def __init__(
        self,
        ids: Sequence[str] | np.ndarray,
        vectors: np.ndarray,
        fallback: np.ndarray | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        ids_arr = np.asarray([str(i) for i in ids], dtype=str)
        vec = np.ascontiguousarray(vectors, dtype=np.float32)
        if vec.ndim != 2 or vec.shape[0] != ids_arr.size:
            raise ValueError(f"vectors {vec.shape} must be [n_ids={ids_arr.size}, dim]")
        if not np.isfinite(vec).all():
            raise ValueError(f"vectors hold {int((~np.isfinite(vec)).sum())} non-finite values")
        fb = np.zeros(ids_arr.size, bool) if fallback is None else np.asarray(fallback, bool)
        if fb.shape != (ids_arr.size,):
            raise ValueError(f"fallback {fb.shape} must be [n_ids={ids_arr.size}]")
        index = pd.Index(ids_arr)
        if not index.is_unique:
            dup = index[index.duplicated()][0]
            raise ValueError(f"track ids must be unique; {dup!r} appears more than once")
        self._ids = ids_arr
        self._vectors = vec
        self._fallback = fb
        self._index = index
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.metadata["dim"] = int(vec.shape[1])
        json.dumps(self.metadata)  # fail now, not at save time, on metadata that cannot be saved

    # ----- id <-> row <-> vector -------------------------------------------------------------

    @property
    def ids(self) -> np.ndarray:
        """Track ids, one per row (read-only view)."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def matrix(self) -> np.ndarray:
        """All vectors [n, dim] float32, in row order (read-only view)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    @property
    def fallback(self) -> np.ndarray:
        """Boolean mask [n]: True where the vector is a stand-in for a rarely seen track."""
        view = self._fallback.view()
        view.flags.writeable = False
        return view

    @property
    def dim(self) -> int:
        """Length of each vector."""
        return int(self._vectors.shape[1])

    def __len__(self) -> int:
        return int(self._ids.size)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._index

    def __repr__(self) -> str:
        source = self.metadata.get("source", "?")
        n_fb = int(self._fallback.sum())
        return f"TrackEmbeddings(n={len(self)}, dim={self.dim}, source={source!r}, fallback={n_fb})"

    def rows(self, ids: str | Iterable[str]) -> np.ndarray:
        """Row indices (int64) of track `ids`; a single id gives a 0-d array.

        :raises KeyError: naming the first unknown id and how many of the ids were unknown.
        """
        single = isinstance(ids, str)
        query = [ids] if single else list(ids)
        rows = self._index.get_indexer(query).astype(np.int64)
        missing = np.flatnonzero(rows < 0)
        if missing.size:
            raise KeyError(
                f"{missing.size} of {len(query)} track ids are unknown to these embeddings; "
                f"the first is {query[missing[0]]!r}"
            )
        return rows[0] if single else rows

    def vectors(self, ids: str | Iterable[str]) -> np.ndarray:
        """Vectors of track `ids`: [dim] for one id, [len(ids), dim] for several."""
        return self._vectors[self.rows(ids)]

    def take(self, rows: np.ndarray) -> TrackEmbeddings:
        """A new TrackEmbeddings holding only `rows`, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        return TrackEmbeddings(
            self._ids[rows], self._vectors[rows], self._fallback[rows], self.metadata
        )

    # ----- search ----------------------------------------------------------------------------

    def topk(
        self,
        queries: np.ndarray,
        k: int,
        metric: Metric = "dot",
        exclude_rows: Exclusions = None,
        catalog_chunk: int = CATALOG_CHUNK,
        query_chunk: int = QUERY_CHUNK,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k rows for queries [m, dim] or [dim]; see `musicgym.embeddings.search.topk`.

        Returns (rows [m, k], scores [m, k]) sorted by score descending, ties by row.
        """
        return topk(self._vectors, queries, k, metric, exclude_rows, catalog_chunk, query_chunk)

    # ----- files -----------------------------------------------------------------------------

    def content_sha256(self) -> str:
        """SHA-256 over ids, vectors and fallback flags: recorded on save, checked on load."""
        digest = hashlib.sha256()
        digest.update("\n".join(self._ids.tolist()).encode())
        digest.update(self._vectors.tobytes())
        digest.update(self._fallback.tobytes())
        return digest.hexdigest()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write an .npz file (no pickled objects), atomically: temp name, then rename."""
        path = Path(path)
        meta = {**self.metadata, "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
                "content_sha256": self.content_sha256()}
        arrays = {
            "ids": self._ids,
            "vectors": self._vectors,
            "fallback": self._fallback,
            "metadata": np.asarray(json.dumps(meta, sort_keys=True)),
        }
        with atomic_path(path) as tmp, open(tmp, "wb") as stream:
            np.savez(stream, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrackEmbeddings:
        """Read a file written by `save`, checking the content checksum it recorded.

        :raises FileNotFoundError: no file at `path`.
        :raises CorruptArtifactError: the file cannot be read, or its content does not match
            its checksum.
        :raises ValueError: the file is not a musicgym embeddings file, or of another format
            version.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such embeddings file")
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {key: npz[key] for key in _NPZ_KEYS if key in npz.files}
            meta = json.loads(str(data["metadata"])) if "metadata" in data else {}
        except Exception as err:  # zip, npy-header and JSON errors alike: a damaged file
            raise unreadable(path, err, FIX, "not a readable .npz embeddings file") from None
        missing = [key for key in _NPZ_KEYS if key not in data]
        if missing:
            raise ValueError(f"{path} is not a musicgym embeddings file: lacks {missing}")
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has format {meta.get('format')!r} version {meta.get('format_version')!r};"
                f" this musicgym reads {FORMAT_NAME!r} version {FORMAT_VERSION}: rebuild it"
            )
        recorded = meta.pop("content_sha256", None)
        try:
            embeddings = cls(data["ids"], data["vectors"], data["fallback"], meta)
        except ValueError as err:
            raise CorruptArtifactError(f"{path}: {err}; {FIX}") from None
        # files saved before checksums were recorded have none; the zip's CRC still guards them
        if recorded is not None and embeddings.content_sha256() != recorded:
            raise CorruptArtifactError(f"{path}: contents do not match the sha256 recorded in "
                                       f"the file (corrupted or edited); {FIX}")
        return embeddings

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write one row per track: track_id, then the `dim` vector columns e_0 .. e_{dim-1}."""
        path = Path(path)
        frame = pd.DataFrame(self._vectors, columns=[f"e_{j}" for j in range(self.dim)])
        frame.insert(0, "track_id", self._ids)
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
            # %.9g is enough digits for every float32 to read back identically.
            frame.to_csv(stream, index=False, float_format="%.9g")
        return path

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str]) -> TrackEmbeddings:
        """Read a CSV of track_id (first column) then vector columns; fallback is all False."""
        frame = pd.read_csv(path, dtype={0: str})
        if frame.shape[1] < 2:
            raise ValueError(f"{path} must hold a track id column and at least one vector column")
        ids = frame.iloc[:, 0].astype(str).to_numpy()
        vectors = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
        return cls(ids, vectors, metadata={"source": "csv", "path": str(path)})

