"""`musicgym tracks`: the track ids an agent may recommend, most played first.

These are the ids to try `musicgym recommend --history ...` and `Recommender.recommend` with:
the recommendable tracks of the catalog that `musicgym train` builds for the same `--data`,
`--world` and `--min-plays` (tracks with at least `min_plays` plays in the world's training
sessions), with those plays.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

WORLDS = ("A", "B", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `musicgym tracks`."""
    parser.add_argument("--data", type=Path, default=None,
                        help="MSSD log, prepared dataset or folder written by `musicgym "
                             "generate` (default: the synthetic default set)")
    parser.add_argument("--top", type=int, default=20,
                        help="how many tracks to list (0: all recommendable tracks)")
    parser.add_argument("--world", choices=WORLDS, default="A",
                        help="the training sessions whose catalog to list: pass the --world "
                             "you train with (`musicgym train` trains in A by default)")
    parser.add_argument("--min-plays", type=int, default=5,
                        help="training plays a track needs to be recommendable (as in train)")


def recommendable_tracks(data: str | Path | None = None, world: str = "A",
                         min_plays: int = 5) -> list[tuple[str, int]]:
    """(track id, training plays) of every recommendable track, most played first.

    Ties keep catalog order, so the list is the same on every call.

    :param data: MSSD log, prepared or generated folder; None: the synthetic default set
    :param world: "A", "B" or "all": whose training sessions the catalog is fitted on
    :param min_plays: training plays a track needs to be recommendable
    """
    if world not in WORLDS:
        raise ValueError(f"world ({world!r}) must be one of {WORLDS}")
    from musicgym.datasets import load_dataset
    from musicgym.embeddings.catalog import CatalogSpec, load_or_fit_catalog
    from musicgym.simulator.worlds import world_split

    spec = CatalogSpec(min_plays=min_plays)  # checks min_plays before any work
    catalog = load_or_fit_catalog(load_dataset(data), world_split(world), spec)
    rows = catalog.recommendable
    rows = rows[np.argsort(-catalog.plays[rows], kind="stable")]
    return [(str(catalog.track_ids[r]), int(catalog.plays[r])) for r in rows]


def run(args: argparse.Namespace) -> int:
    """Print `track_id<TAB>plays` lines under a header; a one-line summary goes to stderr."""
    if args.top < 0:
        raise ValueError(f"--top ({args.top}) must be 0 (every recommendable track) or more")
    if args.min_plays < 1:
        raise ValueError(f"--min-plays ({args.min_plays}) must be at least 1")
    tracks = recommendable_tracks(args.data, args.world, args.min_plays)
    shown = tracks[: args.top] if args.top else tracks
    where = "" if args.world == "all" else f"half {args.world} of "
    print(f"the {len(shown)} most played of {len(tracks)} recommendable tracks (at least "
          f"{args.min_plays} plays in {where}the training sessions)", file=sys.stderr)
    print("track_id\tplays")
    for track_id, plays in shown:
        print(f"{track_id}\t{plays}")
    return 0
