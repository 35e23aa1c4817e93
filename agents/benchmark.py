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

The baselines learn nothing, so their scores depend only on the data, the worlds, the test
sessions, `num_envs`, `rounds` and `seed`: `benchmark_run` keeps them in the cache folder
(`baselines/KEY.json`) and a second run of the same configuration reads them instead of
replaying them. Every agent's evaluation draws from its own generator seeded with `seed`, so
the numbers are the same whether they were read or replayed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import asdict, replace
from numbers import Integral
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import BasePolicy

from agents import baselines
from agents.evaluation import METRICS, confidence_interval, evaluate, summarize
from agents.results import cell
from agents.track_agent import PolicyAgent, TrackAgent
from musicgym.artifacts import jsonable, read_json, warn_rebuilding, write_json
from musicgym.data.cache import cache_dir
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import load_bundle, world_members
from musicgym.envs.config import EnvConfig
from musicgym.envs.judging import check_held_out, judging_configs
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator import fitting, response_model
from musicgym.simulator.user_model import World
from musicgym.threads import one_torch_thread
from musicgym.version import __version__

Scores = dict[str, dict[str, dict[str, float]]]
"""Metrics by world and agent: world -> agent -> metric -> value."""
WORLD_KEYS = ("train_world", "held_out_world", "truth_world")
BASELINES = ("random", "most_popular", "logged", "item_knn", "greedy_model", "greedy_lcb",
             "greedy_oracle")
"""The baselines every benchmark judges beside the agents (names an agent may not take)."""
BASELINE_CACHE_VERSION = 2
"""Version of the cached baseline scores: bump it when `evaluate`, a metric or a baseline
changes what it returns, so that older entries are not read (2: `greedy_lcb`)."""


def evaluation_configs(env_config: EnvConfig, test_data: str | Path | None = None,
                       held_out: str = "one_fit") -> dict[str, EnvConfig]:
    """The env configs of each world that judges (`musicgym.envs.judging.judging_configs`).

    :param env_config: the config the agent trained with (its world and catalog)
    :param test_data: a log or prepared folder whose sessions replace the test split
    :param held_out: how the held-out world is fitted (`musicgym.envs.judging.HELD_OUT`)
    """
    return judging_configs(env_config, test_data, held_out=held_out)


def baseline_agents(train_world: World) -> dict[str, TrackAgent]:
    """The baselines by name.

    `greedy_model` follows the world the agent trained in; `greedy_lcb` too, on a lower
    confidence bound (P(listened) minus `LCB_PESSIMISM` times 0.5 / sqrt(training plays)), the
    myopic best that distrusts tracks the data barely know; `greedy_oracle` follows the judge.
    """
    return {"random": baselines.RandomAgent(), "most_popular": baselines.MostPopularAgent(),
            "logged": baselines.LoggedAgent(), "item_knn": baselines.ItemKNNAgent(),
            "greedy_model": baselines.GreedyModelAgent(world=train_world),
            "greedy_lcb": baselines.GreedyModelAgent(world=train_world,
                                                     pessimism=baselines.LCB_PESSIMISM),
            "greedy_oracle": baselines.GreedyModelAgent()}


