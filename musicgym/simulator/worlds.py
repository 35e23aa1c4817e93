"""Worlds fitted on chosen training sessions: all of them, or one of two disjoint halves.

The training sessions split into halves A and B by the session hash (`SplitSpec.train_half`),
so a world fitted on A and one fitted on B never read the same session: an agent trained in A
and judged in B meets users it never trained on. An ensemble of K fits on bootstrap resamples
of a world's sessions (seeds seed .. seed + K - 1) spreads where the data is thin.
"""

from __future__ import annotations

from musicgym.data.dataset import PreparedDataset
from musicgym.data.splits import SplitSpec
from musicgym.simulator.fitting import FittedSimulator, SimulatorConfig, load_or_fit
from musicgym.simulator.numpy_response import NumpyResponse
from musicgym.simulator.response_net import ResponseConfig
from musicgym.simulator.user_model import World

HALVES = {"all": None, "A": 0, "B": 1}
"""Fitted worlds by name, with the training half each reads (None: all training sessions)."""


def world_split(name: str) -> SplitSpec:
    """The split whose "train" sessions a world (or a catalog) of that name learns from."""
    if name not in HALVES:
        raise ValueError(f"world ({name!r}) must be one of {tuple(HALVES)}")
    return SplitSpec(train_half=HALVES[name])


RESAMPLES = ("bootstrap", "folds", "jackknife")
"""How the members of an ensemble read the world's sessions."""


def member_configs(name: str, ensemble: int = 1, seed: int = 0,
                   resample: str = "bootstrap",
                   history_match: bool = False) -> list[SimulatorConfig]:
    """The fits of a world: one on all its sessions, or `ensemble` members.

    "bootstrap" members fit bootstrap resamples of the world's sessions; "folds" members fit
    disjoint folds of them, so their disagreement is that of user models fitted on other
    sessions, as the held-out world is; "jackknife" member k fits every fold but k. Fold and
    jackknife members learn their own track vectors. `history_match`:
    `ResponseConfig.history_match`.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble ({ensemble}) must be at least 1")
    if resample not in RESAMPLES:
        raise ValueError(f"resample ({resample!r}) must be one of {RESAMPLES}")
    folds = ensemble if resample != "bootstrap" else 1
    return [SimulatorConfig(response=ResponseConfig(seed=seed + k, history_match=history_match),
                            split=world_split(name),
                            bootstrap=ensemble > 1 and folds == 1, folds=folds,
                            fold=k if folds > 1 else 0,
                            jackknife=folds > 1 and resample == "jackknife")
            for k in range(ensemble)]


def fit_members(dataset: PreparedDataset, name: str, ensemble: int = 1, seed: int = 0,
                progress: bool = False, resample: str = "bootstrap",
                history_match: bool = False) -> list[FittedSimulator]:
    """The fitted simulators of a world, from the cache or fitted (and cached) now.

    Each member is its own cache entry, checked on load and fitted under its own file lock
    (`load_or_fit`), so processes that need the same world share each member's one fit.
    """
    return [load_or_fit(dataset, config, progress=progress)
            for config in member_configs(name, ensemble, seed, resample, history_match)]


def world_of(dataset: PreparedDataset, configs: list[SimulatorConfig],
             progress: bool = False) -> World:
    """The world whose members are the fits of `configs` (from the cache or fitted now)."""
    members = [load_or_fit(dataset, config, progress=progress) for config in configs]
    return World(tuple(NumpyResponse(m.response) for m in members),
                 members[0].embeddings.ids)
