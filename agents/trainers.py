"""The agents one seed of `musicgym benchmark` trains, serial or on Ray.

`seed_trainers` names them in the order they are judged: the online agent (`--algo`) and, with
one track per slate, the offline agents of `agents.offline`, which learn from the logged
training sessions alone. Each trainer is a module-level function, so that Ray ships it to its
workers by name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agents.training import TrainConfig
from musicgym.envs.config import EnvConfig

Trainer = Callable[[TrainConfig, EnvConfig], Any]
"""Trains one agent for one seed and returns it: an SB3 model or policy of `agents.policy`'s
classes. A module-level function, so that Ray ships it to the workers by name."""


def train_online(train: TrainConfig, env: EnvConfig) -> Any:
    """The online agent (`train.algo`) as `agents.training.train` trains it, in its run folder."""
    from agents.training import train as train_agent

    return train_agent(train, env)[0]


@functools.lru_cache(maxsize=2)
def _logged_training_episodes(env: EnvConfig) -> Any:
    """The logged training sessions of `env`'s catalog, built once for both offline agents."""
    from musicgym.logged_episodes import logged_episodes

    return logged_episodes(replace(env, sessions="train"))


def _offline(name: str, train: TrainConfig, env: EnvConfig) -> Any:
    """The offline agent `name` of `agents.offline`, as the serial benchmark learns it.

    It learns from the logged training sessions of `env`'s catalog, seeded with the seed.
    """
    from agents import offline

    episodes = _logged_training_episodes(env)
    config = offline.OfflineConfig(seed=train.seed, epochs=offline.BENCHMARK_EPOCHS)
    return getattr(offline, name)(episodes, config)


def train_bc_logged(train: TrainConfig, env: EnvConfig) -> Any:
    """`agents.offline.bc_logged`, as the serial benchmark trains it."""
    return _offline("bc_logged", train, env)


def train_td3bc_logged(train: TrainConfig, env: EnvConfig) -> Any:
    """`agents.offline.td3bc_logged`, as the serial benchmark trains it."""
    return _offline("td3bc_logged", train, env)


def seed_trainers(algo: str, slate_size: int, offline: bool = True) -> dict[str, Trainer]:
    """The agents one seed of the benchmark trains, by name, in the order it judges them.

    The online agent `algo`; with one track per slate (and `offline`), the offline agents.
    """
    trainers: dict[str, Trainer] = {algo: train_online}
    if slate_size == 1 and offline:
        trainers |= {"bc_logged": train_bc_logged, "td3bc_logged": train_td3bc_logged}
    return trainers
