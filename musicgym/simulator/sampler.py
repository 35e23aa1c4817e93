"""`SessionSampler`: draw logged sessions to start simulated ones from.

A drawn session brings its context, its logged length and its opening tracks with their real
outcomes, which become the simulated user's history at reset. Episodes are truncated at the
session's logged length. No leave model: the MSSD cuts sessions at 20 tracks and drops shorter
ones than 10, so when a real user would have quit is not identifiable from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from musicgym.data.dataset import PreparedDataset
from musicgym.data.splits import SplitSpec
from musicgym.simulator.inputs import PackedSessions


def draw_outcomes(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One outcome index per row of outcome probabilities `probs` [B, 4].

    One uniform draw per row from `rng`; the env, the rollouts and the challenge's sampling all
    draw outcomes this way.
    """
    drawn = (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    return np.minimum(drawn, probs.shape[1] - 1)


@dataclass(frozen=True)
class DrawnSessions:
    """A batch of logged sessions to simulate: context, length and the opening history."""

    session_idx: np.ndarray
    context: np.ndarray
    session_length: np.ndarray
    history_length: np.ndarray
    """How many opening tracks (with outcomes) the user has heard at reset."""
    tracks: np.ndarray
    """Every logged track [n, 20]; beyond history_length, what the real session played."""
    outcomes: np.ndarray
    positions: np.ndarray


class SessionSampler:
    """Draws logged sessions, with the caller's generator, as starting points of episodes."""

    def __init__(self, sessions: PackedSessions, history_fraction: float = 0.5) -> None:
        if not 0.0 <= history_fraction < 1.0:
            raise ValueError(f"history_fraction ({history_fraction}) must be in [0, 1): the "
                             "user needs at least one track left to recommend")
        if len(sessions) == 0:
            raise ValueError("no sessions to sample from; is the training split empty?")
        self.sessions = sessions
        self.history_fraction = history_fraction

    @classmethod
    def from_dataset(cls, dataset: PreparedDataset, split: str | None, spec: SplitSpec | None,
                     history_fraction: float = 0.5,
                     track_rows: np.ndarray | None = None) -> SessionSampler:
        """A sampler over the logged sessions of one split of `dataset` (as `spec` assigns).

        :param split: the split whose sessions are drawn; None: every session
        :param spec: how sessions are assigned to splits
        :param track_rows: the row of each of the dataset's tracks in the tables the sessions
            are simulated with (a catalog of another dataset); None: the dataset's `track_idx`
        """
        if split is None:
            log = dataset.log()
        else:
            log = dataset.log(split=split, spec=spec)
        sessions = PackedSessions.from_log(log)
        if track_rows is not None:
            mapped = np.where(sessions.mask, track_rows[sessions.tracks], -1)
            sessions = dataclasses.replace(sessions, tracks=mapped)
        return cls(sessions, history_fraction)

    def __len__(self) -> int:
        return len(self.sessions)

    def draw(self, rng: np.random.Generator, n: int) -> DrawnSessions:
        """Draw `n` sessions uniformly with replacement."""
        return self.take(rng.integers(len(self.sessions), size=n))

    def take(self, index: np.ndarray) -> DrawnSessions:
        """The sessions at `index` (rows of the packed sessions), as drawn sessions."""
        s = self.sessions.subset(np.asarray(index))
        rows = s.mask.sum(axis=1)
        history = np.floor(rows * self.history_fraction).astype(np.int64)
        return DrawnSessions(s.session_idx, s.context, s.session_length, history, s.tracks,
                             s.outcomes, s.positions)
