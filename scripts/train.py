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
import copy
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecMonitor

from agents.algorithms import RecDDPG
from agents.baselines import DDPGTrackAgent
from agents.evaluation import evaluate, summarize
from agents.policy import TUNED_HYPERPARAMETERS, RecPolicy
from agents.results import table
from agents.training import TqdmCallback, baseline_agents, save_model
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

    # seeding: the envs and the agent each take the one seed; torch on one thread is far
    # faster for these small networks on a busy CPU, and flushing denormals avoids slow floats
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    # environments: training sessions to learn on, validation sessions for periodic evaluation
    env_config = EnvConfig(data=args.data)

    def sessions(split: str, n: int) -> MusicRecVectorEnv:
        return MusicRecVectorEnv(n, **asdict(replace(env_config, sessions=split)))

    envs = VecMonitor(SB3VecEnv(sessions("train", args.num_envs)))
    envs.seed(args.seed)
    eval_envs = VecMonitor(SB3VecEnv(sessions("validation", args.num_envs)))

    # the agent: DDPG with the history-encoding actor and bilinear critic, tuned preset
    hyper = copy.deepcopy(TUNED_HYPERPARAMETERS)
    layout = envs.get_attr("layout")[0]
    policy_kwargs = {"history_length": layout.history_length, "dim": layout.dim,
                     **hyper.pop("policy_kwargs")}
    action_size = envs.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(action_size), np.full(action_size, args.noise_sigma))
    model = RecDDPG(RecPolicy, envs, action_noise=noise, policy_kwargs=policy_kwargs,
                    seed=args.seed, tensorboard_log=str(run / "tensorboard"), **hyper)

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
    # run.json as `musicgym train` writes it, so `Recommender.load(run)` works on this run
    record = {"algo": "ddpg", "env": asdict(env_config), "train": vars(args)}
    (run / "run.json").write_text(json.dumps(record, default=str, indent=2))

    # held-out test sessions: the agent and every baseline replay the same sessions
    test = sessions("test", 64)
    agents = {"agent": DDPGTrackAgent(model), **baseline_agents(test)}
    results = {name: [evaluate(agent, test, args.rounds, args.seed)]
               for name, agent in agents.items()}
    print(f"saved {run}/model.zip")
    print(table(summarize(results)))
