"""Score skip predictions and simulated sessions against the logs: the simulator's fidelity metrics.

Pure numpy functions over flat arrays, one row per track played. Sessions are contiguous runs of
rows in position order (as `PreparedDataset.log()` returns them); per-session sums use
`np.add.reduceat` over the run starts instead of Python loops.

The challenge's protocol: the first half of each session is seen with full information and
skip_2 is predicted for the second half. "First half" means the first floor(n/2) rows, where n is
the number of rows the session has in the log; for the one session in the real sample that is cut
short (11 of its 20 rows), this, not the logged `session_length`, reproduces the published
reference figures (always skip 0.415 / 0.545, repeat last 0.531 / 0.736).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm, rankdata

from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES

EPS = 1e-6


def _starts(session: np.ndarray) -> np.ndarray:
    """Index of the first row of each contiguous run of equal `session` values."""
    session = np.asarray(session)
    if session.size == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.r_[True, session[1:] != session[:-1]])


def _run_ids(session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The run starts and, for every row, the number (0, 1, ...) of the run it belongs to."""
    starts = _starts(session)
    run = np.zeros(np.size(session), dtype=np.intp)
    run[starts[1:]] = 1
    return starts, np.cumsum(run)


def challenge_mask(session_position: np.ndarray, session_length: np.ndarray,
                   session: np.ndarray | None = None) -> np.ndarray:
    """Mark the rows to predict under the challenge's protocol (the second half of each session).

    A row is history when its 1-based position is at most floor(n/2). With `session` given
    (contiguous runs, as sorted logs have them), n is the number of rows each session has, which
    is what reproduces the reference figures; without it, n is the logged `session_length`.
    """
    position = np.asarray(session_position)
    length = np.asarray(session_length)
    if session is not None:
        starts, run = _run_ids(session)
        length = np.diff(np.r_[starts, position.size])[run]
    return position > length // 2


def mean_average_accuracy(pred: np.ndarray, truth: np.ndarray,
                          session: np.ndarray) -> tuple[float, float]:
    """The challenge's score of 0/1 predictions: (mean average accuracy, first-prediction accuracy).

    For a session of T predictions AA = (1/T) sum_i correct_i * (correct among the first i) / i;
    both figures average over sessions. Rows are the rows to predict, sessions contiguous.
    """
    correct = np.asarray(pred, bool) == np.asarray(truth, bool)
    if correct.size == 0:
        return float("nan"), float("nan")
    starts, run = _run_ids(session)
    hits = np.cumsum(correct)
    before = np.r_[0, hits][starts][run]  # correct predictions in earlier sessions
    i = np.arange(correct.size) - starts[run] + 1
    terms = correct * (hits - before) / i
    lengths = np.diff(np.r_[starts, correct.size])
    aa = np.add.reduceat(terms, starts) / lengths
    return float(aa.mean()), float(correct[starts].mean())


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of binary labels `y` under probabilities `p` (clipped)."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    y = np.asarray(y, bool)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def roc_auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney), ties averaged; NaN with one class."""
    y = np.asarray(y, bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(p, float))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reliability_diagram(p: np.ndarray, y: np.ndarray, bins: int = 15) -> dict[str, np.ndarray]:
    """Data of a reliability diagram: per equal-width bin, mean prediction, observed rate, count.

    Empty bins hold NaN means and a zero count. Keys: "edges" (bins + 1), "mean_predicted",
    "observed", "count".
    """
    if bins < 1:
        raise ValueError(f"bins ({bins}) must be at least 1")
    p = np.asarray(p, float)
    y = np.asarray(y, float)
    which = np.clip((p * bins).astype(np.intp), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, p, minlength=bins) / count
        observed = np.bincount(which, y, minlength=bins) / count
    return {"edges": np.linspace(0.0, 1.0, bins + 1), "mean_predicted": mean_p,
            "observed": observed, "count": count}


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean |prediction - observed| over bins.

    Bins are `bins` equal-width intervals of [0, 1], each weighted by its share of the rows.
    """
    diagram = reliability_diagram(p, y, bins)
    count = diagram["count"]
    if count.sum() == 0:
        return float("nan")
    gap = np.abs(diagram["mean_predicted"] - diagram["observed"])
    return float(np.sum(np.where(count > 0, gap, 0.0) * count) / count.sum())


def _first_half(session: np.ndarray, position: np.ndarray, length: np.ndarray,
                skip_2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Challenge mask, run number of each row, and skip_2 as bool, shared by the references."""
    mask = challenge_mask(position, length, session)
    _, run = _run_ids(session)
    return mask, run, np.asarray(skip_2, bool)


