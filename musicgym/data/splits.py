"""Deterministic train/validation/test splits of sessions, by a hash of session_id or by date.

The hash is MD5 of the session id: stable across machines, Python versions and runs, so a session
lands in the same split wherever it appears; no session ever crosses splits. It is defined once,
as the SQL expression `HASH_UNIT_SQL`: `prepare` stores it per session (the `hash_unit` column of
sessions.parquet) and `session_hash_unit` evaluates the same expression on any ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

HASH_UNIT_SQL = "(('0x' || left(md5(session_id), 13))::UBIGINT / 4503599627370496.0)"
"""DuckDB SQL of a session's hash unit in [0, 1): the first 52 bits of MD5(session_id) / 2^52."""


@dataclass(frozen=True)
class SplitSpec:
    """Which share of sessions goes to validation and test, and whether by hash or by date."""

    validation: float = 0.1
    test: float = 0.1
    by: Literal["session", "date"] = "session"
    offset: float = 0.0
    """Rotates the hash units before the cut: fold k of K (offset k/K) tests its own share."""
    train_half: int | None = None
    """0 or 1: only that half of the training sessions is labelled train, the other half
    "unused", so two simulators can be fitted on disjoint data (robustness checks)."""

    def __post_init__(self) -> None:
        for name in ("validation", "test"):
            share = getattr(self, name)
            if not 0.0 <= share < 1.0:
                raise ValueError(f"{name} share ({share}) must be in [0, 1)")
        if self.validation + self.test >= 1.0:
            raise ValueError(f"validation + test ({self.validation + self.test}) must leave "
                             "sessions for training; use shares that sum to less than 1")
        if self.train_half not in (None, 0, 1):
            raise ValueError(f"train_half ({self.train_half}) must be None, 0 or 1")
        if not 0.0 <= self.offset < 1.0:
            raise ValueError(f"offset ({self.offset}) must be in [0, 1)")
        if self.by not in ("session", "date"):
            raise ValueError(f"by ({self.by!r}) must be 'session' or 'date'")


def session_hash_unit(session_ids: Iterable[str]) -> np.ndarray:
    """Each session id's hash unit in [0, 1), by `HASH_UNIT_SQL` (as `prepare` computes it)."""
    ids = pa.table({"session_id": pa.array(list(session_ids), pa.string())})
    ids = ids.append_column("i", pa.array(np.arange(ids.num_rows, dtype=np.int64)))
    with duckdb.connect() as con:
        con.register("ids", ids)
        unit = con.execute(f"SELECT {HASH_UNIT_SQL} FROM ids ORDER BY i").fetchnumpy()
    return next(iter(unit.values())).astype(np.float64)


DEFAULT_SPLIT = SplitSpec()


def assign_splits(sessions: pd.DataFrame, spec: SplitSpec = DEFAULT_SPLIT) -> np.ndarray:
    """Label each session 'train', 'validation' or 'test'.

    `sessions` needs a `hash_unit` column (by session) or a `date` column (by date). By date, the
    latest dates go to test and the ones before to validation; a date is never split.
    """
    if spec.by == "session":
        unit = (sessions["hash_unit"].to_numpy() + spec.offset) % 1.0
    else:
        dates = pd.to_datetime(sessions["date"]).to_numpy()
        order = np.argsort(dates, kind="stable")
        cum = np.empty(len(dates))
        cum[order] = np.arange(len(dates)) / max(len(dates), 1)
        # every session of a date takes the share at which its date starts
        first = pd.Series(cum).groupby(dates).transform("min").to_numpy()
        unit = first
    return _label(unit, spec)


def cross_fit_specs(folds: int, validation: float = 0.1) -> list[SplitSpec]:
    """The K session splits of K-fold cross-fitting; their test shares partition the sessions."""
    if folds < 2:
        raise ValueError(f"folds ({folds}) must be at least 2 for cross-fitting")
    return [SplitSpec(validation=validation, test=1.0 / folds, offset=k / folds)
            for k in range(folds)]


def train_fold(unit: np.ndarray, spec: SplitSpec, folds: int) -> np.ndarray:
    """The fold (0 .. folds - 1) of training sessions with hash units `unit` under `spec`.

    The training range of the hash units (a half's, with `train_half`) is cut into `folds`
    equal parts, so the folds are disjoint, cover the training sessions and need no seed. With
    a split by date, whose training sessions take hash units anywhere in [0, 1), the whole
    range is cut.
    """
    if spec.by == "date":
        return np.minimum((np.asarray(unit, np.float64) * folds).astype(np.int64), folds - 1)
    cut = round(1.0 - spec.test - spec.validation, 12)
    low, width = 0.0, cut
    if spec.train_half is not None:
        width = cut / 2
        low = width * spec.train_half
    unit = (np.asarray(unit, np.float64) + spec.offset) % 1.0
    return np.clip(((unit - low) / width * folds).astype(np.int64), 0, folds - 1)


def _label(unit: np.ndarray, spec: SplitSpec) -> np.ndarray:
    labels = np.full(len(unit), "train", dtype=object)
    # rounding keeps 1 - 0.2 - 0.1 from landing a hair above 0.7
    cut = round(1.0 - spec.test - spec.validation, 12)
    if spec.train_half is not None:
        upper = unit >= cut / 2
        labels[upper != bool(spec.train_half)] = "unused"
    labels[unit >= cut] = "validation"
    labels[unit >= round(1.0 - spec.test, 12)] = "test"
    return labels
