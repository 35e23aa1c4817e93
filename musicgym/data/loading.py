"""Open any data argument: a prepared dataset folder, an MSSD log, or None for the default set.

Logs are prepared once into the cache folder, keyed by the checksum of their files, so a second
call with the same log reuses the prepared copy.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from musicgym.data.cache import cache_dir, default_synthetic_dir
from musicgym.data.dataset import PreparedDataset
from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.data.readers import file_sha256, list_inputs


def is_prepared(path: str | Path) -> bool:
    """Whether `path` is a prepared dataset folder (it has a manifest)."""
    return (Path(path) / "manifest.json").is_file()


def load_dataset(data: str | Path | None = None, tracks: str | Path | None = None,
                 progress: bool = False) -> PreparedDataset:
    """Return the prepared dataset for `data`, preparing (and caching) it when needed.

    `data` is a prepared folder, an MSSD log file or folder of shards, or None for the
    project's default synthetic set. `tracks` optionally adds a track-features table.
    """
    if data is None:
        synthetic = default_synthetic_dir()
        data = synthetic / "log"
        tracks = tracks or synthetic / "track_features.parquet"
    if is_prepared(data):
        if tracks is not None:
            raise ValueError(f"tracks ({tracks}) cannot be added to the prepared dataset {data}; "
                             "prepare the log again with the features")
        return PreparedDataset(data)
    digest = hashlib.sha256()
    for group in (list_inputs(data), list_inputs(tracks) if tracks else []):
        for path in group:
            digest.update(file_sha256(path).encode())
        digest.update(b"|")
    out = cache_dir() / "prepared" / digest.hexdigest()[:16]
    if is_prepared(out):
        return PreparedDataset(out)
    return prepare(data, out, tracks, PrepareOptions(progress=progress))
