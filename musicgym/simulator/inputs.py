"""Numeric inputs of the response model: session context, per-track statistics, packed sessions.

Everything here is numpy; the torch model reads these arrays. The same encoders serve training
(from logged rows) and simulation (from the env's sampled sessions), so both see one layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH, REASONS_END, REASONS_START

UNKNOWN_OUTCOME = 4
"""Outcome input for a track whose outcome is hidden (the challenge's second half)."""
CONTEXT_NAMES = ("premium", "shuffle", *(f"context_{c}" for c in CONTEXT_TYPES),
                 "hour_sin", "hour_cos", "session_length")
CONTEXT_DIM = len(CONTEXT_NAMES)
CONTEXT_COLUMNS = ("premium", "hist_user_behavior_is_shuffle", "context_type", "hour_of_day",
                   "session_length")


def encode_context(premium: np.ndarray, shuffle: np.ndarray, context_type: np.ndarray,
                   hour: np.ndarray, session_length: np.ndarray) -> np.ndarray:
    """Encode a session's context as a float32 row of `CONTEXT_NAMES` (one row per session)."""
    return encode_context_codes(premium, shuffle, context_codes(context_type), hour,
                                session_length)


def context_codes(context_type: np.ndarray) -> np.ndarray:
    """Index of each context type in `CONTEXT_TYPES` (-1: none of them)."""
    return pd.Categorical(np.asarray(context_type), categories=list(CONTEXT_TYPES)).codes


def encode_context_codes(premium: np.ndarray, shuffle: np.ndarray, codes: np.ndarray,
                         hour: np.ndarray, session_length: np.ndarray) -> np.ndarray:
    """`encode_context` with the context type given by `context_codes`."""
    n = len(premium)
    out = np.zeros((n, CONTEXT_DIM), dtype=np.float32)
    out[:, 0] = np.asarray(premium, dtype=np.float32)
    out[:, 1] = np.asarray(shuffle, dtype=np.float32)
    valid = codes >= 0
    out[np.flatnonzero(valid), 2 + codes[valid]] = 1.0
    angle = 2 * np.pi * np.asarray(hour, dtype=np.float32) / 24.0
    out[:, 2 + len(CONTEXT_TYPES)] = np.sin(angle)
    out[:, 3 + len(CONTEXT_TYPES)] = np.cos(angle)
    out[:, -1] = np.asarray(session_length, dtype=np.float32) / MAX_SESSION_LENGTH
    return out


def position_features(position: np.ndarray, session_length: np.ndarray) -> np.ndarray:
    """Where a track sits in its session.

    position/20, position/length, tracks left/20, whether it is the last track, and a one-hot
    of the position (skip rates move by position in ways a smooth function misses).
    """
    position, length = np.broadcast_arrays(np.asarray(position), np.asarray(session_length))
    pos = position.astype(np.float32)
    length = np.maximum(length.astype(np.float32), 1.0)
    out = np.zeros((*pos.shape, POSITION_DIM), dtype=np.float32)
    out[..., 0] = pos / MAX_SESSION_LENGTH
    out[..., 1] = pos / length
    out[..., 2] = (length - pos) / MAX_SESSION_LENGTH
    out[..., 3] = pos == length
    slot = np.clip(position.astype(np.int64), 1, MAX_SESSION_LENGTH) + 3
    np.put_along_axis(out, slot[..., None], 1.0, axis=-1)
    return out


POSITION_DIM = 4 + MAX_SESSION_LENGTH
POSITION_ONEHOT = slice(4, 4 + MAX_SESSION_LENGTH)
"""Where the position one-hot (positions 1..20) sits in `position_features`."""
STATS_DIM = 2


BEHAVIOUR_COLUMNS = ("hist_user_behavior_reason_start", "hist_user_behavior_reason_end",
                     "no_pause_before_play", "short_pause_before_play", "long_pause_before_play",
                     "context_switch", "hist_user_behavior_n_seekfwd",
                     "hist_user_behavior_n_seekback", "hist_user_behavior_is_shuffle")
"""Per-row behaviour columns the model may read for heard tracks whose behaviour is known."""
BEHAVIOUR_FIELDS = ("observed", "reason_start", "reason_end", "pause", "context_switch",
                    "seekfwd", "seekback", "shuffle")
"""Compact uint8 codes of one row's behaviour; all 0 is "unknown" (see `encode_behaviour`)."""
BEHAVIOUR_DIM = 1 + len(REASONS_START) + len(REASONS_END) + 3 + 4
"""Width of `behaviour_features`: observed bit, two reason one-hots, pause one-hot, 4 flags."""


def encode_behaviour(log: pd.DataFrame) -> np.ndarray:
    """Behaviour codes [rows, len(BEHAVIOUR_FIELDS)] (uint8) of logged rows; 0 = unknown.

    A log without the behaviour columns (all of them) gets "unknown" everywhere. Reasons are
    stored as index + 1 into the schema's lists (0: not one of them); pause as 0 none, 1 no,
    2 short, 3 long; seeks as "at least one".
    """
    out = np.zeros((len(log), len(BEHAVIOUR_FIELDS)), np.uint8)
    if not set(BEHAVIOUR_COLUMNS) <= set(log.columns):
        return out

    def flag(column: str) -> np.ndarray:
        return log[column].to_numpy().astype(np.float64) > 0

    out[:, 0] = 1
    for k, (column, names) in enumerate(((BEHAVIOUR_COLUMNS[0], REASONS_START),
                                         (BEHAVIOUR_COLUMNS[1], REASONS_END)), start=1):
        out[:, k] = pd.Categorical(log[column].to_numpy(), categories=list(names)).codes + 1
    pauses = np.stack([flag(c) for c in BEHAVIOUR_COLUMNS[2:5]], axis=1)
    out[:, 3] = np.where(pauses.any(axis=1), pauses.argmax(axis=1) + 1, 0)
    for k, column in enumerate(BEHAVIOUR_COLUMNS[5:], start=4):
        out[:, k] = flag(column)
    return out


def behaviour_features(codes: np.ndarray) -> np.ndarray:
    """Float features [..., BEHAVIOUR_DIM] of behaviour codes [..., 8]; unknown rows are 0."""
    codes = np.asarray(codes)
    eye_start = np.eye(len(REASONS_START) + 1, dtype=np.float32)[:, 1:]
    eye_end = np.eye(len(REASONS_END) + 1, dtype=np.float32)[:, 1:]
    eye_pause = np.eye(4, dtype=np.float32)[:, 1:]
    out = np.concatenate([codes[..., :1].astype(np.float32), eye_start[codes[..., 1]],
                          eye_end[codes[..., 2]], eye_pause[codes[..., 3]],
                          codes[..., 4:].astype(np.float32)], axis=-1)
    return out * (codes[..., :1] > 0)


def unknown_behaviour(shape: tuple[int, ...]) -> np.ndarray:
    """Behaviour codes meaning "not observed" for rows of `shape`."""
    return np.zeros((*shape, len(BEHAVIOUR_FIELDS)), np.uint8)


@dataclass(frozen=True)
class TrackStats:
    """Per-track play and skip counts from training rows, turned into shrunk features.

    The smoothed skip rate is (skips + strength * prior) / (plays + strength): a track heard
    once says little, so its rate stays near the overall rate.
    """

    plays: np.ndarray
    skips: np.ndarray
    prior: float
    strength: float = 10.0

    @classmethod
    def from_rows(cls, track_idx: np.ndarray, skip_2: np.ndarray, n_tracks: int,
                  strength: float = 10.0) -> TrackStats:
        """Count plays and skip_2 per track over the given rows."""
        plays = np.bincount(track_idx, minlength=n_tracks).astype(np.float32)
        skips = np.bincount(track_idx, weights=skip_2.astype(np.float64),
                            minlength=n_tracks).astype(np.float32)
        prior = float(skips.sum() / max(plays.sum(), 1.0))
        return cls(plays, skips, prior, strength)

    def features(self, rows: np.ndarray, own_skip: np.ndarray | None = None) -> np.ndarray:
        """Features [log plays, smoothed skip rate] of tracks `rows`.

        With `own_skip` (training), each row's own outcome is left out of its track's counts,
        so the model cannot read a row's label from its track's statistics.
        """
        plays = self.plays[rows]
        skips = self.skips[rows]
        if own_skip is not None:
            plays = plays - 1.0
            skips = skips - own_skip.astype(np.float32)
        rate = (skips + self.strength * self.prior) / (plays + self.strength)
        return np.stack([np.log1p(plays) / 5.0, rate - self.prior], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class PackedSessions:
    """Sessions as padded arrays [sessions, 20]: what the model trains and evaluates on."""

    tracks: np.ndarray
    outcomes: np.ndarray
    positions: np.ndarray
    mask: np.ndarray
    context: np.ndarray
    session_length: np.ndarray
    session_idx: np.ndarray
    behaviour: np.ndarray | None = None
    """Behaviour codes [sessions, 20, 8] of every row (see `encode_behaviour`); None: unknown."""

    def __len__(self) -> int:
        return len(self.tracks)

    @classmethod
    def from_log(cls, log: pd.DataFrame) -> PackedSessions:
        """Pack rows sorted by session then position (a `PreparedDataset.log` frame).

        The log is one batch of `pack_stream`, the packer of the streamed fit.
        """
        session = log["session_idx"].to_numpy()
        groups = np.full(int(session.max(initial=-1)) + 1, -1, np.int64)
        groups[session] = 0
        return pack_stream([log], groups, 1)[0].sessions

    def subset(self, index: np.ndarray) -> PackedSessions:
        """The sessions at `index`."""
        return PackedSessions(**{f: None if getattr(self, f) is None else getattr(self, f)[index]
                                 for f in self.__dataclass_fields__})

    def behaviour_codes(self) -> np.ndarray:
        """Behaviour codes [sessions, 20, 8], all unknown when the log had none."""
        if self.behaviour is None:
            return unknown_behaviour(self.tracks.shape)
        return self.behaviour


PACK_COLUMNS = ("session_idx", "session_position", "track_idx", "skip_2", "outcome",
                *CONTEXT_COLUMNS)
"""Log columns `pack_stream` reads (with `BEHAVIOUR_COLUMNS` when the log has them all)."""


@dataclass(frozen=True)
class PackedLog:
    """Packed sessions and the skip_2 label of each of their rows [sessions, 20]."""

    sessions: PackedSessions
    skip_2: np.ndarray

    def subset(self, index: np.ndarray) -> PackedLog:
        """The sessions at `index`."""
        return PackedLog(self.sessions.subset(index), self.skip_2[index])


class _Grids:
    """The [sessions, 20] arrays of one group of sessions, filled one batch of rows at a time."""

    def __init__(self, sessions: int) -> None:
        shape = (sessions, MAX_SESSION_LENGTH)
        self.cells = {"tracks": np.zeros(shape, np.int64), "outcomes": np.zeros(shape, np.int64),
                      "positions": np.zeros(shape, np.int64), "mask": np.zeros(shape, bool),
                      "skip_2": np.zeros(shape, bool),
                      "behaviour": np.zeros((*shape, len(BEHAVIOUR_FIELDS)), np.uint8)}
        self.first = {c: np.zeros(sessions, np.int64) for c in CONTEXT_COLUMNS}
        self.filled = np.zeros(sessions, np.int64)
        self.session_idx = np.zeros(sessions, np.int32)  # the prepared log's own dtype

    def add(self, rows: pd.DataFrame, slots: np.ndarray) -> None:
        """Place `rows` (whole sessions or their continuation) at session slots `slots`."""
        starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
        counts = np.diff(np.r_[starts, len(slots)])
        run, before = slots[starts], self.filled[slots[starts]]
        after = before + counts
        if after.max(initial=0) > MAX_SESSION_LENGTH:
            raise ValueError(f"a session has {after.max()} rows; at most "
                             f"{MAX_SESSION_LENGTH} fit (is the log sorted by session?)")
        self.filled[run] = after
        row = np.repeat(run, counts)
        step = np.arange(len(slots)) - np.repeat(starts - before, counts)
        for name, column in (("tracks", "track_idx"), ("outcomes", "outcome"),
                             ("positions", "session_position"), ("skip_2", "skip_2")):
            self.cells[name][row, step] = rows[column].to_numpy()
        self.cells["mask"][row, step] = True
        self.cells["behaviour"][row, step] = encode_behaviour(rows)
        new = starts[before == 0]  # a session's first row carries its context
        self.session_idx[slots[new]] = rows["session_idx"].to_numpy()[new]
        for column in CONTEXT_COLUMNS:
            values = rows[column].to_numpy()[new]
            self.first[column][slots[new]] = (context_codes(values) if column == "context_type"
                                              else values)

    def packed(self) -> PackedLog:
        """The filled arrays, without slots no row reached (sessions absent from the log)."""
        f, cells = self.first, self.cells
        context = encode_context_codes(f["premium"].astype(bool),
                                       f["hist_user_behavior_is_shuffle"].astype(bool),
                                       f["context_type"], f["hour_of_day"], f["session_length"])
        sessions = PackedSessions(tracks=cells["tracks"], outcomes=cells["outcomes"],
                                  positions=cells["positions"], mask=cells["mask"],
                                  context=context, session_length=f["session_length"],
                                  session_idx=self.session_idx, behaviour=cells["behaviour"])
        out = PackedLog(sessions, cells["skip_2"])
        return out if self.filled.all() else out.subset(np.flatnonzero(self.filled))


def pack_stream(batches: Iterable[pd.DataFrame], groups: np.ndarray,
                n_groups: int) -> list[PackedLog]:
    """Pack log rows streamed in batches into `n_groups` groups of sessions.

    `groups[session_idx]` names the group of each session (-1: not packed). Rows come sorted
    by session then position (a `PreparedDataset.iter_log` stream, `PACK_COLUMNS`); a session
    may straddle batches. The arrays equal `PackedSessions.from_log` of each group's rows, and
    only they (plus one batch) are held: never the whole log.
    """
    groups = np.asarray(groups, np.int64)
    slot = np.full(len(groups), -1, np.int64)
    grids = []
    for g in range(n_groups):
        members = np.flatnonzero(groups == g)
        slot[members] = np.arange(len(members))
        grids.append(_Grids(len(members)))
    for frame in batches:
        session = frame["session_idx"].to_numpy()
        if session.size and (session.min() < 0 or session.max() >= len(groups)):
            raise ValueError(f"session_idx {session.max()} has no split label; the log and "
                             "its sessions table disagree (prepare the dataset again)")
        group = groups[session]
        for g, grid in enumerate(grids):
            rows = np.flatnonzero(group == g)
            if rows.size:
                part = frame.iloc[rows] if rows.size < len(frame) else frame
                grid.add(part, slot[session[rows]])
    return [grid.packed() for grid in grids]
