"""`world="truth"`: on synthetic data the generator itself answers the recommended tracks.

`truth_world(dataset)` is a `World` whose user model, `TruthModel`, is the generator's outcome
model (`musicgym.synthetic.ground_truth`) for the very users who made the logs: each simulated
session that starts from logged session s is answered by s's own taste u and mood b,

    eta = b + w_match * u.z / sqrt(d) + w_pop * q + w_pos[t] + w_hist * (h_t - 1/2) + w_context
          + w_premium * premium + w_shuffle * shuffle + w_hour * cos(2 pi (hour - 3) / 24)
    P(class <= k) = sigmoid(c_{k+1} + eta),   k = 0, 1, 2,

with the candidate's latent vector z and play-quantile score q, and h_t the decayed share of the
session's earlier skip_2 outcomes (updated by `observe`, as the generator does).

Where u and b come from: the generator is seeded and deterministic, and it does not save them.
`recover_latents` re-runs its draws with the config recorded in truth.json (the catalog, then,
chunk by chunk, the session ids and the whole chunk's simulation, in the generator's order)
without writing anything, and keeps u and b of the sessions asked for. It checks the replay
against the saved catalog and the logged session ids, and refuses a set made by another
`GENERATOR_VERSION`. The replay costs about as much as generating the log (seconds for the
default set).

Approximations, where the env does not give what the generator used:
- context type: the generator may switch a session's context before any later track (the
  `context_switch` rows); the env keeps the context of the session's first row, so after a
  switch the truth world answers with the first context's effect and nothing else changes.
- unknown tracks (ids the generator never made, `World.unknown_row`): answered as an average
  track, taste match 0 (the mean of u.z over the latent prior) and popularity score q = 0 (the
  median play), so only the session's mood, position, history and context move them.
- sessions without a logged origin (`session_idx=None`) have no true user: `initial_state`
  raises.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from musicgym.data.dataset import PreparedDataset
from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH
from musicgym.simulator.inputs import CONTEXT_NAMES
from musicgym.simulator.user_model import World
from musicgym.synthetic.bayes import GeneratorTruth
from musicgym.synthetic.catalog import make_catalog
from musicgym.synthetic.dataset import synthetic_root
from musicgym.synthetic.generator import GENERATOR_VERSION, simulate_chunks
from musicgym.synthetic.ground_truth import SessionState, skip_location

_PREMIUM, _SHUFFLE = CONTEXT_NAMES.index("premium"), CONTEXT_NAMES.index("shuffle")
_CONTEXT = [CONTEXT_NAMES.index(f"context_{c}") for c in CONTEXT_TYPES]
_HOUR_SIN, _HOUR_COS = CONTEXT_NAMES.index("hour_sin"), CONTEXT_NAMES.index("hour_cos")


def recover_latents(root: Path, truth: GeneratorTruth,
                    session_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Taste u [S, d] and mood b [S] of the logged sessions `session_ids`: the generator, re-run.

    :param root: the generated set's folder (its truth.json records config and seed).
    :param truth: the set's parameters and track latents (to check the replay against).
    :param session_ids: the ids of the sessions wanted, in the order of the result.
    """
    document = json.loads((root / "truth.json").read_text())
    if document["generator_version"] != GENERATOR_VERSION:
        raise ValueError(f"{root} was made by generator version "
                         f"{document['generator_version']!r}, this code replays version "
                         f"{GENERATOR_VERSION!r}; generate the set again")
    config = document["config"]
    rng = np.random.default_rng(config["seed"])
    catalog = make_catalog(config["n_tracks"], config["latent_dim"], truth.params, rng)
    if not np.array_equal(catalog.latents, truth.latents):
        raise ValueError(f"replaying the generator with the config of {root}/truth.json does not "
                         "give its track_latents.npy; the set was changed after it was made")
    wanted = pd.Index(np.asarray(session_ids, dtype=object))
    taste = np.zeros((len(wanted), config["latent_dim"]), np.float32)
    mood, found = np.zeros(len(wanted)), np.zeros(len(wanted), bool)
    chunks = simulate_chunks(rng, config["n_sessions"], config["chunk_sessions"], catalog,
                             truth.params)
    for _, ids, state, _ in chunks:
        at = wanted.get_indexer(ids.to_numpy(zero_copy_only=False).astype(object))
        hit = at >= 0
        taste[at[hit]], mood[at[hit]], found[at[hit]] = state.taste[hit], state.mood[hit], True
    if not found.all():
        raise ValueError(f"{int((~found).sum())} sessions (e.g. {wanted[~found][0]!r}) are not in "
                         f"the generated set at {root}; use the dataset prepared from that set")
    return taste, mood


