"""`EnvConfig`: every argument of `MusicRec-v0`, frozen and checked once."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from musicgym.data.schema import MAX_SESSION_LENGTH

REWARDS = ("listened", "listen")
DECODINGS = ("dot", "nearest")
DEPRECATED_REWARDS = {"not_skipped": "listened"}
"""Old reward names, accepted for one version with a DeprecationWarning."""
DEPRECATED_ARGUMENTS = {"seed": "simulator_seed"}
"""Old argument names, accepted for one version with a DeprecationWarning."""
_warned: set[str] = set()


def _deprecated(old: str, new: str, what: str) -> None:
    """Warn once per process that `old` is now `new`."""
    if old not in _warned:
        _warned.add(old)
        warnings.warn(f"{what} {old!r} is deprecated and will be removed in the next version; "
                      f"use {new!r} (same meaning)", DeprecationWarning, stacklevel=4)


@dataclass(frozen=True)
class EnvConfig:
    """Arguments of `MusicRecEnv`; see the env's docstring for what each one does."""

    data: str | Path | None = None
    """A prepared dataset or an MSSD log; None: the project's synthetic default set."""
    slate_size: int = 1
    """Tracks recommended per step (the seed's list-wise setting is 3)."""
    history_length: int = 10
    """Tracks of the listening history in the observation."""
    reward: Literal["listened", "listen"] = "listened"
    """"listened": 1 when the track is listened, i.e. skip_2 is false; "listen": 0, 1/3, 2/3,
    1 for skip_1, skip_2, skip_3, played to the end. ("not_skipped" is the deprecated name of
    "listened"; MSSD's own not_skipped flag means played to the end.)"""
    min_plays: int = 5
    """Only tracks heard at least this often in the training split are recommendable, so the
    simulator has seen how users respond to them."""
    decoding: Literal["dot", "nearest"] = "dot"
    """"dot": the track with the highest dot product (LIRD); "nearest": the nearest track by
    Euclidean distance (Wolpertinger)."""
    history_fraction: float = 0.5
    """Share of a logged session's opening tracks the user has heard at reset."""
    simulator_seed: int = 0
    """Seed of the simulator fit (not of episodes: `reset(seed=...)` seeds those)."""
    simulator_half: int | None = None
    """0 or 1: fit the simulator on that half of the training sessions only (two disjoint
    simulators, to check that an agent does not just exploit one fit); None: all of them."""
    sessions: Literal["train", "validation", "test"] = "train"
    """Split whose logged sessions start episodes: agents train on "train" and are evaluated
    on "test", sessions that neither the simulator nor the agent saw."""

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> EnvConfig:
        """The config of `gym.make` keyword arguments, with unknown names reported by name.

        Deprecated names (`seed`, reward "not_skipped") are accepted with a warning.
        """
        for old, new in DEPRECATED_ARGUMENTS.items():
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"pass {new} only; {old} is its deprecated name")
                _deprecated(old, new, "MusicRec-v0 argument")
                kwargs[new] = kwargs.pop(old)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"MusicRec-v0 got unknown argument(s) {unknown}; its arguments are "
                            f"{sorted(known)}")
        return cls(**kwargs)

    def __post_init__(self) -> None:
        if self.reward in DEPRECATED_REWARDS:
            _deprecated(self.reward, DEPRECATED_REWARDS[self.reward], "reward")
            object.__setattr__(self, "reward", DEPRECATED_REWARDS[self.reward])
        if self.slate_size < 1:
            raise ValueError(f"slate_size ({self.slate_size}) must be at least 1")
        if not 1 <= self.history_length <= MAX_SESSION_LENGTH:
            raise ValueError(f"history_length ({self.history_length}) must be in [1, "
                             f"{MAX_SESSION_LENGTH}]: sessions hold at most "
                             f"{MAX_SESSION_LENGTH} tracks")
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
