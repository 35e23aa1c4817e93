"""The rank-agreement arithmetic of `agents.decisions` (the worlds themselves: test_worlds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from agents.decisions import agreement_figures, spearman_rows


def test_spearman_rows_is_scipys_per_row() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 40)), rng.random((5, 40))
    b[0] = a[0] * 3 + 1  # same order: 1
    b[1] = -a[1]  # reversed: -1
    expected = [stats.spearmanr(x, y).statistic for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(spearman_rows(a, b), expected, atol=1e-12)
    assert spearman_rows(a, b)[0] == pytest.approx(1.0) and spearman_rows(a, b)[1] == -1.0


def _within(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Per-state deviations with a zero mean over states for every track."""
    w = rng.normal(size=shape)
    return w - w.mean(axis=0)


def test_agreement_splits_one_ranking_for_everyone_from_what_each_state_adds() -> None:
    rng = np.random.default_rng(1)
    states, tracks = 200, 300
    static = rng.normal(size=tracks)
    # both worlds share the ranking for everyone and disagree on everything per user
    p_a = static + 0.5 * _within(rng, (states, tracks))
    p_b = static + 0.5 * _within(rng, (states, tracks))
    most_played = rng.permutation(tracks)
    out = agreement_figures(lambda: [(p_a, p_b)], most_played, ladder=(25, 100, 300))
    assert out["rank_agreement_static"] == pytest.approx(1.0)
    assert abs(out["rank_agreement_within_state"]) < 0.05
    assert 0.5 < out["rank_agreement"] < 0.95  # the sum agrees in part
    top = most_played[:25]
    assert out["rank_agreement_top25"] == pytest.approx(
        spearman_rows(p_a[:, top], p_b[:, top]).mean())
    assert "rank_agreement_top300" not in out  # not below the number of tracks: the whole
    # and the other way round: personal preferences shared, rankings for everyone opposed
    shared = _within(rng, (states, tracks))
    out = agreement_figures(lambda: [(static + shared, -static + shared)], most_played)
    assert out["rank_agreement_static"] == pytest.approx(-1.0)
    assert out["rank_agreement_within_state"] == pytest.approx(1.0)


def test_a_world_agrees_with_itself_everywhere() -> None:
    p = np.random.default_rng(2).random((30, 500))
    out = agreement_figures(lambda: [(p, p.copy())], np.arange(500))
    assert set(out) == {"rank_agreement", "rank_agreement_top25", "rank_agreement_top100",
                        "rank_agreement_top400", "rank_agreement_static",
                        "rank_agreement_within_state"}
    assert all(v == pytest.approx(1.0) for v in out.values())


def test_blocks_of_states_give_the_figures_of_all_states_at_once() -> None:
    rng = np.random.default_rng(3)
    p_a, p_b = rng.random((70, 200)), rng.random((70, 200))
    p_b[:, :30] += p_a[:, :30]  # some agreement to measure
    most_played = rng.permutation(200)
    whole = agreement_figures(lambda: [(p_a, p_b)], most_played)
    calls = []

    def blocks():
        calls.append(1)
        return ((p_a[i:i + 16], p_b[i:i + 16]) for i in range(0, 70, 16))

    assert agreement_figures(blocks, most_played) == pytest.approx(whole, abs=1e-12)
    assert len(calls) == 2  # the means first, then what each state adds
