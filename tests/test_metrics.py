"""Fidelity metrics and the fidelity report, against figures computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from musicgym.simulator import metrics as m
from musicgym.simulator.report import (
    PREDICTOR_KEYS,
    build_report,
    headline_table,
    position_ticks,
    skip_rate_figure,
    write_report,
)
from musicgym.simulator.targets import verdict_lines, verdicts

from .conftest import REAL_LOG


def test_average_accuracy_of_one_session_by_hand():
    # correct = [1, 0, 1, 0]: AA = (1*1/1 + 0 + 1*2/3 + 0) / 4 = 5/12
    maa, first = m.mean_average_accuracy(np.array([1, 1, 1, 0]), np.array([1, 0, 1, 1]),
                                         np.zeros(4, int))
    assert maa == pytest.approx(5 / 12)
    assert first == 1.0


def test_mean_average_accuracy_averages_sessions():
    # second session: correct = [0, 1] -> AA = (0 + 1*1/2) / 2 = 1/4
    pred = np.array([1, 1, 1, 0, 1, 0], bool)
    truth = np.array([1, 0, 1, 1, 0, 0], bool)
    session = np.array([7, 7, 7, 7, 3, 3])
    maa, first = m.mean_average_accuracy(pred, truth, session)
    assert maa == pytest.approx((5 / 12 + 1 / 4) / 2)
    assert first == pytest.approx(0.5)


def test_roc_auc_by_hand_and_on_constant_predictions():
    # positives 0.35, 0.8 against negatives 0.1, 0.4: 3 of 4 pairs ordered right
    assert m.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert m.roc_auc(np.full(6, 0.3), np.array([0, 1, 0, 1, 1, 0])) == 0.5
    assert m.roc_auc(np.array([0.2, 0.7, 0.7]), np.array([0, 0, 1])) == pytest.approx(0.75)
    assert np.isnan(m.roc_auc(np.array([0.2, 0.7]), np.array([1, 1])))


def test_expected_calibration_error():
    calibrated_p = np.r_[np.full(4, 0.25), np.full(4, 0.75)]
    calibrated_y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert m.expected_calibration_error(calibrated_p, calibrated_y) == pytest.approx(0.0)
    # half the rows at 0.9 with 6/10 positive (gap 0.3), half at 0.1 with none (gap 0.1)
    p = np.r_[np.full(10, 0.9), np.full(10, 0.1)]
    y = np.r_[np.ones(6), np.zeros(14)]
    assert m.expected_calibration_error(p, y) == pytest.approx(0.2)
    diagram = m.reliability_diagram(p, y, bins=10)
    assert diagram["count"].sum() == 20 and diagram["count"][9] == 10
    assert diagram["observed"][9] == pytest.approx(0.6)
    assert np.isnan(diagram["observed"][5])


def test_log_loss():
    assert m.log_loss(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(np.log(2))
    assert m.log_loss(np.array([1.0]), np.array([0])) == pytest.approx(-np.log(1e-6))


def test_challenge_mask_predicts_second_halves():
    for length, first in ((10, 6), (11, 6), (20, 11)):
        position = np.arange(1, length + 1)
        mask = m.challenge_mask(position, np.full(length, length))
        assert np.array_equal(np.flatnonzero(mask) + 1, np.arange(first, length + 1))


def test_challenge_mask_uses_rows_present_of_a_cut_session():
    position = np.arange(1, 12)  # logged as 20 tracks long, 11 rows present
    mask = m.challenge_mask(position, np.full(11, 20), session=np.zeros(11, int))
    assert np.array_equal(np.flatnonzero(mask) + 1, np.arange(6, 12))


def _tiny_log() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two sessions: lengths 4 (history skip, listen) and 6 (history skip, listen, listen)."""
    session = np.array([0] * 4 + [1] * 6)
    position = np.r_[np.arange(1, 5), np.arange(1, 7)]
    length = np.r_[np.full(4, 4), np.full(6, 6)]
    skip_2 = np.array([1, 0, 1, 1, 1, 0, 0, 1, 1, 0], bool)
    return session, position, length, skip_2


def test_reference_predictors_by_hand():
    log = _tiny_log()
    assert np.array_equal(m.always_skip(*log), np.ones(5))
    assert np.array_equal(m.repeat_last(*log), [0, 0, 0, 0, 0])
    # session 0's history ties (1 of 2 skipped): skipped; session 1's has 1 of 3: listened
    assert np.array_equal(m.first_half_majority(*log), [1, 1, 0, 0, 0])


