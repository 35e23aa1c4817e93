"""The DDPG/TD3 teacher's own ranking, played as an agent and judged as the benchmark judges.

A taught DDPG learns to decode to the tracks its teacher picks (`agents.algorithms`): greedy-by-A
on P(listened) less κ times 0.5 / sqrt(the track's training plays) (`--support-penalty`), plus η
times the track's cosine to the listener's taste (`--teacher-taste`). Training one DDPG seed on
the real sample takes about 30 minutes; playing its teacher takes a few. This script plays the
teacher for each (κ, η) of `--grid` (`GreedyModelAgent(world=A, pessimism=κ, taste=η)`) next to
the benchmark's baselines on the held-out test sessions, in the held-out world B and in the
training world A as `musicgym benchmark` builds them for the data (`data_defaults`), and prints
per row the listened rate in B and A, their gap, and B's coverage and top-10 share, averaged
over `--seeds`. It screens teachers cheaply: NOTES.md (seventh and eighth sessions) compares
what each teacher scores with what the DDPG it taught scored.

    PYTHONPATH=. python scripts/screen_teacher.py --data ../shared/data/mssd/log_sample.csv.gz \\
        --grid 1:0 1:0.05 1:0.1 --seeds 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from agents.baselines import GreedyModelAgent
from agents.benchmark import benchmark_run
from agents.training import data_defaults
from musicgym.datasets import load_dataset
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig

METRICS = ("listened", "coverage", "top10_share")


def _teacher(text: str) -> tuple[float, float]:
    try:
        kappa, eta = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not KAPPA:ETA (e.g. 1:0.05)") from None
    if not (np.isfinite(kappa) and np.isfinite(eta) and kappa >= 0 and eta >= 0):
        raise argparse.ArgumentTypeError(f"{text}: κ and η must be numbers >= 0")
    return kappa, eta


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print the table; return it: row -> {"B", "A", "gap", "coverage", "top10_share"}."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="MSSD log or prepared folder (default: "
                        "the synthetic default set)")
    parser.add_argument("--grid", type=_teacher, nargs="+", default=[(1.0, 0.0), (1.0, 0.05)],
                        help="teachers as KAPPA:ETA (support penalty : taste weight)")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1 of the outcomes")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the test sessions")
    parser.add_argument("--ensemble", type=int, default=3, help="world A's members")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.rounds < 1 or args.ensemble < 1:
        parser.error("--seeds, --rounds and --ensemble must be at least 1")

    started = time.time()
    chosen = data_defaults(load_dataset(args.data))
    config = EnvConfig(data=args.data, world="A", ensemble=args.ensemble,
                       ensemble_resample=chosen.ensemble_resample)
    print(f"worlds for these data: --ensemble-resample {chosen.ensemble_resample} "
          f"--held-out-world {chosen.held_out_world}", flush=True)
    world_a = load_bundle(replace(config, sessions="train")).world
    names = {f"teacher κ {k:g} η {e:g}": (k, e) for k, e in args.grid}
    runs = []
    for seed in range(args.seeds):
        agents = {name: GreedyModelAgent(world=world_a, pessimism=k, taste=e)
                  for name, (k, e) in names.items()}
        runs.append(benchmark_run(agents, config, args.rounds, seed,
                                  held_out=chosen.held_out_world))
        print(f"seed {seed} judged ({time.time() - started:.0f} s)", flush=True)

    def mean(world: str, name: str, metric: str) -> float:
        return float(np.mean([run[world][name][metric] for run in runs]))

    print("| row | B | A | gap | coverage (B) | top-10 share (B) |")
    print("|---|---:|---:|---:|---:|---:|")
    table: dict[str, dict[str, float]] = {}
    for name in [*names, "greedy_model", "most_popular"]:
        b, a = mean("held_out_world", name, "listened"), mean("train_world", name, "listened")
        table[name] = {"B": b, "A": a, "gap": a - b,
                       "coverage": mean("held_out_world", name, "coverage"),
                       "top10_share": mean("held_out_world", name, "top10_share")}
        row = table[name]
        print(f"| {name} | {b:.3f} | {a:.3f} | {row['gap']:.3f} | {row['coverage']:.3f} | "
              f"{row['top10_share']:.3f} |", flush=True)
    print(f"({time.time() - started:.0f} s)")
    return table


if __name__ == "__main__":
    main()
