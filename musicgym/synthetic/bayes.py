"""The observable Bayes reference on synthetic data: the generator's own posterior predictive.

The generator's true P(skip_2) (`ground_truth.parquet`) uses each session's latent taste u and
mood b, which no model of the logs can see. The best any history-based predictor can do is the
posterior predictive under the true model,

    P(skip_2 at t | obs_<t, track_t) = E[ sigmoid(c_2 + eta_t(u, b)) | obs_<t, track_t ],

where obs_<t are the session's earlier tracks and outcome classes and its context (premium,
shuffle, hour, per-row context type). It is computed by importance sampling: M draws of (u, b)
per session from the generator's own priors, weighted sequentially by the likelihood of what was
observed. Two kinds of evidence enter the weights:

- each earlier outcome class (the ordered logit's class probability under the draw);
- each track pick up to t: the generator picks the best of K popularity-drawn candidates by
  beta_context * u.z / sqrt(d) + Gumbel noise, so in taste-driven contexts the tracks played say
  something about u. Its u-dependent factor is E[e_i / (e_i + sum of K-1 others)], tabulated
  (`PickTable`) with the others' matches taken as normal under the popularity-weighted catalog.

Track latents z and popularity are per-track facts shared by every session (a fitted model
learns them from features and plays), so the reference uses them exactly; the per-session latents
never enter (they are not read: `ground_truth.parquet` is not opened). Each synthetic session is
its own user (a fresh u per session), so conditioning on the current session alone is exact: no
other session carries information about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.special import expit, logsumexp

from musicgym.data.schema import CONTEXT_TYPES, FEATURE_COLUMNS, MAX_SESSION_LENGTH
from musicgym.synthetic.catalog import play_scores
from musicgym.synthetic.ground_truth import SessionState, skip_location
from musicgym.synthetic.parameters import GroundTruthParameters


@dataclass(frozen=True)
class GeneratorTruth:
    """The per-track facts and fixed parameters of one generated set (no per-session latents)."""

    params: GroundTruthParameters
    track_ids: pd.Index
    latents: np.ndarray
    play_z: np.ndarray
    popularity: np.ndarray

    @classmethod
    def from_dir(cls, root: str | Path) -> GeneratorTruth:
        """Read truth.json, the track ids, latents and popularity of a generated set."""
        root = Path(root)
        document = json.loads((root / "truth.json").read_text())
        raw = document["config"]["params"]
        params = GroundTruthParameters(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        files = document["files"]
        id_column = FEATURE_COLUMNS[0].name
        features = root / files["track_features"]
        if features.suffix == ".parquet":
            ids = pq.read_table(features, columns=[id_column]).column(0).to_numpy()
        else:
            ids = pd.read_csv(features, usecols=[id_column])[id_column].to_numpy()
        popularity = np.load(root / files["track_popularity"])
        return cls(params, pd.Index(ids), np.load(root / files["track_latents"]),
                   play_scores(popularity), popularity)


@dataclass(frozen=True)
class ObservedSessions:
    """What a model of the logs sees of each session, as [sessions, 20] grids."""

    track: np.ndarray
    context: np.ndarray
    outcome: np.ndarray
    mask: np.ndarray
    premium: np.ndarray
    shuffle: np.ndarray
    hour: np.ndarray

    @classmethod
    def from_log(cls, log: pd.DataFrame, truth: GeneratorTruth) -> ObservedSessions:
        """Grids of a prepared log (sorted by session then position; outcome classes 0..3)."""
        session = log["session_idx"].to_numpy()
        starts = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
        row = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(session)]))
        step = log["session_position"].to_numpy().astype(np.int64) - 1
        track = truth.track_ids.get_indexer(log["track_id_clean"].to_numpy())
        if (track < 0).any():
            raise ValueError(f"{int((track < 0).sum())} rows play tracks that are not in the "
                             "generated catalog; pass the log of the same synthetic set")
        context = pd.Categorical(log["context_type"].to_numpy(), categories=CONTEXT_TYPES).codes

        def grid(values: np.ndarray) -> np.ndarray:
            out = np.zeros((len(starts), MAX_SESSION_LENGTH), dtype=values.dtype)
            out[row, step] = values
            return out

        first = log.iloc[starts]
        return cls(grid(track), grid(context.astype(np.int64)),
                   grid(log["outcome"].to_numpy().astype(np.int64)),
                   grid(np.ones(len(log), bool)),
                   first["premium"].to_numpy().astype(np.float64),
                   first["hist_user_behavior_is_shuffle"].to_numpy().astype(np.float64),
                   first["hour_of_day"].to_numpy().astype(np.float64))

    def __len__(self) -> int:
        """Number of sessions."""
        return len(self.track)

    def subset(self, index: slice) -> ObservedSessions:
        """The sessions in `index`."""
        return ObservedSessions(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class PickTable:
    """The pick likelihood's taste-dependent factor f, as a table of log f(a, s).

    f(a, s) = E[1 / (1 + exp(-a) * sum_{j<K} exp(s * xi_j))], xi_j ~ N(0, 1). With
    a = beta * (m_i - mean m) and s = beta * sd(m) over the popularity-drawn candidates, f is the
    chance that track i wins against K - 1 random candidates: the taste-dependent part of the
    likelihood of a pick. Tabulated once by Monte Carlo, read by bilinear interpolation.
    """

    a: np.ndarray
    s: np.ndarray
    log_f: np.ndarray

    @classmethod
    def build(cls, rng: np.random.Generator, n_candidates: int,
              samples: int = 4096) -> PickTable:
        """Tabulate over a in [-24, 24] and s in [0, 8]."""
        a, s = np.linspace(-24.0, 24.0, 193), np.linspace(0.0, 8.0, 65)
        xi = rng.standard_normal((samples, n_candidates - 1))
        log_sum = logsumexp(s[:, None, None] * xi[None], axis=2)  # [s, samples]
        f = expit(a[None, :, None] - log_sum[:, None, :]).mean(axis=2)  # [s, a]
        return cls(a, s, np.log(np.maximum(f, 1e-300)).T)

    def __call__(self, a: np.ndarray, s: np.ndarray) -> np.ndarray:
        """The table's log f at (a, s), broadcast; a and s are clipped to its range."""
        ia = np.clip((a - self.a[0]) / (self.a[1] - self.a[0]), 0, len(self.a) - 1.000001)
        js = np.clip((s - self.s[0]) / (self.s[1] - self.s[0]), 0, len(self.s) - 1.000001)
        i, j = ia.astype(np.int64), js.astype(np.int64)
        u, v = ia - i, js - j
        t = self.log_f
        return ((1 - u) * (1 - v) * t[i, j] + u * (1 - v) * t[i + 1, j]
                + (1 - u) * v * t[i, j + 1] + u * v * t[i + 1, j + 1])


