"""Ray RLlib support: `MusicRec-v0` under RLlib's new API stack (the optional extra `ray`).

The env runs under RLlib as it is: `config.environment("musicgym:MusicRec-v0",
env_config={...})` with our keyword arguments in `env_config`; each env runner imports musicgym
(the "musicgym:" prefix) and loads the fitted simulator from the cache. The first process that
needs a fit makes it under the cache's file lock while the others wait, then load it. This
module adds what a driver script wants on top:

- `env_config(**kwargs)` checks the arguments in the driver, before Ray starts any worker (an
  error inside an env runner reaches the driver as an unrelated `IndexError`), and makes data
  paths absolute;
- `register_env()` registers `make_env` with `ray.tune.registry.register_env` under
  `MusicRec-v0`, so the plain name works in every worker and RLlib's "vector_entry_point"
  vectorization steps a runner's envs with the native `MusicRecVectorEnv`;
- `runtime_env()` passes the driver's cache folder to workers started outside this process.

Ray is imported only by `register_env`; the rest needs no Ray.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv

from musicgym.data.cache import cache_dir
from musicgym.device import DEVICE_VARIABLE
from musicgym.envs import ENV_ID
from musicgym.envs.config import EnvConfig

RAY_INSTALL = 'pip install -e ".[ray]"'
PATH_ARGUMENTS = ("data", "test_data")


def env_config(**kwargs: Any) -> dict[str, Any]:
    """Check `MusicRec-v0` keyword arguments now and return them as RLlib's `env_config`.

    Each argument is checked as `gym.make` checks it, so a mistake is one error naming it,
    raised in the driver. `data` and `test_data` become absolute paths (strings), which mean
    the same in a worker whose working folder differs.
    """
    EnvConfig.from_kwargs(**kwargs)
    config = dict(kwargs)
    for name in PATH_ARGUMENTS:
        if config.get(name) is not None:
            config[name] = str(Path(config[name]).expanduser().resolve())
    return config


def make_env(config: Mapping[str, Any] | None = None) -> gym.Env | VectorEnv:
    """RLlib's env creator: `MusicRec-v0` made from `env_config` (a dict or an `EnvContext`).

    RLlib's "vector_entry_point" vectorization adds `num_envs`: then the env is the native
    vector env, N sessions stepped with array operations (Gymnasium's next-step autoreset,
    which RLlib's env runners expect).
    """
    kwargs = dict(config or {})
    if "num_envs" not in kwargs:
        return gym.make(ENV_ID, **kwargs)
    from musicgym.envs.vector import MusicRecVectorEnv

    return MusicRecVectorEnv(**kwargs)


def register_env(name: str = ENV_ID) -> str:
    """Register `make_env` with Ray Tune's registry under `name`, which workers see too.

    Returns `name`, for `config.environment(name, env_config=...)`. Call it in the driver
    before building the algorithm.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name ({name!r}) must be a non-empty string, the env's name in RLlib")
    try:
        from ray.tune.registry import register_env as tune_register_env
    except ImportError as err:
        raise ImportError(f"musicgym.rllib.register_env needs Ray RLlib, which is not installed "
                          f"({err}): run {RAY_INSTALL} in the repository") from None
    tune_register_env(name, make_env)
    return name


def runtime_env() -> dict[str, Any]:
    """Ray's `runtime_env` that gives every worker this process's musicgym cache folder.

    Workers that `ray.init()` starts inherit the driver's environment; those of a cluster
    started beforehand (`ray start`) do not, and would fit the simulator again in their own
    cache: pass `ray.init(runtime_env=musicgym.rllib.runtime_env())`. A `$MUSICGYM_DEVICE`
    set here (where fits train) reaches them too.
    """
    env = {"MUSICGYM_CACHE": str(cache_dir().expanduser().resolve())}
    if os.environ.get(DEVICE_VARIABLE):
        env[DEVICE_VARIABLE] = os.environ[DEVICE_VARIABLE]
    return {"env_vars": env}
