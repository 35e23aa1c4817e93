"""Measure how closely a fitted simulator behaves like held-out logged sessions.

Three views: the challenge protocol (second half predicted blind), teacher-forced probabilities
(log-loss, AUC, calibration), and free-running rollouts over the logged track sequences where
the simulator samples every outcome itself. On synthetic data, the fitted P(skip_2) is also
compared with the generator's true probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgym.simulator import metrics
from musicgym.simulator.fitting import FittedSimulator
from musicgym.simulator.inputs import PackedSessions


@dataclass(frozen=True)
class FidelityResult:
    """Everything `report.write_report` needs."""

    predictors: dict[str, dict]
    rollout: dict
    synthetic: dict | None
    reliability: dict
    teacher_forced: dict
    """Log-loss, AUC and ECE of P(skip_2) over all rows with every earlier outcome shown."""


def pack_for(simulator: FittedSimulator, log: pd.DataFrame) -> PackedSessions:
    """Pack a log's sessions with track indexes remapped to the simulator's rows."""
    log = log.assign(track_idx=simulator.rows(log["track_id_clean"].to_numpy()))
    return PackedSessions.from_log(log)


def rollout_outcomes(simulator: FittedSimulator, packed: PackedSessions,
                     rng: np.random.Generator, batch: int = 4096) -> np.ndarray:
    """Outcomes [S, 20] sampled by the simulator for the logged tracks, fed back step by step."""
    model = simulator.response
    out = np.zeros_like(packed.outcomes)
    for start in range(0, len(packed), batch):
        s = packed.subset(np.arange(start, min(start + batch, len(packed))))
        state = model.initial_state(s.context)
        for t in range(s.tracks.shape[1]):
            probs = model.probs(state, s.tracks[:, t], s.context, s.positions[:, t],
                                s.session_length)
            cum = np.cumsum(probs, axis=1)
            draw = rng.random(len(s))[:, None]
            outcome = np.minimum((draw > cum).sum(axis=1), 3)
            out[start:start + len(s), t] = outcome
            state = model.observe(state, s.tracks[:, t], outcome, s.context)
    return out


def _rows(packed: PackedSessions, values: np.ndarray) -> np.ndarray:
    return values[packed.mask]


def evaluate(simulator: FittedSimulator, log: pd.DataFrame, rng: np.random.Generator,
             truth_p_skip2: np.ndarray | None = None) -> FidelityResult:
    """Evaluate `simulator` on the sessions of `log` (a prepared log frame, sorted)."""
    packed = pack_for(simulator, log)
    session = np.repeat(np.arange(len(packed)), packed.mask.sum(axis=1))
    position = _rows(packed, packed.positions)
    length = np.repeat(packed.session_length, packed.mask.sum(axis=1))
    skip2 = _rows(packed, packed.outcomes) <= 1
    target = metrics.challenge_mask(position, length, session)

    blind = simulator.response.predict_sessions(packed, hide_second_half=True)
    p_blind = _rows(packed, blind[..., 0] + blind[..., 1])
    predictors = {"model": metrics.predictor_metrics(p_blind[target], skip2[target],
                                                     session[target])}
    for name, predictor in metrics.REFERENCES.items():
        p = predictor(session, position, length, skip2)
        predictors[name] = metrics.predictor_metrics(p, skip2[target], session[target])
    forced = simulator.response.predict_sessions(packed, hide_second_half=False)
    p_forced = _rows(packed, forced[..., 0] + forced[..., 1])
    teacher = {"log_loss": metrics.log_loss(p_forced, skip2),
               "auc": metrics.roc_auc(p_forced, skip2),
               "ece": metrics.expected_calibration_error(p_forced, skip2)}

    sampled = _rows(packed, rollout_outcomes(simulator, packed, rng))
    real = metrics.rollout_stats(session, position, _rows(packed, packed.outcomes))
    sim = metrics.rollout_stats(session, position, sampled)
    rollout = {"sim": sim, "real": real, "gaps": metrics.compare_rollouts(sim, real)}
    synthetic = None
    if truth_p_skip2 is not None:
        synthetic = {"auc": metrics.roc_auc(p_forced, skip2),
                     "oracle_auc": metrics.roc_auc(truth_p_skip2, skip2),
                     "correlation": float(np.corrcoef(p_forced, truth_p_skip2)[0, 1])}
    return FidelityResult(predictors, rollout, synthetic,
                          metrics.reliability_diagram(p_forced, skip2), teacher)
