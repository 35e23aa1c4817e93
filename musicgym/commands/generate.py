"""`musicgym generate`: write a synthetic MSSD set (log, track features, ground truth)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from musicgym.synthetic.generator import FORMATS, SyntheticConfig, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `musicgym generate` to `parser`."""
    d = SyntheticConfig()
    options = (
        ("--sessions", d.n_sessions, "number of sessions to generate"),
        ("--tracks", d.n_tracks, "number of tracks in the catalog"),
        ("--seed", d.seed, "seed of the random generator; same seed, same files"),
        ("--latent-dim", d.latent_dim, "dimension of track latents and user tastes"),
        ("--chunk-sessions", d.chunk_sessions, "sessions per chunk and log shard; bounds memory"),
    )
    for flag, default, text in options:
        parser.add_argument(flag, type=int, default=default, help=text)
    parser.add_argument(
        "--out", type=Path, required=True,
        help="folder to write (an earlier generated set there is replaced)",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=FORMATS, default="parquet",
        help="file format of the log and track features",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run `musicgym generate` from parsed arguments; print a summary; return the exit code."""
    try:
        config = SyntheticConfig(
            n_sessions=args.sessions,
            n_tracks=args.tracks,
            seed=args.seed,
            latent_dim=args.latent_dim,
            chunk_sessions=args.chunk_sessions,
            format=args.format,
        )
    except (TypeError, ValueError) as error:
        print(f"musicgym generate: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        dataset = generate(config, args.out, show_progress=not args.no_progress)
    except FileExistsError as error:
        print(f"musicgym generate: {error}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    print(
        f"wrote {dataset.root}: {dataset.n_rows:,} rows, {dataset.n_sessions:,} sessions, "
        f"{dataset.n_tracks:,} tracks, skip_2 rate {dataset.skip_2_rate:.3f}, {seconds:.1f} s"
    )
    return 0
