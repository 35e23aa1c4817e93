"""Track vectors of a prepared dataset: from its track features and/or training co-occurrence.

Shared by the agent-facing catalog and by every fitted user model, each of which calls it on
the sessions it may learn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from musicgym.data.dataset import PreparedDataset
from musicgym.embeddings.builders import combine, from_features
from musicgym.embeddings.cooccurrence import from_cooccurrence
from musicgym.embeddings.store import TrackEmbeddings
from musicgym.threads import fit_threads

SOURCES = ("auto", "features", "cooccurrence", "both")


@dataclass(frozen=True)
class EmbeddingSpec:
    """How track vectors are made.

    :param dim: vector length
    :param window: co-occurrence window in positions (None: the whole session)
    :param min_count: tracks with fewer training plays get a fallback co-occurrence vector
    :param source: "features", "cooccurrence", "both", or "auto" (features when the data has
        them, else co-occurrence)
    :param seed: seed of the co-occurrence SVD's start vector
    """

    dim: int = 16
    window: int | None = None
    min_count: int = 2
    source: Literal["auto", "features", "cooccurrence", "both"] = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"embedding dim ({self.dim}) must be at least 1")
        if self.source not in SOURCES:
            raise ValueError(f"embedding source ({self.source!r}) must be one of {SOURCES}")
        if self.min_count < 1:
            raise ValueError(f"min_count ({self.min_count}) must be at least 1")


@fit_threads()
def dataset_embeddings(dataset: PreparedDataset, train: pd.DataFrame,
                       spec: EmbeddingSpec) -> TrackEmbeddings:
    """Vectors of every track of `dataset` (row = track_idx), learned from the rows `train`.

    :param dataset: the prepared dataset (its track features, when it has them)
    :param train: log rows (`session_idx`, `track_idx`) the vectors may learn from
    :param spec: how the vectors are made
    """
    ids, tracks = dataset.track_ids, dataset.tracks
    has_features = "has_features" in tracks and bool(tracks["has_features"].any())
    source = spec.source
    if source == "auto":
        source = "features" if has_features else "cooccurrence"
    if source in ("features", "both") and not has_features:
        raise ValueError(f"embedding_source {source!r} needs track features; prepare the log "
                         "with --tracks or use 'cooccurrence'")
    feats = cooc = None
    if source in ("features", "both"):
        feats = from_features(ids, tracks[tracks["has_features"]], dim=spec.dim)
    if source in ("cooccurrence", "both"):
        cooc = from_cooccurrence(train["session_idx"].to_numpy(), train["track_idx"].to_numpy(),
                                 len(ids), track_ids=ids, dim=spec.dim, window=spec.window,
                                 min_count=spec.min_count, seed=spec.seed)
    if feats is not None and cooc is not None:
        return combine(cooc, feats)
    return feats if feats is not None else cooc
