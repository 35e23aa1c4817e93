"""Read a prepared dataset: the log, sessions and tracks tables and the manifest beside them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from musicgym.artifacts import CorruptArtifactError, read_json, verify_files
from musicgym.data.schema import LOG_COLUMN_NAMES
from musicgym.data.splits import DEFAULT_SPLIT, SplitSpec, assign_splits

FORMAT_VERSION = 2
"""Version 2 records the sha256 of every table in the manifest ("files")."""
FORMAT = "musicgym.prepared"
TABLES = ("log.parquet", "sessions.parquet", "tracks.parquet")
FILES = ("manifest.json", *TABLES)
REBUILD = "run `musicgym prepare` again to rebuild it"
CHANGED = f"it was changed after prepare; {REBUILD}"
LOG_BATCH_ROWS = 1_000_000
"""Rows per batch when the log is streamed (`iter_log`): about 50 MB of integer columns."""
LEFTOVERS = ("duckdb.tmp",)
"""What older versions of prepare left in a prepared folder: theirs to replace."""


class StaleDatasetError(ValueError):
    """A prepared dataset written by another musicgym format version (or without checksums)."""


class PreparedDataset:
    """A prepared MSSD dataset folder: Parquet tables with integer indexes, and a manifest.

    `log.parquet` holds the official columns plus `track_idx`, `session_idx` and `outcome` (the
    class of `schema.OUTCOMES`), sorted by session then position; `sessions.parquet` and
    `tracks.parquet` hold one row per session and per track, in index order. The manifest
    records the sha256 of each table; opening the folder checks them, once.

    :param path: the prepared folder.
    :param verify: check the tables against their recorded sha256 (off only for a folder this
        process has just written and hashed).
    :raises StaleDatasetError: the folder was written in another format version.
    :raises CorruptArtifactError: a table is missing or its bytes changed after prepare.
    """

    def __init__(self, path: str | Path, *, verify: bool = True) -> None:
        self.path = Path(path)
        missing = [f for f in FILES if not (self.path / f).exists()]
        if "manifest.json" in missing:
            raise FileNotFoundError(f"{self.path}: not a prepared dataset (missing {missing}); "
                                    "create one with `musicgym prepare --log LOG --out DIR`")
        self.manifest = read_prepared_manifest(self.path)
        self.generated_root: Path | None = None
        """The generated set this dataset was loaded from, where `load_dataset` knows it."""
        if verify:
            verify_files(self.path, self.manifest["files"], CHANGED)

    @property
    def checksum(self) -> str:
        """SHA-256 over the input files' checksums: the key of everything fitted on this data."""
        return self.manifest["data_checksum"]

    @cached_property
    def sessions(self) -> pd.DataFrame:
        """One row per session, in `session_idx` order."""
        return pq.read_table(self.path / "sessions.parquet").to_pandas()

    @cached_property
    def tracks(self) -> pd.DataFrame:
        """One row per track, in `track_idx` order (features included when prepared with them)."""
        return pq.read_table(self.path / "tracks.parquet").to_pandas()

    @property
    def track_ids(self) -> np.ndarray:
        """Track ids, indexed by `track_idx`."""
        return self.tracks["track_id"].to_numpy()

    def split_labels(self, spec: SplitSpec = DEFAULT_SPLIT) -> np.ndarray:
        """The split of every session, indexed by `session_idx`."""
        return assign_splits(self.sessions, spec)

    @cached_property
    def log_columns(self) -> list[str]:
        """The columns of `log.parquet` (read from its schema, not its rows)."""
        return list(pq.read_schema(self.path / "log.parquet").names)

    def log(self, columns: list[str] | None = None, split: str | None = None,
            spec: SplitSpec = DEFAULT_SPLIT) -> pd.DataFrame:
        """The log rows (all, or one split's), sorted by session then position."""
        table = pq.read_table(self.path / "log.parquet", columns=columns and
                              sorted(set(columns) | ({"session_idx"} if split else set())))
        frame = table.to_pandas()
        if split is not None:
            keep = self.split_labels(spec)[frame["session_idx"].to_numpy()] == split
            frame = frame[keep].reset_index(drop=True)
            if columns is not None and "session_idx" not in columns:
                frame = frame.drop(columns="session_idx")
        return frame

    def iter_log(self, columns: list[str], batch_rows: int = LOG_BATCH_ROWS
                 ) -> Iterator[pd.DataFrame]:
        """The log's rows in file order (by session, then position), `batch_rows` at a time.

        Only `columns` are read, one Parquet batch at a time, so a log of any size streams in
        bounded memory; a session may straddle two batches.
        """
        if batch_rows < 1:
            raise ValueError(f"batch_rows ({batch_rows}) must be at least 1")
        parquet = pq.ParquetFile(self.path / "log.parquet")
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns)):
            yield batch.to_pandas()

    def to_mssd(self) -> pd.DataFrame:
        """The log in the official MSSD columns, as it was read (exact duplicates excepted)."""
        return self.log(list(LOG_COLUMN_NAMES))[list(LOG_COLUMN_NAMES)]

    def summary(self) -> str:
        """A few lines that say what the dataset holds and what was dropped or flagged."""
        m = self.manifest
        lines = [f"{m['rows']} rows, {m['sessions']} sessions, {m['tracks']} tracks "
                 f"({m['rows_read']} rows read; dates {m['dates'][0]} to {m['dates'][1]})"]
        lines += [f"dropped {k}: {v}" for k, v in m["dropped"].items()]
        lines += [f"flagged {k}: {v}" for k, v in m["flagged"].items()]
        return "\n".join(lines)


