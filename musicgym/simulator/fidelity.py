"""Measure how closely a fitted simulator behaves like held-out logged sessions.

Three views: the challenge protocol (second half predicted blind), teacher-forced probabilities
(log-loss, AUC, calibration), and free-running rollouts over the logged track sequences where
the simulator samples every outcome itself. The challenge's 0/1 predictions are chosen for
expected average accuracy from sampled second halves (see `challenge`). On synthetic data, the
fitted P(skip_2) is also compared with the generator's true probabilities (which see each
session's latent taste and mood) and with the observable Bayes reference (`bayes`: the
generator's posterior predictive given the session so far, the best any history-based model
can do).

`predict` runs one simulator over one set of held-out sessions; `summarize` scores one or more
such sets together, so K cross-fitted simulators, each on its own held-out fold, are scored as
one evaluation over every session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgym.simulator import metrics
from musicgym.simulator.challenge import blind_decisions
from musicgym.simulator.fitting import FittedSimulator
from musicgym.simulator.inputs import PackedSessions
from musicgym.simulator.sampler import draw_outcomes


@dataclass(frozen=True)
class FidelityResult:
    """Everything `report.write_report` needs."""

    predictors: dict[str, dict]
    rollout: dict
    synthetic: dict | None
    reliability: dict
    teacher_forced: dict
    """Log-loss, AUC and ECE of P(skip_2) over all rows with every earlier outcome shown, of
    the pooled ensemble (the mean of its members' probabilities); under "members", each
    member's own figures (their spread)."""


@dataclass(frozen=True)
class HeldOutPredictions:
    """Per-row predictions of one simulator on held-out sessions (rows by session, position)."""

    session: np.ndarray
    position: np.ndarray
    length: np.ndarray
    outcome: np.ndarray
    p_blind: np.ndarray
    """P(skip_2) with no outcome after the first half shown."""
    decision: np.ndarray
    """The challenge's 0/1 skip_2 predictions (second-half rows), chosen for expected AA."""
    p_forced: np.ndarray
    """P(skip_2) with every earlier outcome shown, per member [members, rows]."""
    sampled: np.ndarray
    """Outcomes sampled free-running, [replicates, rows]."""
    truth: np.ndarray | None
    """The generator's true P(skip_2) (synthetic data only)."""
    bayes: np.ndarray | None = None
    """The generator's posterior-predictive P(skip_2) given the session so far (synthetic only)."""


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
            outcome = draw_outcomes(probs, rng)
            out[start:start + len(s), t] = outcome
            state = model.observe(state, s.tracks[:, t], outcome, s.context)
    return out


def _p_skip2(probs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return (probs[..., 0] + probs[..., 1])[mask]


def predict(simulator: FittedSimulator, log: pd.DataFrame, rng: np.random.Generator,
            replicates: int = 10, truth_p_skip2: np.ndarray | None = None,
            members: Sequence[FittedSimulator] = (), samples: int = 256,
            bayes_p_skip2: np.ndarray | None = None) -> HeldOutPredictions:
    """Run the ensemble of `simulator` and `members` over the sessions of `log`.

    `members` are further fits of the same data (other seeds); the model is their pool. The
    challenge predictions (blind P(skip_2) and the 0/1 decisions, from `samples` sampled second
    halves per session) and the teacher-forced P(skip_2) average the members; free-running
    rollouts are repeated `replicates` times, replicate r with member r mod K as the user, so
    the simulated statistics carry little sampling noise of their own. `truth_p_skip2` and
    `bayes_p_skip2` (synthetic data: the generator's true and observable-Bayes probabilities
    per row of `log`) are carried along for `summarize`.
    """
    packed = pack_for(simulator, log)
    mask, counts = packed.mask, packed.mask.sum(axis=1)
    responses = [s.response for s in (simulator, *members)]
    # every member maps tracks to rows the same way (same data, same embeddings' ids)
    p_blind = np.mean([r.predict_sessions(packed, hide_second_half=True)[..., :2].sum(axis=-1)
                       for r in responses], axis=0)
    decision = blind_decisions(responses, packed, p_blind, rng, samples)
    fits = (simulator, *members)
    sampled = np.stack([rollout_outcomes(fits[r % len(fits)], packed, rng)[mask]
                        for r in range(replicates)])
    return HeldOutPredictions(
        session=packed.session_idx.repeat(counts), position=packed.positions[mask],
        length=packed.session_length.repeat(counts), outcome=packed.outcomes[mask],
        p_blind=p_blind[mask], decision=decision[mask],
        p_forced=np.stack([_p_skip2(r.predict_sessions(packed, hide_second_half=False), mask)
                           for r in responses]),
        sampled=sampled, truth=truth_p_skip2, bayes=bayes_p_skip2)


def _concat(parts: list[HeldOutPredictions]) -> HeldOutPredictions:
    """One set of predictions from disjoint sets (sessions renumbered so they stay apart)."""
    fields = {}
    offset, sessions = 0, []
    for part in parts:
        sessions.append(np.unique(part.session, return_inverse=True)[1] + offset)
        offset = sessions[-1].max(initial=offset - 1) + 1
    fields["session"] = np.concatenate(sessions)
    for name in ("position", "length", "outcome", "p_blind", "decision"):
        fields[name] = np.concatenate([getattr(p, name) for p in parts])
    fields["p_forced"] = np.concatenate([p.p_forced for p in parts], axis=1)
    fields["sampled"] = np.concatenate([p.sampled for p in parts], axis=1)
    for name in ("truth", "bayes"):
        values = [getattr(p, name) for p in parts]
        fields[name] = None if any(v is None for v in values) else np.concatenate(values)
    return HeldOutPredictions(**fields)


def summarize(parts: list[HeldOutPredictions]) -> FidelityResult:
    """Score held-out predictions (one part per simulator) as one evaluation."""
    h = _concat(parts)
    skip2 = h.outcome <= 1
    target = metrics.challenge_mask(h.position, h.length, h.session)
    predictors = {"model": metrics.predictor_metrics(h.p_blind[target], skip2[target],
                                                     h.session[target], h.decision[target])}
    for name, predictor in metrics.REFERENCES.items():
        p = predictor(h.session, h.position, h.length, skip2)
        predictors[name] = metrics.predictor_metrics(p, skip2[target], h.session[target])
    pooled = h.p_forced.mean(axis=0)
    teacher = {**_teacher_forced(pooled, skip2),
               "members": [_teacher_forced(p, skip2) for p in h.p_forced]}
    replicates = len(h.sampled)
    span = h.session.max(initial=-1) + 1
    replica_session = (h.session[None, :] + span * np.arange(replicates)[:, None]).ravel()
    sim = metrics.rollout_stats(replica_session, np.tile(h.position, replicates),
                                h.sampled.ravel())
    real = metrics.rollout_stats(h.session, h.position, h.outcome)
    rollout = {"sim": sim, "real": real, "gaps": metrics.compare_rollouts(sim, real),
               "replicates": replicates,
               "teacher_forced_by_position": metrics.mean_by_position(h.position, pooled)}
    synthetic = None
    if h.truth is not None:
        synthetic = {"auc": metrics.roc_auc(pooled, skip2),
                     "oracle_auc": metrics.roc_auc(h.truth, skip2),
                     "correlation": float(np.corrcoef(pooled, h.truth)[0, 1])}
        if h.bayes is not None:
            synthetic["bayes_auc"] = metrics.roc_auc(h.bayes, skip2)
    return FidelityResult(predictors, rollout, synthetic,
                          metrics.reliability_diagram(pooled, skip2), teacher)


def _teacher_forced(p: np.ndarray, skip2: np.ndarray) -> dict[str, float]:
    """Log-loss, AUC and ECE of P(skip_2) `p` against the outcomes."""
    return {"log_loss": metrics.log_loss(p, skip2), "auc": metrics.roc_auc(p, skip2),
            "ece": metrics.expected_calibration_error(p, skip2)}


def evaluate(simulator: FittedSimulator, log: pd.DataFrame, rng: np.random.Generator,
             truth_p_skip2: np.ndarray | None = None, replicates: int = 10,
             members: Sequence[FittedSimulator] = (),
             bayes_p_skip2: np.ndarray | None = None) -> FidelityResult:
    """Evaluate one simulator (its challenge predictions pooled with `members`) on `log`."""
    return summarize([predict(simulator, log, rng, replicates, truth_p_skip2, members,
                              bayes_p_skip2=bayes_p_skip2)])
