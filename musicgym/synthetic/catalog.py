"""The track catalog of the synthetic MSSD: ids, latent vectors, popularity and features.

Part of the ground-truth model documented in `musicgym.synthetic.ground_truth`. Every draw comes
from the one `numpy.random.Generator` handed in, in a fixed order, so a seed fixes the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri

from musicgym.data.schema import ACOUSTIC_DIM, FEATURE_COLUMNS, arrow_schema
from musicgym.synthetic import marginals
from musicgym.synthetic.parameters import GroundTruthParameters

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)
DISCRETE_FEATURES = ("key", "mode", "time_signature")


def uuid_strings(rng: np.random.Generator, n: int, prefix: str) -> pa.Array:
    """Draw `n` uuid4-like ids (`prefix` + 8-4-4-4-12 hex digits) from `rng`, vectorized."""
    nibbles = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    nibbles[:, 12] = 4  # the uuid4 version digit
    nibbles[:, 16] = 8 + (nibbles[:, 16] & 3)  # the RFC 4122 variant digit
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    width = len(head) + 36
    out = np.empty((n, width), dtype=np.uint8)
    out[:, : len(head)] = head
    hex_cols = [i for i in range(36) if i not in _DASHES]
    out[:, len(head) + np.array(hex_cols)] = _HEX[nibbles]
    out[:, len(head) + np.array(_DASHES)] = ord("-")
    return pa.array(out.view(f"S{width}").ravel(), type=pa.binary()).cast(pa.string())


@dataclass(frozen=True)
class Catalog:
    """The synthetic tracks: row i of every array describes track i.

    :param track_ids: "t_<uuid>" ids.
    :param latents: (n_tracks, latent_dim) float32 latent vectors, standard normal.
    :param popularity: play probability of each track (Zipf-like over a random ranking).
    :param rank_order: track index of popularity rank 0, 1, ... (most popular first).
    :param rank_cdf: cumulative play probability over `rank_order`, for searchsorted sampling.
    :param popularity_z: standardized log popularity of each track over the catalog.
    :param play_z: popularity as a play-quantile score, -Phi^-1(share of plays on more popular
        tracks): standard normal over plays whatever the catalog size.
    :param features: the track-features table in the official schema.
    :param loadings: feature name -> unit vector in latent space that the feature follows.
    """

    track_ids: pa.Array
    latents: np.ndarray
    popularity: np.ndarray
    rank_order: np.ndarray
    rank_cdf: np.ndarray
    popularity_z: np.ndarray
    play_z: np.ndarray
    features: pa.Table
    loadings: dict[str, list[float]]


def _popularity(
    rng: np.random.Generator, n: int, exponent: float, offset: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Zipf-Mandelbrot play probabilities (rank + offset)^-exponent over a random ranking.

    Returns (popularity per track, rank_order, rank_cdf, play_z per track).
    """
    rank_order = rng.permutation(n)
    weights = (np.arange(1, n + 1, dtype=np.float64) + offset) ** -exponent
    weights /= weights.sum()
    rank_cdf = np.cumsum(weights)
    rank_cdf /= rank_cdf[-1]
    popularity = np.empty(n)
    popularity[rank_order] = weights
    return popularity, rank_order, rank_cdf, play_scores(popularity)


def play_scores(popularity: np.ndarray) -> np.ndarray:
    """Each track's play-quantile score (the catalog's `play_z`) from its play probability.

    -Phi^-1 of the share of plays on more popular tracks plus half its own: popular tracks
    score high. The Bayes reference (`musicgym.synthetic.bayes`) recomputes it from the saved
    popularity with this same function.
    """
    rank_order = np.argsort(-popularity, kind="stable")
    weights = popularity[rank_order]
    rank_cdf = np.cumsum(weights)
    rank_cdf /= rank_cdf[-1]
    out = np.empty(len(popularity), dtype=np.float32)
    out[rank_order] = -ndtri(np.clip(rank_cdf - weights / 2, 1e-12, 1 - 1e-12))
    return out


def _latent_score(
    rng: np.random.Generator, latents: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray]:
    """A standard-normal score with correlation `rho` to a random direction of the latents."""
    loading = rng.standard_normal(latents.shape[1])
    loading /= np.linalg.norm(loading)
    noise = rng.standard_normal(latents.shape[0])
    score = rho * (latents @ loading.astype(np.float32)) + np.sqrt(1.0 - rho**2) * noise
    return score, loading


