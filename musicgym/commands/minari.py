"""`musicgym minari`: write logged sessions (or a trained agent's episodes) as a Minari dataset."""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from musicgym.commands.train import nonnegative_float, nonnegative_int, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym minari`."""
    parser.add_argument("--data", type=Path, default=None,
                        help="MSSD log, prepared dataset or `musicgym generate` folder "
                             "(default: the synthetic default set)")
    parser.add_argument("--dataset-id", required=True,
                        help="Minari dataset id NAMESPACE/NAME-vN, e.g. musicgym/mssd-v0; an "
                             "existing dataset is never replaced")
    parser.add_argument("--split", choices=("train", "validation", "test"), default="train",
                        help="whose logged sessions: the training sessions of the world's "
                             "half (what an agent trained in that world may learn from), or "
                             "the validation or test split")
    parser.add_argument("--out", type=Path, default=None,
                        help="datasets folder (default: $MINARI_DATASETS_PATH, else "
                             "~/.minari/datasets)")
    parser.add_argument("--policy", type=Path, default=None,
                        help="run folder of `musicgym train`: record that agent's episodes in "
                             "the env (with the run's env arguments) instead of the logs")
    parser.add_argument("--episodes", type=positive_int, default=None,
                        help="with --policy, episodes to record (default: one per session of "
                             "the split)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="with --policy, seed of the recorded episodes")
    parser.add_argument("--world", choices=("A", "B", "all"), default="A",
                        help="the env of the dataset's env spec: world A (the held-out world "
                             "B is its eval env spec), B, or all")
    parser.add_argument("--ensemble", type=positive_int, default=3,
                        help="user models of that world (as `musicgym train`)")
    parser.add_argument("--uncertainty-penalty", type=nonnegative_float, default=1.0,
                        help="the env spec's uncertainty penalty (as `musicgym train`); "
                             "logged rewards carry none")
    parser.add_argument("--min-plays", type=positive_int, default=5,
                        help="training plays a track needs to be recommendable")
    parser.add_argument("--reward", choices=("listened", "listen"), default="listened",
                        help="reward of each logged outcome, as the env's")


def run(args: argparse.Namespace) -> int:
    """Build the episodes, write the dataset and say how to load it."""
    from musicgym.minari_export import dataset_target, export_minari, import_minari

    try:
        import_minari()
    except ImportError as err:  # printed as the command's one-line error, not a traceback
        raise ValueError(str(err)) from None
    target = dataset_target(args.dataset_id, args.out)
    start = time.perf_counter()
    if args.policy is not None:
        episodes, who = _recorded(args)
    else:
        episodes, who = _logged(args), "logged sessions"
    built = time.perf_counter() - start
    folder = export_minari(episodes, args.dataset_id, args.out, algorithm_name=who)
    assert folder == target
    print(f"wrote {len(episodes)} episodes ({episodes.steps} steps, {who}) to {folder}: "
          f"episodes built in {built:.1f} s, written in "
          f"{time.perf_counter() - start - built:.1f} s")
    env = (f"MINARI_DATASETS_PATH={shlex.quote(str(args.out))} " if args.out is not None
           else "")
    code = (f'import minari; d = minari.load_dataset("{args.dataset_id}"); '
            'env = d.recover_environment(); print(d.total_episodes, env.spec.kwargs["world"])')
    print(f"load it with: {env}python -c {shlex.quote(code)}")
    return 0


def _logged(args: argparse.Namespace):
    from musicgym.envs.config import EnvConfig
    from musicgym.logged_episodes import logged_episodes

    config = EnvConfig(data=args.data, min_plays=args.min_plays, reward=args.reward,
                       world=args.world, ensemble=args.ensemble,
                       uncertainty_penalty=args.uncertainty_penalty, sessions=args.split)
    return logged_episodes(config)


def _recorded(args: argparse.Namespace):
    """A trained agent's episodes in its own env, on the split's sessions."""
    from dataclasses import replace

    from agents.training import load_policy
    from musicgym.envs.bundle import load_bundle
    from musicgym.envs.config import EnvConfig
    from musicgym.minari_export import record_episodes

    record, policy = load_policy(args.policy)
    config = replace(EnvConfig.from_kwargs(**record["env"]), sessions=args.split)
    episodes = args.episodes or len(load_bundle(config).sampler)

    def act(obs):
        return policy.predict(obs, deterministic=True)[0]

    name = f"{record['algo']} ({args.policy.name})"
    return record_episodes(config, act, episodes, args.seed), name
