"""Held-out next-track retrieval with co-occurrence embeddings, against a popularity ranking.

Splits an MSSD log's sessions 80/20 by the project's hash of session_id (the test split of
`musicgym.data.splits`, as in prepared datasets), builds co-occurrence embeddings on the training
sessions only, and for every held-out position asks: ranking all training tracks by cosine to the
(recency-weighted) mean of the unit vectors heard so far, excluding tracks already heard in the
session, is the true next track in the top 10 / top 50?

    PYTHONPATH=. python scripts/embedding_quality.py --dim 128 --window 3 --min-count 1

The defaults are the best of a brief sweep on the shared sample (see the git log); a window of a
few positions and embedding every training track (min_count 1) matter most.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.data.splits import SplitSpec, assign_splits, session_hash_unit
from musicgym.embeddings import TrackEmbeddings, encode_log, from_cooccurrence, topk

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Args:
    log_path: str = "../shared/data/mssd/log_sample.csv.gz"
    """MSSD log (CSV or CSV.gz); a relative path is taken from the repository root"""
    seed: int = 0
    """seeds the SVD's start vector (the split is a hash, not random)"""
    test_fraction: float = 0.2
    """share of sessions held out, chosen by a hash of session_id"""
    dim: int = 128
    """embedding dimension"""
    window: int = 3
    """co-occurrence window in positions; 0 means the whole session"""
    min_count: int = 1
    """training plays a track needs to be embedded (rarer tracks get fallback vectors)"""
    solver: str = "randomized"
    """SVD solver for large vocabularies: randomized or arpack"""
    recency: float = 0.7
    """query weight of the track heard j steps before the last is recency**j (1 = plain mean)"""
    min_history: int = 2
    """tracks heard before the first predicted one"""
    ks: tuple[int, ...] = (10, 50)
    """cut-offs of recall@k"""
    json_out: str | None = None
    """optional path of a JSON file with the figures"""


def parse_args() -> Args:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(Args):
        flag = "--" + field.name.replace("_", "-")
        if field.name == "ks":
            parser.add_argument(flag, type=int, nargs="+", default=list(field.default))
        elif field.name == "json_out":
            parser.add_argument(flag, type=str, default=None)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)
    ns = parser.parse_args()
    return Args(**{**vars(ns), "ks": tuple(ns.ks)})


def is_held_out(session_ids: pd.Series, fraction: float) -> np.ndarray:
    """Deterministic split: a session is held out when it is in the test split of that share."""
    unique = session_ids.unique()
    sessions = pd.DataFrame({"hash_unit": session_hash_unit(unique)})
    test = assign_splits(sessions, SplitSpec(validation=0.0, test=fraction)) == "test"
    return session_ids.map(pd.Series(test, index=unique)).to_numpy(dtype=bool)


def build_queries(
    test: pd.DataFrame, emb: TrackEmbeddings, args: Args
) -> tuple[dict[str, float], np.ndarray, list[np.ndarray], np.ndarray, np.ndarray]:
    """Queries for every held-out position with an in-vocabulary target.

    Returns (counts, query vectors [m, dim], excluded rows per query, target rows [m],
    cold mask [m] where no history track is known so the query is empty).
    """
    unit = emb.matrix / np.maximum(np.linalg.norm(emb.matrix, axis=1, keepdims=True), 1e-12)
    row_of = pd.Series(np.arange(len(emb)), index=emb.ids)
    queries, excluded, targets = [], [], []
    n_targets = n_oov = n_repeat = 0
    for _, tracks in test.groupby("session_id", sort=False)["track_id_clean"]:
        rows = row_of.reindex(tracks.to_numpy()).to_numpy()  # NaN where out of vocabulary
        for t in range(args.min_history, len(rows)):
            n_targets += 1
            if np.isnan(rows[t]):
                n_oov += 1
                continue
            heard = rows[:t][~np.isnan(rows[:t])].astype(np.int64)
            n_repeat += int(rows[t] in heard)
            # w_j = recency**j for the track heard j steps before the last one
            w = args.recency ** np.arange(t - 1, -1, -1)[~np.isnan(rows[:t])]
            q = (w[:, None] * unit[heard]).sum(axis=0) / max(w.sum(), 1e-12)
            queries.append(q)
            excluded.append(np.unique(heard))
            targets.append(int(rows[t]))
    counts = {"targets": n_targets, "oov": n_oov, "repeat": n_repeat}
    q = np.array(queries, dtype=np.float32).reshape(-1, emb.dim)
    cold = np.array([e.size == 0 for e in excluded], bool)
    return counts, q, excluded, np.array(targets, np.int64), cold


