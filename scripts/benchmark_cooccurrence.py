"""Benchmark the co-occurrence counts of track vectors: wall time and peak memory of the pairs.

Draws a log of about `--rows` rows (sessions of 10 to 20 tracks, heavy-tailed track draws from a
`--tracks` catalog), then counts its within-session co-occurrences twice in this process: in
one block (the reference: every position pair of the log at once, as before blocks) and in
blocks of `--block-rows` rows of whole sessions (what `from_cooccurrence` does). Peak memory
is Python's traced allocations (numpy and scipy arrays) during each count. Prints, and writes
with `--json FILE`: `rows`, `sessions`, `pairs_nnz`, each count's `seconds` and `peak_gib`,
their ratios, and `identical` (the two counts are equal entry for entry).

    python scripts/benchmark_cooccurrence.py --rows 3300000
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from musicgym.artifacts import write_json
from musicgym.embeddings.cooccurrence import PAIR_BLOCK_ROWS, cooccurrence_counts


def draw_log(rows: int, tracks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Session and track codes of about `rows` rows, sessions contiguous."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(10, 21, rows // 10 + 1)
    lengths = lengths[np.cumsum(lengths) <= rows]
    session = np.repeat(np.arange(len(lengths)), lengths)
    track = np.minimum((rng.pareto(1.0, len(session)) * 50).astype(np.int64), tracks - 1)
    return session, track


def measure(session: np.ndarray, track: np.ndarray, tracks: int, window: int | None,
            block_rows: int) -> tuple[sp.csr_matrix, float, float]:
    """The counts, the seconds they took and the peak traced GiB while counting."""
    tracemalloc.start()
    started = time.perf_counter()
    counts = cooccurrence_counts(session, track, tracks, window, block_rows=block_rows)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    return counts, seconds, peak


def main(argv: list[str] | None = None) -> dict:
    """Print the figures (and write them with --json); return them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3_300_000, help="log rows to draw")
    parser.add_argument("--tracks", type=int, default=1_000_000, help="catalog size")
    parser.add_argument("--window", type=int, default=None,
                        help="pairs at most this far apart (default: whole sessions)")
    parser.add_argument("--block-rows", type=int, default=PAIR_BLOCK_ROWS,
                        help="rows counted at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    for name in ("rows", "tracks", "block_rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} ({getattr(args, name)}) must be >= 1")

    session, track = draw_log(args.rows, args.tracks, args.seed)
    whole, whole_s, whole_gib = measure(session, track, args.tracks, args.window, session.size)
    blocked, blocked_s, blocked_gib = measure(session, track, args.tracks, args.window,
                                              args.block_rows)
    identical = bool(np.array_equal(whole.indptr, blocked.indptr)
                     and np.array_equal(whole.indices, blocked.indices)
                     and np.array_equal(whole.data, blocked.data))
    figures = {"rows": int(session.size), "sessions": int(session[-1] + 1) if session.size else 0,
               "pairs_nnz": int(blocked.nnz), "block_rows": args.block_rows,
               "one_block_seconds": round(whole_s, 2), "one_block_peak_gib": round(whole_gib, 3),
               "blocked_seconds": round(blocked_s, 2), "blocked_peak_gib": round(blocked_gib, 3),
               "peak_ratio": round(blocked_gib / max(whole_gib, 1e-12), 3),
               "seconds_ratio": round(blocked_s / max(whole_s, 1e-12), 3),
               "identical": identical}
    for key, value in figures.items():
        print(f"{key}: {value}")
    if args.json is not None:
        write_json(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
