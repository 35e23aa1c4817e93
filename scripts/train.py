"""Train DDPG on MusicRec-v0 and compare it with the baselines: the main job in one file.

Read top to bottom, in the spirit of CleanRL: arguments, seeding, environments, the agent
(SB3's DDPG with musicgym's actor and critic), training with evaluation and checkpoints, and
the table against the baselines on held-out sessions. `musicgym train` does the same through
`agents.training.train`.

    python scripts/train.py                                       # synthetic default set
    python scripts/train.py --data ../shared/data/mssd/log_sample.csv.gz --seed 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.vec_env import VecMonitor

from agents.evaluation import summarize
from agents.policy import make_agent
from agents.results import table
from agents.training import TqdmCallback, benchmark_run, save_model, write_run_record
from musicgym.envs import ENV_ID
from musicgym.envs.config import EnvConfig
from musicgym.envs.vector import MusicRecVectorEnv, SB3VecEnv


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=240_000,
                        help="environment steps, summed over the envs")
    parser.add_argument("--num-envs", type=int, default=32, help="sessions stepped together")
    parser.add_argument("--noise-sigma", type=float, default=0.2,
                        help="Gaussian exploration noise on the proto-vectors")
    parser.add_argument("--eval-freq", type=int, default=20_000)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--rounds", type=int, default=2,
                        help="passes over every held-out test session per agent")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    run = args.runs_dir / f"{ENV_ID}__train_script__{args.seed}__{int(time.time())}"
    run.mkdir(parents=True)

    # one thread is far faster for these small networks on a busy CPU, and flushing denormal
    # floats avoids a 4x slowdown; SB3 seeds torch, numpy and the envs from `seed`
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    # environments: training sessions to learn on, validation sessions for periodic evaluation
    env_config = EnvConfig(data=args.data)

    def sessions(split: str, n: int) -> MusicRecVectorEnv:
        return MusicRecVectorEnv(n, **asdict(replace(env_config, sessions=split)))

    envs = VecMonitor(SB3VecEnv(sessions("train", args.num_envs)))
    envs.seed(args.seed)
    eval_envs = VecMonitor(SB3VecEnv(sessions("validation", args.num_envs)))

    # the agent: SB3's DDPG with the history-encoding actor and the bilinear critic
    # (agents/policy.py), the tuned preset (`TUNED_HYPERPARAMETERS`) and Gaussian noise
    model = make_agent("ddpg", envs, preset="tuned", noise="gaussian",
                       noise_sigma=args.noise_sigma, seed=args.seed,
                       tensorboard_log=str(run / "tensorboard"))

    # training: progress bar, evaluation on validation sessions, checkpoints
    per_env = args.num_envs
    model.learn(args.timesteps, callback=[
        TqdmCallback(args.timesteps),
        EvalCallback(eval_envs, eval_freq=max(args.eval_freq // per_env, 1),
                     n_eval_episodes=64, log_path=str(run / "eval"),
                     best_model_save_path=str(run / "eval")),
        CheckpointCallback(max(2 * args.eval_freq // per_env, 1), str(run / "checkpoints"),
                           name_prefix="ddpg"),
    ])
    save_model(model, run / "model.zip")
    write_run_record(run, "ddpg", env_config, vars(args))  # so Recommender.load(run) works

    # held-out test sessions: the agent and every baseline replay the same sessions
    results = benchmark_run(model, env_config, args.rounds, args.seed)
    print(f"saved {run}/model.zip")
    print(table(summarize({name: [metrics] for name, metrics in results.items()})))
