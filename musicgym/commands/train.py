"""`musicgym train`, `musicgym benchmark` and `musicgym recommend`: the agents from the shell."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from musicgym.envs.config import DECODINGS, HELD_OUT, RESAMPLES


def _number(kind: type, least: float, what: str) -> Callable[[str], Any]:
    """An argparse type: a `kind` number >= `least`, with an error that names the rule."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and value >= least):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value
    return parse


positive_int = _number(int, 1, "an integer >= 1")
nonnegative_int = _number(int, 0, "an integer >= 0")
nonnegative_float = _number(float, 0.0, "a number >= 0")
AUTO = "auto"
"""Chosen for the data by `agents.training.data_defaults`, once they are read."""
PLAIN = {"taste_prior": 0.0, "decoding": "dot", "teacher": 0.0, "teacher_taste": 0.0,
         "support_penalty": 0.0, "concentration_penalty": 0.0, "ensemble_resample": "bootstrap",
         "held_out_world": "one_fit"}
"""The flags whose default is "auto", and what they mean until the data are read."""


def _auto_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type: "auto", or what `parse` accepts."""
    def parse_or_auto(text: str) -> Any:
        return AUTO if text == AUTO else parse(text)
    return parse_or_auto


def _env_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None,
                        help="MSSD log, prepared dataset or `musicgym generate` folder "
                             "(default: the synthetic default set)")
    parser.add_argument("--slate-size", type=positive_int, default=1,
                        help="tracks recommended per step")
    parser.add_argument("--reward", choices=("listened", "listen", "not_skipped"),
                        default="listened",
                        help="reward per track: listened (1 when skip_2 is false) or listen "
                             "(0, 1/3, 2/3, 1 by how far it played); not_skipped is the "
                             "deprecated name of listened")
    parser.add_argument("--min-plays", type=positive_int, default=5,
                        help="training plays a track needs to be recommendable")
    parser.add_argument("--decoding", choices=(AUTO, *DECODINGS), default=AUTO,
                        help="how the env turns proto-vectors into tracks: highest dot product, "
                             "nearest, or highest cosine (dot product with unit-length track "
                             "vectors); auto: cosine on generated data with the taste prior, "
                             "else dot (README, Worlds)")
    parser.add_argument("--world", choices=("A", "B", "all"), default="A",
                        help="the world the agent trains in: user models fitted on half A or B "
                             "of the training sessions (the other half's world then judges it "
                             "as the held-out world), or on all of them (no held-out world)")
    parser.add_argument("--ensemble", type=positive_int, default=3,
                        help="user models in the training world, fitted as "
                             "--ensemble-resample says; each episode's user is one of them "
                             "(1: one fit)")
    parser.add_argument("--ensemble-resample", choices=(AUTO, *RESAMPLES), default=AUTO,
                        help="members fit bootstrap resamples of the world's sessions, "
                             "disjoint folds of them, or (jackknife) every fold but one; "
                             "auto: jackknife on logs, bootstrap on generated data")
    parser.add_argument("--history-match", action="store_true",
                        help="fit the worlds' user models with explicit taste-match inputs "
                             "(each track against the session's listened and skipped tracks); "
                             "on the default data it makes the fitted worlds reward what the "
                             "true users reward (README, Worlds)")
    parser.add_argument("--uncertainty-penalty", type=nonnegative_float, default=1.0,
                        help="reward minus this times the ensemble's disagreement about each "
                             "recommended track (MOPO); with --ensemble 3 it halved DDPG's "
                             "train-minus-held-out gap on the real sample (NOTES.md)")
    parser.add_argument("--concentration-penalty", type=_auto_or(nonnegative_float),
                        default=AUTO,
                        help="reward minus this times how over-recommended each track is "
                             "among the env's recent recommendations (a diversity term, as "
                             "DORL's entropy term); training only; auto: see --teacher")
    parser.add_argument("--support-penalty", type=_auto_or(nonnegative_float), default=AUTO,
                        help="reward minus this times 0.5 / sqrt(the track's training plays): "
                             "pessimism about tracks the data barely know; training only; "
                             "auto: see --teacher")
    parser.add_argument("--test", type=Path, default=None,
                        help="MSSD log or prepared dataset whose sessions start the evaluation "
                             "episodes (default: the test split of --data)")
    parser.add_argument("--held-out-world", choices=(AUTO, *HELD_OUT), default=AUTO,
                        help="how the held-out world that judges is fitted: one fit on the "
                             "other half's sessions, or as_trained: built as the training "
                             "world (--ensemble, --ensemble-resample) on the other half's "
                             "sessions; auto: as_trained on logs, one_fit on generated data "
                             "(README, Worlds)")


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", choices=("ddpg", "td3", "sac"), default="ddpg",
                        help="SB3 algorithm (all use musicgym's actor and critic networks)")
    parser.add_argument("--preset", choices=("tuned", "musicbox"), default="tuned",
                        help="hyperparameters: the tuned default or the seed project's "
                             "(musicbox)")
    parser.add_argument("--noise", choices=("gaussian", "ou"), default="gaussian",
                        help="exploration noise: Gaussian or Ornstein-Uhlenbeck")
    parser.add_argument("--noise-sigma", type=nonnegative_float, default=0.2,
                        help="exploration noise scale")
    parser.add_argument("--taste-prior", type=_auto_or(nonnegative_float), default=AUTO,
                        help="DDPG/TD3: start the actor from the session's taste direction "
                             "(the mean vector of its listened tracks, as item-kNN) times "
                             "this, and learn what to add to it; 0: off; auto: 16 on "
                             "generated data, 0 on logs (README, Worlds)")
    parser.add_argument("--teacher", type=_auto_or(nonnegative_float), default=AUTO,
                        help="DDPG/TD3: weight of the training world's greedy teacher: the "
                             "actor also learns to decode to the tracks world A's user models "
                             "rate best in each training state, ranked by the training "
                             "reward (P(listened) less the support and concentration "
                             "penalties; it reads the simulator only while training); 0: off; "
                             "auto: on logs (DDPG/TD3) 2, with --teacher-taste 0.075 "
                             "--support-penalty 1 --concentration-penalty 0; on generated "
                             "data 0 and all three 0 "
                             "(README, Worlds)")
    parser.add_argument("--teacher-taste", type=_auto_or(nonnegative_float), default=AUTO,
                        help="DDPG/TD3 with --teacher: the teacher's ranking also adds this "
                             "times each track's cosine to the session's taste vector, so "
                             "each listener is taught near-best tracks nearest their taste "
                             "(spreads the agent's picks); 0: off; auto: see --teacher")
    parser.add_argument("--timesteps", type=positive_int, default=240_000,
                        help="environment steps, summed over the envs")
    parser.add_argument("--num-envs", type=positive_int, default=32,
                        help="sessions stepped together (one gradient step per vector step)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="where run folders are created")
    parser.add_argument("--rounds", type=positive_int, default=2,
                        help="benchmark passes over every held-out test session per agent")
    parser.add_argument("--eval-freq", type=positive_int, default=20_000,
                        help="steps between evaluations on validation sessions (printed; the "
                             "best evaluated model is kept as eval/best_model.zip)")
    parser.add_argument("--checkpoints", type=nonnegative_int, default=0,
                        help="SB3 checkpoints to keep, evenly spaced over training, in "
                             "checkpoints/ (several MB each); the final model and the best "
                             "evaluated one are always kept")
    parser.add_argument("--device", default=None,
                        help="where the user models' fit and the agent's networks train: "
                             "auto (a GPU when torch sees one), cpu, cuda or cuda:N (default: "
                             "$MUSICGYM_DEVICE, else auto); the env steps on CPU either way")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym train`."""
    _env_arguments(parser)
    _train_arguments(parser)
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of the agent and the envs")
    parser.add_argument("--exp-name", default=None, help="run name part (default: the algo)")