def always_skip(session: np.ndarray, position: np.ndarray, length: np.ndarray,
                skip_2: np.ndarray) -> np.ndarray:
    """Reference predictor: P(skip_2) = 1 for every row to predict."""
    mask = challenge_mask(position, length, session)
    return np.ones(int(mask.sum()))


def repeat_last(session: np.ndarray, position: np.ndarray, length: np.ndarray,
                skip_2: np.ndarray) -> np.ndarray:
    """Reference predictor: every row to predict repeats the last skip_2 of the first half."""
    mask, run, skip = _first_half(session, position, length, skip_2)
    n = run.max(initial=-1) + 1
    last_row = np.full(n, -1)
    history = np.flatnonzero(~mask)
    np.maximum.at(last_row, run[history], history)
    # a session without history (one row) defaults to skipped, the majority class
    last = np.where(last_row >= 0, skip[last_row], True).astype(float)
    return last[run[mask]]


def first_half_majority(session: np.ndarray, position: np.ndarray, length: np.ndarray,
                        skip_2: np.ndarray) -> np.ndarray:
    """Reference predictor: the majority skip_2 of the first half (ties, and no history: skip)."""
    mask, run, skip = _first_half(session, position, length, skip_2)
    n = run.max(initial=-1) + 1
    seen = np.bincount(run[~mask], minlength=n)
    skipped = np.bincount(run[~mask], skip[~mask], minlength=n)
    return (2 * skipped >= seen).astype(float)[run[mask]]


REFERENCES = {
    "always_skip": always_skip,
    "repeat_last": repeat_last,
    "first_half_majority": first_half_majority,
}
"""The reference predictors by the name the fidelity report gives them."""


def predictor_metrics(p_skip2: np.ndarray, truth: np.ndarray, session: np.ndarray,
                      decisions: np.ndarray | None = None) -> dict[str, float]:
    """All headline metrics of one predictor over the rows to predict.

    MAA and first-prediction accuracy score `decisions` (0/1), by default p >= 0.5; the others
    score the probabilities.
    """
    p = np.asarray(p_skip2, float)
    maa, first = mean_average_accuracy(p >= 0.5 if decisions is None else decisions, truth,
                                       session)
    return {"maa": maa, "first_prediction_accuracy": first, "log_loss": log_loss(p, truth),
            "auc": roc_auc(p, truth), "ece": expected_calibration_error(p, truth)}


