"""Benchmark the simulator fit at scale: wall time, peak memory and held-out fidelity.

Generates a synthetic log of about `--rows` rows (1M-track catalog, ~16.6 rows a session) and
prepares it in child processes (reused from `--work` when already there), or takes `--data` (a
prepared folder or a generated set), then fits the simulator in this process with the default
config (the log streamed from Parquet, training bounded by `ResponseConfig.max_epoch_sessions`)
and scores it on a seeded sample of `--eval-sessions` held-out test sessions: the challenge's
mean average accuracy (blind second halves, decisions from 256 sampled continuations) and the
teacher-forced AUC of P(skip_2). Prints and writes (`--json`) `rows`, `fit_seconds`,
`peak_rss_gb` (of this process while fitting; generation and prepare run in children), `maa`,
`auc` and `eval_sessions`.

    python scripts/benchmark_fit.py --rows 10000000 --json fit10m.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from musicgym.data.dataset import PreparedDataset
from musicgym.datasets import load_dataset
from musicgym.device import DeviceError, resolve_device
from musicgym.simulator import metrics
from musicgym.simulator.challenge import blind_decisions
from musicgym.simulator.fitting import (
    FittedSimulator,
    SimulatorConfig,
    fit_simulator,
    pack_splits,
)

ROWS_PER_SESSION = 16.58
"""Rows per generated session on average (600,000 sessions gave 9,949,824 rows)."""


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def make_data(rows: int, tracks: int, work: Path) -> Path:
    """A prepared dataset of about `rows` generated rows under `work` (made once, reused)."""
    sessions = max(1, round(rows / ROWS_PER_SESSION))
    folder = work / f"s{sessions}-t{tracks}"
    prepared = folder / "prepared"
    if not (prepared / "manifest.json").is_file():
        musicgym = [sys.executable, "-m", "musicgym.cli"]
        subprocess.run([*musicgym, "generate", "--sessions", str(sessions), "--tracks",
                        str(tracks), "--out", str(folder / "generated"), "--no-progress"],
                       check=True)
        subprocess.run([*musicgym, "prepare", "--log", str(folder / "generated" / "log"),
                        "--tracks", str(folder / "generated" / "track_features.parquet"),
                        "--out", str(prepared), "--no-progress"], check=True)
    return prepared


def held_out_scores(simulator: FittedSimulator, dataset: PreparedDataset,
                    config: SimulatorConfig, sessions: int, seed: int) -> dict[str, float]:
    """MAA and AUC of `simulator` on a seeded sample of `sessions` test sessions."""
    rng = np.random.default_rng(seed)
    test = np.flatnonzero(dataset.split_labels(config.split) == "test")
    keep = np.zeros(len(dataset.split_labels(config.split)), bool)
    keep[rng.choice(test, min(sessions, len(test)), replace=False)] = True
    (packed,) = pack_splits(dataset, config.split, ("test",), keep)
    model, mask = simulator.response, packed.sessions.mask
    p_blind = model.predict_sessions(packed.sessions, hide_second_half=True)[..., :2].sum(-1)
    decision = blind_decisions([model], packed.sessions, p_blind, rng, samples=256)
    p_forced = model.predict_sessions(packed.sessions, hide_second_half=False)[..., :2].sum(-1)
    session = np.repeat(packed.sessions.session_idx, mask.sum(axis=1))
    position = packed.sessions.positions[mask]
    target = metrics.challenge_mask(position, np.zeros_like(position), session)
    skip2 = packed.skip_2[mask]
    blind = metrics.predictor_metrics(p_blind[mask][target], skip2[target], session[target],
                                      decision[mask][target])
    return {"eval_sessions": int(len(packed.sessions)), "maa": blind["maa"],
            "first_prediction_accuracy": blind["first_prediction_accuracy"],
            "auc": metrics.roc_auc(p_forced[mask], skip2), "blind_auc": blind["auc"]}


def main() -> None:
    """Parse the arguments, make or open the data, fit, score, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000,
                        help="rows of the generated log (about; default 10,000,000)")
    parser.add_argument("--tracks", type=int, default=1_000_000, help="generated catalog size")
    parser.add_argument("--data", type=Path, default=None,
                        help="fit this data instead (prepared folder or generated set)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/musicgym-bench-fit"),
                        help="where generated data is made and kept for the next run")
    parser.add_argument("--eval-sessions", type=int, default=2000,
                        help="held-out test sessions scored (a seeded sample)")
    parser.add_argument("--device", default=None,
                        help="auto, cpu or cuda (default: $MUSICGYM_DEVICE, else auto)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation sample")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    if args.rows < 1 or args.tracks < 1 or args.eval_sessions < 1:
        parser.error("--rows, --tracks and --eval-sessions must be at least 1")
    if args.data is not None and not args.data.exists():
        parser.error(f"--data {args.data}: no such file or folder")
    try:
        device = resolve_device(args.device)
    except DeviceError as err:
        parser.error(str(err))
    data = args.data if args.data is not None else make_data(args.rows, args.tracks, args.work)
    dataset = load_dataset(data)
    config = SimulatorConfig()
    start = time.perf_counter()
    simulator = fit_simulator(dataset, config, progress=True, device=device)
    fit_seconds = time.perf_counter() - start
    fit_peak = peak_rss_gb()
    start = time.perf_counter()
    scores = held_out_scores(simulator, dataset, config, args.eval_sessions, args.seed)
    result = {"rows": int(dataset.manifest["rows"]), "sessions": int(dataset.manifest["sessions"]),
              "fit_seconds": round(fit_seconds, 1), "peak_rss_gb": round(fit_peak, 3),
              **{k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
              "eval_seconds": round(time.perf_counter() - start, 1),
              "peak_rss_gb_with_eval": round(peak_rss_gb(), 3), "device": str(device),
              "max_epoch_sessions": config.response.max_epoch_sessions,
              "max_val_sessions": config.response.max_val_sessions,
              "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
              "data": str(dataset.path)}
    print(json.dumps(result, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
