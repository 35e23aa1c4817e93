"""Time one `musicgym benchmark` serially and with `--ray` on a local Ray cluster; compare them.

Both runs do the same work from the same warm cache: the data is prepared and every world the
benchmark needs is fitted first (not timed), and each run replays the baselines itself. The
script prints the two wall times side by side, their ratio, and whether the two results.json
files hold the same numbers (they must: exit status 1 when they do not).

    python scripts/benchmark_ray.py --sessions 600 --seeds 2 --timesteps 1500 --cpus 2

Everything it writes (generated data, cache, results) goes in a fresh temporary folder, or in
`--workdir`, which must not exist yet: nothing of yours is read or removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Args:
    """What to benchmark and on how many CPUs."""

    data: Path | None = None
    """MSSD log or prepared folder; default: a generated set of `sessions` sessions."""
    sessions: int = 1000
    """Sessions of the generated set (when no --data)."""
    seeds: int = 2
    """Seeds of the benchmark: one train job each."""
    timesteps: int = 2000
    """Training steps per seed."""
    num_envs: int = 8
    """Sessions stepped together in training."""
    rounds: int = 1
    """Passes over the test sessions per agent."""
    cpus: int = os.cpu_count() or 1
    """CPUs of the local Ray cluster."""
    workdir: Path | None = None
    """Folder for everything written (must not exist); default: a new temporary folder."""


def parse() -> Args:
    """`Args` from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field, default in asdict(Args()).items():
        kind = Path if field in ("data", "workdir") else int
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=default)
    args = Args(**vars(parser.parse_args()))
    for field in ("sessions", "seeds", "timesteps", "num_envs", "rounds", "cpus"):
        if getattr(args, field) < 1:
            parser.error(f"--{field.replace('_', '-')} must be at least 1")
    if args.workdir is not None and args.workdir.exists():
        parser.error(f"--workdir {args.workdir} exists; pass a new folder")
    return args


def benchmark_argv(args: Args, data: Path, out: Path) -> list[str]:
    """The `musicgym benchmark` command line of both runs."""
    return ["benchmark", "--data", str(data), "--seeds", str(args.seeds),
            "--timesteps", str(args.timesteps), "--num-envs", str(args.num_envs),
            "--rounds", str(args.rounds), "--eval-freq", str(10 * args.timesteps),
            "--no-progress", "--out", str(out)]


def timed(argv: list[str]) -> float:
    """Run `musicgym ARGV` in this process; its wall time in seconds."""
    from musicgym.cli import main

    start = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit(f"musicgym {' '.join(argv)} failed")
    return time.perf_counter() - start


def main() -> int:
    """Warm the cache, run serially, run on Ray, and print the comparison."""
    args = parse()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="musicgym-ray-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["MUSICGYM_CACHE"] = str(work / "cache")  # a private cache, seen by the workers
    data = args.data
    if data is None:
        from musicgym.synthetic.generator import SyntheticConfig, generate

        data = generate(SyntheticConfig(n_sessions=args.sessions, n_tracks=2 * args.sessions,
                                        seed=0), work / "data").root
    # untimed: a one-seed, one-step run prepares the data and fits every world both runs read
    warm = benchmark_argv(replace(args, seeds=1, timesteps=args.num_envs), data, work / "warm")
    timed(warm)
    baselines = work / "cache" / "baselines"  # inside our own private cache only
    shutil.rmtree(baselines, ignore_errors=True)
    serial_s = timed(benchmark_argv(args, data, work / "serial"))
    print(f"serial run: {serial_s:.1f} s", flush=True)
    shutil.rmtree(baselines, ignore_errors=True)  # the Ray jobs replay them too

    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    start_s = time.perf_counter() - start
    try:
        ray_s = timed([*benchmark_argv(args, data, work / "ray"), "--ray"])
    finally:
        ray.shutdown()
    same = _same_results(work / "serial", work / "ray")
    print(f"\n{args.seeds} seeds x {args.timesteps} steps, {args.cpus} Ray CPUs, data {data}")
    print("| run | wall s |\n|---|---:|")
    print(f"| serial | {serial_s:.1f} |\n| --ray (local) | {ray_s:.1f} |")
    print(f"serial / ray: {serial_s / ray_s:.2f}x (starting the local cluster took another "
          f"{start_s:.1f} s)")
    print(f"results identical: {'yes' if same else 'NO'} (files in {work})")
    return 0 if same else 1


def _same_results(serial: Path, on_ray: Path) -> bool:
    """Whether the two results.json hold the same numbers (meta's "ray" aside)."""
    a = json.loads((serial / "results.json").read_text())
    b = json.loads((on_ray / "results.json").read_text())
    b["meta"].pop("ray", None)
    return a == b


if __name__ == "__main__":
    raise SystemExit(main())
