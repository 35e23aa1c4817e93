"""`EnvConfig`: every argument of `MusicRec-v0`, frozen and checked once.

Every argument is checked, type and range, when the config is made, before any data is read or
any model fitted: each error is one line that names the argument, the value and the fix. Paths
are checked last, so a bad value is reported even when the data path is wrong too.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal

import numpy as np

from musicgym.data.schema import MAX_SESSION_LENGTH

REWARDS = ("listened", "listen")
DECODINGS = ("dot", "nearest", "cosine")
DECODER_INDEXES = ("auto", "exact", "faiss")
"""How the decoder searches the catalog: exact BLAS, a faiss HNSW index, or ("auto") exact
below `index_threshold` recommendable tracks and, above it, a candidate pool ("dot") or the
faiss index ("nearest", "cosine")."""
FAISS_INSTALL = 'pip install -e ".[faiss]"'
DEPRECATED_REWARDS = {"not_skipped": "listened"}
"""Old reward names, accepted for one version with a DeprecationWarning."""
DEPRECATED_ARGUMENTS = {"seed": "simulator_seed"}
"""Old argument names, accepted for one version with a DeprecationWarning."""
WORLDS = ("all", "A", "B", "truth")
"""Who judges: user models fitted on all training sessions, on half A or half B of them, or
(synthetic data only) the generator's own users."""
HALVES = ("all", "A", "B")
RESAMPLES = ("bootstrap", "folds", "jackknife")
"""`simulator.worlds.RESAMPLES`, repeated so that this module imports nothing heavy (tested)."""
HELD_OUT = ("one_fit", "as_trained")
"""How the world that judges an agent trained in one half is fitted (`musicgym.envs.judging`):
once on the other half's sessions, or as the training world is."""
SPLITS = ("train", "validation", "test")
_warned: set[str] = set()


class EnvArgumentError(ValueError):
    """An argument of `MusicRec-v0` is invalid; the message names it and says the fix."""


class DataNotFoundError(EnvArgumentError, FileNotFoundError):
    """`data` or `test_data` names a path that does not exist."""


def faiss_missing(name: str = "decoder_index") -> EnvArgumentError:
    """The error for a faiss index asked for by argument `name` when faiss is not installed."""
    return EnvArgumentError(f"{name}='faiss' needs the faiss package, which is not installed: "
                            f"run {FAISS_INSTALL} in the repository (or pip install faiss-cpu), "
                            f"or pass {name}='auto' or 'exact' for exact search")