def rollout_stats(session: np.ndarray, position: np.ndarray,
                  outcome: np.ndarray) -> dict[str, object]:
    """Summary statistics of a set of sessions (logged or simulated) to compare rollouts by.

    `outcome` is the class of `schema.OUTCOMES` (0..3; skip_2 is class <= 1). Rows may come in
    any order. Returns arrays indexed by position 1..20 ("skip_rate_by_position", NaN where no
    rows; "rows_by_position"), the transitions "p_skip_after_skip" and "p_skip_after_listen",
    "outcome_mix" (class name -> share) with "outcome_mix_se" (each share's standard error,
    clustered by session: a session's outcomes move together), "mean_skips_per_session",
    "skips_per_session" (share of sessions with 0..20 skips), and the "rows" and "sessions"
    counts.
    """
    order = np.lexsort((position, session))
    session = np.asarray(session)[order]
    position = np.asarray(position, np.intp)[order]
    outcome = np.asarray(outcome, np.intp)[order]
    skip = outcome <= 1
    rows = np.bincount(position - 1, minlength=MAX_SESSION_LENGTH)[:MAX_SESSION_LENGTH]
    skips = np.bincount(position - 1, skip, minlength=MAX_SESSION_LENGTH)[:MAX_SESSION_LENGTH]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = skips / rows
    same = session[1:] == session[:-1]
    prev, cur = skip[:-1][same], skip[1:][same]
    starts = _starts(session)
    per_session = np.add.reduceat(skip.astype(np.intp), starts) if skip.size else np.zeros(0, int)
    mix = np.bincount(outcome, minlength=len(OUTCOMES)) / max(outcome.size, 1)
    mix_se = _clustered_share_se(starts, outcome)
    dist = np.bincount(per_session, minlength=MAX_SESSION_LENGTH + 1) / max(starts.size, 1)
    return {
        "rows": int(outcome.size),
        "sessions": int(starts.size),
        "skip_rate_by_position": rate,
        "rows_by_position": rows,
        "p_skip_after_skip": _mean_or_nan(cur[prev]),
        "p_skip_after_listen": _mean_or_nan(cur[~prev]),
        "outcome_mix": dict(zip(OUTCOMES, mix.tolist(), strict=True)),
        "outcome_mix_se": dict(zip(OUTCOMES, mix_se.tolist(), strict=True)),
        "mean_skips_per_session": _mean_or_nan(per_session),
        "skips_per_session": dist,
    }


