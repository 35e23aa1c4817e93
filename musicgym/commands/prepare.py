"""`musicgym prepare` and `musicgym summary`: prepared datasets from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from musicgym.data.readers import MSSDInputError
from musicgym.data.validation import MSSDValidationError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym prepare`."""
    parser.add_argument("--log", required=True, type=Path,
                        help="MSSD session log: .csv, .csv.gz or .parquet, or a folder of shards")
    parser.add_argument("--tracks", type=Path, default=None,
                        help="optional MSSD track-features table (file or folder of shards)")
    parser.add_argument("--out", required=True, type=Path,
                        help="folder to write the prepared dataset to: a new or empty folder, or "
                             "an earlier prepared dataset (replaced atomically); any other "
                             "folder or file is refused, never overwritten")
    parser.add_argument("--memory-limit", default="1GB",
                        help="DuckDB memory limit for the indexing pass, a number and a unit "
                             "(512MB, 1.5GB, 4GiB); it spills to disk past it")
    parser.add_argument("--batch-rows", type=int, default=262_144,
                        help="rows per validation batch while streaming the inputs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Prepare the dataset and print its summary; exit 2 on invalid input."""
    from musicgym.data.prepare import PrepareOptions, prepare

    start = time.perf_counter()
    options = PrepareOptions(batch_rows=args.batch_rows, memory_limit=args.memory_limit,
                             progress=not args.no_progress)
    try:
        dataset = prepare(args.log, args.out, args.tracks, options)
    except (MSSDValidationError, MSSDInputError) as err:
        print(f"musicgym prepare: error: {err}", file=sys.stderr)
        return 2
    print(dataset.summary())
    print(f"wrote {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym summary`."""
    parser.add_argument("--data", type=Path, default=None,
                        help="prepared dataset, MSSD log or folder written by `musicgym generate` "
                             "(default: the synthetic default set)")


def run_summary(args: argparse.Namespace) -> int:
    """Print the dataset's summary, its skip rates and its splits."""
    import pandas as pd

    from musicgym.datasets import load_dataset

    try:
        dataset = load_dataset(args.data, progress=True)
    except (MSSDValidationError, MSSDInputError) as err:
        print(f"musicgym summary: error: {err}", file=sys.stderr)
        return 2
    print(f"dataset: {dataset.path}")
    print(dataset.summary())
    log = dataset.log(["skip_2", "outcome", "context_type"])
    print(f"skip_2 rate {log['skip_2'].mean():.3f}")
    mix = log["outcome"].value_counts(normalize=True).sort_index()
    print("outcome mix (skip_1, skip_2 only, skip_3 only, not_skipped): "
          + ", ".join(f"{v:.3f}" for v in mix))
    splits = pd.Series(dataset.split_labels()).value_counts()
    print("sessions per split: " + ", ".join(f"{k} {v}" for k, v in splits.items()))
    return 0
