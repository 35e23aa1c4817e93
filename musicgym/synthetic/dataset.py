"""A generated synthetic MSSD set on disk: its files, and its truth for the rows of a log.

`SyntheticDataset.from_dir` opens a folder written by `musicgym.synthetic.generator.generate`
(or `musicgym generate`; `is_generated` tells such a folder); `synthetic_root` finds that folder
behind a prepared dataset, and `ground_truth_p_skip2` reads the generator's true P(skip_2) for
the rows of a prepared log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.artifacts import read_json
from musicgym.data.dataset import PreparedDataset


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
                "create one with `musicgym generate` (musicgym.synthetic.generator.generate)"
            )
        truth = read_json(truth_path)
        try:
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
        except (KeyError, TypeError) as err:
            raise ValueError(f"{truth_path}: lacks the generator's entry {err}; generate the "
                             "set again with `musicgym generate`") from None


def is_generated(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a folder written by the generator (it has a truth.json)."""
    return (Path(path) / "truth.json").is_file()


def generated_origin(path: str | os.PathLike[str]) -> Path | None:
    """The generated set `path` names or lies in (the set's folder, its log inside it), or None.

    Prepared datasets are cached by content and their manifest keeps the first path prepared,
    so `load_dataset` asks this of the path it is given now.
    """
    path = Path(path)
    for folder in (path, path.parent, path.parent.parent):
        if is_generated(folder) and (folder / "ground_truth.parquet").is_file():
            return folder
    return None


def synthetic_root(dataset: PreparedDataset) -> Path | None:
    """The generated set a prepared dataset was made from; None when its data is not synthetic.

    The set it was loaded from (`load_dataset`'s path), else the one its manifest's inputs lie
    in (the first path prepared with this content).
    """
    if dataset.generated_root is not None:
        return dataset.generated_root
    for item in dataset.manifest["inputs"]:
        root = generated_origin(item["path"])
        if root is not None:
            return root
    return None


def ground_truth_p_skip2(root: Path, log: pd.DataFrame) -> np.ndarray | None:
    """The generator's true P(skip_2) per row of a prepared `log` of the set at `root`.

    None when some row of `log` is not in the set's ground truth (a log of another set).
    """
    truth = pd.read_parquet(root / "ground_truth.parquet",
                            columns=["session_id", "session_position", "p_skip_2"])
    merged = log[["session_id", "session_position"]].merge(
        truth, on=["session_id", "session_position"], how="left")
    values = merged["p_skip_2"].to_numpy(dtype=np.float64)
    return None if np.isnan(values).any() else values
