"""Train DDPG on MusicRec-v0 and compare it with the baselines, through the Python API.

The main job (`musicgym train`) as a short script: configure the env and the training, train
in world A (user models fitted on half A of the training sessions; progress bar, evaluation on
validation sessions, checkpoints, TensorBoard), then let the agent and every baseline replay
the same held-out test sessions in world A and in world B, fitted on the other half (and, on
synthetic data, with the generator's own users). The run folder loads with
`agents.recommender.Recommender.load`.

    python scripts/train.py                                       # synthetic default set
    python scripts/train.py --data ../shared/data/mssd/log_sample.csv.gz --seed 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.benchmark import benchmark_run
from agents.evaluation import summarize
from agents.results import report
from agents.training import TrainConfig, data_defaults, train
from musicgym.datasets import load_dataset
from musicgym.envs.config import EnvConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the agent and the episodes")
    parser.add_argument("--timesteps", type=int, default=240_000,
                        help="environment steps, summed over the envs")
    parser.add_argument("--num-envs", type=int, default=32, help="sessions stepped together")
    parser.add_argument("--eval-freq", type=int, default=20_000,
                        help="steps between evaluations on validation sessions")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--rounds", type=int, default=2,
                        help="passes over every held-out test session per agent")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    # the env: which data, and how a recommendation is scored (see MusicRecEnv's docstring)
    # trained in world A: an ensemble of 3 fits of half A of the training sessions, each
    # episode's user one of them, each track's reward minus the members' disagreement about it
    # what the main job chooses for the data: on generated data an actor that starts from the
    # listener's taste direction (taste prior 16) and decoding by angle; on logs jackknife
    # members, a held-out world built the same way, and the training world's greedy teacher
    # ranking by the reward less the support and concentration penalties, plus the listener's
    # taste
    chosen = data_defaults(load_dataset(args.data))
    print(f"for these data: {chosen.why}")
    env_config = EnvConfig(data=args.data, reward="listened", world="A", ensemble=3,
                           ensemble_resample=chosen.ensemble_resample,
                           uncertainty_penalty=1.0, decoding=chosen.decoding,
                           support_penalty=chosen.support_penalty,
                           concentration_penalty=chosen.concentration_penalty)
    # the agent: SB3's DDPG with musicgym's actor and critic and the tuned preset; `train`
    # seeds everything from `seed`, runs torch on one thread and writes the run folder
    config = TrainConfig(algo="ddpg", preset="tuned", timesteps=args.timesteps,
                         num_envs=args.num_envs, eval_freq=args.eval_freq,
                         checkpoint_freq=2 * args.eval_freq, runs_dir=args.runs_dir,
                         exp_name="train_script", seed=args.seed,
                         taste_prior=chosen.taste_prior, teacher=chosen.teacher,
                         teacher_taste=chosen.teacher_taste)
    model, run = train(config, env_config)
    print(f"saved {run}/model.zip")
    # held-out test sessions: the agent and every baseline replay the same sessions in each
    # world; the held-out world's score is the honest one
    results = benchmark_run({"ddpg": model}, env_config, args.rounds, args.seed,
                            held_out=chosen.held_out_world)
    print(report({world: summarize({name: [metrics] for name, metrics in agents.items()})
                  for world, agents in results.items()}))
