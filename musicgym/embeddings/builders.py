"""Track embeddings from audio features, and the combination of two embedding sources."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from musicgym.data.schema import NUMERIC_FEATURES
from musicgym.embeddings.store import TrackEmbeddings

MODE_VALUES = {"major": 1.0, "minor": 0.0}
FEATURE_NAMES: tuple[str, ...] = (*NUMERIC_FEATURES, "mode")
"""The feature columns embedded, in order: the schema's numeric features, then mode (major=1)."""


def from_features(
    track_ids: Sequence[str] | None,
    features: pd.DataFrame,
    dim: int | None = None,
    id_column: str = "track_id",
) -> TrackEmbeddings:
    """Embed tracks by their standardized numeric features, optionally PCA-projected to `dim`.

    Each feature of `FEATURE_NAMES` becomes a column; missing values are imputed with the
    column's median over the embedded tracks, then every column is standardized (zero mean, unit
    variance; constant columns stay at 0). With `dim`, the standardized matrix is projected on its
    first `dim` principal axes (SVD), signs fixed so each axis's largest loading is positive.

    :param track_ids: tracks to embed, in row order; None embeds every row of `features`.
    :param features: one row per track, the MSSD track-features schema; extra columns ignored.
    :param dim: output dimension; None keeps all standardized features.
    :param id_column: the column of `features` that holds track ids.

    :return: Embeddings whose `fallback` flags tracks absent from `features` or with no feature at
        all; their vector is all zeros, the mean track. `metadata["n_imputed"]` counts imputed
        values.
    """
    table = features.drop_duplicates(id_column).set_index(id_column)
    ids = table.index.astype(str).to_numpy() if track_ids is None else np.asarray(track_ids, str)
    table = table.reindex(ids)
    x = np.column_stack([_feature_column(table, name) for name in FEATURE_NAMES])
    missing = np.isnan(x)
    fallback = missing.all(axis=1)
    x = _standardize(_impute_median(x, ~fallback), ~fallback)
    x[fallback] = 0.0
    meta: dict[str, object] = {
        "source": "features",
        "features": list(FEATURE_NAMES),
        "n_imputed": int(missing[~fallback].sum()),
    }
    if dim is not None:
        x, explained = _pca(x, dim, ~fallback)
        meta["explained_variance_ratio"] = [round(float(e), 6) for e in explained]
    return TrackEmbeddings(ids, x, fallback, meta)


def _feature_column(table: pd.DataFrame, name: str) -> np.ndarray:
    """One feature as float64 (NaN where missing or absent); mode mapped major=1, minor=0."""
    if name not in table.columns:
        return np.full(len(table), np.nan)
    column = table[name]
    if name == "mode":
        return column.astype(str).str.lower().map(MODE_VALUES).to_numpy(dtype=np.float64)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)


def _impute_median(x: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`x` with NaN replaced by the column's median over rows `known` (0 for empty columns)."""
    x = x.copy()
    for j in range(x.shape[1]):
        col = x[known, j]
        col = col[~np.isnan(col)]
        x[np.isnan(x[:, j]), j] = float(np.median(col)) if col.size else 0.0
    return x


def _standardize(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Columns of `x` centred and scaled by their mean and std over `rows` (std 0 -> 1)."""
    ref = x[rows] if rows.any() else x
    mean = ref.mean(axis=0)
    std = ref.std(axis=0)
    std[std == 0] = 1.0
    return (x - mean) / std


def _pca(x: np.ndarray, dim: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project centred `x` on its first `dim` principal axes fitted on `rows`."""
    if not 1 <= dim <= x.shape[1]:
        raise ValueError(f"dim ({dim}) must be between 1 and the {x.shape[1]} features")
    ref = x[rows] if rows.any() else x
    _, s, vt = np.linalg.svd(ref, full_matrices=False)
    vt = vt[:dim]  # fewer than dim axes when there are fewer rows than dim
    # An SVD axis is defined up to sign; pin it so rebuilds give identical vectors.
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
    vt *= signs[:, None]
    var = s**2
    explained = var[: vt.shape[0]] / var.sum() if var.sum() > 0 else np.zeros(vt.shape[0])
    projected = x @ vt.T
    if dim > vt.shape[0]:
        projected = np.hstack([projected, np.zeros((x.shape[0], dim - vt.shape[0]))])
    return projected, explained


def combine(
    a: TrackEmbeddings,
    b: TrackEmbeddings,
    weights: tuple[float, float] = (1.0, 1.0),
) -> TrackEmbeddings:
    """Concatenate two embeddings of the same tracks into one, each block standardized.

    Each block is centred on its non-fallback mean and divided by one scalar, its root mean
    squared row norm, so both blocks weigh the same before `weights` multiply them; one scalar
    per block keeps each block's geometry (no per-column whitening). Tracks are the union of the
    ids, a's order first; a track missing from one block gets zeros there (the block's mean).
    A track is fallback only if it is fallback (or missing) in both blocks.

    :param a: first block, e.g. co-occurrence embeddings.
    :param b: second block, e.g. feature embeddings.
    :param weights: multipliers of the standardized blocks.
    """
    if len(weights) != 2 or min(weights) < 0:
        raise ValueError(f"weights ({weights}) must be two non-negative numbers")
    ids = np.concatenate([a.ids, b.ids[~np.isin(b.ids, a.ids)]])
    blocks, fallbacks = [], []
    for emb, weight in zip((a, b), weights, strict=True):
        vec, fb = _aligned_block(emb, ids)
        blocks.append(vec * np.float32(weight))
        fallbacks.append(fb)
    meta = {
        "source": "combined",
        "weights": [float(w) for w in weights],
        "blocks": [_brief(a.metadata), _brief(b.metadata)],
    }
    return TrackEmbeddings(ids, np.hstack(blocks), fallbacks[0] & fallbacks[1], meta)


def _aligned_block(emb: TrackEmbeddings, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`emb` standardized to unit RMS row norm and laid out on `ids` (zeros where absent)."""
    mat = emb.matrix.astype(np.float64)
    real = ~emb.fallback if (~emb.fallback).any() else np.ones(len(emb), bool)
    mat = mat - mat[real].mean(axis=0)
    rms = float(np.sqrt((mat[real] ** 2).sum(axis=1).mean()))
    mat /= rms if rms > 0 else 1.0
    where = pd.Index(emb.ids).get_indexer(ids)
    out = np.zeros((ids.size, emb.dim), dtype=np.float32)
    out[where >= 0] = mat[where[where >= 0]]
    fallback = np.ones(ids.size, bool)
    fallback[where >= 0] = emb.fallback[where[where >= 0]]
    return out, fallback


def _brief(meta: dict[str, object]) -> dict[str, object]:
    """The small, scalar part of a block's metadata, kept in the combined metadata."""
    return {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
