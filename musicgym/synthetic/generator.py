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

The model is documented in `musicgym.synthetic.ground_truth`. One `numpy.random.Generator`
seeded with `config.seed` is the only source of randomness: the same config gives byte-identical
files. The folder is written under a temporary name and renamed into place
(`musicgym.artifacts.atomic_dir`); `musicgym.synthetic.dataset.SyntheticDataset` reads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from musicgym.artifacts import atomic_dir
from musicgym.synthetic import catalog, ground_truth
from musicgym.synthetic.catalog import make_catalog
from musicgym.synthetic.dataset import SyntheticDataset
from musicgym.synthetic.ground_truth import SessionState, simulate_chunk
from musicgym.synthetic.parameters import GroundTruthParameters
from musicgym.synthetic.writer import ChunkWriter

GENERATOR_VERSION = "1"
"""Bump whenever the same config would produce different files (it keys the cache)."""
FORMAT_VERSION = 1
FORMATS = ("parquet", "csv.gz")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: sizes, seed, output format and the ground-truth parameters.

    :param n_sessions: number of sessions (one synthetic user each); about 16 rows per session.
    :param n_tracks: catalog size.
    :param seed: seed of the one random generator; same config and seed give identical files.
    :param latent_dim: dimension of the track latent vectors and user tastes.
    :param chunk_sessions: sessions simulated at once and written per log shard (bounds memory);
        part of the draw order, so changing it changes the data.
    :param format: "parquet" or "csv.gz" (the layout of the real MSSD CSV files).
    :param params: the ground-truth model's parameters.
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


def _truth_document(config: SyntheticConfig, files: dict, stats: dict, loadings: dict) -> dict:
    """The content of truth.json: documentation, parameters, config, files and counts."""
    return {
        "format_version": FORMAT_VERSION,
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "model": ground_truth.__doc__,
        "catalog": catalog.__doc__,
        "feature_loadings": loadings,
        "files": files,
        "stats": stats,
    }


def simulate_chunks(rng: np.random.Generator, n_sessions: int, chunk_sessions: int,
                    tracks: catalog.Catalog, params: GroundTruthParameters
                    ) -> Iterator[tuple[int, pa.Array, SessionState, dict[str, np.ndarray]]]:
    """The sessions of a set, chunk by chunk, in the generator's draw order.

    Yields (chunk index, session ids, session states, per-row arrays). Generation writes them;
    the truth world replays them (with the same seeded `rng`) to recover each user's latents.
    """
    for chunk in range(-(-n_sessions // chunk_sessions)):
        n = min(chunk_sessions, n_sessions - chunk * chunk_sessions)
        session_ids = catalog.uuid_strings(rng, n, f"{chunk}_")
        state, rows = simulate_chunk(rng, n, tracks, params)
        yield chunk, session_ids, state, rows


def _write_all(config: SyntheticConfig, folder: Path, show_progress: bool) -> None:
    """Generate the whole set into `folder` (an empty temporary folder)."""
    rng = np.random.default_rng(config.seed)
    tracks = make_catalog(config.n_tracks, config.latent_dim, config.params, rng)
    writer = ChunkWriter(folder, config.format, tracks)
    chunks = simulate_chunks(rng, config.n_sessions, config.chunk_sessions, tracks, config.params)
    n_chunks = -(-config.n_sessions // config.chunk_sessions)
    for chunk, session_ids, state, rows in tqdm(chunks, total=n_chunks, desc="generate",
                                                 unit="chunk", disable=not show_progress):
        writer.write_chunk(chunk, session_ids, state, rows)
    files = writer.close()
    np.save(folder / "track_latents.npy", tracks.latents)
    np.save(folder / "track_popularity.npy", tracks.popularity)
    files.update(track_latents="track_latents.npy", track_popularity="track_popularity.npy")
    stats = writer.stats() | {"n_sessions": config.n_sessions, "n_tracks": config.n_tracks}
    document = _truth_document(config, files, stats, tracks.loadings)
    # truth.json last: a folder without it was never finished.
    (folder / "truth.json").write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


def _check_replaceable(target: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an empty folder or (if `overwrite`) an earlier set."""
    if not target.is_dir():
        raise FileExistsError(f"out_dir {target} exists and is not a folder; choose another path")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"out_dir {target} already exists; pass overwrite=True")
    if not (target / "truth.json").is_file():
        raise FileExistsError(
            f"out_dir {target} is a non-empty folder that is not a synthetic "
            "MSSD set; choose another folder or empty it"
        )
    foreign = sorted(set(p.name for p in target.iterdir()) - _own_entries(target))
    if foreign:
        raise FileExistsError(f"out_dir {target} holds files that generate did not write "
                              f"({', '.join(foreign[:3])}); replacing the set would delete "
                              "them: move them away or choose another folder")


def _own_entries(target: Path) -> set[str]:
    """The top-level names of the files an earlier set in `target` says it wrote."""
    try:
        files = json.loads((target / "truth.json").read_text()).get("files", {})
    except (ValueError, OSError, AttributeError):
        return {"truth.json"}
    names = {"truth.json", "checksums.json"}
    for value in files.values():
        for path in value if isinstance(value, list) else [value]:
            names.add(Path(str(path)).parts[0])
    return names


def generate(
    config: SyntheticConfig,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    show_progress: bool = False,
) -> SyntheticDataset:
    """Generate a synthetic MSSD set into `out_dir`, atomically, and describe its files.

    :param config: what to generate.
    :param out_dir: the folder to create; an earlier generated set there is replaced when
        `overwrite`, any other non-empty folder is refused.
    :param overwrite: if False, raise FileExistsError when `out_dir` exists (also when another
        process published it while this one was generating).
    :param show_progress: show a tqdm bar over chunks.
    """
    target = Path(out_dir)
    if target.exists():
        _check_replaceable(target, overwrite)
    with atomic_dir(target, overwrite=overwrite) as tmp:
        _write_all(config, tmp, show_progress)
    return SyntheticDataset.from_dir(target)
