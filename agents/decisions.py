"""Decision fidelity: whether a fitted world's preferences between tracks hold in another one.

A user model is useful for learning what to recommend only if the choices it favours are good
ones for users it never saw. Two worlds fitted on disjoint halves of the training sessions (A
and B) are asked about the same held-out users, with A's catalog:

| figure | what it says |
|---|---|
| rank_agreement | mean over states of the Spearman correlation of A's and B's P(listened) |
| rank_agreement_top{N} | the same over the N most-played recommendable tracks |
| rank_agreement_static | the same for the two worlds' one ranking for everyone (mean over states) |
| rank_agreement_within_state | the same for what each state adds to that ranking |
| greedy_a_in_b | listened rate in world B of greedy-by-A (the myopic best under A) |
| most_popular_in_b | the same for most-popular: what greedy-by-A must beat |
| greedy_b_in_b | greedy-by-B in B: the judge's own optimum, for scale |
| greedy_a_in_b_top{N} | greedy-by-A choosing only among the N most-played recommendable tracks |
| greedy_a_pessimistic_in_b | greedy-by-A on P(listened) - 4 * 0.5 / sqrt(training plays) |
| greedy_a_in_truth, most_popular_in_truth | synthetic data only: both judged by the true users |

The correlation runs over the recommendable tracks of each state: do A and B prefer the same
tracks for the same user? The `top{N}` ladder says how far the data support A's preferences:
a track heard a few times has a noisy fitted effect, and the myopic best over many such tracks
picks the noise (the optimizer's curse). Where greedy-by-A beats most-popular in B among the N
best-heard tracks but not among more, N is about how many tracks the data rank reliably.
The static and within-state parts split the agreement: whether the worlds share one ranking
for everyone (popular tracks, mostly), and whether they share what they change per user.
The pessimistic row asks the same with a lower confidence bound instead of a shortlist:
greedy-by-A that distrusts tracks heard a few times (`GreedyModelAgent(pessimism=...)`, what
the env's `support_penalty` teaches a learning agent).
On synthetic data, A and B may agree and both be wrong (fitted to the same kind of logs, they
share their biases); the generator's users then judge greedy-by-A too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, replace

import numpy as np

from agents.baselines import LCB_PESSIMISM, GreedyModelAgent, MostPopularAgent, popularity
from agents.evaluation import evaluate
from agents.track_agent import TrackAgent
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.judging import judging_configs
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.user_model import World
from musicgym.synthetic.dataset import synthetic_root

SUPPORT_LADDER = (25, 100, 400)
"""Shortlist sizes (most-played recommendable tracks) of the `greedy_a_in_b_top{N}` figures;
those not below the catalog's size are left out."""


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks along the last axis (ties broken by position; P(listened) ties are rare)."""
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty_like(order, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(values.shape[-1], dtype=np.float64), axis=-1)
    return ranks


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of `a` with the same row of `b` [S, C] -> [S]."""
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    return (ra * rb).sum(axis=1) / np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))


def rank_agreement(config: EnvConfig, states: int = 256, seed: int = 0,
                   ensemble: int = 1) -> float:
    """Mean Spearman correlation of worlds A and B over the recommendable tracks.

    The states are held-out test sessions at their start (their logged opening heard). World
    B is one fit (the benchmark's default held-out world); world A pools `ensemble` fits.
    """
    vec = MusicRecVectorEnv(min(states, 64), **asdict(replace(config, world="B", catalog="A",
                                                              sessions="test", ensemble=1)))
    world_a = load_bundle(replace(config, world="A", catalog="A", sessions="train",
                                  ensemble=ensemble)).world
    return _agreement(vec, world_a, states, seed)["rank_agreement"]


def state_probs(vec: MusicRecVectorEnv, worlds: list[World | None], states: int,
                seed: int) -> Iterator[list[np.ndarray]]:
    """P(listened) [used, recommendable] of every recommendable track, one array per world.

    Blocks of the env's first `states` logged sessions, at their start (their logged opening
    heard); a world None is the env's own.
    """
    tracks = vec.bundle.decoder.rows
    n, width = min(states, len(vec.bundle.sampler)), vec.num_envs
    for start in range(0, n, width):
        logged = np.resize(np.arange(start, min(start + width, n)), width)
        vec.sessions.reset(np.arange(width), np.random.default_rng(seed), logged=logged)
        used = min(width, n - start)
        sessions = np.repeat(np.arange(used), len(tracks))
        cands = np.tile(tracks, used)
        yield [vec.sessions.listen_probs(sessions, cands, world).reshape(used, -1)
               for world in worlds]


Blocks = Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]
"""A function that yields the same blocks of (A's, B's) P(listened) [states, tracks] each time."""