class TruthModel:
    """The generator's outcome model as a `UserModel`, for the generated set's own sessions.

    State [B, d + 3] (float32): the session's taste u (d), its mood b, and the decayed sums of
    earlier skip_2 outcomes and of earlier tracks that make h_t = (skips + 1/4) / (tracks + 1/2).
    Premium, shuffle, hour and context type are read from the `context` rows the env passes.
    Nothing is drawn: the model is deterministic.

    :param truth: the set's parameters and per-track latents and popularity scores.
    :param taste: taste u of each session of the prepared dataset [S, d], by `session_idx`.
    :param mood: mood b of each session [S], by `session_idx`.
    """

    def __init__(self, truth: GeneratorTruth, taste: np.ndarray, mood: np.ndarray) -> None:
        self.params = truth.params
        d = truth.latents.shape[1]
        # one extra row: the unknown track, an average track (match 0, popularity score 0)
        self.latents = np.vstack([truth.latents, np.zeros((1, d), np.float32)])
        self.play_z = np.append(truth.play_z, np.float32(0.0))
        self.taste, self.mood = np.asarray(taste, np.float32), np.asarray(mood, np.float64)
        self.position_effects = np.asarray(self.params.position_effects)
        self.cuts = np.asarray(self.params.cut_points)

    @property
    def hidden(self) -> int:
        """Size of the user state: taste, mood and the two history sums."""
        return self.latents.shape[1] + 3

    def initial_state(self, context: np.ndarray, session_idx: np.ndarray | None = None
                      ) -> np.ndarray:
        """User states [B, d + 3] of the logged sessions `session_idx` [B] at their start.

        :param context: the sessions' encoded contexts [B, C] (not needed here: read per step).
        :param session_idx: the prepared dataset's index of the logged session each simulated
            session starts from; required, since only logged sessions have a true user.
        """
        if session_idx is None:
            raise ValueError("world='truth' answers only sessions that start from a logged "
                             "session: pass session_idx (sessions started from a given history "
                             "have no true user)")
        index = np.asarray(session_idx, np.int64)
        if len(index) != len(context):
            raise ValueError(f"session_idx has {len(index)} entries for {len(context)} contexts")
        if ((index < 0) | (index >= len(self.mood))).any():
            raise ValueError(f"session_idx must lie in 0..{len(self.mood) - 1} (sessions of the "
                             f"prepared dataset), got {index.min()}..{index.max()}")
        state = np.zeros((len(index), self.hidden), np.float32)
        d = self.latents.shape[1]
        state[:, :d], state[:, d] = self.taste[index], self.mood[index]
        return state

    def observe(self, state: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
                context: np.ndarray, behaviour: np.ndarray | None = None) -> np.ndarray:
        """User states after each session heard `tracks` [B] with `outcomes` [B].

        Only the outcome enters (h_t counts skip_2, classes 0 and 1); tracks, context and
        behaviour do not change the generator's user.

        :param state: user states [B, d + 3].
        :param tracks: the tracks heard (model rows) [B].
        :param outcomes: their outcome classes [B].
        :param context: the sessions' encoded contexts [B, C].
        :param behaviour: the rows' behaviour codes, ignored.
        """
        decay, d = self.params.history_decay, self.latents.shape[1]
        out = np.array(state, np.float32, copy=True)
        out[:, d + 1] = decay * state[:, d + 1] + (np.asarray(outcomes) <= 1)
        out[:, d + 2] = decay * state[:, d + 2] + 1.0
        return out

    def probs(self, state: np.ndarray, candidates: np.ndarray, context: np.ndarray,
              position: np.ndarray, session_length: np.ndarray) -> np.ndarray:
        """Outcome probabilities [B, 4] of one candidate track per session.

        :param state: user states [B, d + 3].
        :param candidates: model rows of the candidates [B] (`len(track ids)` for unknown).
        :param context: the sessions' encoded contexts [B, C] (premium, shuffle, hour, type).
        :param position: 1-based positions [B]; the generator's w_pos stops changing at 20.
        :param session_length: session lengths [B] (the generator's skips do not depend on it).
        """
        d = self.latents.shape[1]
        z = self.latents[candidates]
        match = np.einsum("nd,nd->n", z, state[:, :d].astype(np.float32)) / np.float32(np.sqrt(d))
        history = (state[:, d + 1].astype(np.float64) + 0.25) / (state[:, d + 2] + 0.5)
        session, types = _session_of(state[:, d], context)
        eta = skip_location(session, 0, types, match, self.play_z[candidates], history,
                            self.params)
        t = np.minimum(np.maximum(np.asarray(position, np.int64), 1), MAX_SESSION_LENGTH) - 1
        eta = eta + (self.position_effects[t] - self.position_effects[0])
        cumulative = expit(self.cuts[None, :] + eta[:, None])
        # the class probabilities are the steps of the cumulative ones (np.diff, without its
        # per-call overhead, which was a tenth of a single env's step)
        out = np.empty((len(eta), len(self.cuts) + 1))
        out[:, 0] = cumulative[:, 0]
        out[:, 1:-1] = cumulative[:, 1:] - cumulative[:, :-1]
        out[:, -1] = 1.0 - cumulative[:, -1]
        return out


