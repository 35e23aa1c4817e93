"""Learning curve of DDPG: listened rate on validation and test sessions every few steps.

Trains like `musicgym train` (tuned preset, `make_agent`) but in chunks, and after each chunk
replays every validation and test session once with the actor and with the target actor (the
Polyak average SB3 keeps for bootstrapping). It prints one JSON line per chunk. Extra SB3
keyword arguments go in `--overrides` as JSON, e.g. '{"gradient_steps": 4}'.

    python scripts/training_curve.py --data ../shared/data/mssd/log_sample.csv.gz \
        --num-envs 32 --timesteps 240000 --chunk 20000
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecMonitor

from agents.evaluation import evaluate
from agents.policy import RecActor, make_agent
from agents.track_agent import TrackAgent
from agents.vec_env import SB3VecEnv
from musicgym.envs.vector import MusicRecVectorEnv


class ActorAgent(TrackAgent):
    """Tracks a `RecActor`'s proto-vectors decode to (its catalog lookup switched off)."""

    def __init__(self, actor: RecActor) -> None:
        super().__init__()
        self.actor = actor

    def select(self, vec_env: MusicRecVectorEnv, obs: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        bare = copy.copy(self.actor)  # a shallow copy shares the weights
        bare.catalog = None
        with torch.no_grad():
            protos = bare(torch.as_tensor(obs)).numpy()
        protos = protos.reshape(len(obs), self.slate_size(vec_env), -1)
        return vec_env.bundle.decoder.decode(protos, vec_env.sessions.played)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="MSSD log or prepared dataset "
                        "(default: the synthetic default set)")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=240_000)
    parser.add_argument("--chunk", type=int, default=20_000, help="steps between evaluations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overrides", type=json.loads, default={},
                        help="JSON of SB3 keyword arguments replacing the tuned preset's")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    venv = VecMonitor(SB3VecEnv.make(args.num_envs, data=args.data))
    venv.seed(args.seed)
    model = make_agent("ddpg", venv, seed=args.seed, **args.overrides)
    splits = {name: MusicRecVectorEnv(64, data=args.data, sessions=name)
              for name in ("validation", "test")}
    start, done = time.time(), 0
    while done < args.timesteps:
        model.learn(min(args.chunk, args.timesteps - done), reset_num_timesteps=done == 0)
        done = model.num_timesteps
        row: dict[str, float] = {"steps": done, "seconds": round(time.time() - start)}
        for actor_name, actor in (("actor", model.actor), ("target", model.actor_target)):
            for split, env in splits.items():
                rate = evaluate(ActorAgent(actor), env, 1, args.seed)["listened"]
                row[f"{actor_name}_{split}"] = round(rate, 4)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