def _check_count(name: str, value: Any, minimum: int) -> None:
    """Raise unless `value` is an int of at least `minimum`; the error names the argument."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} ({value!r}) must be an integer of at least {minimum}")
    if value < minimum:
        raise ValueError(f"{name} ({value}) must be at least {minimum}")


def check_run_arguments(agents: Any, rounds: Any, seed: Any, num_envs: Any) -> None:
    """Raise a `ValueError` naming the first bad argument of `benchmark_run`."""
    if not isinstance(agents, Mapping):
        raise ValueError(f"agents must be a dict of name -> trained SB3 model, policy or "
                         f"TrackAgent, not {type(agents).__name__}")
    for name, agent in agents.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"agents: the name {name!r} must be a non-empty string")
        if name in BASELINES:
            raise ValueError(f"agents: {name!r} is the name of a baseline ({', '.join(BASELINES)})"
                             "; give the agent another name")
        if not isinstance(agent, BaseAlgorithm | BasePolicy | TrackAgent):
            raise ValueError(f"agents[{name!r}] is a {type(agent).__name__}; pass a trained "
                             "SB3 model (DDPG, TD3, SAC), its policy, or a TrackAgent")
    _check_count("rounds", rounds, 1)
    _check_count("seed", seed, 0)
    _check_count("num_envs", num_envs, 1)


def benchmark_run(agents: dict[str, BaseAlgorithm | BasePolicy | TrackAgent],
                  env_config: EnvConfig, rounds: int, seed: int, num_envs: int = 64,
                  test_data: str | Path | None = None, cache: bool = True,
                  held_out: str = "one_fit") -> Scores:
    """Metrics of the agents and every baseline in each judging world: world -> agent -> metric.

    :param agents: trained models, their policies or `TrackAgent`s by name, all trained with
        `env_config`; names must differ from `BASELINES` (an empty dict judges the baselines
        alone)
    :param env_config: the config the agents trained with
    :param rounds: passes over every test session per agent (at least 1)
    :param seed: seed of the outcomes and of the agents' own draws (the same for every agent)
    :param num_envs: sessions replayed together (part of the draw order)
    :param test_data: a log or prepared folder whose sessions replace the test split
    :param cache: read and write the baselines' scores in the cache folder
    :param held_out: how the held-out world is fitted: "one_fit" on the other half, or
        "as_trained", as the training world (`musicgym.envs.judging.HELD_OUT`)
    """
    check_run_arguments(agents, rounds, seed, num_envs)
    check_held_out(held_out)
    players = {name: agent if isinstance(agent, TrackAgent) else PolicyAgent(agent)
               for name, agent in agents.items()}
    train_config = replace(env_config, sessions="train")
    identity = _run_identity(env_config, test_data, rounds, seed, num_envs) if cache else None
    out: Scores = {}
    # one torch thread: judging small networks on a busy machine ran 7x faster, same numbers
    with one_torch_thread():
        for key, config in evaluation_configs(env_config, test_data, held_out).items():
            vec = MusicRecVectorEnv(num_envs, **asdict(config))
            out[key] = {name: evaluate(player, vec, rounds, seed)
                        for name, player in players.items()}
            fields = None if identity is None else {
                **identity, "catalog": vec.bundle.catalog.checksum, "judge_fits": _fits(config),
                "judge": jsonable(asdict(replace(config, data=None, test_data=None)))}
            out[key] |= _baseline_scores(vec, train_config, rounds, seed, fields)
    return out


def _fits(config: EnvConfig) -> list[str] | str:
    """How the world of `config` is fitted, or "truth": its members' cache entries.

    An entry's name covers every setting of the fit, the data and the device kind it trains on
    (a GPU fit is not a CPU one), so baseline scores are never read for other fits.
    """
    if config.world == "truth":
        return "truth"
    dataset = load_dataset(config.data)
    return [fitting.cache_folder(dataset, member).name for member in world_members(config)]


def _run_identity(env_config: EnvConfig, test_data: str | Path | None, rounds: int, seed: int,
                  num_envs: int) -> dict[str, Any]:
    """What the baselines' scores depend on, besides the judging world: the cache key's fields.

    Paths are replaced by the checksums of the data they hold, so a moved or renamed log keeps
    its entries and an edited one gets new ones.
    """
    test = None if test_data is None else load_dataset(test_data).checksum
    return {"format_version": BASELINE_CACHE_VERSION, "musicgym": __version__,
            "simulator": [fitting.FORMAT_VERSION, response_model.FORMAT_VERSION],
            "data": load_dataset(env_config.data).checksum, "test_data": test,
            "trained_in": jsonable(asdict(replace(env_config, data=None, test_data=None))),
            "trained_in_fits": _fits(env_config),
            "metrics": list(METRICS), "baselines": list(BASELINES),
            "rounds": int(rounds), "seed": int(seed), "num_envs": int(num_envs)}


def baseline_cache_path(fields: dict[str, Any]) -> Path:
    """The cache file of the baseline scores identified by `fields`."""
    text = json.dumps(_plain(fields), sort_keys=True)
    return cache_dir() / "baselines" / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"


def _baseline_scores(vec: MusicRecVectorEnv, train_config: EnvConfig, rounds: int, seed: int,
                     fields: dict[str, Any] | None) -> dict[str, dict[str, float]]:
    """The baselines' metrics in `vec`'s world: from the cache when `fields` are there."""
    path = None if fields is None else baseline_cache_path(fields)
    if path is not None and path.is_file():
        try:
            return _read_scores(path, fields)
        except (ValueError, OSError) as err:
            warn_rebuilding(path, err)
    players = baseline_agents(load_bundle(train_config).world)
    scores = {name: evaluate(player, vec, rounds, seed) for name, player in players.items()}
    if path is not None:
        try:
            write_json(path, {"format": "musicgym.baselines", "key": _plain(fields),
                              "scores": scores})
        except OSError as err:  # the cache only saves time: a read-only one costs nothing else
            warnings.warn(f"musicgym: could not cache the baselines' scores in {path} ({err})",
                          RuntimeWarning, stacklevel=2)
    return scores


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as they read back from JSON (tuples as lists, paths and the like as text)."""
    return json.loads(json.dumps(fields, default=str))


