"""The observable Bayes reference: exactness, learning from outcomes and picks, seeding, report."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH
from musicgym.datasets import load_dataset
from musicgym.simulator import metrics
from musicgym.simulator.report import build_report, write_report
from musicgym.synthetic.bayes import (
    GeneratorTruth,
    ObservedSessions,
    PickTable,
    bayes_p_skip2,
    posterior_predictive,
)
from musicgym.synthetic.catalog import play_scores
from musicgym.synthetic.generator import SyntheticConfig, generate
from musicgym.synthetic.parameters import GroundTruthParameters


def _generated(root: Path, params: GroundTruthParameters, seed: int = 5):
    """A small generated set: (its folder, prepared log, true P(skip_2) per log row)."""
    data = generate(SyntheticConfig(n_sessions=400, n_tracks=600, seed=seed, params=params), root)
    log = load_dataset(data.log_dir, data.track_features).log()
    truth = pd.read_parquet(data.ground_truth)
    merged = log[["session_id", "session_position"]].merge(
        truth, on=["session_id", "session_position"], how="left")
    return data.root, log, merged["p_skip_2"].to_numpy(np.float64)


@pytest.fixture(scope="module")
def default_set(tmp_path_factory: pytest.TempPathFactory):
    return _generated(tmp_path_factory.mktemp("bayes") / "synthetic", GroundTruthParameters())


def test_play_scores_by_hand() -> None:
    # shares 0.5, 0.3, 0.2: mid-rank cumulative shares 0.25, 0.65, 0.9 -> -Phi^-1 of each
    expected = np.array([0.6744898, -0.3853205, -1.2815516], np.float32)
    np.testing.assert_allclose(play_scores(np.array([0.5, 0.3, 0.2])), expected, rtol=1e-6)
    np.testing.assert_allclose(play_scores(np.array([0.2, 0.5, 0.3])), expected[[2, 0, 1]],
                               rtol=1e-6)


def test_without_session_latents_it_is_the_true_model(tmp_path: Path) -> None:
    # no mood and no taste effect on skips: the observable posterior is the true probability
    params = GroundTruthParameters(session_effect_std=0.0, match_weight=0.0)
    root, log, truth = _generated(tmp_path / "synthetic", params)
    p = bayes_p_skip2(root, log, np.random.default_rng(0), draws=64)
    np.testing.assert_allclose(p, truth, atol=2e-6)


def _hand_sessions(outcome: int) -> tuple[GeneratorTruth, ObservedSessions]:
    """Two identical sessions of one track 20 times, every outcome `outcome` (mood only matters)."""
    params = GroundTruthParameters(match_weight=0.0, history_weight=0.0,
                                   position_effects=(0.0,) * MAX_SESSION_LENGTH)
    rng = np.random.default_rng(0)
    popularity = np.full(10, 0.1)
    truth = GeneratorTruth(params, pd.Index([f"t{i}" for i in range(10)]),
                           rng.standard_normal((10, 8)).astype(np.float32),
                           play_scores(popularity), popularity)
    shape = (2, MAX_SESSION_LENGTH)
    obs = ObservedSessions(
        track=np.zeros(shape, np.int64),
        context=np.full(shape, CONTEXT_TYPES.index("catalog")), outcome=np.full(shape, outcome),
        mask=np.ones(shape, bool), premium=np.zeros(2), shuffle=np.zeros(2), hour=np.zeros(2))
    return truth, obs


def test_skips_raise_and_listens_lower_the_predictive_skip_probability() -> None:
    truth, skips = _hand_sessions(0)
    _, listens = _hand_sessions(3)
    up = posterior_predictive(truth, skips, np.random.default_rng(0), draws=4096)
    down = posterior_predictive(truth, listens, np.random.default_rng(0), draws=4096)
    up, down = up.reshape(2, -1)[0], down.reshape(2, -1)[0]
    assert up[0] == pytest.approx(down[0])  # same prior predictive before any outcome
    assert np.all(np.diff(up) > 0) and np.all(np.diff(down) < 0)
    assert up[-1] > up[0] + 0.15 and down[-1] < down[0] - 0.15


def test_seeded(default_set) -> None:
    root, log, _ = default_set
    a = bayes_p_skip2(root, log, np.random.default_rng(3), draws=128)
    b = bayes_p_skip2(root, log, np.random.default_rng(3), draws=128)
    c = bayes_p_skip2(root, log, np.random.default_rng(4), draws=128)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.abs(a - c).mean() < 0.1  # Monte Carlo noise of 128 draws: ~0.06 a row


def test_does_not_read_the_session_latents(default_set, tmp_path: Path) -> None:
    # the per-session latents exist only through ground_truth.parquet: without it, same result
    root, log, _ = default_set
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    (copy / "ground_truth.parquet").unlink()
    np.testing.assert_array_equal(bayes_p_skip2(root, log, np.random.default_rng(0), draws=64),
                                  bayes_p_skip2(copy, log, np.random.default_rng(0), draws=64))


def test_calibrated_only_with_the_picks_and_below_the_oracle(default_set) -> None:
    # E[posterior predictive] = E[true probability]; ignoring what the played tracks say about
    # the taste (user_collection picks tracks close to it, which are skipped less) breaks that
    root, log, truth = default_set
    gen = GeneratorTruth.from_dir(root)
    obs = ObservedSessions.from_log(log, gen)
    with_picks = posterior_predictive(gen, obs, np.random.default_rng(0), draws=512)
    outcomes_only = posterior_predictive(gen, obs, np.random.default_rng(0), draws=512,
                                         picks=False)
    assert abs(with_picks.mean() - truth.mean()) < 0.01
    assert outcomes_only.mean() - truth.mean() > 0.02
    y = log["outcome"].to_numpy() <= 1
    assert 0.6 < metrics.roc_auc(with_picks, y) < metrics.roc_auc(truth, y)
    assert metrics.log_loss(with_picks, y) < metrics.log_loss(outcomes_only, y)


def test_pick_table_matches_direct_simulation() -> None:
    table = PickTable.build(np.random.default_rng(0), n_candidates=8)
    xi = np.random.default_rng(1).standard_normal((200_000, 7))
    for a, s in ((0.0, 0.0), (1.3, 0.7), (-2.1, 1.9), (4.0, 3.3)):
        direct = np.mean(1.0 / (1.0 + np.exp(-a) * np.exp(s * xi).sum(axis=1)))
        assert np.exp(table(np.array(a), np.array(s))) == pytest.approx(direct, rel=0.03)
    assert np.exp(table(np.array(0.0), np.array(0.0))) == pytest.approx(1 / 8)


def test_report_shows_both_gaps(tmp_path: Path) -> None:
    rollout = {"sim": metrics.rollout_stats(np.zeros(2, int), np.array([1, 2]), np.array([0, 3])),
               "real": metrics.rollout_stats(np.zeros(2, int), np.array([1, 2]),
                                             np.array([0, 3]))}
    figures = dict.fromkeys(("maa", "first_prediction_accuracy", "log_loss", "auc", "ece"), 0.5)
    synthetic = {"auc": 0.768, "oracle_auc": 0.834, "bayes_auc": 0.777}
    report = build_report({"model": figures}, rollout, synthetic, {})
    assert report["synthetic"]["bayes_gap"] == pytest.approx(0.009)
    assert report["synthetic"]["auc_gap"] == pytest.approx(0.066)
    write_report(tmp_path, {"model": figures}, rollout, synthetic, {})
    text = (tmp_path / "report.md").read_text()
    assert "PASS: synthetic AUC gap to the observable Bayes reference = 0.0090" in text
    assert "reference: synthetic AUC gap to the true model = 0.0660" in text
    assert "latent taste" in text
    older = {k: v for k, v in synthetic.items() if k != "bayes_auc"}
    assert "bayes_gap" not in build_report({"model": figures}, rollout, older, {})["synthetic"]