def _configs(args: argparse.Namespace, seed: int, runs_dir: Path):
    from agents.training import TrainConfig
    from musicgym.envs.config import EnvConfig

    # "auto" stands for the plain values until `_with_data_defaults` has read the data
    plain = {name: PLAIN[name] if getattr(args, name) == AUTO else getattr(args, name)
             for name in PLAIN}
    if args.teacher == AUTO and plain["teacher_taste"]:
        # the data may choose a teacher for --teacher-taste to shape: checked once they are read
        plain["teacher"] = 1.0
    env = EnvConfig(data=args.data, slate_size=args.slate_size, reward=args.reward,
                    min_plays=args.min_plays, decoding=plain["decoding"], world=args.world,
                    ensemble=args.ensemble, ensemble_resample=plain["ensemble_resample"],
                    history_match=args.history_match,
                    uncertainty_penalty=args.uncertainty_penalty,
                    concentration_penalty=plain["concentration_penalty"],
                    support_penalty=plain["support_penalty"])
    # N evenly spaced checkpoints: SB3 counts them in vector steps of num_envs env-steps
    vector_steps = math.ceil(args.timesteps / args.num_envs)
    checkpoint_freq = (math.ceil(vector_steps / args.checkpoints) * args.num_envs
                       if args.checkpoints else 0)
    train = TrainConfig(algo=args.algo, preset=args.preset, noise=args.noise,
                        noise_sigma=args.noise_sigma, taste_prior=plain["taste_prior"],
                        teacher=plain["teacher"], teacher_taste=plain["teacher_taste"],
                        timesteps=args.timesteps,
                        num_envs=args.num_envs, eval_freq=args.eval_freq,
                        checkpoint_freq=checkpoint_freq, runs_dir=runs_dir,
                        exp_name=getattr(args, "exp_name", None) or args.algo, seed=seed,
                        progress=not args.no_progress, device=args.device)
    return train, env


