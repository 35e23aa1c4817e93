"""The ground-truth model behind the synthetic MSSD: how tracks, sessions and skips are drawn.

This docstring is the documentation of the model; `truth.json` of every generated set carries it
together with the parameters used. All randomness comes from one `numpy.random.Generator`.

Tracks (`musicgym.synthetic.catalog`)
    Each track i has a latent vector z_i ~ N(0, I_d) (d = latent_dim) and a play probability
    pi_i proportional to (rank_i + offset)^-exponent over a random ranking (Zipf-Mandelbrot).
    Each feature f has a random unit loading a_f in latent space and a standard-normal score
    s_if = rho * a_f.z_i + sqrt(1 - rho^2) * eps_if (us_popularity_estimate also mixes in the
    standardized log popularity). The score is mapped rank-preservingly through the feature's
    real quantile table (`musicgym.synthetic.marginals`): value = Q_f(Phi(s_if)), so every
    feature has the real marginal distribution and carries information about z_i.

Sessions (one user each)
    Length, premium, hour of day (all from the real marginals) and a July 2018 date are drawn per
    session; the first context_type from the real context mix, shuffle from its per-context rate.
    Before each later track the context switches with the real context_switch rate (a new context
    drawn from the mix). The user has a taste vector u ~ N(0, I_d) and a mood b ~ N(0, sigma_b^2).
    A track is picked from K candidates drawn by popularity (precomputed CDF + searchsorted; in
    "charts" only among the most popular ranks): the candidate maximizing
    beta_context * m + Gumbel noise, where m = u.z / sqrt(d) is the taste match. beta is large for
    user_collection (tracks close to taste), zero for catalog/charts (popularity alone).

Skips (ordered logit over the four classes skip_1 < skip_2 only < skip_3 only < not_skipped)
    eta = b + w_match * m + w_pop * q + w_pos[t] + w_hist * (h_t - 1/2) + w_context
          + w_premium * premium + w_shuffle * shuffle + w_hour * cos(2 pi (hour - 3) / 24)
    P(skip_k) = P(class <= k-1) = sigmoid(c_k + eta) for k = 1, 2, 3 with c_1 < c_2 < c_3, where
    q = -Phi^-1(share of plays that go to more popular tracks) is the track's popularity as a
    standard-normal score over plays (so its effect does not depend on the catalog size), and
    h_t is the exponentially decayed share of previous tracks of the session that were skipped
    (skip_2), with decay lambda and a prior of half a track at 1/2. The realized class is
    U > p_1 + U > p_2 + U > p_3 for U ~ U(0, 1); the nested flags follow from
    `schema.outcome_flags`. `ground_truth.parquet` holds p_1, p_2, p_3 for every logged row, given
    its realized history. The cut-points were tuned by simulation so that the class mix is close
    to the real sample's (0.426, 0.095, 0.130, 0.349) and the skip_2 rate is about 0.52.

Other columns
    Pause flags: none on the first track, then exactly one of no/short/long pause; seek counts are
    0 except on a small share of rows (1 + geometric); reason_end is drawn given the outcome class
    and reason_start given the previous track's reason_end (first track: its own mix), all with
    rates measured on the real sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH, REASONS_END, REASONS_START
from musicgym.synthetic import marginals
from musicgym.synthetic.catalog import Catalog
from musicgym.synthetic.parameters import GroundTruthParameters


@dataclass
class SessionState:
    """Per-session draws of one chunk: length, account, time, user taste and mood, context."""

    length: np.ndarray
    premium: np.ndarray
    shuffle: np.ndarray
    hour: np.ndarray
    day: np.ndarray
    taste: np.ndarray
    mood: np.ndarray
    context: np.ndarray


def _categorical(rng: np.random.Generator, probs: np.ndarray, size: int | tuple) -> np.ndarray:
    """Draw indices 0..len(probs)-1 with the given (unnormalized) probabilities."""
    cdf = np.cumsum(probs) / np.sum(probs)
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _conditional(rng: np.random.Generator, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one column index per element of `rows` from the row-normalized `table[rows]`."""
    cdf = np.cumsum(table, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(rows.shape)
    return np.minimum((u[..., None] >= cdf[rows]).sum(-1), table.shape[1] - 1)


def _start_sessions(
    rng: np.random.Generator, n: int, latent_dim: int, p: GroundTruthParameters
) -> SessionState:
    """Draw the per-session variables of `n` sessions."""
    lengths = np.array(list(marginals.SESSION_LENGTH_PROBS))
    context = _categorical(rng, np.array([marginals.CONTEXT_PROBS[c] for c in CONTEXT_TYPES]), n)
    shuffle_rate = np.array([marginals.SHUFFLE_BY_CONTEXT[c] for c in CONTEXT_TYPES])
    return SessionState(
        length=lengths[
            _categorical(rng, np.array(list(marginals.SESSION_LENGTH_PROBS.values())), n)
        ],
        premium=rng.random(n) < marginals.PREMIUM_SHARE,
        shuffle=rng.random(n) < shuffle_rate[context],
        hour=_categorical(rng, np.array(marginals.HOUR_PROBS), n),
        day=rng.integers(1, 32, size=n),
        taste=rng.standard_normal((n, latent_dim), dtype=np.float32),
        mood=rng.normal(0.0, p.session_effect_std, size=n),
        context=context,
    )


def _pick_tracks(
    rng: np.random.Generator,
    s: SessionState,
    context: np.ndarray,
    catalog: Catalog,
    p: GroundTruthParameters,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one track per session for the current position; return (track, taste match)."""
    n, k = len(context), p.n_candidates
    top = max(20, int(p.charts_top_share * len(catalog.rank_cdf)))
    scale = np.where(
        context == CONTEXT_TYPES.index("charts"),
        catalog.rank_cdf[min(top, len(catalog.rank_cdf)) - 1],
        1.0,
    )
    u = rng.random((n, k)) * scale[:, None]
    ranks = np.minimum(np.searchsorted(catalog.rank_cdf, u), len(catalog.rank_cdf) - 1)
    candidates = catalog.rank_order[ranks]
    match = np.einsum("nkd,nd->nk", catalog.latents[candidates], s.taste)
    match /= np.sqrt(s.taste.shape[1])
    beta = np.asarray(p.taste_sharpness)[context]
    best = np.argmax(beta[:, None] * match + rng.gumbel(size=(n, k)), axis=1)
    rows = np.arange(n)
    return candidates[rows, best], match[rows, best]


def _switch_context(rng: np.random.Generator, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Switch the context of some sessions before the next track; return (context, switched)."""
    switched = rng.random(len(context)) < marginals.CONTEXT_SWITCH_RATE
    fresh = _categorical(
        rng, np.array([marginals.CONTEXT_PROBS[c] for c in CONTEXT_TYPES]), len(context)
    )
    return np.where(switched, fresh, context), switched


def skip_location(
    s: SessionState,
    t: int,
    context: np.ndarray,
    match: np.ndarray,
    popz: np.ndarray,
    history: np.ndarray,
    p: GroundTruthParameters,
) -> np.ndarray:
    """The ordered-logit location eta of each session's track at position index `t`.

    The arrays broadcast, so `s.mood` and `match` may carry an extra axis of drawn moods and
    tastes (the Bayes reference in `musicgym.synthetic.bayes` re-evaluates the model so).
    """
    hour_term = np.cos(2 * np.pi * (s.hour - 3) / 24)
    return (
        s.mood
        + p.match_weight * match
        + p.popularity_weight * popz
        + p.position_effects[t]
        + p.history_weight * (history - 0.5)
        + np.asarray(p.context_effects)[context]
        + p.premium_effect * s.premium
        + p.shuffle_effect * s.shuffle
        + p.hour_effect * hour_term
    )


def _simulate_positions(
    rng: np.random.Generator, s: SessionState, catalog: Catalog, p: GroundTruthParameters
) -> dict[str, np.ndarray]:
    """Run positions 1..20 for all sessions at once; return (n, 20) arrays."""
    n, width = len(s.length), MAX_SESSION_LENGTH
    out = {
        name: np.zeros((n, width), dtype=dtype)
        for name, dtype in (
            ("track", np.int64),
            ("context", np.int64),
            ("switch", bool),
            ("outcome", np.int8),
            ("p1", np.float32),
            ("p2", np.float32),
            ("p3", np.float32),
        )
    }
    context, skipped_w, weight = s.context, np.zeros(n), np.zeros(n)
    cuts = np.asarray(p.cut_points)
    for t in range(width):
        if t > 0:
            context, out["switch"][:, t] = _switch_context(rng, context)
        track, match = _pick_tracks(rng, s, context, catalog, p)
        history = (skipped_w + 0.25) / (weight + 0.5)
        eta = skip_location(s, t, context, match, catalog.play_z[track], history, p)
        probs = expit(cuts[None, :] + eta[:, None])
        outcome = (rng.random(n)[:, None] > probs).sum(1)
        skipped_w = p.history_decay * skipped_w + (outcome <= 1)
        weight = p.history_decay * weight + 1.0
        out["track"][:, t], out["context"][:, t], out["outcome"][:, t] = track, context, outcome
        out["p1"][:, t], out["p2"][:, t], out["p3"][:, t] = probs.T
    return out


def _behaviour(rng: np.random.Generator, outcome: np.ndarray) -> dict[str, np.ndarray]:
    """Pause flags, seek counts and reasons for (n, 20) outcome classes."""
    shape = outcome.shape
    pause = _categorical(rng, np.array(marginals.PAUSE_PROBS), shape)
    first = np.zeros(shape, dtype=bool)
    first[:, 0] = True
    seeks = [
        (rng.random(shape) < marginals.SEEK_RATE) * rng.geometric(0.7, size=shape) for _ in range(2)
    ]
    end_table = np.array(list(marginals.REASON_END_BY_OUTCOME.values()))
    end_local = _conditional(rng, end_table, outcome.astype(np.int64))
    end_index = np.array([REASONS_END.index(r) for r in marginals.REASON_END_COLUMNS])[end_local]
    start_table = np.array(
        [
            [marginals.NEXT_REASON_START[e].get(r, 0.0) for r in REASONS_START]
            for e in marginals.REASON_END_COLUMNS
        ]
    )
    start_index = np.empty(shape, dtype=np.int64)
    start_index[:, 1:] = _conditional(rng, start_table, end_local[:, :-1])
    first_probs = np.array([marginals.FIRST_REASON_START_PROBS.get(r, 0.0) for r in REASONS_START])
    start_index[:, 0] = _categorical(rng, first_probs, shape[0])
    return {
        "no_pause": ((pause == 0) & ~first).astype(np.int16),
        "short_pause": ((pause == 1) & ~first).astype(np.int16),
        "long_pause": ((pause == 2) & ~first).astype(np.int16),
        "seekfwd": seeks[0].astype(np.int16),
        "seekback": seeks[1].astype(np.int16),
        "reason_start": start_index,
        "reason_end": end_index,
    }


def simulate_chunk(
    rng: np.random.Generator, n_sessions: int, catalog: Catalog, p: GroundTruthParameters
) -> tuple[SessionState, dict[str, np.ndarray]]:
    """Simulate `n_sessions` sessions; per-row arrays are (n_sessions, 20), masked by length."""
    state = _start_sessions(rng, n_sessions, catalog.latents.shape[1], p)
    rows = _simulate_positions(rng, state, catalog, p)
    rows.update(_behaviour(rng, rows["outcome"]))
    return state, rows
