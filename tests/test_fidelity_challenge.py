"""Expected-AA decoding of the challenge's blind predictions, against figures computed by hand."""

from __future__ import annotations

import itertools

import numpy as np

from musicgym.simulator.challenge import (
    average_accuracy_table,
    decode_expected_aa,
    expected_average_accuracy,
)
from musicgym.simulator.metrics import mean_average_accuracy


def test_average_accuracy_table_matches_the_metric() -> None:
    table = average_accuracy_table(3)
    for code in range(8):
        hit = (code >> np.arange(3)) & 1
        # predicting 1 everywhere makes hit i exactly "outcome i is 1"
        aa, _ = mean_average_accuracy(np.ones(3, bool), hit.astype(bool), np.zeros(3, int))
        assert np.isclose(table[code], aa)
    np.testing.assert_allclose(average_accuracy_table(2), [0.0, 0.5, 0.25, 1.0])


def test_expected_aa_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    probs = rng.random((2, 16))
    probs /= probs.sum(axis=1, keepdims=True)
    expected = expected_average_accuracy(probs)
    patterns = np.array(list(itertools.product([0, 1], repeat=4)))[:, ::-1]  # row k = bits of k
    for s, p in itertools.product(range(2), range(16)):
        scores = [mean_average_accuracy(patterns[p], patterns[y], np.zeros(4, int))[0]
                  for y in range(16)]
        assert np.isclose(expected[s, p], np.dot(probs[s], scores))


def test_decoding_beats_the_marginal_argmax_on_correlated_skips() -> None:
    # 3 x (listen, listen), 1 x (listen, skip), 3 x (skip, skip): marginals 3/7 and 4/7, so
    # position-wise argmax says (0, 1). Mean AA by hand, AA(hit1, hit2) = (h1 + h2(h1+h2)/2)/2:
    #   (0, 0): (3 * 1 + 1 * 0.5 + 3 * 0) / 7 = 0.500
    #   (0, 1): (3 * 0.5 + 1 * 1 + 3 * 0.25) / 7 = 0.464
    #   (1, 1): (3 * 0 + 1 * 0.25 + 3 * 1) / 7 = 0.464
    #   (1, 0): (3 * 0.25 + 1 * 0 + 3 * 0.5) / 7 = 0.321
    samples = np.array([[0, 0]] * 3 + [[0, 1]] + [[1, 1]] * 3, bool)[None]
    expected = expected_average_accuracy(np.bincount([0, 0, 0, 2, 3, 3, 3], minlength=4)[None]
                                         / 7.0)
    np.testing.assert_allclose(expected[0], [3.5 / 7, 2.25 / 7, 3.25 / 7, 3.25 / 7])
    np.testing.assert_array_equal(decode_expected_aa(samples), [[False, False]])
    # with the first prediction fixed to "skip", the best rest is "skip" too
    np.testing.assert_array_equal(decode_expected_aa(samples, first=np.array([True])),
                                  [[True, True]])


def test_decoding_one_track_is_the_majority() -> None:
    samples = np.array([[[1], [1], [0]], [[0], [0], [1]]], bool)
    np.testing.assert_array_equal(decode_expected_aa(samples), [[True], [False]])
