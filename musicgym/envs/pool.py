"""The candidate pool of "dot" decoding on large catalogs, built once and cached.

The best track by dot product for a direction is an extreme point of the catalog in that
direction, and a large catalog has few of those: the pool keeps the tracks that are among the
`POOL_TOP` best for one of `POOL_DIRECTIONS` seeded random directions, and `ActionDecoder`
(`musicgym.envs.decoder`) searches it exactly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from musicgym.artifacts import (
    CorruptArtifactError,
    atomic_dir,
    checksum_files,
    load_or_build,
    read_verified_manifest,
    write_json,
)
from musicgym.data.cache import cache_dir

POOL_DIRECTIONS = 6_000
"""Seeded random directions whose best tracks make the "dot" candidate pool (half uniform in the
action box, like random actions, half uniform on the sphere)."""
POOL_TOP = 8
"""Best tracks kept per direction: the pool holds some of the second to eighth best too, so a
session that has heard the best one still finds the next in the pool."""
POOL_BLOCK = 64
"""Directions scored at once while building the pool (bounds its memory: 64 x tracks floats)."""


def candidate_pool(vectors: np.ndarray, directions: int = POOL_DIRECTIONS, top: int = POOL_TOP,
                   seed: int = 0) -> np.ndarray:
    """The "dot" candidate pool: positions (ascending) of the top tracks of random directions.

    A track is in it when it is among the `top` best by dot product for one of `directions`
    directions drawn with `seed`.
    Half the directions are uniform in the box [-1, 1]^dim (random actions), half uniform on the
    sphere. Deterministic: one seeded generator, one BLAS thread.
    """
    rng = np.random.default_rng(seed)
    dim = vectors.shape[1]
    box = rng.uniform(-1.0, 1.0, (directions - directions // 2, dim))
    sphere = rng.standard_normal((directions // 2, dim))
    wanted = np.vstack([box, sphere]).astype(np.float32)
    top = min(top, len(vectors))
    found = np.zeros(len(vectors), bool)
    with threadpool_limits(1, "blas"):
        for start in range(0, len(wanted), POOL_BLOCK):
            score = wanted[start:start + POOL_BLOCK] @ vectors.T
            found[np.argpartition(score, -top, axis=1)[:, -top:]] = True
    return np.flatnonzero(found)


POOL_FORMAT = 1
POOL_FIX = "delete the folder (it is rebuilt on next use)"


def cached_pool(vectors: np.ndarray, key: str | None) -> np.ndarray:
    """`candidate_pool(vectors)`, kept in the cache entry of `key` (none: built every time).

    The entry (pool.npy and pool.json with its sha256) is keyed by the catalog's checksum and
    the pool's settings, written atomically and checked on load; a damaged one is rebuilt.
    """
    if key is None:
        return candidate_pool(vectors)
    text = f"{key} {len(vectors)} {POOL_DIRECTIONS} {POOL_TOP} 0 {POOL_FORMAT}"
    folder = cache_dir() / "decoder_pools" / hashlib.sha256(text.encode()).hexdigest()[:16]

    def load(path: Path) -> np.ndarray:
        read_verified_manifest(path, "pool.json", POOL_FORMAT, POOL_FIX, ("pool.npy",))
        pool = np.load(path / "pool.npy", allow_pickle=False)
        if (pool.ndim != 1 or pool.dtype != np.int64 or not len(pool) or pool[0] < 0
                or pool[-1] >= len(vectors) or (np.diff(pool) <= 0).any()):
            raise CorruptArtifactError(f"{path / 'pool.npy'}: not a pool of the catalog's "
                                       f"{len(vectors)} tracks; {POOL_FIX}")
        return pool

    def build() -> np.ndarray:
        pool = candidate_pool(vectors)
        with atomic_dir(folder) as tmp:
            np.save(tmp / "pool.npy", pool)
            write_json(tmp / "pool.json", {
                "format": "musicgym.decoder_pool", "format_version": POOL_FORMAT,
                "catalog_checksum": key, "tracks": len(vectors), "directions": POOL_DIRECTIONS,
                "top": POOL_TOP, "seed": 0, "files": checksum_files(tmp, ["pool.npy"])})
        return pool

    return load_or_build(folder, "pool.json", load, build, "decoder pool",
                         f"building the decoder's candidate pool of {len(vectors):,} tracks")
