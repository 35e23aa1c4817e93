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
    parser.add_argument("--no-cache", action="store_true",
                        help="fit again even when a fit of this data and config is cached")


def _ground_truth(dataset, log):
    """The generator's true P(skip_2) per row of `log`, when the data is synthetic."""
    import numpy as np
    import pandas as pd

    for item in dataset.manifest["inputs"]:
        for folder in (Path(item["path"]).parent, Path(item["path"]).parent.parent):
            path = folder / "ground_truth.parquet"
            if path.is_file():
                truth = pd.read_parquet(path, columns=["session_id", "session_position",
                                                       "p_skip_2"])
                merged = log[["session_id", "session_position"]].merge(
                    truth, on=["session_id", "session_position"], how="left")
                values = merged["p_skip_2"].to_numpy(dtype=np.float64)
                return None if np.isnan(values).any() else values
    return None


def run(args: argparse.Namespace) -> int:
    """Fit or load the simulator, evaluate it, write and print the report."""
    import numpy as np

    from musicgym.data.loading import load_dataset
    from musicgym.simulator.fidelity import evaluate
    from musicgym.simulator.fitting import SimulatorConfig, load_or_fit
    from musicgym.simulator.report import write_report
    from musicgym.simulator.response import ResponseConfig

    start = time.perf_counter()
    try:
        train = load_dataset(args.train, progress=True)
        test = load_dataset(args.test, progress=True) if args.test else train
    except (MSSDValidationError, MSSDInputError) as err:
        print(f"musicgym fidelity: error: {err}", file=sys.stderr)
        return 2
    config = SimulatorConfig(response=ResponseConfig(seed=args.seed))
    simulator = load_or_fit(train, config, progress=True, cache=not args.no_cache)
    fitted = time.perf_counter() - start
    same = test.checksum == train.checksum
    log = test.log(split="test" if same else None)
    result = evaluate(simulator, log, np.random.default_rng(args.seed), _ground_truth(test, log))
    meta = {"train": str(train.path), "test": str(test.path),
            "test_sessions": "test split of --train" if same else "all sessions of --test",
            "sessions": int(log["session_idx"].nunique()), "rows": len(log),
            "fit_or_load_seconds": round(fitted, 1), "teacher_forced": result.teacher_forced}
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
        print(f"synthetic: AUC {s['auc']:.4f} vs true model {s['oracle_auc']:.4f}, "
              f"correlation with true P(skip_2) {s['correlation']:.3f}")
    print(f"wrote {args.out}/report.md ({time.perf_counter() - start:.0f} s)")
    return 0