def _use_device(args: argparse.Namespace) -> None:
    """Let `--device` (checked by `TrainConfig`) choose where this process's fits train too."""
    if args.device is not None:
        os.environ["MUSICGYM_DEVICE"] = args.device


def _summary(per_seed: dict[str, dict[str, list]]) -> dict:
    from agents.evaluation import summarize

    return {world: summarize(agents) for world, agents in per_seed.items()}


def _check_paths(args: argparse.Namespace, out: Path) -> None:
    """Refuse missing inputs and an output folder that is a file, before any work."""
    for flag, path in (("--data", args.data), ("--test", args.test)):
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"{flag} {path}: no such file or folder; pass an MSSD log, "
                                    "a prepared dataset or a folder written by `musicgym "
                                    "generate`")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file; pass a folder for the runs")


@contextmanager
def _stage(what: str) -> Iterator[list[str]]:
    """Say what starts, then how long it took (and any notes the block appended)."""
    print(f"{what} ...", flush=True)
    start = time.perf_counter()
    notes: list[str] = []
    yield notes
    print(f"  done in {time.perf_counter() - start:.1f} s" + "".join(f"; {n}" for n in notes),
          flush=True)


def _load_data(data: Path | None) -> Any:
    """The prepared dataset of `--data`, made ready one line per stage, with times."""
    from musicgym.data.cache import cache_dir
    from musicgym.datasets import load_dataset

    shown = data
    if data is None:
        from musicgym.synthetic.default import default_synthetic_dir

        with _stage("data: the synthetic default set (generated on first use, then cached)"):
            shown = default_synthetic_dir()
    with _stage(f"data: reading {shown} (prepared once, then cached in {cache_dir()})") as notes:
        dataset = load_dataset(data)
        notes.append(f"{dataset.manifest.get('sessions', '?')} sessions")
    return dataset


def _with_data_defaults(args: argparse.Namespace, dataset: Any) -> argparse.Namespace:
    """`args` with "auto" replaced by what `agents.training.data_defaults` chose for `dataset`.

    `dataset` is that of `--data`; "auto" is the default of every flag in `PLAIN`. The choice
    is printed. An explicit value of a flag is kept; only a flag left at "auto" follows the
    data.
    """
    if all(getattr(args, name) != AUTO for name in PLAIN):
        return args
    from agents.training import data_defaults

    defaults = data_defaults(dataset, args.algo)
    resolved = resolve_auto(args, tuple(PLAIN), defaults.flags())
    print(f"defaults for these data ({defaults.why}): {flags_line(resolved, tuple(PLAIN))}",
          flush=True)
    return resolved