def recall(rows: np.ndarray, targets: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    """Share of queries whose target is among the first k returned rows, for each k."""
    return {f"recall@{k}": float((rows[:, :k] == targets[:, None]).any(axis=1).mean()) for k in ks}


def main() -> None:
    args = parse_args()
    started = time.time()
    log_path = Path(args.log_path)
    log_path = log_path if log_path.is_absolute() else REPO / log_path
    log = pd.read_csv(log_path, usecols=["session_id", "session_position", "track_id_clean"])
    log = log.sort_values(["session_id", "session_position"], kind="stable", ignore_index=True)
    held = is_held_out(log["session_id"], args.test_fraction)
    train, test = log[~held], log[held]

    sessions, tracks, vocab = encode_log(train["session_id"], train["track_id_clean"])
    emb = from_cooccurrence(
        sessions, tracks, len(vocab), track_ids=vocab, dim=args.dim,
        window=args.window or None, min_count=args.min_count, seed=args.seed, solver=args.solver,
    )  # fmt: skip
    plays = np.bincount(tracks, minlength=len(vocab)).astype(np.float32)

    counts, queries, excluded, targets, cold = build_queries(test, emb, args)
    k = max(args.ks)
    pop_rows, _ = topk(plays[:, None], np.ones((len(targets), 1), np.float32), k, "dot", excluded)
    emb_rows, _ = emb.topk(queries, k, "cosine", excluded)
    # A query with no known history track is empty: rank such queries by popularity instead.
    emb_rows[cold] = pop_rows[cold]

    results = {
        "args": dataclasses.asdict(args),
        "train_sessions": int(train["session_id"].nunique()),
        "test_sessions": int(test["session_id"].nunique()),
        "train_tracks": len(vocab),
        "embedded_tracks": int((~emb.fallback).sum()),
        "held_out_targets": counts["targets"],
        "oov_fraction": counts["oov"] / max(counts["targets"], 1),
        "evaluated": len(targets),
        "repeat_fraction": counts["repeat"] / max(len(targets), 1),
        "cold_fraction": float(cold.mean()) if cold.size else 0.0,
        "embeddings": recall(emb_rows, targets, args.ks),
        "popularity": recall(pop_rows, targets, args.ks),
        "seconds": round(time.time() - started, 2),
    }
    print_table(results, args.ks)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict, ks: tuple[int, ...]) -> None:
    """Print the recall table and the counts behind it."""
    print(
        f"sessions train/test {results['train_sessions']}/{results['test_sessions']}, "
        f"training tracks {results['train_tracks']} ({results['embedded_tracks']} embedded), "
        f"held-out targets {results['held_out_targets']}, "
        f"out of vocabulary {results['oov_fraction']:.3f}"
    )
    print(
        f"evaluated {results['evaluated']} in-vocabulary targets; target already heard "
        f"(unreachable) {results['repeat_fraction']:.3f}; no known history (popularity used) "
        f"{results['cold_fraction']:.3f}"
    )
    header = "method".ljust(12) + "".join(f"recall@{k}".rjust(12) for k in ks)
    print(header)
    print("-" * len(header))
    for method in ("embeddings", "popularity"):
        row = results[method]
        print(method.ljust(12) + "".join(f"{row[f'recall@{k}']:12.4f}" for k in ks))


if __name__ == "__main__":
    main()