def mean_by_position(position: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean of `values` at each position 1..20 (NaN where no rows), e.g. teacher-forced P(skip_2).

    Set beside the real and rolled-out skip rates, it tells a calibration error (this is off
    too) from drift that the rollout's own sampled history builds up (this is on the real rate).
    """
    index = np.asarray(position, np.intp) - 1
    rows = np.bincount(index, minlength=MAX_SESSION_LENGTH)[:MAX_SESSION_LENGTH]
    total = np.bincount(index, np.asarray(values, float),
                        minlength=MAX_SESSION_LENGTH)[:MAX_SESSION_LENGTH]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / rows


def _clustered_share_se(starts: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Standard error of each class's share of rows, sessions (runs at `starts`) as clusters."""
    if starts.size < 2:
        return np.full(len(OUTCOMES), np.nan)
    counts = np.add.reduceat(np.eye(len(OUTCOMES))[outcome], starts)  # [sessions, classes]
    rows = counts.sum(axis=1, keepdims=True)
    share = counts.sum(axis=0) / rows.sum()
    residual = counts - rows * share
    n = starts.size
    return np.sqrt(n / (n - 1) * (residual ** 2).sum(axis=0)) / rows.sum()


def _mean_or_nan(values: np.ndarray) -> float:
    """Mean of `values` as a float, NaN when there are none."""
    return float(np.mean(values)) if np.size(values) else float("nan")


def compare_rollouts(sim: dict, real: dict, min_rows: int = 30) -> dict[str, float]:
    """Gaps between simulated and real `rollout_stats`: the fidelity figures of a rollout.

    "max_skip_rate_gap" ignores positions where the real data has fewer than `min_rows` rows;
    "skips_per_session_tv" is the total-variation distance of the skips-per-session distributions.
    """
    keep = np.asarray(real["rows_by_position"]) >= min_rows
    rate_gap = np.abs(np.asarray(sim["skip_rate_by_position"], float)
                      - np.asarray(real["skip_rate_by_position"], float))[keep]
    rate_gap = rate_gap[~np.isnan(rate_gap)]
    mix_gap = [abs(sim["outcome_mix"][k] - real["outcome_mix"][k]) for k in OUTCOMES]
    dist_sim = np.asarray(sim["skips_per_session"], float)
    dist_real = np.asarray(real["skips_per_session"], float)
    return {
        "max_skip_rate_gap": float(rate_gap.max()) if rate_gap.size else float("nan"),
        "p_skip_after_skip_gap": abs(sim["p_skip_after_skip"] - real["p_skip_after_skip"]),
        "p_skip_after_listen_gap": abs(sim["p_skip_after_listen"] - real["p_skip_after_listen"]),
        "max_mix_gap": float(max(mix_gap)),
        "mean_skips_per_session_gap": abs(sim["mean_skips_per_session"]
                                          - real["mean_skips_per_session"]),
        "skips_per_session_tv": float(0.5 * np.abs(dist_sim - dist_real).sum()),
    }


def simultaneous_z(tests: int, level: float = 0.05) -> float:
    """The |z| that `tests` independent standard normal figures all stay within, w.p. 1 - level.

    Sidak's correction: the largest of 20 gaps that are pure noise exceeds 1.96 standard errors
    in 64% of samples, but exceeds `simultaneous_z(20)` (3.02) in only 5%.
    """
    if tests < 1:
        raise ValueError(f"tests ({tests}) must be at least 1")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level ({level}) must be in (0, 1)")
    per_test = 1.0 - (1.0 - level) ** (1.0 / tests)
    return float(norm.ppf(1.0 - per_test / 2))


def worst_gap(gap: np.ndarray, se: np.ndarray, tolerance: float,
              level: float = 0.05) -> dict[str, float] | None:
    """The gap furthest beyond what a faithful simulator may show, among the finite `gap`s.

    Each gap's allowance is the larger of `tolerance` and `simultaneous_z` standard errors `se`
    (sampling noise alone makes some of many gaps large when the logs are few). Returns the
    worst gap by |gap| / allowance: its "index", "gap" (absolute), "allowance", "se", and
    "z_crit"; None when no gap is finite.
    """
    gap, se = np.abs(np.asarray(gap, float)), np.asarray(se, float)
    finite = np.flatnonzero(np.isfinite(gap))
    if finite.size == 0:
        return None
    z_crit = simultaneous_z(finite.size, level)
    allowance = np.maximum(tolerance, z_crit * np.nan_to_num(se[finite]))
    worst = int(np.argmax(gap[finite] / allowance))
    return {"index": int(finite[worst]), "gap": float(gap[finite][worst]),
            "allowance": float(allowance[worst]), "se": float(np.nan_to_num(se[finite][worst])),
            "z_crit": z_crit}


def skip_rate_check(sim: dict, real: dict, tolerance: float = 0.03,
                    min_rows: int = 30) -> dict[str, float] | None:
    """`worst_gap` of the skip_2 rates by position, simulated against real `rollout_stats`.

    Each position holds one row per session, so its rate is binomial; the standard error of the
    gap adds the real and simulated rates' (binomial) variances. Positions where the real data
    have fewer than `min_rows` rows are left out. "position" (1-based) and "real_rows" join the
    result.
    """
    rows_real = np.asarray(real["rows_by_position"], float)
    rows_sim = np.asarray(sim["rows_by_position"], float)
    rate_real = np.asarray(real["skip_rate_by_position"], float)
    rate_sim = np.asarray(sim["skip_rate_by_position"], float)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(rate_real * (1 - rate_real) / rows_real
                     + rate_sim * (1 - rate_sim) / rows_sim)
    gap = np.where(rows_real >= min_rows, rate_sim - rate_real, np.nan)
    worst = worst_gap(gap, se, tolerance)
    if worst is None:
        return None
    return {**worst, "position": worst["index"] + 1, "real_rows": int(rows_real[worst["index"]])}


def outcome_mix_check(sim: dict, real: dict, tolerance: float = 0.02) -> dict | None:
    """`worst_gap` of the four outcome shares, simulated against real (clustered errors).

    "outcome" (the class name) joins the result.
    """
    gap = np.array([sim["outcome_mix"][k] - real["outcome_mix"][k] for k in OUTCOMES])
    se_sim, se_real = (np.array([(s.get("outcome_mix_se") or {}).get(k, 0.0) or 0.0
                                 for k in OUTCOMES]) for s in (sim, real))
    worst = worst_gap(gap, np.sqrt(se_sim ** 2 + se_real ** 2), tolerance)
    return None if worst is None else {**worst, "outcome": OUTCOMES[worst["index"]]}
