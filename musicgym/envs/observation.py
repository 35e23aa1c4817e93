"""The flat observation of `MusicRec-v0` and a helper that splits it into named parts.

Layout, in order (H = history_length, d = embedding dim, C = context size):

| part | size | what |
|---|---|---|
| history_embeddings | H * d | the last H tracks heard, oldest first, in action space (unit box) |
| history_outcomes | H * 4 | their outcome one-hot: skip_1, skip_2 only, skip_3 only, not_skipped |
| history_valid | H | 1 where the history slot holds a track (0 at the start of short histories) |
| context | C | premium, shuffle, context type one-hot (6), hour sin/cos, session length / 20 |
| position | 2 | next position / 20, tracks left / 20 |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES
from musicgym.simulator.inputs import CONTEXT_DIM

POSITION_PARTS = 2


@dataclass(frozen=True)
class ObservationLayout:
    """Where each named part sits in the flat observation vector."""

    history_length: int
    dim: int

    @property
    def parts(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of each part (without the batch axis), in order."""
        h = self.history_length
        return {"history_embeddings": (h, self.dim), "history_outcomes": (h, len(OUTCOMES)),
                "history_valid": (h,), "context": (CONTEXT_DIM,), "position": (POSITION_PARTS,)}

    low: ClassVar[float] = -1.0
    """Lowest value of any entry: track vectors and the hour's sine and cosine reach -1."""
    high: ClassVar[float] = (MAX_SESSION_LENGTH + 1) / MAX_SESSION_LENGTH
    """Highest value of any entry: the next position / 20 reaches 21 / 20 once a session of
    20 tracks has ended (its final observation); every other entry is at most 1."""

    @property
    def size(self) -> int:
        """Length of the flat observation."""
        return sum(int(np.prod(shape)) for shape in self.parts.values())

    def split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Split observations [..., size] (numpy or torch) into named parts [..., *shape]."""
        out, start = {}, 0
        lead = tuple(obs.shape[:-1])
        for name, shape in self.parts.items():
            n = int(np.prod(shape))
            out[name] = obs[..., start:start + n].reshape(*lead, *shape)
            start += n
        return out

    def space(self) -> spaces.Box:
        """The observation space of one session."""
        return spaces.Box(self.low, self.high, (self.size,), np.float32)

    def table(self) -> str:
        """The layout as a Markdown table of index ranges."""
        rows, start = ["| part | indices | shape |", "|---|---|---|"], 0
        for name, shape in self.parts.items():
            n = int(np.prod(shape))
            rows.append(f"| {name} | {start}..{start + n - 1} | {shape} |")
            start += n
        return "\n".join(rows)

