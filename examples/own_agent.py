"""Bring your own agent: a function from observation to action, and an SB3 policy of your own.

Both are judged the way `musicgym benchmark` judges agents: every agent replays the same
held-out test sessions, with the catalog of world A (the world a learning agent trains in), and
is scored by world A, by the held-out world B (user models it never trained on: the headline)
and, on synthetic data, by the generator's own users. Random and most-popular are there to
compare with; `--all-baselines` runs `agents.benchmark.benchmark_run`, the benchmark itself,
with every baseline (the greedy ones take about a minute more).

    python examples/own_agent.py                          # about 2 minutes on the default data
    python examples/own_agent.py --timesteps 500 --rounds 1  # seconds: a smoke test
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
from stable_baselines3 import DDPG

from agents.baselines import MostPopularAgent, RandomAgent
from agents.benchmark import benchmark_run, evaluation_configs
from agents.evaluation import evaluate
from agents.track_agent import PolicyAgent, SessionEnv, TrackAgent
from agents.vec_env import SB3VecEnv
from musicgym.data.schema import OUTCOMES
from musicgym.envs.config import EnvConfig
from musicgym.envs.observation import ObservationLayout
from musicgym.envs.vector import MusicRecVectorEnv
from musicgym.threads import training_numerics

Policy = Callable[[np.ndarray], np.ndarray]
"""Observations [N, obs size] -> actions [N, slate_size * dim], proto-vectors in [-1, 1]."""


def taste_direction(layout: ObservationLayout, slate_size: int) -> Policy:
    """A policy with no training: aim at the tracks the user listened to, away from skips.

    Each proto-vector is the sum of the history's track vectors, +1 for a listened track
    (skip_3 only or played through), -1 for one skipped early, normalised to unit length; the
    env's "dot" decoding plays the recommendable track with the highest dot product with it.
    """
    weight = np.where(np.arange(len(OUTCOMES)) >= OUTCOMES.index("skip_3_only"), 1.0, -1.0)

    def act(obs: np.ndarray) -> np.ndarray:
        parts = layout.split(obs)
        # per slot: one outcome weight, 0 for empty history slots
        w = (parts["history_outcomes"] @ weight) * parts["history_valid"]
        proto = np.einsum("nh,nhd->nd", w, parts["history_embeddings"])
        proto /= np.maximum(np.linalg.norm(proto, axis=1, keepdims=True), 1e-8)
        return np.tile(proto, slate_size).astype(np.float32)

    return act


class FunctionAgent(TrackAgent):
    """Any `Policy` as a `TrackAgent`: its proto-vectors decoded by the env, as an actor's are."""

    def __init__(self, act: Policy) -> None:
        super().__init__()
        self.act = act

    def select(self, vec_env: SessionEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Catalog rows [N, K]: the tracks the env decodes the policy's actions to."""
        protos = np.asarray(self.act(obs), np.float32)
        protos = protos.reshape(len(obs), self.slate_size(vec_env), -1)
        return vec_env.bundle.decoder.decode(protos, vec_env.sessions.played)[0]


def train_mlp_ddpg(env_config: EnvConfig, timesteps: int, num_envs: int, seed: int) -> DDPG:
    """Plain SB3 DDPG with its own MLP policy; any SB3 policy (or your subclass) fits here."""
    venv = SB3VecEnv.make(num_envs, **asdict(env_config))
    venv.seed(seed)
    model = DDPG("MlpPolicy", venv, policy_kwargs={"net_arch": [128, 128]},
                 learning_starts=min(1_000, timesteps // 2), seed=seed, device="cpu")
    with training_numerics():  # small networks: one torch thread is fastest
        model.learn(timesteps)
    return model


def judge(agents: dict[str, TrackAgent], env_config: EnvConfig, rounds: int,
          seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """The benchmark's protocol for a few agents: world -> agent -> metrics."""
    out = {}
    for world, config in evaluation_configs(env_config).items():
        vec = MusicRecVectorEnv(64, **asdict(config))
        out[world] = {name: evaluate(agent, vec, rounds, seed) for name, agent in agents.items()}
    return out


def main() -> None:
    """Build both agents, judge them, print the listened rate per world."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--timesteps", type=int, default=20_000,
                        help="training steps of the SB3 policy, summed over the envs")
    parser.add_argument("--num-envs", type=int, default=16, help="sessions stepped together")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the test sessions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all-baselines", action="store_true",
                        help="run the benchmark itself, with every baseline")
    args = parser.parse_args()

    # agents act in world A's catalog and learn from world A's users, as in `musicgym train`
    env_config = EnvConfig(data=args.data, world="A")
    layout = MusicRecVectorEnv(1, **asdict(env_config)).layout
    mine = FunctionAgent(taste_direction(layout, env_config.slate_size))
    model = train_mlp_ddpg(env_config, args.timesteps, args.num_envs, args.seed)
    if args.all_baselines:
        results = benchmark_run({"taste_direction": mine, "mlp_ddpg": model}, env_config,
                                args.rounds, args.seed)
    else:
        results = judge({"taste_direction": mine, "mlp_ddpg": PolicyAgent(model),
                         "random": RandomAgent(), "most_popular": MostPopularAgent()},
                        env_config, args.rounds, args.seed)
    print("listened rate on held-out test sessions")
    worlds = list(results)
    print("| agent | " + " | ".join(worlds) + " |")
    print("|---|" + "---:|" * len(worlds))
    for name in results[worlds[0]]:
        cells = " | ".join(f"{results[w][name]['listened']:.3f}" for w in worlds)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
