"""The catalog an agent acts in: read it from any env, and refuse an env with another one.

A policy records the checksum of the catalog it was made for (`make_agent` does it); acting or
learning in an env whose catalog differs (another dataset, other training sessions, another
min_plays) would feed it vectors whose meaning it never learned, so it raises instead.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from musicgym.embeddings.catalog import Catalog


def catalog_of(env: Any) -> Catalog:
    """The catalog of a gym env, a `MusicRecVectorEnv` or an SB3 VecEnv over one."""
    if isinstance(env, VecEnv):
        return env.get_attr("bundle")[0].catalog
    return env.unwrapped.bundle.catalog


def check_catalog(policy: Any, catalog: Catalog) -> None:
    """Raise unless `policy` was made for `catalog` (policies that recorded none pass)."""
    mine = getattr(policy, "catalog_checksum", None)
    if mine is not None and mine != catalog.checksum:
        raise ValueError(
            f"this agent acts in the catalog {mine[:12]}, but the env's catalog is "
            f"{catalog.checksum[:12]} (another dataset, other training sessions or another "
            "min_plays). Evaluate it in an env built with the agent's own data and min_plays "
            "and its catalog's sessions: e.g. world='B', catalog='A' for an agent trained in "
            "world A")