def _read_scores(path: Path, fields: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The scores of a cache file, checked against its key and the expected shape."""
    payload = read_json(path)
    if not isinstance(payload, dict) or payload.get("format") != "musicgym.baselines":
        raise ValueError("not a baseline-scores file")
    if payload.get("key") != _plain(fields):
        raise ValueError("it was written for another configuration")
    scores = payload.get("scores")
    if not isinstance(scores, dict) or set(scores) != set(BASELINES):
        raise ValueError(f"it does not hold the scores of {', '.join(BASELINES)}")
    for name, metrics in scores.items():
        if not isinstance(metrics, dict) or set(metrics) != set(METRICS) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in metrics.values()):
            raise ValueError(f"the metrics of {name} are not {', '.join(METRICS)} as numbers")
    return {name: {m: float(scores[name][m]) for m in METRICS} for name in BASELINES}


def collect(per_seed: dict[str, dict[str, list[dict[str, float]]]],
            results: dict[str, dict[str, dict[str, float]]]) -> None:
    """Append one seed's `benchmark_run` results to `per_seed` (world -> agent -> [metrics]).

    Every seed must judge the same agents in the same worlds, or the intervals would mix them.
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results holds no judging world: pass what benchmark_run returned")
    for world, agents in results.items():
        if world not in WORLD_KEYS:
            raise ValueError(f"results: unknown world {world!r}; the worlds are {WORLD_KEYS}")
        if not isinstance(agents, Mapping) or not agents:
            raise ValueError(f"results[{world!r}] holds no agent")
        for name, metrics in agents.items():
            missing = [m for m in METRICS if m not in metrics]
            if missing:
                raise ValueError(f"results[{world!r}][{name!r}] lacks the metrics {missing}")
    if per_seed and (set(per_seed) != set(results) or any(
            set(per_seed[w]) != set(results[w]) for w in results)):
        raise ValueError("results judge other worlds or agents than the earlier seeds in "
                         "per_seed; collect runs of one configuration only")
    for world, agents in results.items():
        for name, metrics in agents.items():
            per_seed.setdefault(world, {}).setdefault(name, []).append(metrics)


def summarize_worlds(per_seed: dict[str, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Per world, agent and metric, the mean and 95% interval over the seeds `collect`ed."""
    if not per_seed:
        raise ValueError("no seed was run, so there is nothing to summarize: seeds must be at "
                         "least 1")
    return {world: summarize(agents) for world, agents in per_seed.items()}


def transfer_gap(per_seed: dict[str, dict[str, list[dict[str, float]]]],
                 agent: str) -> dict[str, float] | None:
    """The agent's listened rate in its train world minus in the held-out world, over seeds."""
    if "held_out_world" not in per_seed:
        return None
    if agent not in per_seed["train_world"] or agent not in per_seed["held_out_world"]:
        raise ValueError(f"agent {agent!r} was not judged; the agents are "
                         f"{sorted(per_seed['train_world'])}")
    gaps = [a["listened"] - b["listened"]
            for a, b in zip(per_seed["train_world"][agent], per_seed["held_out_world"][agent],
                            strict=True)]
    return confidence_interval(gaps)


def headline(summary: dict[str, Any], agent: str) -> str:
    """One line: the agent's listened rate in each world, held-out first.

    Each rate carries its 95% interval over seeds; one seed prints the mean alone.
    """
    parts = []
    for world in ("held_out_world", "train_world", "truth_world"):
        if world in summary and agent in summary[world]:
            parts.append(f"{world.replace('_', ' ')} {cell(summary[world][agent]['listened'])}")
    if not parts:
        raise ValueError(f"agent {agent!r} is not in the summary")
    return f"{agent} listened rate: " + ", ".join(parts)
