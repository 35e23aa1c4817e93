"""`musicgym fidelity`: fit (or load) a simulator and report how closely it matches the logs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from musicgym.data.readers import MSSDInputError
from musicgym.data.validation import MSSDValidationError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym fidelity`."""
    parser.add_argument("--train", type=Path, default=None,
                        help="MSSD log or prepared dataset to fit on (default: the synthetic "
                             "default set); its training split is used")
    parser.add_argument("--test", type=Path, default=None,
                        help="MSSD log or prepared dataset to evaluate on; default: the test "
                             "split of --train. Any MSSD-format log works")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for report.md, report.json and the PNG plots")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rollouts and the fit")
    parser.add_argument("--folds", type=int, default=1,
                        help="with no --test: K > 1 cross-fits K simulators, each tested on its "
                             "own 1/K of the sessions, so every session is held out once")
    parser.add_argument("--ensemble", type=int, default=3,
                        help="fits (seeds seed .. seed+K-1) pooled for the challenge's "
                             "predictions; the rollouts and teacher-forced figures are the "
                             "first fit's")
    parser.add_argument("--replicates", type=int, default=10,
                        help="free-running rollouts per held-out session")
    parser.add_argument("--bayes-draws", type=int, default=2048,
                        help="on synthetic data: prior draws per session of the observable Bayes "
                             "reference (the generator's posterior predictive); 0 skips it")
    parser.add_argument("--no-cache", action="store_true",
                        help="fit again even when a fit of this data and config is cached")


def _synthetic_root(dataset) -> Path | None:
    """The generated set a prepared dataset was made from, when the data is synthetic."""
    for item in dataset.manifest["inputs"]:
        for folder in (Path(item["path"]).parent, Path(item["path"]).parent.parent):
            if (folder / "ground_truth.parquet").is_file() and (folder / "truth.json").is_file():
                return folder
    return None


def _ground_truth(root: Path | None, log):
    """The generator's true P(skip_2) per row of `log`, when the data is synthetic."""
    import numpy as np
    import pandas as pd

    if root is None:
        return None
    truth = pd.read_parquet(root / "ground_truth.parquet",
                            columns=["session_id", "session_position", "p_skip_2"])
    merged = log[["session_id", "session_position"]].merge(
        truth, on=["session_id", "session_position"], how="left")
    values = merged["p_skip_2"].to_numpy(dtype=np.float64)
    return None if np.isnan(values).any() else values


def _bayes_reference(root: Path | None, log, truth, rng, draws: int):
    """The observable Bayes P(skip_2) per row of `log` (synthetic data with a ground truth)."""
    from musicgym.simulator.bayes import bayes_p_skip2

    if root is None or truth is None or draws < 1:
        return None
    return bayes_p_skip2(root, log, rng, draws)


def run(args: argparse.Namespace) -> int:
    """Fit or load the simulator, evaluate it, write and print the report."""
    import numpy as np
    import torch

    # small batched networks: on busy cores more threads were far slower, not faster
    torch.set_num_threads(1)

    from musicgym.data.loading import load_dataset
    from musicgym.data.splits import DEFAULT_SPLIT, cross_fit_specs
    from musicgym.simulator.fidelity import predict, summarize
    from musicgym.simulator.fitting import SimulatorConfig, load_or_fit
    from musicgym.simulator.report import write_report
    from musicgym.simulator.response_net import ResponseConfig

    start = time.perf_counter()
    try:
        train = load_dataset(args.train, progress=True)
        test = load_dataset(args.test, progress=True) if args.test else train
    except (MSSDValidationError, MSSDInputError) as err:
        print(f"musicgym fidelity: error: {err}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    # its own stream, so the reference leaves the rollouts' draws as they were
    bayes_rng = np.random.default_rng(np.random.SeedSequence(args.seed).spawn(1)[0])
    root = _synthetic_root(test)
    same = test.checksum == train.checksum
    if args.folds > 1 and not same:
        print("musicgym fidelity: error: --folds cross-fits on --train alone; drop --test or "
              "use --folds 1", file=sys.stderr)
        return 2
    if args.ensemble < 1:
        print(f"musicgym fidelity: error: --ensemble ({args.ensemble}) must be at least 1",
              file=sys.stderr)
        return 2
    specs = cross_fit_specs(args.folds) if args.folds > 1 else [DEFAULT_SPLIT]
    parts, sessions, rows = [], 0, 0
    for spec in specs:
        simulator, *members = (
            load_or_fit(train, SimulatorConfig(response=ResponseConfig(seed=seed), split=spec),
                        progress=True, cache=not args.no_cache)
            for seed in range(args.seed, args.seed + args.ensemble))
        log = test.log(split="test", spec=spec) if same else test.log()
        truth = _ground_truth(root, log)
        parts.append(predict(simulator, log, rng, args.replicates, truth, members=members,
                             bayes_p_skip2=_bayes_reference(root, log, truth, bayes_rng,
                                                            args.bayes_draws)))
        sessions, rows = sessions + log["session_idx"].nunique(), rows + len(log)
    result = summarize(parts)
    held_out = (f"{args.folds}-fold cross-fitting on --train" if args.folds > 1 else
                "test split of --train" if same else "all sessions of --test")
    meta = {"train": str(train.path), "test": str(test.path), "test_sessions": held_out,
            "sessions": int(sessions), "rows": int(rows),
            "seconds": round(time.perf_counter() - start, 1),
            "teacher_forced": result.teacher_forced}
    table = write_report(args.out, result.predictors, result.rollout, result.synthetic, meta,
                         reliability=result.reliability)
    print(table)
    tf = result.teacher_forced
    print(f"teacher-forced P(skip_2): log-loss {tf['log_loss']:.4f}, AUC {tf['auc']:.4f}, "
          f"ECE {tf['ece']:.4f}")
    gaps = result.rollout["gaps"]
    print(f"rollout: max skip-rate gap {gaps['max_skip_rate_gap']:.4f}, "
          f"max outcome-mix gap {gaps['max_mix_gap']:.4f}")
    if result.synthetic:
        s = result.synthetic
        print(f"synthetic: AUC {s['auc']:.4f} vs true model {s['oracle_auc']:.4f} (sees latent "
              f"taste and mood), correlation with true P(skip_2) {s['correlation']:.3f}")
        if "bayes_auc" in s:
            print(f"synthetic: AUC {s['auc']:.4f} vs observable Bayes reference "
                  f"{s['bayes_auc']:.4f} (gap {s['bayes_auc'] - s['auc']:.4f}, target <= 0.02)")
    print(f"{held_out}: {sessions} sessions; wrote {args.out}/report.md "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
