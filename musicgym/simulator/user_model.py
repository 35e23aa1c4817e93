"""`UserModel`: the interface every simulated listener implements, and `World`, one by track id.

A user model keeps a state per session, updates it with each heard track and its outcome, and
gives the probabilities of the four outcome classes (`schema.OUTCOMES`) for a candidate track.
`ResponseModel` (torch, for fitting and fidelity) and `NumpyResponse` (numpy, for stepping
envs) implement it.

A `World` is one user model, or an ensemble of them, together with the track ids of its rows.
Whoever steps sessions (the envs) maps the catalog's track ids to the world's rows once, so a
world never reads the agent's coordinates: it may keep any internal track representation of
its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd


class UserModel(Protocol):
    """A simulated listener's response to tracks, batched over sessions.

    Tracks are the model's own rows (`World.rows` maps ids to them); `context` is
    `inputs.encode_context`'s encoding, positions are 1-based.
    """

    @property
    def hidden(self) -> int:
        """Size of the user state."""
        ...

    def initial_state(self, context: np.ndarray, session_idx: np.ndarray | None = None) -> Any:
        """User states [B, H] at the start of sessions with `context` [B, C].

        `session_idx` [B]: the prepared dataset's index of the logged session each one starts
        from (None when they have none); models fitted on logs ignore it, the generator's own
        users (`world="truth"`) need it.
        """
        ...

    def observe(self, state: Any, tracks: np.ndarray, outcomes: np.ndarray,
                context: np.ndarray, behaviour: np.ndarray | None = None) -> Any:
        """User states after each session heard `tracks` [B] with `outcomes` [B]."""
        ...

    def probs(self, state: Any, candidates: np.ndarray, context: np.ndarray,
              position: np.ndarray, session_length: np.ndarray) -> np.ndarray:
        """Outcome probabilities [B, 4] of one candidate track per session."""
        ...


@dataclass(frozen=True, eq=False)
class World:
    """User models that judge tracks by id: one, or an ensemble whose members share rows.

    :param members: the user models (each episode's user is one of them)
    :param track_ids: the track id of each of the models' rows; tracks outside them map to
        `unknown_row` (= len(track_ids)), which the models must accept
    """

    members: tuple[UserModel, ...]
    track_ids: np.ndarray

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a world needs at least one user model")
        if len({m.hidden for m in self.members}) != 1:
            raise ValueError("the members of a world must share one state size")

    def __len__(self) -> int:
        return len(self.members)

    @property
    def unknown_row(self) -> int:
        """The model row of any track the world does not know."""
        return len(self.track_ids)

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(np.asarray(self.track_ids, dtype=object))

    def rows(self, track_ids: np.ndarray) -> np.ndarray:
        """The model rows of `track_ids`; unknown ids (and "") map to `unknown_row`."""
        rows = self._index.get_indexer(np.asarray(track_ids, dtype=object))
        return np.where(rows < 0, self.unknown_row, rows).astype(np.int64)
