"""How far what world A knows can carry into world B: rankings and pessimistic greedy, judged.

Issue 11 asks an agent trained in world A to beat `most_popular` in world B (fitted on the
other half of the training sessions) while recommending at least 5% of the catalog. This
script measures, without any RL, what policies built from A's knowledge score there, and what
even B's own knowledge would score under the same coverage:

| row | policy |
|---|---|
| most_popular | A's most played tracks, in order |
| static_A | one ranking for everyone: A's mean P(listened) over the test sessions' openings |
| static_A+pop | that ranking's z-score plus the z-score of log plays |
| uniform_top{N}_pop, _A | a uniform draw among the N most played, or the N best of static_A |
| uniform_top{N}_B | the same among the N best of B's own mean P(listened): reads the judge |
| greedy_A | the myopic best under A, per session (`greedy_model`) |
| lcb{k} | greedy_A on P_A(listened) - k * 0.5 / sqrt(training plays) (`pessimism=k`) |

Each row is judged in B and in A (A's ensemble, as an agent trains in it) on the held-out
test sessions (`agents.evaluation.evaluate`), with coverage (distinct tracks recommended over
recommendable tracks). On synthetic data the generator's users judge too.

    PYTHONPATH=. python scripts/transfer_ceiling.py --data ../shared/data/mssd/log_sample.csv.gz
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace

import numpy as np

from agents.baselines import GreedyModelAgent, MostPopularAgent, ScoringAgent, popularity
from agents.decisions import state_probs
from agents.evaluation import evaluate
from agents.track_agent import SessionEnv, TrackAgent
from musicgym.datasets import load_dataset
from musicgym.envs.config import EnvConfig
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.user_model import World
from musicgym.synthetic.dataset import synthetic_root


class StaticAgent(ScoringAgent):
    """One score per recommendable track for every session; or a uniform draw among its top N."""

    def __init__(self, score: np.ndarray, top: int | None = None) -> None:
        super().__init__()
        self.score, self.top = score, top

    def scores(self, env: SessionEnv, rng: np.random.Generator) -> np.ndarray:
        n = env.sessions.n
        if self.top is None:
            return np.broadcast_to(self.score, (n, len(self.score)))
        keep = np.zeros(len(self.score), bool)
        keep[np.argsort(-self.score, kind="stable")[: self.top]] = True
        return np.where(keep[None, :], rng.random((n, len(self.score))), -1.0)


def mean_preference(vec: MusicRecVectorEnv, world: World | None) -> np.ndarray:
    """Mean P(listened) of every recommendable track over the test sessions' openings."""
    blocks = [p for (p,) in state_probs(vec, [world], len(vec.bundle.sampler), seed=0)]
    return np.concatenate(blocks).mean(axis=0)


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / max(x.std(), 1e-12)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print the table; return it: policy -> {each judging world's listened rate, "coverage"}."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="MSSD log or prepared folder (default: "
                        "the synthetic default set)")
    parser.add_argument("--ensemble", type=int, default=3, help="world A's members")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the test sessions")
    parser.add_argument("--top", type=int, nargs="*", default=[25, 50, 100],
                        help="shortlist sizes of the uniform_top rows")
    parser.add_argument("--lcb", type=float, nargs="*", default=[1.0, 2.0, 4.0, 6.0],
                        help="pessimism factors k of the lcb rows")
    args = parser.parse_args(argv)

    started = time.time()
    base = EnvConfig(data=args.data, catalog="A", sessions="test")
    judges = {"B": MusicRecVectorEnv(64, **asdict(replace(base, world="B"))),
              "A": MusicRecVectorEnv(64, **asdict(replace(base, world="A",
                                                          ensemble=args.ensemble)))}
    if synthetic_root(load_dataset(args.data)) is not None:
        judges["truth"] = MusicRecVectorEnv(64, **asdict(replace(base, world="truth")))
    world_a = judges["A"].bundle.world
    in_b = judges["B"]
    pref_a, pref_b = mean_preference(in_b, world_a), mean_preference(in_b, None)
    plays = popularity(in_b)
    print(f"recommendable tracks: {len(plays)}; 5% coverage = {0.05 * len(plays):.0f} tracks")
    agents: dict[str, TrackAgent] = {
        "most_popular": MostPopularAgent(), "static_A": StaticAgent(pref_a),
        "static_A+pop": StaticAgent(_z(pref_a) + _z(np.log1p(plays)))}
    for n in args.top:
        agents[f"uniform_top{n}_pop"] = StaticAgent(plays.astype(np.float64), n)
        agents[f"uniform_top{n}_A"] = StaticAgent(pref_a, n)
        agents[f"uniform_top{n}_B"] = StaticAgent(pref_b, n)
    agents["greedy_A"] = GreedyModelAgent(world=world_a)
    for k in args.lcb:
        agents[f"lcb{k:g}"] = GreedyModelAgent(world=world_a, pessimism=k)

    print("| policy | " + " | ".join(judges) + " | coverage |")
    print("|---|" + "---:|" * (len(judges) + 1))
    table: dict[str, dict[str, float]] = {}
    for name, agent in agents.items():
        scores = {w: evaluate(agent, vec, args.rounds, 0) for w, vec in judges.items()}
        table[name] = {w: s["listened"] for w, s in scores.items()}
        table[name]["coverage"] = scores["B"]["coverage"]
        cells = " | ".join(f"{s['listened']:.3f}" for s in scores.values())
        print(f"| {name} | {cells} | {scores['B']['coverage']:.3f} |", flush=True)
    print(f"({time.time() - started:.0f} s)")
    return table


if __name__ == "__main__":
    main()
