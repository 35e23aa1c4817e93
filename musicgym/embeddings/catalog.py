"""`Catalog`: the tracks an agent sees and recommends, with their agent-facing vectors.

The catalog is the agent's whole interface to tracks: the ids of every track that can appear
in a listening history, one vector per track scaled by a single number into [-1, 1] (the
action space's box), which of them may be recommended, and their training plays. It is one
artifact per dataset and training sessions (all training sessions, or half A or B of them),
fitted only on data the agent may learn from, identified by a checksum and cached like a fitted
simulator (sha256 of its file in the manifest, checked on load; one process fits a cold entry).
The user models that judge recommendations (`simulator.World`) are separate objects that map
tracks by id and keep their own track representations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musicgym.artifacts import (
    CorruptArtifactError,
    atomic_dir,
    checksum_files,
    load_or_build,
    read_verified_manifest,
    unreadable,
    write_json,
)
from musicgym.data.cache import cache_dir
from musicgym.data.dataset import PreparedDataset
from musicgym.data.splits import SplitSpec
from musicgym.embeddings.dataset_embeddings import EmbeddingSpec, dataset_embeddings
from musicgym.embeddings.store import TrackEmbeddings
from musicgym.threads import fit_threads

FORMAT_VERSION = 2
"""2: catalog.json records the sha256 of catalog.npz (entries of version 1 are refitted)."""
FIX = "build the catalog again (a cache entry is rebuilt on its next use)"
_ARRAYS = ("track_ids", "vectors", "recommendable", "plays")


@dataclass(frozen=True)
class CatalogSpec:
    """How a catalog is made from a dataset's training sessions.

    :param min_plays: training plays a track needs to be recommendable
    :param embeddings: how the track vectors are made (seed 0: the catalog does not depend on
        any simulator's seed)
    """

    min_plays: int = 5
    embeddings: EmbeddingSpec = field(default_factory=EmbeddingSpec)

    def __post_init__(self) -> None:
        if self.min_plays < 1:
            raise ValueError(f"min_plays ({self.min_plays}) must be at least 1")


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
    :param meta: JSON-ready facts about how it was made
    """

    track_ids: np.ndarray
    vectors: np.ndarray
    recommendable: np.ndarray
    plays: np.ndarray
    scale: float
    meta: dict[str, Any] = field(default_factory=dict)
    """Where it came from: data checksum, training sessions, spec."""

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

    def rows(self, track_ids: np.ndarray) -> np.ndarray:
        """Catalog rows of `track_ids`; ids outside the catalog map to `unknown_row`."""
        index = self._index.get_indexer(np.asarray(track_ids, dtype=object))
        return np.where(index < 0, self.unknown_row, index).astype(np.int64)

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(np.asarray(self.track_ids[:-1], dtype=object))

    def save(self, path: str | Path) -> None:
        """Write the catalog folder (catalog.npz, catalog.json) atomically; no pickle."""
        with atomic_dir(path) as tmp:
            np.savez(tmp / "catalog.npz", track_ids=np.asarray(self.track_ids, dtype=str),
                     vectors=self.vectors, recommendable=self.recommendable, plays=self.plays)
            write_json(tmp / "catalog.json", {
                "format": "musicgym.catalog", "format_version": FORMAT_VERSION,
                "checksum": self.checksum, "scale": self.scale, "meta": self.meta,
                "files": checksum_files(tmp, ["catalog.npz"])})

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Read a catalog folder written by `save`, checking its file's sha256 and its checksum.

        :raises CorruptArtifactError: naming the file that is missing, changed or unreadable.
        """
        path = Path(path)
        manifest = read_verified_manifest(path, "catalog.json", FORMAT_VERSION, FIX,
                                          ("catalog.npz",))
        try:
            with np.load(path / "catalog.npz", allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in _ARRAYS}
            catalog = cls(track_ids=arrays["track_ids"].astype(object),
                          vectors=arrays["vectors"], recommendable=arrays["recommendable"],
                          plays=arrays["plays"], scale=float(manifest["scale"]),
                          meta=manifest["meta"])
            intact = catalog.checksum == manifest["checksum"]
        except Exception as err:  # zip, npy-header and missing-key errors alike
            raise unreadable(path / "catalog.npz", err, FIX) from None
        if not intact:
            raise CorruptArtifactError(f"{path / 'catalog.npz'}: the catalog's content does not "
                                       f"match its checksum; {FIX}")
        return catalog


def rate_error(plays: np.ndarray) -> np.ndarray:
    """Largest standard error of a listen rate measured on `plays` plays: 0.5 / sqrt(plays).

    The count-based doubt behind the env's `support_penalty` and greedy's `pessimism` (a track
    never played counts as played once).
    """
    return 0.5 / np.sqrt(np.maximum(np.asarray(plays, np.float64), 1.0))


@fit_threads()
def fit_catalog(dataset: PreparedDataset, sessions: SplitSpec, spec: CatalogSpec) -> Catalog:
    """The catalog of `dataset` learned from the training sessions that `sessions` labels train.

    :param dataset: the prepared dataset
    :param sessions: the split whose "train" sessions the agent may learn from (all training
        sessions, or one half of them)
    :param spec: recommendability threshold and how vectors are made
    """
    train = dataset.log(["session_idx", "track_idx"], split="train", spec=sessions)
    embeddings = dataset_embeddings(dataset, train, spec.embeddings)
    plays = np.bincount(train["track_idx"].to_numpy(), minlength=len(embeddings))
    catalog = Catalog.from_embeddings(embeddings, plays.astype(np.float64), spec.min_plays)
    return replace(catalog, meta={"data_checksum": dataset.checksum,
                                  "sessions": asdict(sessions), "spec": asdict(spec)})


def load_or_fit_catalog(dataset: PreparedDataset, sessions: SplitSpec,
                        spec: CatalogSpec) -> Catalog:
    """The catalog for (data, training sessions, spec): from the cache, or fitted and saved.

    A corrupt cache entry is rebuilt with a warning that names it; one process fits a cold
    entry while others wait for it (a file lock).
    """
    text = json.dumps({"data": dataset.checksum, "sessions": asdict(sessions),
                       "spec": asdict(spec), "format": FORMAT_VERSION}, sort_keys=True)
    folder = cache_dir() / "catalogs" / hashlib.sha256(text.encode()).hexdigest()[:16]

    def build() -> Catalog:
        catalog = fit_catalog(dataset, sessions, spec)
        catalog.save(folder)
        return catalog

    return load_or_build(folder, "catalog.json", Catalog.load, build, "catalog",
                         "fitting the agent's track catalog")