def resolve_auto(args: argparse.Namespace, names: tuple[str, ...],
                 chosen: dict[str, Any]) -> argparse.Namespace:
    """A copy of `args` in which each of `names` left at "auto" takes its value in `chosen`."""
    resolved = argparse.Namespace(**vars(args))
    for name in names:
        if getattr(args, name) == AUTO:
            setattr(resolved, name, chosen[name])
    return resolved


def flags_line(args: argparse.Namespace, names: tuple[str, ...]) -> str:
    """`--flag value` for each of `names`, as the command line spells them."""
    return " ".join(f"--{name.replace('_', '-')} {_shown(getattr(args, name))}"
                    for name in names)


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _prepare(env_config: Any, progress: bool = True, held_out: str = "one_fit") -> None:
    """Make the training world and the worlds that judge ready (after `_load_data`), with times.

    Every fitted world's members are fitted here on first use (`progress`: their epochs on a
    bar; `--no-progress` hides it), so that the envs built later, by training and by the
    judging of `agents.benchmark`, load them from the cache and print nothing.
    """
    from dataclasses import replace

    from musicgym.data.cache import cache_dir
    from musicgym.datasets import load_dataset
    from musicgym.envs.bundle import load_bundle, world_members
    from musicgym.envs.judging import judging_configs
    from musicgym.simulator.fitting import load_or_fit

    members = f", an ensemble of {env_config.ensemble}" if env_config.ensemble > 1 else ""
    judges = judging_configs(env_config, truth=False, held_out=held_out)
    others = {c.world: c for c in judges.values() if c.world != env_config.world}
    judged = " and the judging world " + ", ".join(
        name + (f" (an ensemble of {c.ensemble}, built as {env_config.world})"
                if c.ensemble > 1 else "")
        for name, c in sorted(others.items())) if others else ""
    with _stage(f"simulator: world {env_config.world}{members}{judged}, the catalog and "
                f"sessions: fitted on first use, then loaded from {cache_dir()}"):
        dataset = load_dataset(env_config.data)
        # train_world (the training world's own members) comes first, then held_out_world
        for config in judges.values():
            for member in world_members(config) if config.world != "truth" else ():
                load_or_fit(dataset, member, progress=progress)
        load_bundle(replace(env_config, sessions="train"))
        load_bundle(replace(env_config, sessions="validation"))


def run(args: argparse.Namespace) -> int:
    """Train, save the run, and print the agent against the baselines in every world."""
    from agents.benchmark import benchmark_run, collect, headline
    from agents.results import write_results
    from agents.training import train

    _configs(args, args.seed, args.runs_dir)  # every argument is valid before any work
    _check_paths(args, args.runs_dir)
    _use_device(args)
    args = _with_data_defaults(args, _load_data(args.data))
    train_config, env_config = _configs(args, args.seed, args.runs_dir)
    _prepare(env_config, not args.no_progress, args.held_out_world)
    model, folder = train(train_config, env_config)
    print(f"saved the run in {folder}; judging it on held-out test sessions ...", flush=True)
    per_seed: dict[str, dict[str, list]] = {}
    collect(per_seed, benchmark_run({args.algo: model}, env_config, args.rounds, args.seed,
                                    test_data=args.test, held_out=args.held_out_world))
    summary = _summary(per_seed)
    print("held-out test sessions, one seed (use `musicgym benchmark` for intervals):")
    print(write_results(folder, summary, {"seeds": [args.seed], "rounds": args.rounds,
                                          "world": args.world, "test": str(args.test),
                                          "held_out": args.held_out_world,
                                          "taste_prior": args.taste_prior,
                                          "teacher": args.teacher,
                                          "teacher_taste": args.teacher_taste,
                                          "decoding": args.decoding}))
    print(headline(summary, args.algo))
    print(_where(folder, env_config, args.test, args.timesteps))
    return 0


