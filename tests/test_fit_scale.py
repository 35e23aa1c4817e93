"""Fitting at scale: the log streamed into packed sessions, the training bounds, the device."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from musicgym.simulator import fitting
from musicgym.simulator.fitting import SimulatorConfig, fit_simulator, pack_splits
from musicgym.simulator.inputs import BEHAVIOUR_COLUMNS, PACK_COLUMNS, PackedSessions, pack_stream
from musicgym.simulator.response_model import _bounded
from musicgym.simulator.response_net import ResponseConfig
from musicgym.synthetic.generator import SyntheticConfig

from .conftest import generated_dataset

TINY = SimulatorConfig(embedding_dim=4, response=ResponseConfig(hidden=8, epochs=2, seed=0))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    return generated_dataset(tmp_path_factory, "scale",
                             SyntheticConfig(n_sessions=300, n_tracks=500, seed=5))


def _columns(dataset) -> list[str]:
    return sorted({*PACK_COLUMNS, *BEHAVIOUR_COLUMNS})


@pytest.mark.parametrize("batch_rows", [13, 10**7])
def test_streamed_packing_equals_packing_the_frame(dataset, batch_rows: int) -> None:
    log = dataset.log(_columns(dataset))
    labels = dataset.split_labels()
    split = labels[log["session_idx"].to_numpy()]
    groups = np.select([labels == "validation", labels == "train"], [0, 1], -1)
    streamed = pack_stream(dataset.iter_log(_columns(dataset), batch_rows), groups, 2)
    for got, name in zip(streamed, ("validation", "train"), strict=True):
        rows = log[split == name]
        want = PackedSessions.from_log(rows)
        assert len(got.sessions) == rows["session_idx"].nunique() > 20
        for field in want.__dataclass_fields__:
            a, b = getattr(want, field), getattr(got.sessions, field)
            assert a.dtype == b.dtype and np.array_equal(a, b), field
        np.testing.assert_array_equal(got.skip_2[got.sessions.mask], rows["skip_2"].to_numpy())


def _frame(sessions: list[int], lengths: list[int]) -> pd.DataFrame:
    """A hostile little log: sessions given by their index and row count, in order."""
    session = np.repeat(sessions, lengths)
    position = np.concatenate([np.arange(1, n + 1) for n in lengths])
    n = len(session)
    return pd.DataFrame({"session_idx": session.astype(np.int32), "session_position": position,
                         "track_idx": np.arange(n) % 7, "skip_2": np.arange(n) % 2 == 0,
                         "outcome": np.arange(n) % 4, "premium": True,
                         "hist_user_behavior_is_shuffle": False, "context_type": "radio",
                         "hour_of_day": 23, "session_length": np.repeat(lengths, lengths)})


def test_sessions_straddle_batches_and_absent_sessions_are_dropped() -> None:
    log = _frame([0, 2, 3], [5, 20, 3])  # session 1 is labelled but has no rows
    batches = [log.iloc[:7], log.iloc[7:8], log.iloc[8:]]  # session 2 spans all three
    (packed,) = pack_stream(batches, np.array([0, 0, 0, 0]), 1)
    assert packed.sessions.session_idx.tolist() == [0, 2, 3]
    assert packed.sessions.mask.sum(axis=1).tolist() == [5, 20, 3]
    assert packed.sessions.positions[1].tolist() == list(range(1, 21))
    assert packed.sessions.tracks[1].tolist() == [(5 + k) % 7 for k in range(20)]
    assert packed.sessions.behaviour.sum() == 0  # no behaviour columns: all unknown
    np.testing.assert_allclose(packed.sessions.context[:, -1], [0.25, 1.0, 0.15])


def test_hostile_logs_are_refused(dataset) -> None:
    with pytest.raises(ValueError, match="a session has 21 rows; at most 20"):
        pack_stream([_frame([0], [15]), _frame([0], [6])], np.array([0]), 1)
    with pytest.raises(ValueError, match="session_idx 5 has no split label"):
        pack_stream([_frame([5], [2])], np.array([0, 0]), 1)
    with pytest.raises(ValueError, match=r"batch_rows \(0\) must be at least 1"):
        next(iter(dataset.iter_log(["session_idx"], 0)))


def test_bounded_sample_is_seeded_and_ordered(dataset) -> None:
    (packed,) = pack_splits(dataset, TINY.split, ("train",))
    sessions = packed.sessions
    assert _bounded(sessions, len(sessions), 0) is sessions
    a, b = _bounded(sessions, 50, 0), _bounded(sessions, 50, 0)
    assert len(a) == 50 and np.array_equal(a.session_idx, b.session_idx)
    assert np.all(np.diff(a.session_idx) > 0) and set(a.session_idx) < set(sessions.session_idx)
    assert not np.array_equal(a.session_idx, _bounded(sessions, 50, 1).session_idx)


def _weights(simulator) -> dict[str, torch.Tensor]:
    return simulator.response.net.state_dict()


def test_bounds_change_the_fit_and_its_key_only_when_they_bind(dataset) -> None:
    plain = fit_simulator(dataset, TINY, progress=False, device="cpu")
    again = fit_simulator(dataset, TINY, progress=False)  # the default device here is cpu
    for name, value in _weights(plain).items():
        assert torch.equal(value, _weights(again)[name]), name
    assert next(plain.response.net.parameters()).device.type == "cpu"
    loose = SimulatorConfig(embedding_dim=4, response=ResponseConfig(
        hidden=8, epochs=2, seed=0, max_epoch_sessions=10**6, max_val_sessions=10**6))
    tight = SimulatorConfig(embedding_dim=4, response=ResponseConfig(
        hidden=8, epochs=2, seed=0, max_epoch_sessions=64, max_val_sessions=16))
    assert fitting.cache_folder(dataset, loose) == fitting.cache_folder(dataset, TINY)
    assert fitting.cache_folder(dataset, tight) != fitting.cache_folder(dataset, TINY)
    assert "max_epoch_sessions" not in TINY.to_dict()["response"]
    assert tight.to_dict()["response"]["max_val_sessions"] == 16
    bounded = fit_simulator(dataset, tight, progress=False)
    changed = [n for n, v in _weights(plain).items() if not torch.equal(v, _weights(bounded)[n])]
    assert "head.0.weight" in changed


def test_a_gpu_fit_has_its_own_cache_key(dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = fitting.cache_folder(dataset, TINY)
    assert fitting.cache_folder(dataset, TINY, "cpu") == cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert fitting.cache_folder(dataset, TINY, "cuda") != cpu
    assert fitting.cache_folder(dataset, TINY, "cpu") == cpu
    with pytest.raises(ValueError, match=r"device \('tpu'\)"):
        fitting.load_or_fit(dataset, TINY, progress=False, device="tpu")


def test_bootstrap_counts_each_drawn_session_as_often_as_drawn(dataset) -> None:
    config = SimulatorConfig(embedding_dim=4, bootstrap=True,
                             response=ResponseConfig(hidden=8, epochs=1, seed=4))
    fitted = fit_simulator(dataset, config, progress=False)
    train = dataset.log(["session_idx", "track_idx", "skip_2"], split="train")
    sessions = train["session_idx"].unique()
    pick = np.random.default_rng(4).integers(len(sessions), size=len(sessions))
    drawn = np.bincount(pick, minlength=len(sessions))  # times each session was drawn
    weight = drawn[np.searchsorted(sessions, train["session_idx"].to_numpy())]
    rows = len(dataset.track_ids) + 1
    plays = np.bincount(train["track_idx"], weights=weight, minlength=rows)
    skips = np.bincount(train["track_idx"], weights=weight * train["skip_2"], minlength=rows)
    np.testing.assert_array_equal(fitted.response.stats.plays, plays.astype(np.float32))
    np.testing.assert_array_equal(fitted.response.stats.skips, skips.astype(np.float32))
    assert plays.sum() == weight.sum() != len(train)  # a resample, not the sessions once each
