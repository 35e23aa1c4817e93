"""`musicgym fidelity`: fit (or load) a simulator and report how closely it matches the logs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgym.commands.train import AUTO, flags_line, resolve_auto
from musicgym.data.readers import MSSDInputError
from musicgym.data.validation import MSSDValidationError
from musicgym.envs.config import HELD_OUT, RESAMPLES

WORLD_FLAGS = ("ensemble_resample", "held_out_world")
"""The decision section's flags that default to "auto": as `musicgym benchmark` chooses."""

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from musicgym.data.dataset import PreparedDataset
    from musicgym.data.splits import SplitSpec
    from musicgym.simulator.fidelity import FidelityResult, HeldOutPredictions
    from musicgym.simulator.fitting import FittedSimulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym fidelity`."""
    parser.add_argument("--train", type=Path, default=None,
                        help="MSSD log, prepared dataset or generated set to fit on (default: "
                             "the synthetic default set); its training split is used")
    parser.add_argument("--test", type=Path, default=None,
                        help="MSSD log or prepared dataset to evaluate on; default: the test "
                             "split of --train. Any MSSD-format log works")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for report.md, report.json and the PNG plots")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rollouts and the fit")
    parser.add_argument("--folds", type=int, default=1,
                        help="1: test on the test split; with no --test, K > 1 cross-fits K "
                             "simulators, each tested on its own 1/K of the sessions, so every "
                             "session is held out once (less noise in the rollout figures)")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="fits (seeds seed .. seed+K-1) pooled as the model: the "
                             "challenge's predictions and the teacher-forced P(skip_2) average "
                             "them, rollout replicate r uses member r mod K; each member's "
                             "teacher-forced figures are reported too; in the decision section "
                             "world A pools K fits, judged in B fitted as --held-out-world "
                             "says, as in the benchmark")
    parser.add_argument("--ensemble-resample", choices=(AUTO, *RESAMPLES), default=AUTO,
                        help="in the decision section, how world A's K fits read its sessions: "
                             "bootstrap resamples, disjoint folds, or (jackknife) every fold "
                             "but one; auto: as `musicgym benchmark` chooses for the data")
    parser.add_argument("--held-out-world", choices=(AUTO, *HELD_OUT), default=AUTO,
                        help="in the decision section, how world B, the judge, is fitted: one "
                             "fit, or as_trained: as world A (K fits, resampled the same way), "
                             "as `musicgym benchmark --held-out-world` does; auto: as the "
                             "benchmark chooses for the data")
    parser.add_argument("--replicates", type=int, default=10,
                        help="free-running rollouts per held-out session")
    parser.add_argument("--bayes-draws", type=int, default=2048,
                        help="on synthetic data: prior draws per session of the observable Bayes "
                             "reference (the generator's posterior predictive); 0 skips it")
    parser.add_argument("--no-decisions", action="store_true",
                        help="skip the decision-fidelity section (worlds fitted on the two "
                             "halves of the training sessions: do their preferences agree?)")
    parser.add_argument("--no-cache", action="store_true",
                        help="fit again even when a fit of this data and config is cached")


def _fail(message: str) -> int:
    """Print an error of `musicgym fidelity`; return its exit status."""
    print(f"musicgym fidelity: error: {message}", file=sys.stderr)
    return 2


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, found before any work; None if they are fine."""
    minimum = {"--seed": (args.seed, 0), "--folds": (args.folds, 1),
               "--ensemble": (args.ensemble, 1), "--replicates": (args.replicates, 1),
               "--bayes-draws": (args.bayes_draws, 0)}
    for flag, (value, least) in minimum.items():
        if value < least:
            return f"{flag} ({value}) must be at least {least}"
    if args.folds > 1 and args.test is not None:
        return "--folds cross-fits on --train alone; drop --test or use --folds 1"
    for flag, path in (("--train", args.train), ("--test", args.test)):
        if path is not None and not path.exists():
            return (f"{flag} ({path}) does not exist; name an MSSD log, prepared dataset or "
                    "generated set")
    if args.out.exists() and not args.out.is_dir():
        return f"--out ({args.out}) is a file; name a folder for the report"
    return None


def _held_out(args: argparse.Namespace, same: bool) -> str:
    """Which sessions the report is about, in words."""
    if args.folds > 1:
        return f"{args.folds}-fold cross-fitting on --train"
    return "test split of --train" if same else "all sessions of --test"


def _fits(args: argparse.Namespace, train: PreparedDataset, spec: SplitSpec
          ) -> list[FittedSimulator]:
    """The ensemble's simulators fitted on `spec`'s training split (or loaded from the cache)."""
    from musicgym.simulator.fitting import SimulatorConfig, load_or_fit
    from musicgym.simulator.response_net import ResponseConfig

    return [load_or_fit(train, SimulatorConfig(response=ResponseConfig(seed=seed), split=spec),
                        progress=True, cache=not args.no_cache)
            for seed in range(args.seed, args.seed + args.ensemble)]


def _references(root: Path | None, log: pd.DataFrame, bayes_rng: np.random.Generator,
                draws: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The generator's true and observable-Bayes P(skip_2) per row of `log` (synthetic only)."""
    from musicgym.synthetic.bayes import bayes_p_skip2
    from musicgym.synthetic.dataset import ground_truth_p_skip2

    truth = ground_truth_p_skip2(root, log) if root is not None else None
    if truth is None or draws < 1:
        return truth, None
    return truth, bayes_p_skip2(root, log, bayes_rng, draws)


def _evaluate(args: argparse.Namespace, train: PreparedDataset, test: PreparedDataset,
              same: bool) -> tuple[list[HeldOutPredictions], int, int]:
    """Fit (or load) and evaluate per split spec; return (per-spec results, sessions, rows)."""
    import numpy as np

    from musicgym.data.splits import DEFAULT_SPLIT, cross_fit_specs
    from musicgym.simulator.fidelity import predict
    from musicgym.synthetic.dataset import synthetic_root

    rng = np.random.default_rng(args.seed)
    # its own stream, so the reference leaves the rollouts' draws as they were
    bayes_rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    root = synthetic_root(test)
    specs = cross_fit_specs(args.folds) if args.folds > 1 else [DEFAULT_SPLIT]
    parts, sessions, rows = [], 0, 0
    for spec in specs:
        simulator, *members = _fits(args, train, spec)
        log = test.log(split="test", spec=spec) if same else test.log()
        truth, bayes = _references(root, log, bayes_rng, args.bayes_draws)
        parts.append(predict(simulator, log, rng, args.replicates, truth, members=members,
                             bayes_p_skip2=bayes))
        sessions, rows = sessions + log["session_idx"].nunique(), rows + len(log)
    return parts, sessions, rows


def _print_figures(result: FidelityResult) -> None:
    """Print the headline figures below the report's table."""
    tf = result.teacher_forced
    print(f"teacher-forced P(skip_2), pooled ensemble: log-loss {tf['log_loss']:.4f}, "
          f"AUC {tf['auc']:.4f}, ECE {tf['ece']:.4f}")
    if len(tf["members"]) > 1:
        spread = {k: [m[k] for m in tf["members"]] for k in ("auc", "ece")}
        print(f"  its {len(tf['members'])} members: AUC {min(spread['auc']):.4f} to "
              f"{max(spread['auc']):.4f}, ECE {min(spread['ece']):.4f} to "
              f"{max(spread['ece']):.4f}")
    gaps = result.rollout["gaps"]
    print(f"rollout: max skip-rate gap {gaps['max_skip_rate_gap']:.4f}, "
          f"max outcome-mix gap {gaps['max_mix_gap']:.4f}")
    if result.synthetic:
        s = result.synthetic
        print(f"synthetic: AUC {s['auc']:.4f} vs true model {s['oracle_auc']:.4f} (sees latent "
              f"taste and mood), correlation with true P(skip_2) {s['correlation']:.3f}")
        if "bayes_auc" in s:
            print(f"synthetic: AUC {s['auc']:.4f} vs observable Bayes reference "
                  f"{s['bayes_auc']:.4f} (gap {s['bayes_auc'] - s['auc']:.4f})")


def _worlds_for_the_data(args: argparse.Namespace, train: Any) -> argparse.Namespace:
    """`args` with "auto" worlds chosen for `train` as `musicgym benchmark` chooses them.

    `--ensemble-resample` and `--held-out-world` follow `agents.training.data_defaults`.
    """
    if all(getattr(args, name) != AUTO for name in WORLD_FLAGS):
        return args
    from agents.training import data_defaults

    resolved = resolve_auto(args, WORLD_FLAGS, data_defaults(train).flags())
    print(f"decision section for these data: {flags_line(resolved, WORLD_FLAGS)}", flush=True)
    return resolved


def _decisions(args: argparse.Namespace) -> dict[str, float]:
    """Decision fidelity of the training data's worlds A and B (`agents.decisions`)."""
    from agents.decisions import decision_fidelity

    return decision_fidelity(args.train, rounds=1, seed=args.seed, ensemble=args.ensemble,
                             resample=args.ensemble_resample, held_out=args.held_out_world)


def run(args: argparse.Namespace) -> int:
    """Fit or load the simulator, evaluate it, write and print the report."""
    problem = _argument_problem(args)
    if problem:
        return _fail(problem)
    import torch

    # small batched networks: on busy cores more threads were far slower, not faster
    torch.set_num_threads(1)

    from musicgym.datasets import load_dataset
    from musicgym.simulator.fidelity import summarize
    from musicgym.simulator.report import headline_table, write_report
    from musicgym.simulator.targets import verdict_lines

    start = time.perf_counter()
    try:
        train = load_dataset(args.train, progress=True)
        test = load_dataset(args.test, progress=True) if args.test else train
    except (MSSDValidationError, MSSDInputError) as err:
        return _fail(str(err))
    same = test.checksum == train.checksum
    args = _worlds_for_the_data(args, train)
    parts, sessions, rows = _evaluate(args, train, test, same)
    result = summarize(parts)
    held_out = _held_out(args, same)
    meta = {"train": str(train.path), "test": str(test.path), "test_sessions": held_out,
            "sessions": int(sessions), "rows": int(rows),
            "seconds": round(time.perf_counter() - start, 1),
            "ensemble": args.ensemble, "ensemble_resample": args.ensemble_resample,
            "held_out": args.held_out_world, "teacher_forced": result.teacher_forced}
    decisions = None if args.no_decisions or not same else _decisions(args)
    report = write_report(args.out, result.predictors, result.rollout, result.synthetic, meta,
                          reliability=result.reliability, decisions=decisions)
    print(headline_table(report["predictors"]))
    _print_figures(result)
    if decisions is not None:
        print(_decisions_line(decisions))
    print("\n".join(verdict_lines(report)))
    print(f"{held_out}: {sessions} sessions; wrote {args.out}/report.md "
          f"({time.perf_counter() - start:.0f} s)")
    return 0


def _decisions_line(decisions: dict[str, float]) -> str:
    """The decision-fidelity figures as one printed line."""
    top = ", ".join(f"N={k.removeprefix('rank_agreement_top')} {v:.3f}"
                    for k, v in decisions.items() if k.startswith("rank_agreement_top"))
    parts = ([f"among the N most-played tracks: {top}"] if top else []) + [
        f"of the one ranking for everyone {decisions['rank_agreement_static']:.3f}",
        f"of what each state adds {decisions['rank_agreement_within_state']:.3f}"]
    line = (f"decisions: rank agreement of worlds A and B {decisions['rank_agreement']:.3f} "
            f"({'; '.join(parts)}); "
            f"judged in B: greedy-by-A {decisions['greedy_a_in_b']:.3f}, most-popular "
            f"{decisions['most_popular_in_b']:.3f}, greedy-by-B "
            f"{decisions['greedy_b_in_b']:.3f}, pessimistic greedy-by-A "
            f"{decisions['greedy_a_pessimistic_in_b']:.3f}")
    ladder = [(k.removeprefix("greedy_a_in_b_top"), v) for k, v in decisions.items()
              if k.startswith("greedy_a_in_b_top")]
    if ladder:
        line += "; greedy-by-A among the N most-played tracks: " + ", ".join(
            f"N={n} {v:.3f}" for n, v in ladder)
    if "greedy_a_in_truth" in decisions:
        line += (f"; judged by the true users: greedy-by-A {decisions['greedy_a_in_truth']:.3f}"
                 f", most-popular {decisions['most_popular_in_truth']:.3f}")
    return line