def _where(folder: Path, env_config: Any, test: Path | None, timesteps: int) -> str:
    """Where the run's files are, which model loads, how to resume, and a command to try it."""
    best = folder / "eval" / "best_model.zip"
    resume = (f"from agents.training import resume; "
              f"resume({json.dumps(str(folder))}, timesteps={timesteps})")
    lines = [
        "", f"run folder: {folder}",
        f"  results:     {folder / 'results.md'} and {folder / 'results.png'}",
        f"  TensorBoard: tensorboard --logdir {shlex.quote(str(folder / 'tensorboard'))}",
        f"  the model:   {folder / 'policy.pt'} with run.json, the final policy (weights only): "
        "what `musicgym recommend` and Recommender.load read",
        f"  SB3 copies:  {folder / 'model.zip'} (final)"
        + (f" and {best} (best validation reward)" if best.is_file() else ""),
        "  continue training from model.zip (SB3 unpickles it: only runs you trust):",
        f"    python -c {shlex.quote(resume)}",
        "try it on a held-out session's opening tracks:",
        f"  {recommend_command(folder, env_config, test)}",
    ]
    return "\n".join(lines)


def recommend_command(folder: Path, env_config: Any, test: Path | None, tracks: int = 3) -> str:
    """A `musicgym recommend` command line for the run, with a real held-out history."""
    import numpy as np

    from agents.benchmark import evaluation_configs
    from musicgym.data.schema import OUTCOMES
    from musicgym.envs.bundle import load_bundle

    bundle = load_bundle(evaluation_configs(env_config, test)["train_world"])
    ids, known = bundle.catalog.track_ids, len(bundle.catalog.track_ids) - 1
    packed = bundle.sampler.sessions
    history: list[tuple[str, str]] = []
    for i in range(min(len(packed), 200)):
        valid = packed.mask[i] & (packed.tracks[i] >= 0) & (packed.tracks[i] < known)
        steps = np.flatnonzero(valid)[:tracks]
        if len(steps) >= min(2, tracks):
            history = [(str(ids[packed.tracks[i, j]]), OUTCOMES[int(packed.outcomes[i, j])])
                       for j in steps]
            break
    if not history:  # no usable logged opening: the most played recommendable tracks
        history = [(str(ids[r]), "not_skipped") for r in bundle.decoder.rows[:tracks]]
    words = ["musicgym", "recommend", "--model", str(folder), "--history",
             *(t for t, _ in history), "--outcomes", *(o for _, o in history), "--k", "10"]
    return shlex.join(words)


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym benchmark`."""
    _env_arguments(parser)
    _train_arguments(parser)
    parser.add_argument("--seeds", type=positive_int, default=5, help="independent seeds")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for results.json/.md/.csv and results.png")
    parser.add_argument("--no-offline", dest="offline", action="store_false",
                        help="skip the offline agents bc_logged and td3bc_logged (learned from "
                             "the logged training sessions alone; only with --slate-size 1)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the (agent, seed, world) jobs on a Ray cluster: the one at "
                             "ADDRESS (HOST:PORT as `ray start --head` prints it, "
                             "ray://HOST:PORT, auto), else a local one; the results are the "
                             "serial run's (needs the extra: pip install -e \".[ray]\")")


def benchmark_seed(args: argparse.Namespace, seed: int) -> dict:
    """One seed of `musicgym benchmark`: train its agents, then judge them and the baselines.

    The online agent trains in the simulator; with one track per slate, the offline agents
    (`bc_logged`, `td3bc_logged`; not with `--no-offline`) learn, with the same seed, from the
    logged training sessions of the same catalog (world A's half by default) alone. All are
    judged alike.

    :return: world -> agent -> metric -> value, as `agents.benchmark.benchmark_run` gives it
    """
    from agents.benchmark import benchmark_run
    from agents.trainers import seed_trainers

    train_config, env_config = _configs(args, seed, args.out / "runs")
    # the same trainers, in the same order, as the jobs of --ray
    trainers = seed_trainers(args.algo, env_config.slate_size, getattr(args, "offline", True))
    agents = {name: trainer(train_config, env_config) for name, trainer in trainers.items()}
    return benchmark_run(agents, env_config, args.rounds, seed, test_data=args.test,
                         held_out=args.held_out_world)


def run_benchmark(args: argparse.Namespace) -> int:
    """Train one agent per seed; judge it and the baselines in every world on test sessions."""
    from agents.benchmark import collect, headline, transfer_gap
    from agents.results import write_results

    for seed in range(args.seeds):  # every seed's configs are valid before the first trains
        _configs(args, seed, args.out / "runs")
    if args.out.exists() and not args.out.is_dir():
        raise NotADirectoryError(f"--out {args.out} is a file; pass a folder for the results")
    _check_paths(args, args.out / "runs")
    if args.ray is not None:  # a bad address or a missing Ray fails before any work
        from agents.distributed import check_address, import_ray

        check_address(args.ray or None)
        import_ray()
    _use_device(args)
    args = _with_data_defaults(args, _load_data(args.data))
    per_seed: dict[str, dict[str, list]] = {}
    for results in _seed_results(args):
        collect(per_seed, results)
    summary = _summary(per_seed)
    meta = {"seeds": args.seeds, "rounds": args.rounds, "data": str(args.data),
            "test": str(args.test), "world": args.world, "ensemble": args.ensemble,
            "ensemble_resample": args.ensemble_resample, "held_out": args.held_out_world,
            "history_match": args.history_match,
            "uncertainty_penalty": args.uncertainty_penalty,
            "concentration_penalty": args.concentration_penalty,
            "support_penalty": args.support_penalty, "algo": args.algo,
            "taste_prior": args.taste_prior, "teacher": args.teacher,
            "teacher_taste": args.teacher_taste,
            "decoding": args.decoding, "timesteps": args.timesteps, "num_envs": args.num_envs,
            "offline": bool(getattr(args, "offline", True) and args.slate_size == 1)}
    if meta["offline"]:
        from agents.offline import BENCHMARK_EPOCHS

        meta["offline_epochs"] = BENCHMARK_EPOCHS
    if args.ray is not None:  # the only entry in which a --ray run differs from the serial one
        meta["ray"] = args.ray or "local"
    gap = transfer_gap(per_seed, args.algo)
    if gap is not None:
        meta["transfer_gap"] = gap
    # the seeds behind the agent's intervals, world by world
    meta["per_seed_listened"] = {world: [m["listened"] for m in agents[args.algo]]
                                 for world, agents in per_seed.items()}
    print(write_results(args.out, summary, meta))
    for agent in (args.algo, "bc_logged", "td3bc_logged"):
        if agent in summary.get("held_out_world", {}):
            print(headline(summary, agent))
    if gap is not None:
        print(f"{args.algo}: train world minus held-out world: {gap['mean']:.3f} "
              f"[{gap['ci_low']:.3f}, {gap['ci_high']:.3f}]")
    return 0


def _seed_results(args: argparse.Namespace) -> list[dict]:
    """Each seed's results: `benchmark_seed` one seed after the other, or as jobs on Ray.

    The training world is made ready first (`_prepare`; `run_benchmark` read the data).
    """
    from agents.distributed import job_threads

    if args.ray is None:
        # the threads every Ray job runs on, from the first load of the worlds (the envs this
        # process builds share them): with other BLAS thread counts DDPG learned another
        # policy, and one thread judged 7x faster on a busy machine
        with job_threads():
            _prepare(_configs(args, 0, args.out / "runs")[1], not args.no_progress,
                     args.held_out_world)
            return [benchmark_seed(args, seed) for seed in range(args.seeds)]
    # the jobs load what it fits
    _prepare(_configs(args, 0, args.out / "runs")[1], not args.no_progress, args.held_out_world)
    from agents.distributed import run_on_ray
    from agents.trainers import seed_trainers

    jobs = [_configs(args, seed, args.out / "runs") for seed in range(args.seeds)]
    # the agents benchmark_seed trains, in its order
    trainers = seed_trainers(args.algo, args.slate_size, getattr(args, "offline", True))
    return run_on_ray(jobs, args.rounds, args.test, args.ray or None, trainers,
                      args.held_out_world)


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym recommend`."""
    parser.add_argument("--model", type=Path, required=True,
                        help="run folder of musicgym train (its weights-only policy.pt and "
                             "run.json are read; model.zip is not)")
    parser.add_argument("--history", nargs="+", required=True, help="track ids heard, oldest first")
    parser.add_argument("--outcomes", nargs="+", default=None,
                        help="outcome of each history track: skip_1, skip_2 (or skip_2_only), "
                             "skip_3 (or skip_3_only), not_skipped; default: all not_skipped")
    parser.add_argument("--k", type=positive_int, default=10, help="how many tracks to recommend")
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
