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
WORLDS = ("all", "A", "B", "truth")
"""Who judges: user models fitted on all training sessions, on half A or half B of them, or
(synthetic data only) the generator's own users."""
HALVES = ("all", "A", "B")
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
    world: Literal["all", "A", "B", "truth"] = "all"
    """Who responds: a user model fitted on all training sessions ("all"), or on one of two
    disjoint halves of them ("A", "B": train in one, judge in the other), or, on synthetic
    data only, the generator's own users ("truth")."""
    catalog: Literal["all", "A", "B"] | None = None
    """Training sessions the agent-facing catalog is fitted on (and training episodes start
    from); None: the world's own ("all" for "truth"). Judge an agent trained in world A in
    world B with `world="B", catalog="A"`: it keeps the catalog it learned with."""
    ensemble: int = 1
    """User models fitted on bootstrap resamples of the world's sessions (seeds simulator_seed,
    simulator_seed + 1, ...); each episode's user is one of them, drawn by the episode's
    generator. 1: one fit on all of the world's sessions."""
    uncertainty_penalty: float = 0.0
    """λ: each recommended track's reward loses λ times the standard deviation of P(listened)
    across the ensemble's members (`info["disagreement"]`), as in MOPO."""
    sessions: Literal["train", "validation", "test"] = "train"
    """Split whose logged sessions start episodes: agents train on "train" and are evaluated
    on "test", sessions that neither the simulators nor the agent saw."""
    test_data: str | Path | None = None
    """Another log or prepared dataset whose sessions (all of them) start the episodes of
    `sessions="test"`; its tracks are mapped into the catalog by id."""

    @property
    def catalog_sessions(self) -> str:
        """The training sessions of the catalog: `catalog`, else the world's."""
        if self.catalog is not None:
            return self.catalog
        return "all" if self.world == "truth" else self.world

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
        if "simulator_half" in kwargs:
            half = kwargs.pop("simulator_half")
            if half is not None:
                _deprecated("simulator_half", "world", "MusicRec-v0 argument")
                if half not in (0, 1):
                    raise ValueError(f"simulator_half ({half}) must be None, 0 or 1")
                kwargs.setdefault("world", "AB"[half])
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
        if self.world not in WORLDS:
            raise ValueError(f"world ({self.world!r}) must be one of {WORLDS}")
        if self.catalog not in (None, *HALVES):
            raise ValueError(f"catalog ({self.catalog!r}) must be None or one of {HALVES}")
        if self.ensemble < 1:
            raise ValueError(f"ensemble ({self.ensemble}) must be at least 1")
        if not self.uncertainty_penalty >= 0.0:
            raise ValueError(f"uncertainty_penalty ({self.uncertainty_penalty}) must be at "
                             "least 0")
        if self.test_data is not None and self.sessions != "test":
            raise ValueError(f"test_data ({self.test_data}) starts test episodes; it needs "
                             f"sessions='test', not {self.sessions!r}")
        if self.sessions not in ("train", "validation", "test"):
            raise ValueError(f"sessions ({self.sessions!r}) must be 'train', 'validation' or "
                             "'test'")
        if not 0.0 <= self.history_fraction < 1.0:
            raise ValueError(f"history_fraction ({self.history_fraction}) must be in [0, 1)")