def test_predictor_metrics_keys_and_values():
    session, position, length, skip_2 = _tiny_log()
    mask = m.challenge_mask(position, length, session)
    out = m.predictor_metrics(m.always_skip(session, position, length, skip_2), skip_2[mask],
                              session[mask])
    assert set(out) == set(PREDICTOR_KEYS)
    # truth [1, 1] and [1, 1, 0]: AA 1 and (1 + 1 + 0) / 3
    assert out["maa"] == pytest.approx((1 + 2 / 3) / 2)
    assert out["first_prediction_accuracy"] == 1.0
    assert out["auc"] == 0.5


def _two_sessions() -> dict:
    # session 5: classes 0, 3, 1, 1 (skip, listen, skip, skip); session 2: 3, 3, 2 (no skips)
    session = np.array([5, 5, 5, 5, 2, 2, 2])
    position = np.array([1, 2, 3, 4, 1, 2, 3])
    outcome = np.array([0, 3, 1, 1, 3, 3, 2])
    order = np.array([6, 0, 3, 4, 2, 5, 1])  # any row order
    return m.rollout_stats(session[order], position[order], outcome[order])


def test_rollout_stats_by_hand():
    stats = _two_sessions()
    # after a skip: skip->listen, skip->skip; after a listen: listen->skip, then two listen->listen
    assert stats["p_skip_after_skip"] == pytest.approx(1 / 2)
    assert stats["p_skip_after_listen"] == pytest.approx(1 / 3)
    assert np.allclose(stats["skip_rate_by_position"][:4], [0.5, 0.0, 0.5, 1.0])
    assert np.isnan(stats["skip_rate_by_position"][4:]).all()
    assert list(stats["outcome_mix"].values()) == pytest.approx([1 / 7, 2 / 7, 1 / 7, 3 / 7])
    assert stats["mean_skips_per_session"] == 1.5
    assert stats["skips_per_session"][[0, 3]] == pytest.approx([0.5, 0.5])
    assert stats["sessions"] == 2 and stats["rows"] == 7


def test_compare_rollouts_gaps():
    real = _two_sessions()
    sim = m.rollout_stats(np.zeros(4, int), np.arange(1, 5), np.array([1, 1, 1, 3]))
    gaps = m.compare_rollouts(sim, real, min_rows=2)  # positions 1-3 have 2 real rows
    assert gaps["max_skip_rate_gap"] == pytest.approx(1.0)  # position 2: 1 against 0
    assert gaps["p_skip_after_skip_gap"] == pytest.approx(abs(2 / 3 - 1 / 2))
    assert gaps["max_mix_gap"] == pytest.approx(abs(0.75 - 2 / 7))
    assert gaps["mean_skips_per_session_gap"] == pytest.approx(1.5)
    assert m.compare_rollouts(real, real)["skips_per_session_tv"] == 0.0


def test_write_report_files_and_keys(tmp_path):
    session, position, length, skip_2 = _tiny_log()
    mask = m.challenge_mask(position, length, session)
    truth, sessions = skip_2[mask], session[mask]
    predictors = {name: m.predictor_metrics(f(session, position, length, skip_2), truth, sessions)
                  for name, f in m.REFERENCES.items()}
    p_model = np.array([0.7, 0.6, 0.4, 0.3, 0.2])
    predictors["model"] = m.predictor_metrics(p_model, truth, sessions)
    real = _two_sessions()
    returned = write_report(tmp_path / "out", predictors, {"sim": real, "real": real},
                         {"auc": 0.70, "oracle_auc": 0.71, "correlation": 0.9},
                         {"seed": np.int64(3)}, reliability=m.reliability_diagram(p_model, truth))
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text())
    assert set(report) == {"predictors", "rollout", "synthetic", "decisions", "meta"}
    assert report["decisions"] is None  # not measured here
    assert set(report["predictors"]) == {"model", "always_skip", "repeat_last",
                                         "first_half_majority"}
    assert all(set(v) == set(PREDICTOR_KEYS) for v in report["predictors"].values())
    assert returned == report
    assert set(report["rollout"]) == {"sim", "real", "gaps", "checks",
                                      "teacher_forced_by_position"}
    assert report["rollout"]["real"]["skip_rate_by_position"][5] is None  # NaN became null
    assert report["synthetic"]["auc_gap"] == pytest.approx(0.01)
    assert report["meta"]["seed"] == 3
    markdown = (out / "report.md").read_text()
    # model MAA (1 + 1/9) / 2 against always_skip's (1 + 2/3) / 2
    assert ("- FAIL: model MAA = 0.5556 (target >= 0.8333: the best reference predictor, "
            "always_skip)") in markdown
    assert "- reference: synthetic AUC gap to the true model = 0.0100 (not a target" in markdown
    assert "Why these targets" in markdown and "### Skip rate by position" in markdown
    assert len(list(out.glob("*.png"))) == 4
    assert headline_table(report["predictors"]).splitlines()[2].startswith("| model |")
    assert not list(out.glob(".*"))  # no temporary files left behind


