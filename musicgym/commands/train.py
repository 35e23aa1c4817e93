"""`musicgym train`, `musicgym benchmark` and `musicgym recommend`: the agents from the shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _env_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="MSSD log or prepared dataset (default: the synthetic default set)")
    parser.add_argument("--slate-size", type=int, default=1, help="tracks recommended per step")
    parser.add_argument("--reward", choices=("listened", "listen", "not_skipped"),
                        default="listened",
                        help="reward per track: listened (1 when skip_2 is false) or listen "
                             "(0, 1/3, 2/3, 1 by how far it played); not_skipped is the "
                             "deprecated name of listened")
    parser.add_argument("--min-plays", type=int, default=5,
                        help="training plays a track needs to be recommendable")
    parser.add_argument("--decoding", choices=("dot", "nearest"), default="dot",
                        help="how the env turns proto-vectors into tracks: highest dot product "
                             "(the agents' actor is made for it) or nearest")
    parser.add_argument("--world", choices=("A", "B", "all"), default="A",
                        help="the world the agent trains in: user models fitted on half A or B "
                             "of the training sessions (the other half's world then judges it "
                             "as the held-out world), or on all of them (no held-out world)")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="user models in the training world, fitted on bootstrap "
                             "resamples; each episode's user is one of them (1: one fit)")
    parser.add_argument("--uncertainty-penalty", type=float, default=1.0,
                        help="reward minus this times the ensemble's disagreement about each "
                             "recommended track (MOPO); with --ensemble 3 it halved DDPG's "
                             "train-minus-held-out gap on the real sample (NOTES.md)")
    parser.add_argument("--test", type=Path, default=None,
                        help="MSSD log or prepared dataset whose sessions start the evaluation "
                             "episodes (default: the test split of --data)")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", choices=("ddpg", "td3", "sac"), default="ddpg",
                        help="SB3 algorithm (all use musicgym's actor and critic networks)")
    parser.add_argument("--preset", choices=("tuned", "musicbox"), default="tuned",
                        help="hyperparameters: the tuned default or the seed project's "
                             "(musicbox)")
    parser.add_argument("--noise", choices=("gaussian", "ou"), default="gaussian",
                        help="exploration noise: Gaussian or Ornstein-Uhlenbeck")
    parser.add_argument("--noise-sigma", type=float, default=0.2, help="exploration noise scale")
    parser.add_argument("--timesteps", type=int, default=240_000,
                        help="environment steps, summed over the envs")
    parser.add_argument("--num-envs", type=int, default=32,
                        help="sessions stepped together (one gradient step per vector step)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where run folders are created")
    parser.add_argument("--rounds", type=int, default=2,
                        help="benchmark passes over every held-out test session per agent")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym train`."""
    _env_arguments(parser)
    _train_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed of the agent and the envs")
    parser.add_argument("--exp-name", default=None, help="run name part (default: the algo)")


def _configs(args: argparse.Namespace, seed: int, runs_dir: Path):
    from agents.training import TrainConfig
    from musicgym.envs.config import EnvConfig

    env = EnvConfig(data=args.data, slate_size=args.slate_size, reward=args.reward,
                    min_plays=args.min_plays, decoding=args.decoding, world=args.world,
                    ensemble=args.ensemble, uncertainty_penalty=args.uncertainty_penalty)
    train = TrainConfig(algo=args.algo, preset=args.preset, noise=args.noise,
                        noise_sigma=args.noise_sigma, timesteps=args.timesteps,
                        num_envs=args.num_envs, runs_dir=runs_dir,
                        exp_name=getattr(args, "exp_name", None) or args.algo, seed=seed,
                        progress=not args.no_progress)
    return train, env


def _summary(per_seed: dict[str, dict[str, list]]) -> dict:
    from agents.evaluation import summarize

    return {world: summarize(agents) for world, agents in per_seed.items()}


def run(args: argparse.Namespace) -> int:
    """Train, save the run, and print the agent against the baselines in every world."""
    from agents.benchmark import benchmark_run, collect, headline
    from agents.results import write_results
    from agents.training import train

    train_config, env_config = _configs(args, args.seed, args.runs_dir)
    model, folder = train(train_config, env_config)
    print(f"saved {folder}/model.zip; TensorBoard: tensorboard --logdir {folder}/tensorboard")
    per_seed: dict[str, dict[str, list]] = {}
    collect(per_seed, benchmark_run({args.algo: model}, env_config, args.rounds, args.seed,
                                    test_data=args.test))
    summary = _summary(per_seed)
    print("held-out test sessions, one seed (use `musicgym benchmark` for intervals):")
    print(write_results(folder, summary, {"seeds": [args.seed], "rounds": args.rounds,
                                          "world": args.world, "test": str(args.test)}))
    print(headline(summary, args.algo))
    return 0


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym benchmark`."""
    _env_arguments(parser)
    _train_arguments(parser)
    parser.add_argument("--seeds", type=int, default=5, help="independent seeds")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for results.json/.md/.csv and results.png")


def run_benchmark(args: argparse.Namespace) -> int:
    """Train one agent per seed; judge it and the baselines in every world on test sessions."""
    from agents.benchmark import benchmark_run, collect, headline, transfer_gap
    from agents.results import write_results
    from agents.training import train

    per_seed: dict[str, dict[str, list]] = {}
    for seed in range(args.seeds):
        train_config, env_config = _configs(args, seed, args.out / "runs")
        model, _ = train(train_config, env_config)
        collect(per_seed, benchmark_run({args.algo: model}, env_config, args.rounds, seed,
                                        test_data=args.test))
    summary = _summary(per_seed)
    meta = {"seeds": args.seeds, "rounds": args.rounds, "data": str(args.data),
            "test": str(args.test), "world": args.world, "ensemble": args.ensemble,
            "uncertainty_penalty": args.uncertainty_penalty, "algo": args.algo,
            "timesteps": args.timesteps, "num_envs": args.num_envs}
    gap = transfer_gap(per_seed, args.algo)
    if gap is not None:
        meta["transfer_gap"] = gap
    print(write_results(args.out, summary, meta))
    print(headline(summary, args.algo))
    if gap is not None:
        print(f"{args.algo}: train world minus held-out world: {gap['mean']:.3f} "
              f"[{gap['ci_low']:.3f}, {gap['ci_high']:.3f}]")
    return 0


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym recommend`."""
    parser.add_argument("--model", type=Path, required=True, help="run folder of musicgym train")
    parser.add_argument("--history", nargs="+", required=True, help="track ids heard, oldest first")
    parser.add_argument("--outcomes", nargs="+", default=None,
                        help="outcome of each history track (skip_1, skip_2_only, skip_3_only, "
                             "not_skipped); default: all not_skipped")
    parser.add_argument("--k", type=int, default=10, help="how many tracks to recommend")
    parser.add_argument("--unknown", choices=("error", "skip"), default="error",
                        help="history tracks the model never saw: stop, or leave them out")


def run_recommend(args: argparse.Namespace) -> int:
    """Print recommended track ids, one per line."""
    from agents.recommender import Recommender, UnknownTracksError

    try:
        rec = Recommender.load(args.model)
        tracks = rec.recommend(args.history, args.outcomes, k=args.k, unknown=args.unknown)
    except (UnknownTracksError, ValueError, FileNotFoundError) as err:
        print(f"musicgym recommend: error: {err}", file=sys.stderr)
        return 2
    for name in rec.last_skipped:
        print(f"skipped unknown history track {name}", file=sys.stderr)
    print("\n".join(tracks))
    return 0
