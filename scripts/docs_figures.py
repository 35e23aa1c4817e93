"""Regenerate the README's result pictures in docs/: the benchmark's bar chart and a learning curve.

- docs/benchmark.png (and benchmark.md, the table behind it): `musicgym benchmark` on the
  default synthetic data with `--seeds` seeds and `--timesteps` training steps per seed;
- docs/learning_curve.png (and learning_curve.json, its points): `scripts/training_curve.py`,
  DDPG's listened rate on validation and test sessions every `--chunk` steps.

The defaults are small, so that both finish in under 10 minutes on one core; the numbers are
therefore those of short training, not of the main job's 240,000 steps. With `--bench DIR` the
chart is drawn from a benchmark already run (`musicgym benchmark --out DIR`) instead.

    nice python scripts/docs_figures.py                # both figures, default settings
    python scripts/docs_figures.py --only benchmark --bench bench/   # chart of a finished run
    python scripts/docs_figures.py --only curve --timesteps 20000 --chunk 2000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from musicgym.artifacts import atomic_path, write_text

ROOT = Path(__file__).resolve().parents[1]
CURVES = {"actor_validation": "actor, validation sessions", "actor_test": "actor, test sessions",
          "target_validation": "target actor, validation", "target_test": "target actor, test"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the figures")
    parser.add_argument("--only", choices=("benchmark", "curve"), default=None,
                        help="make only one of the two figures")
    parser.add_argument("--seeds", type=int, default=2, help="benchmark seeds")
    parser.add_argument("--timesteps", type=int, default=30_000,
                        help="training steps per seed (benchmark) and of the curve")
    parser.add_argument("--chunk", type=int, default=3_000, help="steps between curve points")
    parser.add_argument("--num-envs", type=int, default=32, help="sessions stepped together")
    parser.add_argument("--bench", type=Path, default=None,
                        help="draw the chart from this finished `musicgym benchmark --out` "
                             "folder (its results.json) instead of running a benchmark")
    args = parser.parse_args(argv)
    if args.bench is not None and not (args.bench / "results.json").is_file():
        parser.error(f"--bench ({args.bench}) holds no results.json; pass the --out folder of "
                     "a finished `musicgym benchmark`")
    for name in ("seeds", "timesteps", "chunk", "num_envs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} ({getattr(args, name)}) must be at least 1")
    return args


def benchmark_figure(args: argparse.Namespace) -> None:
    """Run `musicgym benchmark` (or redraw `--bench`) in a scratch folder; keep chart and table."""
    with tempfile.TemporaryDirectory(prefix="musicgym-docs-") as scratch:
        bench = Path(scratch) / "bench"
        if args.bench is not None:
            from agents.results import write_results

            saved = json.loads((args.bench / "results.json").read_text())
            meta = saved.pop("meta", {})
            write_results(bench, saved, meta)
        else:
            subprocess.run([sys.executable, "-m", "musicgym.cli", "benchmark", "--seeds",
                            str(args.seeds), "--timesteps", str(args.timesteps),
                            "--num-envs", str(args.num_envs), "--out", str(bench)],
                           check=True, cwd=scratch)
        for name, target in (("results.png", "benchmark.png"), ("results.md", "benchmark.md")):
            if (bench / name).is_file():
                replace_file(bench / name, args.out / target)


def curve_points(args: argparse.Namespace) -> list[dict[str, float]]:
    """The JSON lines that scripts/training_curve.py prints, one per chunk."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "training_curve.py"),
                           "--timesteps", str(args.timesteps), "--chunk", str(args.chunk),
                           "--num-envs", str(args.num_envs)],
                          check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def plot_curve(points: list[dict[str, float]], path: Path) -> None:
    """Listened rate against training steps, one line per (actor, sessions)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = [p["steps"] for p in points]
    for key, label in CURVES.items():
        if all(key in p for p in points):
            ax.plot(steps, [p[key] for p in points], marker="o", markersize=3, label=label)
    ax.set_xlabel("training steps (summed over envs)")
    ax.set_ylabel("listened rate")
    ax.set_title("DDPG on the default synthetic data (world all)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def replace_file(source: Path, target: Path) -> None:
    """Copy `source` over `target` through a temporary name in the target's folder."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.only in (None, "benchmark"):
        benchmark_figure(args)
        print(f"wrote {args.out / 'benchmark.png'} ({time.perf_counter() - start:.0f} s)")
    if args.only in (None, "curve"):
        points = curve_points(args)
        plot_curve(points, args.out / "learning_curve.png")
        write_text(args.out / "learning_curve.json", json.dumps(points, indent=1) + "\n")
        print(f"wrote {args.out / 'learning_curve.png'} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