@pytest.mark.skipif(not REAL_LOG.exists(), reason=f"real MSSD sample not found at {REAL_LOG}")
def test_reference_figures_on_the_real_sample():
    log = pd.read_csv(REAL_LOG, usecols=["session_id", "session_position", "session_length",
                                         "skip_2"])
    log = log.sort_values(["session_id", "session_position"]).reset_index(drop=True)
    session = pd.factorize(log["session_id"])[0]
    position = log["session_position"].to_numpy()
    length = log["session_length"].to_numpy()
    skip_2 = log["skip_2"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
    mask = m.challenge_mask(position, length, session)
    expected = {"always_skip": (0.415, 0.545), "repeat_last": (0.531, 0.736)}
    for name, (maa, first) in expected.items():
        p = m.REFERENCES[name](session, position, length, skip_2)
        got = m.mean_average_accuracy(p >= 0.5, skip_2[mask], session[mask])
        assert got == pytest.approx((maa, first), abs=1e-3), name


def test_clustered_share_se_by_hand():
    # shares of class 0 over sessions of (2 of 2) and (0 of 2) rows: 0.5; residuals 1 and -1;
    # se = sqrt(2 / 1 * (1 + 1)) / 4 = 0.5
    stats = m.rollout_stats(np.array([0, 0, 1, 1]), np.array([1, 2, 1, 2]),
                            np.array([0, 0, 3, 3]))
    assert stats["outcome_mix_se"]["skip_1"] == pytest.approx(0.5)
    assert stats["outcome_mix_se"]["skip_2_only"] == 0.0


def test_simultaneous_z():
    assert m.simultaneous_z(1) == pytest.approx(1.95996, abs=1e-4)
    assert m.simultaneous_z(20) == pytest.approx(3.0160, abs=1e-3)
    with pytest.raises(ValueError, match="tests"):
        m.simultaneous_z(0)


def test_worst_gap_weighs_gaps_by_their_noise():
    # gap 0.05 with se 0.02 (allowance 2.24 * 0.02 = 0.0448) is worse than 0.06 with se 0.05
    worst = m.worst_gap(np.array([0.06, -0.05, np.nan]), np.array([0.05, 0.02, 0.0]), 0.03)
    z = m.simultaneous_z(2)
    assert worst["index"] == 1 and worst["gap"] == pytest.approx(0.05)
    assert worst["allowance"] == pytest.approx(z * 0.02) and worst["z_crit"] == z
    # the tolerance is the floor of the allowance
    assert m.worst_gap(np.array([0.01]), np.array([0.001]), 0.03)["allowance"] == 0.03
    assert m.worst_gap(np.array([np.nan]), np.array([0.1]), 0.03) is None


def _position_stats(rate: list[float], rows: int) -> dict:
    """rollout_stats-like figures: skip rate by position over `rows` sessions per position."""
    return {"skip_rate_by_position": np.array(rate), "rows_by_position": np.full(len(rate), rows)}


def test_skip_rate_check_uses_binomial_noise():
    real = _position_stats([0.5, 0.5, 0.5], 400)
    sim = _position_stats([0.55, 0.5, 0.48], 4000)
    check = m.skip_rate_check(sim, real)
    se = np.sqrt(0.25 / 400 + 0.55 * 0.45 / 4000)
    assert check["position"] == 1 and check["real_rows"] == 400
    assert check["gap"] == pytest.approx(0.05) and check["se"] == pytest.approx(se)
    assert check["allowance"] == pytest.approx(m.simultaneous_z(3) * se)  # about 0.065
    # with 100 times the sessions, the same gap is far outside the noise and the 0.03 tolerance
    many = m.skip_rate_check(_position_stats([0.55, 0.5, 0.48], 400_000),
                             _position_stats([0.5, 0.5, 0.5], 40_000))
    assert many["allowance"] == 0.03
    # positions with fewer than min_rows real rows are left out
    assert m.skip_rate_check(sim, _position_stats([0.5, 0.5, 0.5], 20)) is None


def _figures() -> dict:
    """A constructed report: model, two references, rollout checks, synthetic and decisions."""
    rollout = {"checks": {
        "skip_rate": {"position": 7, "gap": 0.0512, "allowance": 0.0703, "z_crit": 3.016,
                      "real_rows": 494},
        "outcome_mix": {"outcome": "not_skipped", "gap": 0.025, "allowance": 0.02,
                        "z_crit": 2.49}}}
    return {"predictors": {"model": {"maa": 0.5543, "first_prediction_accuracy": 0.74},
                           "repeat_last": {"maa": 0.5389, "first_prediction_accuracy": 0.7611},
                           "always_skip": {"maa": 0.4324, "first_prediction_accuracy": 0.5607}},
            "rollout": rollout,
            "synthetic": {"auc": 0.7721, "oracle_auc": 0.8336, "auc_gap": 0.0615,
                          "bayes_auc": 0.7881, "bayes_gap": 0.0160},
            "decisions": {"rank_agreement": 0.26, "greedy_a_minus_most_popular": 0.0375},
            "meta": {"teacher_forced": {"ece": 0.0161}}}


RATE = "skip-rate gap, worst position against its allowance (position 7)"
MIX = "outcome-mix gap, worst share against its allowance (not_skipped)"


def test_verdicts_on_constructed_figures():
    found = {v.name: v for v in verdicts(_figures())}
    assert list(found) == [
        "model MAA", "model first-prediction accuracy", "model ECE, teacher-forced",
        RATE, MIX,
        "synthetic AUC gap to the observable Bayes reference",
        "decisions: greedy-by-A minus most-popular, judged in world B"]
    assert {n: v.passed for n, v in found.items()} == {
        "model MAA": True, "model first-prediction accuracy": False,
        "model ECE, teacher-forced": True, RATE: True,
        MIX: False,
        "synthetic AUC gap to the observable Bayes reference": True,
        "decisions: greedy-by-A minus most-popular, judged in world B": True}
    assert found["model MAA"].threshold == 0.5389  # the best reference, repeat_last
    assert found["model first-prediction accuracy"].threshold == 0.7611
    lines = verdict_lines(_figures())
    assert lines[0] == ("PASS: model MAA = 0.5543 (target >= 0.5389: the best reference "
                        "predictor, repeat_last)")
    assert lines[-1] == "targets met: 5 of 7"
    # the true model and the rank agreement are references only, whatever their figures
    references = [line for line in lines if line.startswith("reference: ")]
    assert len(references) == 2 and "true model = 0.0615" in references[0]
    assert not any("true model" in line or "rank agreement" in line
                   for line in lines if line.startswith(("PASS", "FAIL")))


def test_verdicts_skip_absent_figures():
    # real data: no synthetic section, no decisions, no references to beat
    report = _figures()
    report.update(synthetic=None, decisions=None)
    report["predictors"] = {"model": report["predictors"]["model"]}
    names = [v.name for v in verdicts(report)]
    assert names == ["model ECE, teacher-forced", RATE,
                     MIX]
    assert verdict_lines(report)[-1] == "targets met: 2 of 3"


def test_report_checks_noise_and_plots_integer_positions():
    rng = np.random.default_rng(0)
    session = np.repeat(np.arange(300), 20)
    position = np.tile(np.arange(1, 21), 300)
    real = m.rollout_stats(session, position, rng.integers(0, 4, session.size))
    sim = m.rollout_stats(session, position, rng.integers(0, 4, session.size))
    figures = dict.fromkeys(PREDICTOR_KEYS, 0.5)
    report = build_report({"model": figures}, {"sim": sim, "real": real}, None, {})
    # two samples of the same users: the largest gap is noise and within the allowance
    check = report["rollout"]["checks"]["skip_rate"]
    assert check["allowance"] == pytest.approx(m.simultaneous_z(20) * check["se"])
    assert check["gap"] < check["allowance"]
    ticks = skip_rate_figure({"sim": sim, "real": real}).axes[0].get_xticks()
    np.testing.assert_array_equal(ticks, np.arange(1, 21))
    assert all(float(t).is_integer() for t in position_ticks(45))
    assert position_ticks(45)[-1] <= 45


def test_mean_by_position_by_hand():
    means = m.mean_by_position(np.array([1, 2, 1, 3]), np.array([0.2, 0.5, 0.4, 0.9]))
    np.testing.assert_allclose(means[:3], [0.3, 0.5, 0.9])
    assert means.shape == (20,) and np.isnan(means[3:]).all()
