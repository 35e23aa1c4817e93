"""Judge a trained agent and the baselines in the world it trained in and in worlds it never saw.

An agent trains in world A (user models fitted on half A of the training sessions, possibly an
ensemble). The same held-out test sessions are then replayed, with the agent's own catalog, in:

| world | who responds |
|---|---|
| train_world | world A, the one the agent trained in |
| held_out_world | world B, fitted on the other half: sessions the agent never trained on |
| truth_world | on synthetic data, the generator's own users (the real world there) |

The headline score of an agent is its score in the held-out world; the gap to the train world
says how far the world it trained in overestimates it.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm

from agents import baselines
from agents.evaluation import confidence_interval, evaluate
from agents.track_agent import PolicyAgent, TrackAgent
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.user_model import World
from musicgym.synthetic.dataset import synthetic_root

WORLD_KEYS = ("train_world", "held_out_world", "truth_world")
OTHER_HALF = {"A": "B", "B": "A"}


def evaluation_configs(env_config: EnvConfig,
                       test_data: str | Path | None = None) -> dict[str, EnvConfig]:
    """The env configs of each world that judges, all on the same test sessions and catalog.

    :param env_config: the config the agent trained with (its world and catalog)
    :param test_data: a log or prepared folder whose sessions replace the test split
    """
    base = replace(env_config, catalog=env_config.catalog_sessions, sessions="test",
                   test_data=test_data, uncertainty_penalty=0.0)
    configs = {"train_world": base}
    if env_config.world in OTHER_HALF:
        configs["held_out_world"] = replace(base, world=OTHER_HALF[env_config.world],
                                            ensemble=1)
    if synthetic_root(load_dataset(env_config.data)) is not None:
        configs["truth_world"] = replace(base, world="truth", ensemble=1)
    return configs


def baseline_agents(train_world: World) -> dict[str, TrackAgent]:
    """The baselines by name; `greedy_model` follows the world the agent trained in."""
    return {"random": baselines.RandomAgent(), "most_popular": baselines.MostPopularAgent(),
            "logged": baselines.LoggedAgent(), "item_knn": baselines.ItemKNNAgent(),
            "greedy_model": baselines.GreedyModelAgent(world=train_world),
            "greedy_oracle": baselines.GreedyModelAgent()}


def benchmark_run(agents: dict[str, BaseAlgorithm | TrackAgent], env_config: EnvConfig,
                  rounds: int, seed: int, num_envs: int = 64,
                  test_data: str | Path | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Metrics of the agents and every baseline in each judging world: world -> agent -> metric.

    :param agents: trained models (or `TrackAgent`s) by name, all trained with `env_config`
    :param env_config: the config the agents trained with
    :param rounds: passes over every test session per agent
    :param seed: seed of the outcomes and of the agents' own draws (the same for every agent)
    """
    train_world = load_bundle(replace(env_config, sessions="train")).world
    players = {name: agent if isinstance(agent, TrackAgent) else PolicyAgent(agent)
               for name, agent in agents.items()}
    players |= baseline_agents(train_world)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key, config in evaluation_configs(env_config, test_data).items():
        vec = MusicRecVectorEnv(num_envs, **asdict(config))
        out[key] = {name: evaluate(player, vec, rounds, seed) for name, player in players.items()}
    return out


def transfer_gap(per_seed: dict[str, dict[str, list[dict[str, float]]]],
                 agent: str) -> dict[str, float] | None:
    """The agent's listened rate in its train world minus in the held-out world, over seeds."""
    if "held_out_world" not in per_seed:
        return None
    gaps = [a["listened"] - b["listened"]
            for a, b in zip(per_seed["train_world"][agent], per_seed["held_out_world"][agent],
                            strict=True)]
    return confidence_interval(gaps)


def collect(per_seed: dict[str, dict[str, list[dict[str, float]]]],
            results: dict[str, dict[str, dict[str, float]]]) -> None:
    """Append one seed's `benchmark_run` results to `per_seed` (world -> agent -> [metrics])."""
    for world, agents in results.items():
        for name, metrics in agents.items():
            per_seed.setdefault(world, {}).setdefault(name, []).append(metrics)


def headline(summary: dict[str, Any], agent: str) -> str:
    """One line: the agent's listened rate in each world, held-out first."""
    parts = []
    for world in ("held_out_world", "train_world", "truth_world"):
        if world in summary and agent in summary[world]:
            m = summary[world][agent]["listened"]
            parts.append(f"{world.replace('_', ' ')} {m['mean']:.3f}"
                         + (f" [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
                            if m["ci_low"] != m["ci_high"] else ""))
    return f"{agent} listened rate: " + ", ".join(parts)

