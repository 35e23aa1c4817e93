"""Evaluate a saved run: recommend for a listening history, then judge it on held-out sessions.

`Recommender.load` rebuilds the agent and its env from the run folder that `musicgym train` (or
`examples/train.py`) printed: the same data, world and catalog, so the track ids it knows are
the ones `musicgym tracks` lists. The agent is then judged as `musicgym benchmark` judges it:
on held-out test sessions, in the world it trained in, in the held-out world and, on synthetic
data, by the generator's own users; `--all-baselines` adds every baseline (about a minute more).

    python examples/evaluate_run.py runs/MusicRec-v0__example__0__1733000000
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np

from agents.baselines import RandomAgent
from agents.benchmark import benchmark_run, evaluation_configs
from agents.evaluation import evaluate
from agents.recommender import Recommender
from agents.track_agent import PolicyAgent
from musicgym.envs.vector import MusicRecVectorEnv


def main() -> None:
    """Load the run, print recommendations and the listened rate per world."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="run folder written by `musicgym train`")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the test sessions")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated outcomes")
    parser.add_argument("--all-baselines", action="store_true",
                        help="judge every baseline too (the benchmark's full table)")
    args = parser.parse_args()

    rec = Recommender.load(args.run)
    # a history of the three most played recommendable tracks (`musicgym tracks --top 3`)
    catalog = rec.bundle.catalog
    order = np.argsort(-catalog.plays[catalog.recommendable], kind="stable")
    history = catalog.track_ids[catalog.recommendable[order[:3]]].tolist()
    picks = rec.recommend(history, outcomes=["not_skipped", "skip_1", "not_skipped"], k=5)
    print("history:", " ".join(history))
    print("recommended:", " ".join(picks))

    if args.all_baselines:
        results = benchmark_run({"agent": rec.model}, rec.config, args.rounds, args.seed)
    else:
        players = {"agent": PolicyAgent(rec.model), "random": RandomAgent()}
        results = {}
        for world, config in evaluation_configs(rec.config).items():
            vec = MusicRecVectorEnv(64, **asdict(config))
            results[world] = {name: evaluate(player, vec, args.rounds, args.seed)
                              for name, player in players.items()}
    for world, agents in results.items():
        print(f"{world}: " + ", ".join(f"{name} {m['listened']:.3f}"
                                       for name, m in agents.items()))


if __name__ == "__main__":
    main()
