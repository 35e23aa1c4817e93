"""What an env needs from the simulator, built once per process for each config.

`load_bundle` prepares the data (cached on disk), loads or fits the simulator (cached on disk),
and builds the session sampler, the recommendable catalog and its decoder. It is memoised, so
a second `gym.make` with the same arguments in the same process costs nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from musicgym.data.splits import SplitSpec
from musicgym.datasets import load_dataset
from musicgym.envs.config import EnvConfig
from musicgym.envs.decoder import ActionDecoder
from musicgym.simulator.fast import NumpyResponse
from musicgym.simulator.fitting import FittedSimulator, SimulatorConfig, load_or_fit
from musicgym.simulator.inputs import PackedSessions
from musicgym.simulator.response import ResponseConfig
from musicgym.simulator.sampler import SessionSampler


@dataclass(frozen=True)
class SimulatorBundle:
    """The fitted simulator with the pieces an env steps on."""

    simulator: FittedSimulator
    response: NumpyResponse
    """The response model's fast inference, which the env steps on."""
    sampler: SessionSampler
    decoder: ActionDecoder
    vectors: np.ndarray
    """Action-space (unit box) vector of every simulator row; the unknown row is zeros."""
    track_ids: np.ndarray
    """Track id of every simulator row; the unknown row is ''."""
    box_scale: float


def _unit_box(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale vectors by one number so every coordinate lies in [-1, 1]."""
    top = float(np.abs(matrix).max()) if matrix.size else 1.0
    scale = 1.0 / top if top > 0 else 1.0
    return (matrix * scale).astype(np.float32), scale


@functools.lru_cache(maxsize=8)
def load_bundle(config: EnvConfig) -> SimulatorBundle:
    """Build (once per process) the simulator bundle for `config`."""
    dataset = load_dataset(config.data)
    sim_config = SimulatorConfig(response=ResponseConfig(seed=config.seed),
                                 split=SplitSpec(train_half=config.simulator_half))
    simulator = load_or_fit(dataset, sim_config, progress=False)
    labels = dataset.split_labels(sim_config.split)
    log = dataset.log()
    starts = log[labels[log["session_idx"].to_numpy()] == config.sessions]
    sampler = SessionSampler(PackedSessions.from_log(starts), config.history_fraction)
    plays = simulator.response.stats.plays[: len(simulator.embeddings)]
    rows = np.flatnonzero((plays >= config.min_plays) & ~simulator.embeddings.fallback)
    if len(rows) < config.slate_size + 20:
        raise ValueError(f"only {len(rows)} tracks have at least min_plays={config.min_plays} "
                         "training plays; lower min_plays or use a larger log")
    matrix, scale = _unit_box(simulator.embeddings.matrix[rows])
    vectors = np.zeros((len(simulator.embeddings) + 1, simulator.embeddings.dim), np.float32)
    vectors[:-1] = simulator.embeddings.matrix * scale
    vectors = np.clip(vectors, -1.0, 1.0)
    ids = np.append(np.asarray(simulator.embeddings.ids, dtype=object), "")
    decoder = ActionDecoder(matrix, rows, config.decoding)
    return SimulatorBundle(simulator, NumpyResponse(simulator.response), sampler, decoder,
                           vectors, ids, scale)