def read_prepared_manifest(path: Path) -> dict:
    """The manifest of the prepared folder `path`, checked for format, version and checksums."""
    manifest = path / "manifest.json"
    try:
        payload = read_json(manifest)
    except ValueError as err:
        raise CorruptArtifactError(f"{manifest}: not valid JSON; {REBUILD}") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{manifest}: not the manifest of a prepared dataset; pass a folder "
                         "written by `musicgym prepare`")
    found = payload.get("format_version")
    if found != FORMAT_VERSION:
        raise StaleDatasetError(f"{manifest}: format version {found}, this musicgym reads "
                                f"version {FORMAT_VERSION}; {REBUILD}")
    files = payload.get("files")
    if not isinstance(files, dict) or sorted(files) != sorted(TABLES):
        raise CorruptArtifactError(f"{manifest}: the sha256 of its tables ('files') is missing "
                                   f"or incomplete; {REBUILD}")
    return payload


def check_replaceable(out: Path) -> bool:
    """Raise unless `out` may receive a prepared dataset; return whether one is replaced there.

    `out` may be absent, an empty folder, or an earlier prepared dataset (recognised by its
    manifest) that holds nothing prepare did not write. Anything else is the user's: refused.
    """
    if out.is_symlink():
        raise FileExistsError(f"{out} is a symbolic link; pass the folder it points to, or a new "
                              "folder, as the output (--out)")
    if not out.exists():
        return False
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is a file; prepare writes a folder and never "
                              "replaces a file: choose another output folder (--out)")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return False
    if not _is_prepared(out):
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise FileExistsError(f"{out} is a folder that holds other files ({shown}) and is not a "
                              "prepared dataset; choose a new or empty output folder (--out)")
    foreign = [name for name in entries if name not in (*FILES, *LEFTOVERS)]
    if foreign:
        raise FileExistsError(f"{out} is a prepared dataset that also holds files prepare did "
                              f"not write ({', '.join(foreign)}); move them out or choose "
                              "another output folder (--out)")
    return True


def _is_prepared(folder: Path) -> bool:
    try:
        manifest = read_json(folder / "manifest.json")
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT
