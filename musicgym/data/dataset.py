"""Read a prepared dataset: the log, sessions and tracks tables and the manifest beside them."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from musicgym.artifacts import read_manifest
from musicgym.data.schema import LOG_COLUMN_NAMES
from musicgym.data.splits import DEFAULT_SPLIT, SplitSpec, assign_splits

FORMAT_VERSION = 1
FILES = ("manifest.json", "log.parquet", "sessions.parquet", "tracks.parquet")


class PreparedDataset:
    """A prepared MSSD dataset folder: Parquet tables with integer indexes, and a manifest.

    `log.parquet` holds the official columns plus `track_idx`, `session_idx` and `outcome` (the
    class of `schema.OUTCOMES`), sorted by session then position; `sessions.parquet` and
    `tracks.parquet` hold one row per session and per track, in index order.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        missing = [f for f in FILES if not (self.path / f).exists()]
        if missing:
            raise FileNotFoundError(f"{self.path}: not a prepared dataset (missing {missing}); "
                                    "create one with `musicgym prepare --log LOG --out DIR`")
        self.manifest = read_manifest(self.path / "manifest.json", FORMAT_VERSION,
                                      "run `musicgym prepare` again")

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
