"""`EnvConfig`: every argument of `MusicRec-v0`, frozen and checked once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

REWARDS = ("not_skipped", "listen")
DECODINGS = ("dot", "nearest")


@dataclass(frozen=True)
class EnvConfig:
    """Arguments of `MusicRecEnv`; see the env's docstring for what each one does."""

    data: str | Path | None = None
    """A prepared dataset or an MSSD log; None: the project's synthetic default set."""
    slate_size: int = 1
    """Tracks recommended per step (the seed's list-wise setting is 3)."""
    history_length: int = 10
    """Tracks of the listening history in the observation."""
    reward: Literal["not_skipped", "listen"] = "not_skipped"
    """"not_skipped": 1 when skip_2 is false; "listen": 0, 1/3, 2/3, 1 for skip_1, skip_2,
    skip_3, not_skipped."""
    min_plays: int = 5
    """Only tracks heard at least this often in the training split are recommendable, so the
    simulator has seen how users respond to them."""
    decoding: Literal["dot", "nearest"] = "dot"
    """"dot": the track with the highest dot product (LIRD); "nearest": the nearest track by
    Euclidean distance (Wolpertinger)."""
    history_fraction: float = 0.5
    """Share of a logged session's opening tracks the user has heard at reset."""
    seed: int = 0
    """Seed of the simulator fit (not of episodes: `reset(seed=...)` seeds those)."""
    simulator_half: int | None = None
    """0 or 1: fit the simulator on that half of the training sessions only (two disjoint
    simulators, to check that an agent does not just exploit one fit); None: all of them."""
    sessions: Literal["train", "validation", "test"] = "train"
    """Split whose logged sessions start episodes: agents train on "train" and are evaluated
    on "test", sessions that neither the simulator nor the agent saw."""

    def __post_init__(self) -> None:
        if self.slate_size < 1:
            raise ValueError(f"slate_size ({self.slate_size}) must be at least 1")
        if self.history_length < 1:
            raise ValueError(f"history_length ({self.history_length}) must be at least 1")
        if self.reward not in REWARDS:
            raise ValueError(f"reward ({self.reward!r}) must be one of {REWARDS}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding ({self.decoding!r}) must be one of {DECODINGS}")
        if self.min_plays < 1:
            raise ValueError(f"min_plays ({self.min_plays}) must be at least 1")
        if self.simulator_half not in (None, 0, 1):
            raise ValueError(f"simulator_half ({self.simulator_half}) must be None, 0 or 1")
        if self.sessions not in ("train", "validation", "test"):
            raise ValueError(f"sessions ({self.sessions!r}) must be 'train', 'validation' or "
                             "'test'")
        if not 0.0 <= self.history_fraction < 1.0:
            raise ValueError(f"history_fraction ({self.history_fraction}) must be in [0, 1)")
