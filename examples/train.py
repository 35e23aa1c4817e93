"""Train DDPG with the Python API and save a run folder, as `musicgym train` does.

The env is configured by an `EnvConfig` (the arguments of `gym.make("MusicRec-v0", ...)`), the
training by a `TrainConfig`; `agents.training.train` seeds everything from the config's seed,
runs torch on one thread, trains in world A (user models fitted on half A of the training
sessions) and writes the run folder, which `examples/evaluate_run.py` and
`agents.recommender.Recommender.load` read. `scripts/train.py` is the whole main job in one
script: this training, then the benchmark table against every baseline.

    python examples/train.py                        # 20,000 steps: about 2 minutes
    python examples/train.py --timesteps 500        # seconds: a smoke test
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.training import TrainConfig, train
from musicgym.envs.config import EnvConfig


def main() -> None:
    """Train, then print the run folder and how to use it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--timesteps", type=int, default=20_000,
                        help="environment steps, summed over the envs")
    parser.add_argument("--num-envs", type=int, default=32, help="sessions stepped together")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where the run folder is created")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agent and the episodes")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="user models of world A, each fitted on a bootstrap resample")
    args = parser.parse_args()

    # world A, an ensemble of bootstrap fits with a penalty on their disagreement: the
    # defaults of `musicgym train` (see `musicgym train --help`)
    env_config = EnvConfig(data=args.data, world="A", ensemble=args.ensemble,
                           uncertainty_penalty=1.0)
    config = TrainConfig(algo="ddpg", preset="tuned", timesteps=args.timesteps,
                         num_envs=args.num_envs, runs_dir=args.runs_dir, exp_name="example",
                         seed=args.seed)
    _, run = train(config, env_config)
    print(f"run folder: {run}")
    print(f"judge it:   python examples/evaluate_run.py {run}")
    data = f" --data {args.data}" if args.data else ""
    print(f"try it:     musicgym recommend --model {run} --history $(musicgym tracks{data} "
          "--top 3 | tail -n +2 | cut -f1)")


if __name__ == "__main__":
    main()
