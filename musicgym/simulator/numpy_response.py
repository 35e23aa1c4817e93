"""`NumpyResponse`: the response network's inference in numpy, for stepping environments.

For the small batches an env steps (one session, or a few hundred), torch's per-call overhead
dominates the arithmetic; the same forward pass in numpy is several times faster. It mirrors
`ResponseNet.initial`, `observe` and `logits` exactly (tests compare them).
"""

from __future__ import annotations

import numpy as np

from musicgym.data.schema import FIRST_LISTENED, MAX_SESSION_LENGTH
from musicgym.simulator.inputs import (
    BEHAVIOUR_DIM,
    CONTEXT_DIM,
    POSITION_DIM,
    POSITION_ONEHOT,
    STATS_DIM,
    TrackStats,
    behaviour_features,
    position_features,
)
from musicgym.simulator.response_model import ResponseModel
from musicgym.simulator.response_net import N_OUTCOMES


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class NumpyResponse:
    """Batched user-state updates and outcome probabilities, in float32 numpy.

    Everything that depends only on a track (its embedding and statistics through the first
    layers) or only on (position, length) is computed once into lookup tables, so a step costs
    a few table lookups and two small matrix products.
    """

    def __init__(self, model: ResponseModel) -> None:
        w = {k: v.detach().cpu().numpy().astype(np.float32)
             for k, v in model.net.state_dict().items()}
        emb, d = w["embeddings"], w["embeddings"].shape[1]
        self.embeddings = emb
        self.init_w, self.init_b = w["initial.0.weight"].T.copy(), w["initial.0.bias"]
        w_ih = w["gru.weight_ih_l0"].T
        self.track_ih = emb @ w_ih[:d] + w["gru.bias_ih_l0"]
        blocks = np.cumsum([d, N_OUTCOMES + 1, CONTEXT_DIM, BEHAVIOUR_DIM])
        _, self.outcome_ih, self.context_ih, self.behaviour_ih, _ = (
            b.copy() for b in np.split(w_ih, blocks))
        self.w_hh, self.b_hh = w["gru.weight_hh_l0"].T.copy(), w["gru.bias_hh_l0"]
        self.taste_w, self.taste_b = w["taste.weight"].T.copy(), w["taste.bias"]
        self.history_match = model.net.history_match
        self._head_tables(w, model.stats, d)
        self.inv_temperature = np.float32(np.exp(-w["log_temperature"]))

    def _head_tables(self, w: dict[str, np.ndarray], stats: TrackStats, d: int) -> None:
        w1 = w["head.0.weight"].T
        h = len(self.b_hh) // 3
        blocks = np.cumsum([h, d, d, STATS_DIM, CONTEXT_DIM, POSITION_DIM])
        w_state, w_emb, w_match, w_stats, w_ctx, w_pos, w_heard = np.split(w1, blocks)
        self.w_heard = w_heard.copy()  # [2, hidden] with history_match, else [0, hidden]
        rows = np.arange(len(self.embeddings))
        self.track_head = (self.embeddings @ w_emb + stats.features(rows) @ w_stats
                           + w["head.0.bias"]).astype(np.float32)
        self.w_state, self.w_match, self.w_ctx = w_state.copy(), w_match.copy(), w_ctx.copy()
        grid = np.arange(MAX_SESSION_LENGTH + 2)
        pos, length = np.meshgrid(grid, grid, indexing="ij")
        features = position_features(pos, length)
        self.position_head = (features @ w_pos).astype(np.float32)
        self.position_bias = (features[..., POSITION_ONEHOT] @ w["output_bias"]).astype(np.float32)
        self.w2, self.b2 = w["head.2.weight"].T.copy(), w["head.2.bias"]

    @property
    def gru_size(self) -> int:
        """Size of the GRU part of the user state."""
        return len(self.b_hh) // 3

    @property
    def hidden(self) -> int:
        """Size of the user state: the GRU's, plus the heard-track sums with history_match."""
        extra = 2 * self.embeddings.shape[1] + 2 if self.history_match else 0
        return self.gru_size + extra

    def initial_state(self, context: np.ndarray, session_idx: np.ndarray | None = None
                      ) -> np.ndarray:
        """User states [B, H] at the start of sessions with `context` [B, C] (any session)."""
        state = np.tanh(context @ self.init_w + self.init_b)
        if self.history_match:
            state = np.concatenate([state, np.zeros((len(state), self.hidden - self.gru_size),
                                                    state.dtype)], axis=1)
        return state

    def observe(self, state: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
                context: np.ndarray, behaviour: np.ndarray | None = None) -> np.ndarray:
        """User states after each session heard `tracks` [B] with `outcomes` [B].

        `behaviour` [B, 8]: the rows' behaviour codes; None (unknown, all-zero features, so
        no term) in simulated steps.
        """
        h = self.gru_size
        if self.history_match:
            gru = self.observe_gru(state[:, :h], tracks, outcomes, context, behaviour)
            return np.concatenate([gru, state[:, h:] + self._heard(tracks, outcomes)], axis=1)
        return self.observe_gru(state, tracks, outcomes, context, behaviour)

    def _heard(self, tracks: np.ndarray, outcomes: np.ndarray) -> np.ndarray:
        """What heard tracks add to the state's sums (`ResponseNet._heard_sums`) [B, 2D+2]."""
        emb = self.embeddings[tracks]
        listened = ((outcomes >= FIRST_LISTENED) & (outcomes < N_OUTCOMES)).astype(np.float32)
        skipped = (outcomes < FIRST_LISTENED).astype(np.float32)
        listened, skipped = listened[:, None], skipped[:, None]
        return np.concatenate([emb * listened, listened, emb * skipped, skipped], axis=1)

    def observe_gru(self, state: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
                    context: np.ndarray, behaviour: np.ndarray | None = None) -> np.ndarray:
        """The GRU part of `observe`."""
        gi = self.track_ih[tracks] + self.outcome_ih[outcomes] + context @ self.context_ih
        if behaviour is not None:
            gi = gi + behaviour_features(behaviour) @ self.behaviour_ih
        gh = state @ self.w_hh + self.b_hh
        h = self.gru_size
        reset = _sigmoid(gi[:, :h] + gh[:, :h])
        update = _sigmoid(gi[:, h:2 * h] + gh[:, h:2 * h])
        candidate = np.tanh(gi[:, 2 * h:] + reset * gh[:, 2 * h:])
        return (1.0 - update) * candidate + update * state

    def probs(self, state: np.ndarray, candidates: np.ndarray, context: np.ndarray,
              position: np.ndarray, session_length: np.ndarray) -> np.ndarray:
        """Outcome probabilities [B, 4] of one candidate track per session."""
        # no session index: the env step's per-slot call gathers nothing (gathers cost 20%)
        return self.probs_by_session(state, None, candidates, context, position,
                                     session_length)

    def probs_by_session(self, state: np.ndarray, sessions: np.ndarray | None,
                         candidates: np.ndarray, context: np.ndarray, position: np.ndarray,
                         session_length: np.ndarray) -> np.ndarray:
        """`probs` of candidates [B] heard by `sessions` [B], rows of the per-session arrays.

        `state` [N, H], `context` [N, C], `position` [N] and `session_length` [N] are given once
        per session, so the terms that depend on the session alone are computed N times, not
        B times: scoring many candidates per session (greedy references) costs far less.
        `sessions` None: session i hears candidate i (B = N), as `probs`.
        """
        def per(values: np.ndarray) -> np.ndarray:
            return values if sessions is None else values[sessions]

        h = self.gru_size
        gru = state[:, :h]
        taste = per(gru @ self.taste_w + self.taste_b)
        top = MAX_SESSION_LENGTH + 1
        pos = per(np.minimum(position, top))
        length = per(np.minimum(session_length, top))
        emb = self.embeddings[candidates]
        hidden = (per(gru @ self.w_state) + self.track_head[candidates]
                  + (taste * emb) @ self.w_match
                  + per(context @ self.w_ctx) + self.position_head[pos, length])
        if self.history_match:
            sums, d = per(state)[:, h:], emb.shape[1]
            listened = sums[:, :d] / np.maximum(sums[:, d:d + 1], 1.0)
            skipped = sums[:, d + 1:2 * d + 1] / np.maximum(sums[:, -1:], 1.0)
            match = np.stack([(emb * listened).sum(1), (emb * skipped).sum(1)], axis=1)
            hidden = hidden + match @ self.w_heard
        logits = ((np.maximum(hidden, 0.0) @ self.w2 + self.b2) * self.inv_temperature
                  + self.position_bias[pos, length])
        logits -= logits.max(axis=-1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=-1, keepdims=True)
