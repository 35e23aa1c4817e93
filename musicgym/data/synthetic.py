"""The synthetic MSSD generator: the project's default data, with a known ground truth.

`generate(SyntheticConfig(...), out_dir)` writes a folder that looks like the real MSSD (same
column names, order and value conventions) plus the truth behind it:

    log/part-00000.parquet ...   session logs in `schema.LOG_COLUMNS` order, one shard per chunk
                                 (log/part-00000.csv.gz ... with format="csv.gz", True/False flags)
    track_features.parquet       `schema.FEATURE_COLUMNS` (track_features.csv.gz for csv.gz)
    ground_truth.parquet         row-aligned with the log: session_id, session_position,
                                 p_skip_1, p_skip_2, p_skip_3 (true probabilities given history)
    track_latents.npy            (n_tracks, latent_dim) float32, rows in track_features order
    track_popularity.npy         (n_tracks,) play probability of each track
    truth.json                   model documentation and parameters, config, format version

The model is documented in `musicgym.data.synthetic_model`. One `numpy.random.Generator`
seeded with `config.seed` is the only source of randomness: the same config gives byte-identical
files. The folder is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from musicgym.data import synthetic_catalog, synthetic_model
from musicgym.data.synthetic_catalog import make_catalog
from musicgym.data.synthetic_model import GroundTruthParameters, simulate_chunk
from musicgym.data.synthetic_writer import ChunkWriter

GENERATOR_VERSION = "1"
"""Bump whenever the same config would produce different files (it keys the cache)."""
FORMAT_VERSION = 1
FORMATS = ("parquet", "csv.gz")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: sizes, seed, output format and the ground-truth parameters.

    Attributes:
        n_sessions: number of sessions (one synthetic user each); about 16 rows per session.
        n_tracks: catalog size.
        seed: seed of the one random generator; same config and seed give identical files.
        latent_dim: dimension of the track latent vectors and user tastes.
        chunk_sessions: sessions simulated at once and written per log shard (bounds memory);
            part of the draw order, so changing it changes the data.
        format: "parquet" or "csv.gz" (the layout of the real MSSD CSV files).
        params: the ground-truth model's parameters.
    """

    n_sessions: int = 5_000
    n_tracks: int = 20_000
    seed: int = 0
    latent_dim: int = 8
    chunk_sessions: int = 50_000
    format: Literal["parquet", "csv.gz"] = "parquet"
    params: GroundTruthParameters = field(default_factory=GroundTruthParameters)

    def __post_init__(self) -> None:
        """Check every field; errors name the argument and the fix."""
        for name, minimum in (
            ("n_sessions", 1),
            ("n_tracks", 1),
            ("latent_dim", 1),
            ("chunk_sessions", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
            if value < minimum:
                raise ValueError(f"{name} ({value}) must be at least {minimum}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__}")
        if self.seed < 0:
            raise ValueError(f"seed ({self.seed}) must be non-negative")
        if self.format not in FORMATS:
            raise ValueError(f"format ({self.format!r}) must be one of {FORMATS}")
        if self.n_tracks < self.params.n_candidates:
            raise ValueError(
                f"n_tracks ({self.n_tracks}) must be at least "
                f"params.n_candidates ({self.params.n_candidates})"
            )


@dataclass(frozen=True)
class SyntheticDataset:
    """The files of one generated set, and a few counts from its truth.json."""

    root: Path
    log_files: tuple[Path, ...]
    track_features: Path
    ground_truth: Path
    track_latents: Path
    track_popularity: Path
    truth: Path
    n_rows: int
    n_sessions: int
    n_tracks: int
    skip_2_rate: float

    @property
    def log_dir(self) -> Path:
        """The folder of the log shards."""
        return self.root / "log"

    @classmethod
    def from_dir(cls, root: str | os.PathLike[str]) -> SyntheticDataset:
        """Open a folder written by `generate` (reads its truth.json)."""
        root = Path(root)
        truth_path = root / "truth.json"
        if not truth_path.is_file():
            raise FileNotFoundError(
                f"{root} is not a synthetic MSSD set: no truth.json; "
                "create one with musicgym.data.synthetic.generate"
            )
        truth = json.loads(truth_path.read_text())
        files, stats = truth["files"], truth["stats"]
        return cls(
            root=root,
            log_files=tuple(root / f for f in files["log"]),
            track_features=root / files["track_features"],
            ground_truth=root / files["ground_truth"],
            track_latents=root / files["track_latents"],
            track_popularity=root / files["track_popularity"],
            truth=truth_path,
            n_rows=stats["n_rows"],
            n_sessions=stats["n_sessions"],
            n_tracks=stats["n_tracks"],
            skip_2_rate=stats["skip_2_rate"],
        )


def _truth_document(config: SyntheticConfig, files: dict, stats: dict, loadings: dict) -> dict:
    """The content of truth.json: documentation, parameters, config, files and counts."""
    return {
        "format_version": FORMAT_VERSION,
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "model": synthetic_model.__doc__,
        "catalog": synthetic_catalog.__doc__,
        "feature_loadings": loadings,
        "files": files,
        "stats": stats,
    }


def _write_all(config: SyntheticConfig, folder: Path, show_progress: bool) -> None:
    """Generate the whole set into `folder` (an empty temporary folder)."""
    rng = np.random.default_rng(config.seed)
    catalog = make_catalog(config.n_tracks, config.latent_dim, config.params, rng)
    writer = ChunkWriter(folder, config.format, catalog)
    n_chunks = -(-config.n_sessions // config.chunk_sessions)
    for chunk in tqdm(range(n_chunks), desc="generate", unit="chunk", disable=not show_progress):
        n = min(config.chunk_sessions, config.n_sessions - chunk * config.chunk_sessions)
        session_ids = synthetic_catalog.uuid_strings(rng, n, f"{chunk}_")
        state, rows = simulate_chunk(rng, n, catalog, config.params)
        writer.write_chunk(chunk, session_ids, state, rows)
    files = writer.close()
    np.save(folder / "track_latents.npy", catalog.latents)
    np.save(folder / "track_popularity.npy", catalog.popularity)
    files.update(track_latents="track_latents.npy", track_popularity="track_popularity.npy")
    stats = writer.stats() | {"n_sessions": config.n_sessions, "n_tracks": config.n_tracks}
    document = _truth_document(config, files, stats, catalog.loadings)
    # truth.json last: a folder without it was never finished.
    (folder / "truth.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def _check_replaceable(target: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier generated set."""
    if not target.is_dir():
        raise FileExistsError(f"out_dir {target} exists and is not a folder; choose another path")
    if any(target.iterdir()) and not (target / "truth.json").is_file():
        raise FileExistsError(
            f"out_dir {target} is a non-empty folder that is not a synthetic "
            "MSSD set; choose another folder or empty it"
        )


def _publish(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished `tmp` folder to `target`, replacing an old set if allowed."""
    if target.exists() and overwrite:
        _check_replaceable(target)
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return
    try:
        os.rename(tmp, target)  # replaces an empty folder; fails if another set is there
    except OSError as error:
        raise FileExistsError(f"out_dir {target} already exists; pass overwrite=True") from error


def generate(
    config: SyntheticConfig,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    show_progress: bool = False,
) -> SyntheticDataset:
    """Generate a synthetic MSSD set into `out_dir`, atomically, and describe its files.

    Args:
        config: what to generate.
        out_dir: the folder to create; an earlier generated set there is replaced when
            `overwrite`, any other non-empty folder is refused.
        overwrite: if False, raise FileExistsError when `out_dir` exists (also when another
            process published it while this one was generating).
        show_progress: show a tqdm bar over chunks.
    """
    target = Path(out_dir)
    if target.exists() and not overwrite and any(target.iterdir()):
        raise FileExistsError(f"out_dir {target} already exists; pass overwrite=True")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        _write_all(config, tmp, show_progress)
        _publish(tmp, target, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return SyntheticDataset.from_dir(target)


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
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


def run_generate(args: argparse.Namespace) -> int:
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
