"""Options that shrink per-track effects toward what the data support (decision fidelity)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from musicgym.datasets import load_dataset
from musicgym.simulator import fitting
from musicgym.simulator.fitting import SimulatorConfig, fit_simulator
from musicgym.simulator.numpy_response import NumpyResponse
from musicgym.simulator.response_net import ResponseConfig
from musicgym.synthetic.generator import SyntheticConfig, generate

SMALL = SimulatorConfig(embedding_dim=8, response=ResponseConfig(hidden=16, epochs=2, seed=0))


def with_options(**options: float) -> SimulatorConfig:
    return dataclasses.replace(SMALL, response=dataclasses.replace(SMALL.response, **options))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("shrink") / "synthetic"
    generate(SyntheticConfig(n_sessions=400, n_tracks=500, seed=5), root)
    return load_dataset(root)


def test_default_options_change_neither_the_fit_nor_its_cache_key(dataset) -> None:
    plain = fit_simulator(dataset, SMALL, progress=False)
    spelled = fit_simulator(dataset, with_options(track_weight_decay=0.0, embedding_shrink=0.0),
                            progress=False)
    for name, value in plain.response.net.state_dict().items():
        assert torch.equal(value, spelled.response.net.state_dict()[name]), name
    key = fitting._key_fields(SMALL)
    assert "bootstrap" not in key and "track_weight_decay" not in key["response"]
    assert fitting._key_fields(with_options(embedding_shrink=30.0))["response"][
        "embedding_shrink"] == 30.0


def test_track_weight_decay_shrinks_track_effects(dataset) -> None:
    plain = fit_simulator(dataset, SMALL, progress=False)
    shrunk = fit_simulator(dataset, with_options(track_weight_decay=0.3), progress=False)
    norm = [float(s.response.net.track_weights().detach().norm()) for s in (plain, shrunk)]
    assert norm[1] < 0.9 * norm[0]  # two epochs: the penalty has only begun to pull


def test_embedding_shrink_pulls_rare_tracks_together_and_survives_save_load(dataset,
                                                                           tmp_path) -> None:
    simulator = fit_simulator(dataset, with_options(embedding_shrink=30.0), progress=False)
    plain = fit_simulator(dataset, SMALL, progress=False)
    plays = simulator.response.stats.plays[:-1]
    rare, common = np.argmin(plays), np.argmax(plays)
    norms = [s.response.net.embeddings.norm(dim=1).numpy() for s in (simulator, plain)]
    # a track keeps plays / (plays + 30) of its vector: the rare one loses more
    assert norms[0][rare] / max(norms[1][rare], 1e-9) < norms[0][common] / norms[1][common]
    simulator.save(tmp_path / "sim")
    loaded = fitting.FittedSimulator.load(tmp_path / "sim")
    assert loaded.config.response.embedding_shrink == 30.0
    context = np.zeros((2, simulator.response.net.initial[0].in_features), np.float32)
    rows = np.array([rare, common])
    probs = [NumpyResponse(m.response).probs(NumpyResponse(m.response).initial_state(context),
                                             rows, context, np.array([1, 5]), np.array([10, 12]))
             for m in (simulator, loaded)]
    np.testing.assert_allclose(probs[0], probs[1], atol=1e-6)