def _session_of(mood: np.ndarray, context: np.ndarray) -> tuple[SessionState, np.ndarray]:
    """The generator's per-session variables decoded from encoded contexts, and context types.

    :param mood: the sessions' moods [B].
    :param context: encoded contexts [B, C] (`inputs.encode_context`).
    """
    onehot = context[:, _CONTEXT]
    if (onehot.max(axis=1) <= 0).any():
        raise ValueError("world='truth' needs each session's context type; a context row has "
                         f"none of {CONTEXT_TYPES}")
    angle = np.arctan2(context[:, _HOUR_SIN], context[:, _HOUR_COS]).astype(np.float64)
    hour = np.rint(angle * 24.0 / (2 * np.pi)) % 24  # hours are whole in the MSSD
    session = SessionState(length=None, premium=context[:, _PREMIUM] > 0.5,
                           shuffle=context[:, _SHUFFLE] > 0.5, hour=hour, day=None, taste=None,
                           mood=mood.astype(np.float64), context=None)
    return session, onehot.argmax(axis=1)


def truth_world(dataset: PreparedDataset) -> World:
    """The generator's own users as a world, for a dataset prepared from a generated set.

    :param dataset: a prepared dataset made from a folder written by `musicgym generate`; its
        sessions' `session_idx` is what `TruthModel.initial_state` takes.
    """
    root = synthetic_root(dataset)
    if root is None:
        raise ValueError(f"world='truth' needs data made by musicgym generate; the dataset at "
                         f"{dataset.path} was not prepared from a generated set (or that set "
                         "has moved); make data with `musicgym generate` or use a fitted world")
    truth = GeneratorTruth.from_dir(root)
    taste, mood = recover_latents(root, truth, dataset.sessions["session_id"].to_numpy())
    return World((TruthModel(truth, taste, mood),), np.asarray(truth.track_ids, dtype=object))