def agreement_figures(blocks: Blocks, most_played: np.ndarray,
                      ladder: tuple[int, ...] = SUPPORT_LADDER) -> dict[str, float]:
    """The rank agreements of two worlds' P(listened), whole and in parts.

    `rank_agreement`: Spearman over all tracks, per state, averaged; `rank_agreement_top{N}`:
    the same over the N most played (`most_played`: track positions, most played first; N in
    `ladder` below the number of tracks); `rank_agreement_static`: Spearman of the tracks' mean
    P(listened) over the states, one ranking each; `rank_agreement_within_state`: per state,
    averaged, of P(listened) less that mean, the part that depends on the user.

    `blocks` is read twice (the means first), so memory holds one block, not every state.
    """
    per_state: dict[str, list[np.ndarray]] = {"rank_agreement": []}
    sum_a = sum_b = 0.0
    for p_a, p_b in blocks():
        per_state["rank_agreement"].append(spearman_rows(p_a, p_b))
        for n in ladder:
            if n < p_a.shape[1]:
                cols = most_played[:n]
                per_state.setdefault(f"rank_agreement_top{n}", []).append(
                    spearman_rows(p_a[:, cols], p_b[:, cols]))
        sum_a, sum_b = sum_a + p_a.sum(axis=0), sum_b + p_b.sum(axis=0)
    out = {k: float(np.concatenate(v).mean()) for k, v in per_state.items()}
    states = sum(len(v) for v in per_state["rank_agreement"])
    mean_a, mean_b = sum_a / states, sum_b / states
    out["rank_agreement_static"] = float(spearman_rows(mean_a[None], mean_b[None])[0])
    within = [spearman_rows(p_a - mean_a, p_b - mean_b) for p_a, p_b in blocks()]
    out["rank_agreement_within_state"] = float(np.concatenate(within).mean())
    return out


def _agreement(vec: MusicRecVectorEnv, world_a: World, states: int,
               seed: int) -> dict[str, float]:
    """`agreement_figures` of world A and world B (the env's own) over the env's test states."""
    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for p_b, p_a in state_probs(vec, [None, world_a], states, seed):
            yield p_a, p_b

    return agreement_figures(blocks, np.argsort(-popularity(vec), kind="stable"))


def decision_fidelity(data: str | None, rounds: int = 1, seed: int = 0, states: int = 256,
                      ensemble: int = 1, resample: str | None = None,
                      held_out: str = "one_fit") -> dict[str, float]:
    """The figures of the module docstring for a dataset (None: the synthetic default set).

    `ensemble`: world A pools that many fits (their mean P(listened)), as the world an agent
    trains in does, each reading the sessions `resample` says (`EnvConfig.ensemble_resample`;
    None: its default). World B, the judge, is fitted as the benchmark's held-out world is
    (`held_out`, `musicgym.envs.judging`): one fit, or ("as_trained") as world A is, on the
    other half; its P(listened) is then the mean of its members'.
    """
    config = EnvConfig(data=data)
    world_a = replace(config, world="A", catalog="A", sessions="train", ensemble=ensemble,
                      ensemble_resample=resample or config.ensemble_resample)
    judged = judging_configs(world_a, truth=False, held_out=held_out)["held_out_world"]
    vec = MusicRecVectorEnv(64, **asdict(judged))
    world_a = load_bundle(world_a).world
    agents: dict[str, TrackAgent] = {
        "greedy_a_in_b": GreedyModelAgent(world=world_a),
        "most_popular_in_b": MostPopularAgent(), "greedy_b_in_b": GreedyModelAgent()}
    agents["greedy_a_pessimistic_in_b"] = GreedyModelAgent(world=world_a, pessimism=LCB_PESSIMISM)
    for n in SUPPORT_LADDER:
        if n < len(vec.bundle.decoder):
            agents[f"greedy_a_in_b_top{n}"] = GreedyModelAgent(
                world=world_a, full_catalog_limit=0, n_popular=n, n_knn=0)
    # the judge's env and world A serve the agreement too (as rank_agreement's own for 64+ states)
    out = _agreement(vec, world_a, states, seed)
    for name, agent in agents.items():
        out[name] = evaluate(agent, vec, rounds, seed)["listened"]
    if synthetic_root(load_dataset(data)) is not None:
        # A and B can share a bias (both fitted to the same kind of logs): the true users tell
        truth = MusicRecVectorEnv(64, **asdict(replace(judged, world="truth", ensemble=1)))
        for name, agent in (("greedy_a_in_truth", GreedyModelAgent(world=world_a)),
                            ("most_popular_in_truth", MostPopularAgent())):
            out[name] = evaluate(agent, truth, rounds, seed)["listened"]
    return out
