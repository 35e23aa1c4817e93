"""`world="truth"`: the generator's own users answer, exactly as they answered in the logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicgym.data.dataset import PreparedDataset
from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH, p_listened
from musicgym.datasets import load_dataset
from musicgym.simulator.inputs import PackedSessions, encode_context
from musicgym.simulator.truth_world import truth_world
from musicgym.simulator.user_model import World
from musicgym.synthetic.dataset import synthetic_root
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[PreparedDataset, World]:
    """A small generated set (two chunks, so the replay crosses a chunk), prepared, its world."""
    root = tmp_path_factory.mktemp("truth") / "synthetic"
    config = SyntheticConfig(n_sessions=600, n_tracks=2000, seed=11, chunk_sessions=400)
    dataset = load_dataset(generate(config, root).root)
    return dataset, truth_world(dataset)


def _teacher_forced(dataset: PreparedDataset, world: World) -> tuple[pd.DataFrame, np.ndarray]:
    """The truth model's probabilities [rows, 4] for every logged row given its logged history."""
    log = dataset.log()
    packed = PackedSessions.from_log(log)
    model = world.members[0]
    rows = world.rows(dataset.track_ids[packed.tracks].ravel()).reshape(packed.tracks.shape)
    state = model.initial_state(packed.context, packed.session_idx)
    out = np.zeros((*packed.tracks.shape, 4))
    for t in range(MAX_SESSION_LENGTH):
        out[:, t] = model.probs(state, rows[:, t], packed.context, np.full(len(packed), t + 1),
                                packed.session_length)
        state = model.observe(state, rows[:, t], packed.outcomes[:, t], packed.context)
    return log, out[packed.mask]


def test_teacher_forced_probabilities_are_the_ground_truth(generated) -> None:
    dataset, world = generated
    log, probs = _teacher_forced(dataset, world)
    root = synthetic_root(dataset)
    truth = log[["session_id", "session_position"]].merge(
        pd.read_parquet(root / "ground_truth.parquet"), on=["session_id", "session_position"],
        how="left")
    switched = log.groupby("session_idx")["context_switch"].transform("any").to_numpy()
    assert 0 < switched.mean() < 0.9
    cumulative = np.cumsum(probs, axis=1)[:, :3]
    expected = truth[["p_skip_1", "p_skip_2", "p_skip_3"]].to_numpy(np.float64)
    np.testing.assert_allclose(cumulative[~switched], expected[~switched], atol=2e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    listened = ~log["skip_2"].to_numpy(bool)
    assert abs(p_listened(probs).mean() - listened.mean()) < 0.01


def test_rows_map_generator_ids_and_unknown_tracks_are_average(generated) -> None:
    dataset, world = generated
    ids = np.asarray(world.track_ids)
    assert len(ids) == 2000
    np.testing.assert_array_equal(world.rows(ids[[5, 0, 1999]]), [5, 0, 1999])
    assert world.rows(np.array(["t_not-a-track", ""], dtype=object)).tolist() == [2000, 2000]
    model = world.members[0]
    context = encode_context(np.zeros(2), np.zeros(2), np.array(["catalog"] * 2), np.zeros(2),
                             np.full(2, 10))
    state = model.initial_state(context, np.array([0, 1]))
    unknown = model.probs(state, np.full(2, world.unknown_row), context, np.full(2, 3),
                          np.full(2, 10))
    # an average track: taste match 0, popularity score 0; history 1/2 at the start, hour 0
    p = model.params
    eta = (model.mood[[0, 1]] + p.position_effects[2]
           + p.context_effects[CONTEXT_TYPES.index("catalog")]
           + p.hour_effect * np.cos(2 * np.pi * -3 / 24))
    cumulative = 1 / (1 + np.exp(-(np.asarray(p.cut_points)[None, :] + eta[:, None])))
    np.testing.assert_allclose(np.cumsum(unknown, axis=1)[:, :3], cumulative, atol=1e-6)
    assert not np.allclose(unknown[0], unknown[1])  # two users, two moods


def test_contexts_move_the_answer_as_the_generator_says(generated) -> None:
    _, world = generated
    model, n = world.members[0], len(CONTEXT_TYPES)
    context = encode_context(np.zeros(n), np.zeros(n), np.array(CONTEXT_TYPES), np.full(n, 3),
                             np.full(n, 10))
    state = model.initial_state(context, np.zeros(n, np.int64))
    probs = model.probs(state, np.zeros(n, np.int64), context, np.full(n, 5), np.full(n, 10))
    logit = np.log(probs[:, 0] / (1 - probs[:, 0]))
    effects = np.asarray(model.params.context_effects)
    np.testing.assert_allclose(logit - logit[0], effects - effects[0], atol=1e-9)


def test_sessions_need_a_logged_origin(generated) -> None:
    _, world = generated
    context = encode_context(np.zeros(1), np.zeros(1), np.array(["radio"]), np.zeros(1),
                             np.full(1, 10))
    with pytest.raises(ValueError, match="session_idx"):
        world.members[0].initial_state(context)
    with pytest.raises(ValueError, match="session_idx must lie in 0..599"):
        world.members[0].initial_state(context, np.array([600]))


def test_non_synthetic_data_is_refused(tmp_path: Path, generated) -> None:
    dataset, _ = generated
    log = dataset.to_mssd()
    path = tmp_path / "plain.parquet"
    log[log["session_id"].isin(log["session_id"].unique()[:50])].to_parquet(path)
    plain = load_dataset(path)  # the same kind of rows, but no generated set behind them
    with pytest.raises(ValueError, match="world='truth' needs data made by musicgym generate.*"
                       + str(plain.path)):
        truth_world(plain)
