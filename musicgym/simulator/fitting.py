"""Fit a whole simulator on a prepared dataset (embeddings + response model), cached.

A fit is keyed by the data checksum and the config: a second call with the same data and config
loads the saved fit instead of fitting again. The artifact is a folder: `embeddings.npz`,
`response/` (state dict, JSON config, track statistics) and `simulator.json`, which records the
sha256 of every other file. A cache entry that fails that check is refitted with a warning; one
process fits a cold entry while others wait for it (a file lock).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from musicgym.artifacts import (
    atomic_dir,
    checksum_files,
    load_or_build,
    read_verified_manifest,
    unreadable,
    write_json,
)
from musicgym.data.cache import cache_dir
from musicgym.data.dataset import PreparedDataset
from musicgym.data.splits import DEFAULT_SPLIT, SplitSpec, train_fold
from musicgym.device import resolve_device
from musicgym.embeddings import TrackEmbeddings
from musicgym.embeddings.dataset_embeddings import EmbeddingSpec, dataset_embeddings
from musicgym.simulator import response_model
from musicgym.simulator.inputs import (
    BEHAVIOUR_COLUMNS,
    PACK_COLUMNS,
    PackedLog,
    PackedSessions,
    TrackStats,
    pack_stream,
)
from musicgym.simulator.response_model import ResponseModel, fit_response_model
from musicgym.simulator.response_net import SCALE_BOUNDS, ResponseConfig
from musicgym.threads import fit_threads

FORMAT_VERSION = 2
"""2: simulator.json records the sha256 of every file (entries of version 1 are refitted)."""
FIX = "fit and save the simulator again (a cache entry is refitted on its next use)"


@dataclass(frozen=True)
class SimulatorConfig:
    """How a simulator is fitted: embedding size, rare-track threshold, response model, split."""

    embedding_dim: int = 16
    window: int | None = None
    """Co-occurrence window in positions (None: the whole session)."""
    min_count: int = 2
    """Tracks with fewer training plays get a fallback embedding (see `from_cooccurrence`)."""
    embedding_source: Literal["auto", "features", "cooccurrence", "both"] = "auto"
    """Where track vectors come from; "auto" uses features when the data has them, else
    co-occurrence."""
    response: ResponseConfig = field(default_factory=ResponseConfig)
    split: SplitSpec = DEFAULT_SPLIT
    bootstrap: bool = False
    """Fit the response model and track statistics on a bootstrap resample of the training
    sessions (drawn with the response seed): one member of an ensemble."""
    folds: int = 1
    """Fit the track vectors, the response model and the track statistics on fold `fold` of
    `folds` disjoint folds of the world's training sessions (by session hash,
    `splits.train_fold`): one member of an ensemble of folds. Every member has a row for every
    track of the data, so the members share their rows."""
    fold: int = 0
    jackknife: bool = False
    """Fit every fold but `fold` instead (a delete-one-group jackknife replicate): one member
    of a jackknife ensemble."""

    def __post_init__(self) -> None:
        if self.embedding_dim < 1:
            raise ValueError(f"embedding_dim ({self.embedding_dim}) must be at least 1")
        if self.embedding_source not in ("auto", "features", "cooccurrence", "both"):
            raise ValueError(f"embedding_source ({self.embedding_source!r}) must be 'auto', "
                             "'features', 'cooccurrence' or 'both'")
        if self.min_count < 1:
            raise ValueError(f"min_count ({self.min_count}) must be at least 1")
        if not 0 <= self.fold < self.folds:
            raise ValueError(f"fold ({self.fold}) must be in [0, folds ({self.folds}))")
        if self.folds > 1 and self.bootstrap:
            raise ValueError("a member fits a bootstrap resample or a fold, not both")
        if self.jackknife and self.folds < 2:
            raise ValueError(f"a jackknife member leaves one of at least 2 folds out; folds is "
                             f"{self.folds}")

    def to_dict(self) -> dict:
        """The config as JSON-ready values (the response's as `ResponseConfig.to_dict`)."""
        return {**asdict(self), "response": self.response.to_dict()}


class FittedSimulator:
    """A fitted simulator: track embeddings and the response model, indexed like the data.

    Row `len(track_ids)` of the model's tables stands for any track the data never played.
    """

    def __init__(self, embeddings: TrackEmbeddings, response: ResponseModel,
                 config: SimulatorConfig, data_checksum: str) -> None:
        self.embeddings = embeddings
        self.response = response
        self.config = config
        self.data_checksum = data_checksum
        self._rows = pd.Index(embeddings.ids)

    @property
    def unknown_row(self) -> int:
        """The model row used for tracks outside the fitted data."""
        return len(self.embeddings)

    def rows(self, track_ids: np.ndarray) -> np.ndarray:
        """Model rows of `track_ids`; unknown tracks map to `unknown_row`."""
        rows = self._rows.get_indexer(np.asarray(track_ids))
        return np.where(rows < 0, self.unknown_row, rows).astype(np.int64)

    def save(self, path: str | Path) -> None:
        """Write the simulator folder atomically, with the sha256 of each file in its manifest."""
        with atomic_dir(path) as tmp:
            self.embeddings.save(tmp / "embeddings.npz")
            self.response.save(tmp / "response")
            payload = {"format": "musicgym.simulator", "format_version": FORMAT_VERSION,
                       "data_checksum": self.data_checksum, "config": self.config.to_dict(),
                       "embeddings": "embeddings.npz", "files": checksum_files(tmp)}
            write_json(tmp / "simulator.json", payload)

    @classmethod
    def load(cls, path: str | Path) -> FittedSimulator:
        """Read a simulator folder written by `save`, after checking every file's sha256.

        :raises CorruptArtifactError: naming the file that is missing, changed or unreadable.
        """
        path = Path(path)
        manifest = path / "simulator.json"
        payload = read_verified_manifest(path, manifest.name, FORMAT_VERSION, FIX,
                                         ("embeddings.npz", "response/model.pt"))
        try:
            raw = payload["config"]
            config = SimulatorConfig(embedding_dim=raw["embedding_dim"], window=raw["window"],
                                     min_count=raw["min_count"],
                                     embedding_source=raw["embedding_source"],
                                     response=ResponseConfig(**raw["response"]),
                                     split=SplitSpec(**raw["split"]),
                                     bootstrap=raw.get("bootstrap", False),
                                     folds=raw.get("folds", 1), fold=raw.get("fold", 0),
                                     jackknife=raw.get("jackknife", False))
            checksum = payload["data_checksum"]
        except (KeyError, TypeError, ValueError) as err:
            raise unreadable(manifest, err, FIX, "holds no valid simulator config") from None
        return cls(TrackEmbeddings.load(path / "embeddings.npz"),
                   ResponseModel.load(path / "response"), config, checksum)


def embedding_spec(config: SimulatorConfig) -> EmbeddingSpec:
    """The simulator's own track vectors: its embedding settings, seeded by its response seed."""
    return EmbeddingSpec(dim=config.embedding_dim, window=config.window,
                         min_count=config.min_count, source=config.embedding_source,
                         seed=config.response.seed)


@fit_threads()
def fit_simulator(dataset: PreparedDataset, config: SimulatorConfig | None = None,
                  progress: bool = True, device: str | torch.device | None = None
                  ) -> FittedSimulator:
    """Fit embeddings and the response model on the dataset's training split.

    The log streams from Parquet in batches straight into the packed [sessions, 20] arrays
    (`inputs.pack_stream`), so memory grows with the training sessions' integer codes, never
    with a frame of the whole log. The response model trains on `device` (see
    `musicgym.device.resolve_device`); the returned simulator lives on CPU.
    """
    config = config or SimulatorConfig()
    target = resolve_device(device)
    train, val = pack_splits(dataset, config.split, ("train", "validation"),
                             member_sessions(dataset, config))
    if len(val.sessions) == 0:
        raise ValueError("the validation split is empty; use a larger log or a larger "
                         "validation share")
    embeddings = dataset_embeddings(dataset, _rows_frame(train.sessions), embedding_spec(config))
    n = len(embeddings)
    matrix = np.vstack([embeddings.matrix, np.zeros((1, embeddings.dim), np.float32)])
    if config.bootstrap:  # resampled sessions, each as often as drawn
        rng = np.random.default_rng(config.response.seed)
        train = train.subset(rng.integers(len(train.sessions), size=len(train.sessions)))
    packed = train.sessions
    stats = TrackStats.from_rows(packed.tracks[packed.mask], train.skip_2[packed.mask], n + 1,
                                 config.response.stats_strength)
    response = fit_response_model(packed, val.sessions, matrix, stats, config.response,
                                  progress, meta={"data_checksum": dataset.checksum},
                                  device=target)
    return FittedSimulator(embeddings, response, config, dataset.checksum)


def pack_splits(dataset: PreparedDataset, spec: SplitSpec, names: tuple[str, ...],
                keep: np.ndarray | None = None) -> list[PackedLog]:
    """The sessions of each split in `names`, packed from the log streamed in batches.

    `keep` (bool per session_idx) further limits which sessions are packed.
    """
    labels = dataset.split_labels(spec)
    groups = np.full(len(labels), -1, np.int64)
    for g, name in enumerate(names):
        groups[labels == name] = g
    if keep is not None:
        groups[~np.asarray(keep, bool)] = -1
    behaviour = list(BEHAVIOUR_COLUMNS) if set(BEHAVIOUR_COLUMNS) <= set(dataset.log_columns) \
        else []
    columns = sorted({*PACK_COLUMNS, *behaviour})
    return pack_stream(dataset.iter_log(columns), groups, len(names))


def member_sessions(dataset: PreparedDataset, config: SimulatorConfig) -> np.ndarray | None:
    """Which sessions (bool per session_idx) a member packs: None for all, else its fold's.

    A jackknife member packs every other fold's. A fold's member learns its track vectors from
    its own sessions too: members that shared the world's vectors agreed on that world's quirks
    and so overstated what transfers (NOTES.md). Sessions outside the training split
    (validation) are kept.
    """
    if config.folds == 1:
        return None
    training = dataset.split_labels(config.split) == "train"
    fold = train_fold(dataset.sessions["hash_unit"].to_numpy(), config.split, config.folds)
    return ~training | ((fold == config.fold) != config.jackknife)


def _rows_frame(packed: PackedSessions) -> pd.DataFrame:
    """The (session_idx, track_idx) of every packed row, in log order: what embeddings read."""
    counts = packed.mask.sum(axis=1)
    return pd.DataFrame({"session_idx": np.repeat(packed.session_idx, counts),
                         "track_idx": packed.tracks[packed.mask]})


LATER_OPTIONS = {"bootstrap": False, "folds": 1, "fold": 0, "jackknife": False,
                 "response.track_weight_decay": 0.0,
                 "response.embedding_shrink": 0.0}
"""Options added after response format 6, left out of the cache key at their defaults so that
the fits made before them keep their keys (they are the same fits)."""


def _key_fields(config: SimulatorConfig) -> dict:
    """The config as it enters the cache key (the scale bounds enter through `_bounds_used`)."""
    fields = config.to_dict()
    for name in SCALE_BOUNDS:
        fields["response"].pop(name, None)
    for name, default in LATER_OPTIONS.items():
        *parent, leaf = name.split(".")
        holder = fields[parent[0]] if parent else fields
        if holder[leaf] == default:
            del holder[leaf]
    return fields


def load_or_fit(dataset: PreparedDataset, config: SimulatorConfig | None = None,
                progress: bool = True, cache: bool = True,
                device: str | torch.device | None = None) -> FittedSimulator:
    """The fitted simulator for (data, config): loaded from the cache, or fitted and saved.

    A corrupt cache entry is refitted with a warning that names it. While one process fits an
    entry, others that need it wait for it (a file lock) and then load it. `device` is where a
    fit trains (see `fit_simulator`); fits on a GPU have cache entries of their own.
    """
    config = config or SimulatorConfig()
    target = resolve_device(device)
    if not cache:
        return fit_simulator(dataset, config, progress, target)
    folder = cache_folder(dataset, config, target)

    def build() -> FittedSimulator:
        simulator = fit_simulator(dataset, config, progress, target)
        simulator.save(folder)
        return simulator

    return load_or_build(folder, "simulator.json", FittedSimulator.load, build, "simulator",
                         f"fitting a user simulator ({_describe(config)})")


def cache_folder(dataset: PreparedDataset, config: SimulatorConfig,
                 device: str | torch.device | None = None) -> Path:
    """The cache entry of the simulator fitted on `dataset` with `config` on `device`.

    A fit on CPU keeps the key it had before devices existed; another device kind (a GPU fit
    is not bit-identical to a CPU one) and a training bound that acts on this data's size
    (`_bounds_used`) each add a part.
    """
    text = (json.dumps(_key_fields(config), sort_keys=True) + dataset.checksum
            + f"|simulator v{FORMAT_VERSION}|response v{response_model.FORMAT_VERSION}")
    kind = resolve_device(device).type  # the index does not change a fit
    if kind != "cpu":
        text += f"|device {kind}"
    bounds = _bounds_used(dataset, config)
    if bounds:
        text += f"|bounds {json.dumps(bounds, sort_keys=True)}"
    return cache_dir() / "simulators" / hashlib.sha256(text.encode()).hexdigest()[:16]


def _bounds_used(dataset: PreparedDataset, config: SimulatorConfig) -> dict[str, int]:
    """The scale bounds that sample this data's training or validation sessions.

    A bound the data stay within changes nothing in the fit, so it stays out of the key.
    """
    labels = dataset.split_labels(config.split)
    sizes = {"max_epoch_sessions": int(np.count_nonzero(labels == "train")),
             "max_val_sessions": int(np.count_nonzero(labels == "validation"))}
    return {name: getattr(config.response, name) for name, size in sizes.items()
            if size > getattr(config.response, name)}


def _describe(config: SimulatorConfig) -> str:
    """Which sessions and seed a fit uses, for the line printed while it runs."""
    half = config.split.train_half
    sessions = "all training sessions" if half is None else f"training half {'AB'[half]}"
    bootstrap = ", bootstrap resample" if config.bootstrap else ""
    if config.folds > 1:
        but = "every fold but " if config.jackknife else "fold "
        bootstrap = f", {but}{config.fold + 1} of {config.folds}"
    return f"{sessions}, seed {config.response.seed}{bootstrap}"