def _from_quantiles(score: np.ndarray, name: str) -> np.ndarray:
    """Map a standard-normal score to a feature, rank-preserving, via its quantile table."""
    return np.interp(ndtr(score), marginals.QUANTILE_LEVELS, marginals.FEATURE_QUANTILES[name])


def _discrete(score: np.ndarray, name: str) -> np.ndarray:
    """Map a standard-normal score to a discrete feature (key, mode, time_signature)."""
    if name == "key":
        values, probs = np.arange(12), np.array(marginals.KEY_PROBS)
    elif name == "mode":
        values, probs = (
            np.array([0, 1]),
            np.array([1 - marginals.MAJOR_SHARE, marginals.MAJOR_SHARE]),
        )
    else:
        values = np.array(list(marginals.TIME_SIGNATURE_PROBS))
        probs = np.array(list(marginals.TIME_SIGNATURE_PROBS.values()))
    cdf = np.cumsum(probs) / probs.sum()
    index = np.minimum(np.searchsorted(cdf, ndtr(score), side="right"), len(values) - 1)
    return values[index]


def _feature_columns(
    rng: np.random.Generator,
    latents: np.ndarray,
    popularity_z: np.ndarray,
    params: GroundTruthParameters,
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Draw every numeric feature column, each tied to the latents (or popularity) by a score."""
    columns: dict[str, np.ndarray] = {}
    loadings: dict[str, list[float]] = {}
    for column in FEATURE_COLUMNS[1:]:
        name = column.name
        if name.startswith("acoustic_vector_"):
            rho = params.acoustic_latent_correlation
        else:
            rho = params.feature_latent_correlation
        score, loading = _latent_score(rng, latents, rho)
        loadings[name] = [round(float(x), 6) for x in loading]
        if name == "us_popularity_estimate":
            rho_pop = params.popularity_feature_correlation
            score = rho_pop * popularity_z + np.sqrt(1 - rho_pop**2) * score
        if name in DISCRETE_FEATURES:
            columns[name] = _discrete(score, name)
        elif name.startswith("acoustic_vector_"):
            k = int(name.rsplit("_", 1)[1])
            mean, std = marginals.ACOUSTIC_VECTOR_MEAN[k], marginals.ACOUSTIC_VECTOR_STD[k]
            columns[name] = mean + std * score
        else:
            columns[name] = _from_quantiles(score, name)
    columns["release_year"] = np.round(columns["release_year"])
    return columns, loadings


def _features_table(track_ids: pa.Array, columns: dict[str, np.ndarray]) -> pa.Table:
    """Assemble the track-features table in the official column order and Arrow types."""
    schema = arrow_schema(FEATURE_COLUMNS)
    arrays: list[pa.Array] = [track_ids]
    for field in list(schema)[1:]:
        values = columns[field.name]
        if field.name == "mode":
            arrays.append(pa.array(np.where(values == 1, "major", "minor"), type=pa.string()))
        else:
            arrays.append(pa.array(values.astype(field.type.to_pandas_dtype())))
    return pa.Table.from_arrays(arrays, schema=schema)


def make_catalog(
    n_tracks: int, latent_dim: int, params: GroundTruthParameters, rng: np.random.Generator
) -> Catalog:
    """Draw the whole catalog of `n_tracks` tracks from `rng` (see the model's docstring)."""
    assert ACOUSTIC_DIM == len(marginals.ACOUSTIC_VECTOR_MEAN)
    track_ids = uuid_strings(rng, n_tracks, "t_")
    latents = rng.standard_normal((n_tracks, latent_dim), dtype=np.float32)
    popularity, rank_order, rank_cdf, play_z = _popularity(
        rng, n_tracks, params.popularity_exponent, params.popularity_offset
    )
    log_pop = np.log(popularity)
    popularity_z = (log_pop - log_pop.mean()) / max(float(log_pop.std()), 1e-12)
    columns, loadings = _feature_columns(rng, latents, popularity_z, params)
    return Catalog(
        track_ids=track_ids,
        latents=latents,
        popularity=popularity,
        rank_order=rank_order,
        rank_cdf=rank_cdf,
        popularity_z=popularity_z.astype(np.float32),
        play_z=play_z,
        features=_features_table(track_ids, columns),
        loadings=loadings,
    )
