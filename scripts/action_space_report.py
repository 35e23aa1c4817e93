"""What the action space lets an agent reach, measured against greedy-by-model.

For the first step of N training sessions, the simulator scores every catalog track
(P(listened), as `GreedyModelAgent` does). The script prints:
- greedy's mean score, and greedy restricted to the tracks "dot" decoding can reach at all
  (the argmax for some direction: found with 200,000 random directions);
- how much of each track's mean score across states a linear function of its vector explains
  (R^2; with the simulator's two track statistics as extra regressors too): the part of greedy
  a critic linear in the track vector can express;
- over whole held-out test sessions, the listened rate of one constant direction (the least
  squares direction of that fit, decoded by dot product), most-popular and greedy.

    python scripts/action_space_report.py --data ../shared/data/mssd/log_sample.csv.gz
"""

from __future__ import annotations

import argparse

import numpy as np

from agents.baselines import GreedyModelAgent, MostPopularAgent, top_slate
from agents.evaluation import evaluate
from agents.track_agent import TrackAgent
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import simulator_config
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.simulator.fitting import load_or_fit


class ConstantDirectionAgent(TrackAgent):
    """The allowed track with the highest dot product with one fixed direction."""

    def __init__(self, direction: np.ndarray) -> None:
        super().__init__()
        self.direction = direction

    def select(self, vec_env: MusicRecVectorEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        decoder = vec_env.bundle.decoder
        scores = np.broadcast_to(decoder.vectors @ self.direction,
                                 (vec_env.sessions.n, len(decoder)))
        allowed = vec_env.sessions.allowed()
        return decoder.rows[top_slate(scores, allowed, self.slate_size(vec_env))]


def r_squared(features: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """R^2 of a least-squares fit with intercept, and the coefficients (intercept last)."""
    design = np.hstack([features, np.ones((len(features), 1))])
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    return float(1.0 - np.var(target - design @ coef) / np.var(target)), coef


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="MSSD log or prepared dataset "
                        "(default: the synthetic default set)")
    parser.add_argument("--states", type=int, default=512, help="training sessions scored")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    env = MusicRecVectorEnv(args.states, data=args.data, sessions="train")
    n = min(args.states, len(env.bundle.sampler))
    env.sessions.reset(np.arange(args.states), rng, np.resize(np.arange(n), args.states))
    decoder = env.bundle.decoder
    allowed = env.sessions.allowed()
    scores = np.where(allowed, GreedyModelAgent(env).scores(env, rng), -1.0)
    vectors = decoder.vectors

    reachable = np.zeros(len(vectors), bool)
    for _ in range(40):
        directions = rng.normal(size=(5000, vectors.shape[1])).astype(np.float32)
        reachable[np.unique((directions @ vectors.T).argmax(axis=1))] = True
    print(f"catalog {len(vectors)} tracks, dim {vectors.shape[1]}; "
          f"dot-reachable {reachable.sum()}")
    print(f"first step, {n} states: greedy {scores.max(axis=1).mean():.4f}, greedy over "
          f"dot-reachable tracks {np.where(reachable, scores, -1.0).max(axis=1).mean():.4f}")

    track_mean = np.nanmean(np.where(allowed, scores, np.nan), axis=0)
    simulator = load_or_fit(load_dataset(args.data), simulator_config(env.config), progress=False)
    stats = simulator.response.stats.features(decoder.rows)
    fit, coef = r_squared(vectors, track_mean)
    fit_stats, _ = r_squared(np.hstack([vectors, stats]), track_mean)
    print(f"R^2 of each track's mean score on its vector {fit:.3f}; "
          f"with the two track statistics {fit_stats:.3f}")

    test = MusicRecVectorEnv(64, data=args.data, sessions="test")
    agents = {"constant direction": ConstantDirectionAgent(coef[:-1].astype(np.float32)),
              "most popular": MostPopularAgent(), "greedy": GreedyModelAgent()}
    for name, agent in agents.items():
        rate = evaluate(agent, test, rounds=1, seed=args.seed)["listened"]
        print(f"held-out test sessions, listened rate: {name} {rate:.4f}")


if __name__ == "__main__":
    main()
