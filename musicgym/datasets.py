"""Open any data argument: a prepared folder, an MSSD log, a generated set, or None (default set).

This sits above `musicgym.data` (MSSD I/O) and `musicgym.synthetic` (the generator), which it
joins: None means the project's default synthetic set, and a folder written by
`musicgym generate` stands for its log and track features. Logs are prepared once into the cache
folder, keyed by the checksum of their files, so a second call with the same log reuses the
prepared copy. A cache entry is checked against the sha256 its manifest records each time it is
opened; a corrupt one is rebuilt with a warning, one from an older musicgym is rebuilt quietly,
and a file lock makes sure two processes never prepare the same entry at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from musicgym.artifacts import building, discard, entry_lock, warn_rebuilding
from musicgym.data.cache import cache_dir
from musicgym.data.dataset import PreparedDataset, StaleDatasetError
from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.data.readers import file_sha256, list_inputs
from musicgym.synthetic.dataset import SyntheticDataset, generated_origin, is_generated
from musicgym.synthetic.default import default_synthetic_dir


def is_prepared(path: str | Path) -> bool:
    """Whether `path` is a prepared dataset folder (it has a manifest)."""
    return (Path(path) / "manifest.json").is_file()


def load_dataset(data: str | Path | None = None, tracks: str | Path | None = None,
                 progress: bool = False) -> PreparedDataset:
    """Return the prepared dataset for `data`, preparing (and caching) it when needed.

    :param data: a prepared folder, an MSSD log file or folder of shards, a folder written by
        `musicgym generate` (its log and track features), or None for the project's default
        synthetic set.
    :param tracks: a track-features table to add (a generated set brings its own).
    :param progress: show progress bars while preparing.
    :raises CorruptArtifactError: `data` is a prepared folder whose files changed after prepare.
    """
    if data is None:
        data = default_synthetic_dir()
    dataset = _load(data, tracks, progress)
    dataset.generated_root = generated_origin(data)
    return dataset


def _load(data: str | Path, tracks: str | Path | None, progress: bool) -> PreparedDataset:
    """`load_dataset` for a given `data`."""
    if is_generated(data):
        generated = SyntheticDataset.from_dir(data)
        data, tracks = generated.log_dir, tracks or generated.track_features
    if is_prepared(data):
        if tracks is not None:
            raise ValueError(f"tracks ({tracks}) cannot be added to the prepared dataset {data}; "
                             "prepare the log again with the features")
        return PreparedDataset(data)
    groups = (list_inputs(data), list_inputs(tracks) if tracks else [])
    checksums = {path: file_sha256(path) for group in groups for path in group}
    digest = hashlib.sha256()
    for group in groups:
        for path in group:
            digest.update(checksums[path].encode())
        digest.update(b"|")
    out = cache_dir() / "prepared" / digest.hexdigest()[:16]
    if is_prepared(out):
        try:
            return PreparedDataset(out)
        except (ValueError, OSError):
            pass  # being replaced, stale or corrupt: settled below, under the entry's lock
    with entry_lock(out, "prepared dataset"):
        if out.exists() or out.is_symlink():
            try:
                return PreparedDataset(out)  # another process may have finished it meanwhile
            except StaleDatasetError:
                pass
            except (ValueError, OSError) as err:
                warn_rebuilding(out, err)
            discard(out)
        with building(f"preparing {data}", out):
            return prepare(data, out, tracks, PrepareOptions(progress=progress),
                           checksums=checksums)