def _class_probabilities(cum: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """P(observed class) from the cumulative P(class <= k), k = 0..2, in the last axis."""
    full = np.concatenate([np.zeros(cum.shape[:-1] + (1,)), cum,
                           np.ones(cum.shape[:-1] + (1,))], axis=-1)
    index = np.broadcast_to(outcome[:, None, None], cum.shape[:-1] + (1,))
    return (np.take_along_axis(full, index + 1, -1) - np.take_along_axis(full, index, -1))[..., 0]


def _predict_batch(truth: GeneratorTruth, obs: ObservedSessions, rng: np.random.Generator,
                   draws: int, picks: PickTable | None) -> np.ndarray:
    """Posterior-predictive P(skip_2) [sessions, 20] of one batch of sessions."""
    p, (n, d) = truth.params, (len(obs), truth.latents.shape[1])
    taste = rng.standard_normal((n, draws, d))  # u ~ N(0, I_d), the generator's prior
    state = SessionState(length=obs.mask.sum(1), premium=obs.premium[:, None],
                         shuffle=obs.shuffle[:, None], hour=obs.hour[:, None], day=None,
                         taste=taste, mood=rng.normal(0.0, p.session_effect_std, (n, draws)),
                         context=obs.context[:, 0])
    # mean and sd of the candidates' taste match m under the popularity draw, per taste draw
    pool_mean = truth.popularity @ truth.latents.astype(np.float64)
    pool_cov = (truth.latents.T * truth.popularity) @ truth.latents - np.outer(pool_mean, pool_mean)
    m_mean = taste @ pool_mean / np.sqrt(d)
    m_sd = np.sqrt(np.einsum("nmd,de,nme->nm", taste, pool_cov, taste) / d)
    beta, cuts = np.asarray(p.taste_sharpness), np.asarray(p.cut_points)
    log_w, out = np.zeros((n, draws)), np.zeros((n, MAX_SESSION_LENGTH))
    skipped_w, weight = np.zeros(n), np.zeros(n)
    for t in range(MAX_SESSION_LENGTH):
        seen = obs.mask[:, t][:, None]
        track, context = obs.track[:, t], obs.context[:, t]
        match = np.einsum("nmd,nd->nm", taste, truth.latents[track]) / np.sqrt(d)
        if picks is not None:
            b = beta[context][:, None]
            log_w += seen * picks(b * (match - m_mean), b * m_sd)
        history = (skipped_w + 0.25) / (weight + 0.5)  # h_t, from observed outcomes only
        eta = skip_location(state, t, context[:, None], match, truth.play_z[track][:, None],
                            history[:, None], p)
        cum = expit(cuts + eta[..., None])
        w = np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True))
        out[:, t] = (w * cum[..., 1]).sum(axis=1)
        likelihood = _class_probabilities(cum, obs.outcome[:, t])
        log_w += seen * np.log(np.maximum(likelihood, 1e-300))
        skipped_w = p.history_decay * skipped_w + (obs.outcome[:, t] <= 1)
        weight = p.history_decay * weight + 1.0
    return out


def posterior_predictive(truth: GeneratorTruth, sessions: ObservedSessions,
                         rng: np.random.Generator, draws: int = 512, picks: bool = True,
                         batch: int = 256) -> np.ndarray:
    """The generator's P(skip_2) per logged row given only what precedes it in its session.

    :param truth: the generated set's parameters and per-track facts.
    :param sessions: the observed sessions.
    :param rng: the source of the prior draws (and of the pick table).
    :param draws: prior draws (u, b) per session.
    :param picks: also weight by the likelihood of the tracks played (else outcomes only).
    :param batch: sessions per vectorized batch (bounds memory: batch * draws * latent_dim).
    :return: P(skip_2) of every logged row, rows in the order of `sessions.mask`
        (session-major).
    """
    if draws < 1:
        raise ValueError(f"draws ({draws}) must be at least 1")
    table = PickTable.build(rng, truth.params.n_candidates) if picks else None
    out = np.zeros(sessions.mask.shape)
    for start in range(0, len(sessions), batch):
        index = slice(start, start + batch)
        out[index] = _predict_batch(truth, sessions.subset(index), rng, draws, table)
    return out[sessions.mask]


def bayes_p_skip2(root: str | Path, log: pd.DataFrame, rng: np.random.Generator,
                  draws: int = 512) -> np.ndarray:
    """`posterior_predictive` for the rows of a prepared `log` drawn from the set at `root`."""
    truth = GeneratorTruth.from_dir(root)
    return posterior_predictive(truth, ObservedSessions.from_log(log, truth), rng, draws)