def faiss_installed() -> bool:
    """Whether faiss can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _deprecated(old: str, new: str, what: str, stacklevel: int = 4) -> None:
    """Warn once per process that `old` is now `new`."""
    if old not in _warned:
        _warned.add(old)
        warnings.warn(f"{what} {old!r} is deprecated and will be removed in the next version; "
                      f"use {new!r} (same meaning)", DeprecationWarning, stacklevel=stacklevel)


Check = Callable[[str, Any], Any]
"""Checks one argument given its name and value; returns the value in its canonical type."""


def integer(low: int, high: int | None = None, why: str = "") -> Check:
    """A check for an integer in [low, high] (no upper end when `high` is None)."""
    wanted = (f"an integer from {low} to {high}" if high is not None
              else f"an integer of at least {low}")

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise EnvArgumentError(f"{name} ({value!r}) must be {wanted}, not a "
                                   f"{type(value).__name__}{why}")
        if value < low or (high is not None and value > high):
            raise EnvArgumentError(f"{name} ({value}) must be {wanted}{why}")
        return int(value)
    return check


def number(low: float, high: float | None = None, high_open: bool = False) -> Check:
    """A check for a finite real number in [low, high] ([low, high) with `high_open`)."""
    wanted = (f"a finite number of at least {low}" if high is None
              else f"a finite number in [{low}, {high}{')' if high_open else ']'}")

    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise EnvArgumentError(f"{name} ({value!r}) must be {wanted}, not a "
                                   f"{type(value).__name__}")
        value = float(value)
        above = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or value < low or above:
            raise EnvArgumentError(f"{name} ({value}) must be {wanted}")
        return value
    return check


def choice(options: tuple[str, ...], optional: bool = False,
           deprecated: dict[str, str] | None = None) -> Check:
    """A check for one of the names `options` (or None with `optional`).

    A deprecated name is replaced by its new one, with a DeprecationWarning.
    """
    deprecated = deprecated or {}
    wanted = f"{'None or ' if optional else ''}one of {', '.join(map(repr, options))}"

    def check(name: str, value: Any) -> str | None:
        if value is None and optional:
            return None
        if isinstance(value, str) and value in deprecated:
            _deprecated(value, deprecated[value], name, stacklevel=5)
            return deprecated[value]
        if not isinstance(value, str) or value not in options:
            raise EnvArgumentError(f"{name} ({value!r}) must be {wanted}")
        return value
    return check


def flag(name: str, value: Any) -> bool:
    """Check that an on/off argument is a bool (numpy's included)."""
    if not isinstance(value, bool | np.bool_):
        raise EnvArgumentError(f"{name} ({value!r}) must be True or False, not a "
                               f"{type(value).__name__}")
    return bool(value)


DATA_KINDS = ("a prepared dataset folder, an MSSD log (file or folder of shards) or a folder "
              "written by `musicgym generate`")


def data_path(name: str, value: Any) -> str | os.PathLike | None:
    """Check that a data argument is None or a path (whether it exists is checked later)."""
    if value is not None and (not isinstance(value, str | os.PathLike) or str(value) == ""):
        raise EnvArgumentError(f"{name} ({value!r}) must be a path: {DATA_KINDS}, or None")
    return value


def data_exists(name: str, value: str | os.PathLike | None) -> None:
    """Check that a data argument is None or names an existing file or folder."""
    if value is not None and not Path(value).exists():
        default = "; or None for the synthetic default set" if name == "data" else ""
        raise DataNotFoundError(f"{name} ({value}): no such file or folder; pass {DATA_KINDS}"
                                f"{default}")


SESSION_CAP = f": a session holds at most {MAX_SESSION_LENGTH} tracks"
CHECKS: dict[str, Check] = {
    "slate_size": integer(1, MAX_SESSION_LENGTH, SESSION_CAP),
    "history_length": integer(1, MAX_SESSION_LENGTH, SESSION_CAP),
    "reward": choice(REWARDS, deprecated=DEPRECATED_REWARDS),
    "min_plays": integer(1),
    "decoding": choice(DECODINGS),
    "decoder_index": choice(DECODER_INDEXES),
    "index_threshold": integer(0),
    "index_hnsw_m": integer(2, 256),
    "index_ef_search": integer(1),
    "history_fraction": number(0.0, 1.0, high_open=True),
    "simulator_seed": integer(0),
    "world": choice(WORLDS),
    "catalog": choice(HALVES, optional=True),
    "ensemble": integer(1),
    "ensemble_resample": choice(RESAMPLES),
    "history_match": flag,
    "uncertainty_penalty": number(0.0),
    "concentration_penalty": number(0.0),
    "support_penalty": number(0.0),
    "sessions": choice(SPLITS),
    "data": data_path,
    "test_data": data_path,
}
"""The check of each argument; whether paths exist is checked last (it touches the disk)."""


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
    decoding: Literal["dot", "nearest", "cosine"] = "dot"
    """"dot": the track with the highest dot product (LIRD); "nearest": the nearest track by
    Euclidean distance (Wolpertinger); "cosine": the highest cosine, i.e. the dot product
    with every track vector scaled to unit length, so a vector's length (which the fitted
    worlds can overrate, NOTES.md) does not decide which track a direction gets."""
    decoder_index: Literal["auto", "exact", "faiss"] = "auto"
    """How decoding searches the catalog: "exact" scores every track (BLAS); "faiss" searches
    an HNSW index (inner product for "dot" and "cosine", L2 for "nearest"; the extra `faiss`),
    rescores its candidates exactly and falls back to exact search for a proto-vector whose
    candidates are all banned; "auto": from `index_threshold` recommendable tracks on, "dot"
    searches exactly over a cached candidate pool (the best tracks of seeded random directions;
    no faiss needed; see `musicgym.envs.decoder`), the others the faiss index when faiss is
    installed (exact search otherwise, warning once); below the threshold, exact search."""
    index_threshold: int = 100_000
    """Recommendable tracks from which `decoder_index="auto"` stops searching exactly. The "dot"
    pool is built once per catalog (about 20 s at 575k tracks) and cached; the faiss index is
    built once per process, on one thread (about 2 to 3 min at 1M tracks on a busy 2-core
    machine). A batch of 256 proto-vectors then decodes in 2 to 4 ms (pool) or about 120 ms
    (HNSW) instead of about 1.3 s exactly at 575k tracks."""
    index_hnsw_m: int = 32
    """Neighbours per node of the HNSW graph (faiss `M`): larger is more accurate, larger and
    slower to build. The build runs on one thread, so it is deterministic."""
    index_ef_search: int = 64
    """Candidates the HNSW search keeps (faiss `efSearch`, raised to the number fetched when
    that is larger): larger is more accurate and slower."""
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
    """User models fitted on resamples of the world's sessions (`ensemble_resample`; seeds
    simulator_seed, simulator_seed + 1, ...); each episode's user is one of them, drawn by the
    episode's generator. 1: one fit on all of the world's sessions."""
    ensemble_resample: Literal["bootstrap", "folds", "jackknife"] = "bootstrap"
    """How the members read the world's sessions: "bootstrap" resamples; "folds": disjoint
    folds (member k fits fold k of `ensemble`), whose disagreement is that of user models fitted
    on other sessions; or "jackknife": member k fits every fold but k. Fold and jackknife
    members learn their own track vectors."""
    history_match: bool = False
    """Fit the world's user models with explicit taste-match inputs (`ResponseConfig
    .history_match`): each candidate's vector dotted with the mean vector of the session's
    listened tracks and with that of its skipped ones. On the synthetic data it lets the fitted
    worlds see what the true users reward (similar tracks); see README "Worlds"."""
    uncertainty_penalty: float = 0.0
    """λ: each recommended track's reward loses λ times the standard deviation of P(listened)
    across the ensemble's members (`info["disagreement"]`), as in MOPO."""
    concentration_penalty: float = 0.0
    """β: each recommended track's reward loses β times how over-recommended it is: its share
    of the env's recent recommendations (an exponentially decayed count over all of the env's
    sessions, about the last 5,000 tracks) times the number of recommendable tracks, over 100,
    capped at 1 (`info["concentration"]`). A policy that keeps recommending the same few
    tracks pays for it; one whose tracks depend on the listener does not. Like DORL's entropy
    term, it is for training; evaluation turns it off."""
    support_penalty: float = 0.0
    """κ: each recommended track's reward loses κ times 0.5 / sqrt(its training plays in the
    catalog) (`info["rate_error"]`): the largest standard error of a listen rate estimated from
    that many plays. Pessimism where the data are thin: a world's preference for a track heard
    a few times is mostly its fit's noise, which another world does not share (README, Worlds).
    For training; evaluation turns it off."""
    sessions: Literal["train", "validation", "test"] = "train"
    """Split whose logged sessions start episodes: agents train on "train" and are evaluated
    on "test", sessions that neither the simulators nor the agent saw."""
    test_data: str | Path | None = None
    """Another log or prepared dataset whose sessions (all of them) start the episodes of
    `sessions="test"`; its tracks are mapped into the catalog by id."""

    def unpenalized(self) -> EnvConfig:
        """The config with the training penalties off: the reward is the user's answer only."""
        return replace(self, uncertainty_penalty=0.0, concentration_penalty=0.0,
                       support_penalty=0.0)

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
                # report a bad value under the name the caller used
                kwargs[new] = CHECKS[new](old, kwargs.pop(old))
        if "simulator_half" in kwargs:
            half = kwargs.pop("simulator_half")
            if half is not None:
                _deprecated("simulator_half", "world", "MusicRec-v0 argument")
                if isinstance(half, bool) or half not in (0, 1):
                    raise EnvArgumentError(f"simulator_half ({half!r}) must be None, 0 or 1; "
                                           "better, pass world='A' or world='B'")
                kwargs.setdefault("world", "AB"[half])
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"MusicRec-v0 got unknown argument(s) {unknown}; its arguments are "
                            f"{sorted(known)}")
        return cls(**kwargs)

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, CHECKS[f.name](f.name, getattr(self, f.name)))
        if self.test_data is not None and self.sessions != "test":
            raise EnvArgumentError(f"test_data ({self.test_data}) starts test episodes; it "
                                   f"needs sessions='test', not {self.sessions!r}")
        if self.decoder_index == "faiss" and not faiss_installed():
            raise faiss_missing("decoder_index")
        data_exists("data", self.data)
        data_exists("test_data", self.test_data)
