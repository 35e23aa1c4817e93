"""Benchmark `musicgym generate` and `musicgym prepare` at scale: time and peak memory.

Generates a synthetic MSSD log (default 600,000 sessions ~ 10M rows, 1M tracks), then prepares
it in a child process so that its peak RSS is measured alone. As a reference measured in the
same run, it times a plain pyarrow read of the same shards into memory (no validation, no
indexing) and prints the ratio.

    python scripts/benchmark_prepare.py --sessions 600000 --tracks 1000000 --work /tmp/bench
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Args:
    sessions: int = 600_000
    """sessions to generate (about 16.6 rows each)"""
    tracks: int = 1_000_000
    """tracks in the synthetic catalog"""
    seed: int = 0
    """generator seed"""
    work: Path = Path("/tmp/musicgym-bench")
    """scratch folder (deleted at the end unless --keep)"""
    keep: bool = False
    """keep the generated and prepared data"""


def child(code: str) -> tuple[float, float]:
    """Run Python `code` in a child process; return (seconds, peak RSS in MB)."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code])
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"child failed with exit code {process.returncode}: {code}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, field in Args.__dataclass_fields__.items():
        flag = "--" + name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)
    args = Args(**vars(parser.parse_args()))
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "synthetic"
    gen = (f"from musicgym.synthetic.generator import SyntheticConfig, generate; "
           f"generate(SyntheticConfig(n_sessions={args.sessions}, n_tracks={args.tracks}, "
           f"seed={args.seed}), {str(log)!r})")
    gen_s, gen_mb = child(gen)
    ref = (f"import pyarrow.dataset as ds; t = ds.dataset({str(log / 'log')!r}).to_table(); "
           f"print(t.num_rows, 'rows')")
    ref_s, ref_mb = child(ref)
    prep = (f"from musicgym.data.prepare import PrepareOptions, prepare; "
            f"d = prepare({str(log / 'log')!r}, {str(args.work / 'prepared')!r}, "
            f"options=PrepareOptions(progress=False)); print(d.summary())")
    prep_s, peak_mb = child(prep)
    print(f"generate: {gen_s:.1f} s, peak RSS {gen_mb:.0f} MB")
    print(f"reference, pyarrow read of the shards into memory: {ref_s:.1f} s, "
          f"peak RSS {ref_mb:.0f} MB")
    print(f"prepare: {prep_s:.1f} s, peak RSS {peak_mb:.0f} MB; "
          f"time {prep_s / ref_s:.1f}x and memory {peak_mb / ref_mb:.2f}x the plain read")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
