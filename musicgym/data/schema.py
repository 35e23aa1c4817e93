"""The MSSD schema: the one place that names the columns, their types and their allowed values.

The readers, the validator, the prepared-dataset writer and the synthetic generator all read
these definitions; nothing else spells out an MSSD column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

Kind = Literal["str", "int", "bool", "date", "category", "float"]


@dataclass(frozen=True)
class Column:
    """One column of an MSSD table: name, kind, and the values it may take."""

    name: str
    kind: Kind
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] = ()
    doc: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type this column is stored as in a prepared dataset."""
        return {
            "str": pa.string(),
            "int": pa.int16(),
            "bool": pa.bool_(),
            "date": pa.date32(),
            "category": pa.string(),
            "float": pa.float32(),
        }[self.kind]


MAX_SESSION_LENGTH = 20
CONTEXT_TYPES = (
    "editorial_playlist",
    "user_collection",
    "catalog",
    "radio",
    "charts",
    "personalized_playlist",
)
REASONS_START = (
    "trackdone", "fwdbtn", "backbtn", "clickrow", "appload", "playbtn", "remote", "trackerror",
    "endplay",
)
REASONS_END = (
    "trackdone", "fwdbtn", "backbtn", "endplay", "logout", "remote", "clickrow", "trackerror",
    "appload", "playbtn",
)

SKIP_COLUMNS = ("skip_1", "skip_2", "skip_3", "not_skipped")
"""Nested outcome flags: skip_1 implies skip_2 implies skip_3; not_skipped excludes skip_3."""

OUTCOMES = ("skip_1", "skip_2_only", "skip_3_only", "not_skipped")
"""The four exclusive outcome classes derived from the nested flags (see `outcome_class`)."""

FIRST_LISTENED = OUTCOMES.index("skip_3_only")
"""Classes from this one on have skip_2 false: the track was "listened" (see `listened`)."""

LOG_COLUMNS: tuple[Column, ...] = (
    Column("session_id", "str", doc="one listening session"),
    Column("session_position", "int", 1, MAX_SESSION_LENGTH, doc="1-based position"),
    Column("session_length", "int", 1, MAX_SESSION_LENGTH, doc="tracks in the session"),
    Column("track_id_clean", "str", doc="hashed track id (t_...)"),
    Column("skip_1", "bool", doc="played very briefly"),
    Column("skip_2", "bool", doc="played briefly (the challenge's target)"),
    Column("skip_3", "bool", doc="most of the track played"),
    Column("not_skipped", "bool", doc="played to the end"),
    Column("context_switch", "int", 0, 1),
    Column("no_pause_before_play", "int", 0, 1),
    Column("short_pause_before_play", "int", 0, 1),
    Column("long_pause_before_play", "int", 0, 1),
    Column("hist_user_behavior_n_seekfwd", "int", 0, 10_000),
    Column("hist_user_behavior_n_seekback", "int", 0, 10_000),
    Column("hist_user_behavior_is_shuffle", "bool"),
    Column("hour_of_day", "int", 0, 23),
    Column("date", "date"),
    Column("premium", "bool"),
    Column("context_type", "category", categories=CONTEXT_TYPES),
    Column("hist_user_behavior_reason_start", "category", categories=REASONS_START),
    Column("hist_user_behavior_reason_end", "category", categories=REASONS_END),
)
LOG_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in LOG_COLUMNS)
LOG_BY_NAME: dict[str, Column] = {c.name: c for c in LOG_COLUMNS}

ACOUSTIC_DIM = 8
FEATURE_COLUMNS: tuple[Column, ...] = (
    Column("track_id", "str"),
    Column("duration", "float", 0.0, None),
    Column("release_year", "int", 1000, 2100),
    Column("us_popularity_estimate", "float", 0.0, 100.0),
    Column("acousticness", "float", 0.0, 1.0),
    Column("beat_strength", "float", 0.0, 1.0),
    Column("bounciness", "float", 0.0, 1.0),
    Column("danceability", "float", 0.0, 1.0),
    Column("dyn_range_mean", "float", 0.0, None),
    Column("energy", "float", 0.0, 1.0),
    Column("flatness", "float", 0.0, None),
    Column("instrumentalness", "float", 0.0, 1.0),
    Column("key", "int", 0, 11),
    Column("liveness", "float", 0.0, 1.0),
    Column("loudness", "float", None, None),
    Column("mechanism", "float", 0.0, 1.0),
    Column("mode", "category", categories=("major", "minor")),
    Column("organism", "float", 0.0, 1.0),
    Column("speechiness", "float", 0.0, 1.0),
    Column("tempo", "float", 0.0, None),
    Column("time_signature", "int", 0, 7),
    Column("valence", "float", 0.0, 1.0),
    *(Column(f"acoustic_vector_{i}", "float") for i in range(ACOUSTIC_DIM)),
)
FEATURE_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in FEATURE_COLUMNS)
FEATURE_BY_NAME: dict[str, Column] = {c.name: c for c in FEATURE_COLUMNS}
NUMERIC_FEATURES: tuple[str, ...] = tuple(
    c.name for c in FEATURE_COLUMNS if c.kind in ("float", "int")
)

TRUE_STRINGS = frozenset({"true", "1", "t", "yes"})
FALSE_STRINGS = frozenset({"false", "0", "f", "no"})


def arrow_schema(columns: tuple[Column, ...]) -> pa.Schema:
    """The Arrow schema of a table made of `columns`, as stored in a prepared dataset."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def outcome_class(skip_1: np.ndarray, skip_2: np.ndarray, skip_3: np.ndarray) -> np.ndarray:
    """Map the nested skip flags to the exclusive classes of `OUTCOMES` (int8 0..3).

    The first flag that is set wins, so a row that breaks the nesting (skip_2 without skip_3)
    still gets the class that keeps its skip_2 label: P(skip_2) = P(class 0) + P(class 1).
    """
    out = np.full(np.shape(skip_1), 3, dtype=np.int8)
    out[np.asarray(skip_3, bool)] = 2
    out[np.asarray(skip_2, bool)] = 1
    out[np.asarray(skip_1, bool)] = 0
    return out


def outcome_flags(outcome: np.ndarray) -> dict[str, np.ndarray]:
    """The nested flags of `SKIP_COLUMNS` that a class of `OUTCOMES` stands for."""
    outcome = np.asarray(outcome)
    return {
        "skip_1": outcome == 0,
        "skip_2": outcome <= 1,
        "skip_3": outcome <= 2,
        "not_skipped": outcome == 3,
    }


def listened(outcome: np.ndarray) -> np.ndarray:
    """Whether each outcome class was "listened": skip_2 false (skip_3 only or played through).

    MSSD's own `not_skipped` flag means "played to the end", a narrower event; musicgym's
    reward, metric and baselines all use this one.
    """
    return np.asarray(outcome) >= FIRST_LISTENED


def p_listened(probs: np.ndarray) -> np.ndarray:
    """P(listened) from outcome probabilities [..., 4] over `OUTCOMES`."""
    return probs[..., FIRST_LISTENED:].sum(axis=-1)
