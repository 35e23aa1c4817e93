"""The response model: how likely each of the four outcomes is for a track, given the session.

A GRU reads the session so far, one (track embedding, outcome, behaviour) triple a step, starting
from a state set by the context; a small head scores a candidate track from that state, the
candidate's embedding and statistics, the context and the position. Outcomes may be hidden (the
challenge's second half): the outcome input then says "unknown", and the model was trained for
that case. A heard track's logged behaviour (how it started and ended, pauses, seeks) is known
only for the challenge's first half; everywhere else, the env's simulated steps included, it is
"unknown" (all zeros). A step's behaviour enters the state only after that step was scored, so a
row's own behaviour (its reason_end nearly is its label) never reaches its own prediction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from musicgym.data.schema import FIRST_LISTENED, MAX_SESSION_LENGTH
from musicgym.simulator.inputs import (
    BEHAVIOUR_DIM,
    CONTEXT_DIM,
    POSITION_DIM,
    POSITION_ONEHOT,
    STATS_DIM,
    UNKNOWN_OUTCOME,
)

N_OUTCOMES = 4


@dataclass(frozen=True)
class ResponseConfig:
    """Size and training of the response model."""

    hidden: int = 64
    """GRU state and head width."""
    epochs: int = 40
    """Most passes over the training sessions; early stopping usually ends sooner."""
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 4
    """Epochs without a better validation loss before training stops."""
    hide_prob: float = 0.5
    """Share of the behaviour-shown training sessions whose second-half outcomes are hidden,
    as in the challenge's blind predictions."""
    stats_strength: float = 10.0
    """Pseudo-plays that pull a track's skip rate toward the overall rate."""
    behaviour_prob: float = 0.5
    """Share of training sessions whose first-half behaviour is shown, as in the challenge; the
    rest see every outcome and no behaviour, as the env's simulated sessions do."""
    seed: int = 0
    track_weight_decay: float = 0.0
    """L2 penalty (added to the mean per-row loss) on the head's first-layer weights that read
    the candidate track (its embedding, the taste match, its statistics): shrinks per-track
    effects toward what the data support (decision fidelity; NOTES.md)."""
    embedding_shrink: float = 0.0
    """Pseudo-plays k that shrink a track's embedding toward the unknown track's (zero): it is
    scaled by plays / (plays + k), so rarely heard tracks look alike (0: no shrinkage)."""
    max_epoch_sessions: int = 65_536
    """Most training sessions one epoch reads: with more, each epoch reads a fresh seeded
    sample of this many, and the output biases are refitted on one seeded sample of this many.
    It bounds a fit's training work at `epochs` x 512 updates of `batch_size` sessions whatever
    the log's size (a 10M-row log has ~480k training sessions); smaller logs read every
    session each epoch, as before the bound."""
    max_val_sessions: int = 16_384
    """Most validation sessions early stopping, the temperature and the output biases read:
    with more, one seeded sample of this many (drawn once per fit)."""
    history_match: bool = False
    """Give the head two explicit taste-match inputs: the candidate's embedding dotted with the
    mean embedding of the session's earlier listened tracks, and with that of its earlier
    skipped ones (0 without any). The user state then carries those sums and counts."""

    def __post_init__(self) -> None:
        for name in ("hidden", "epochs", "batch_size", "patience", "max_epoch_sessions",
                     "max_val_sessions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        for name in ("hide_prob", "behaviour_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} ({getattr(self, name)}) must be in [0, 1]")
        if self.lr <= 0 or self.stats_strength <= 0:
            raise ValueError("lr and stats_strength must be positive")
        for name in ("track_weight_decay", "embedding_shrink"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 0")

    def to_dict(self) -> dict:
        """The config as plain JSON-ready values; `_OMITTED_AT_DEFAULT` only where not at default.

        The bounds change nothing on a log within them, and `history_match` off is the model
        as it was before the option, so saved configs of such fits keep their bytes (and
        sha256) from before these options existed.
        """
        out = asdict(self)
        for name, default in _OMITTED_AT_DEFAULT.items():
            if out[name] == default:
                del out[name]
        return out


SCALE_BOUNDS = {"max_epoch_sessions": ResponseConfig.max_epoch_sessions,
                "max_val_sessions": ResponseConfig.max_val_sessions}
"""The training bounds that only act on large logs, with their defaults."""
_OMITTED_AT_DEFAULT = {**SCALE_BOUNDS, "history_match": False}
"""Options left out of `ResponseConfig.to_dict` at their defaults: saved configs (and cache
keys) of fits made before them keep their bytes."""


class ResponseNet(nn.Module):
    """GRU over (track, outcome, behaviour) steps plus a head that scores a candidate track."""

    def __init__(self, embeddings: torch.Tensor, track_stats: torch.Tensor, hidden: int,
                 history_match: bool = False) -> None:
        super().__init__()
        dim = embeddings.shape[1]
        self.history_match = history_match
        self.register_buffer("embeddings", embeddings.float())
        self.register_buffer("track_stats", track_stats.float())
        self.initial = nn.Sequential(nn.Linear(CONTEXT_DIM, hidden), nn.Tanh())
        self.gru = nn.GRU(dim + N_OUTCOMES + 1 + CONTEXT_DIM + BEHAVIOUR_DIM, hidden,
                          batch_first=True)
        # taste(state) * embedding lets the head form a bilinear user-track match
        self.taste = nn.Linear(hidden, dim)
        head_in = hidden + 2 * dim + STATS_DIM + CONTEXT_DIM + POSITION_DIM
        head_in += 2 if history_match else 0  # taste match with listened / skipped tracks
        self.head = nn.Sequential(nn.Linear(head_in, hidden), nn.ReLU(),
                                  nn.Linear(hidden, N_OUTCOMES))
        self.log_temperature = nn.Parameter(torch.zeros(()), requires_grad=False)
        # refitted after training so the class shares match the training data (see model.py)
        # per-position output biases, refitted after training (see model._fit_output_bias)
        self.output_bias = nn.Parameter(torch.zeros(MAX_SESSION_LENGTH, N_OUTCOMES),
                                        requires_grad=False)

    @property
    def state_size(self) -> int:
        """Width of a user state.

        The GRU's, plus (with `history_match`) the embedding sums and counts of the listened
        and of the skipped tracks heard so far.
        """
        hidden, dim = self.taste.in_features, self.taste.out_features
        return hidden + (2 * dim + 2 if self.history_match else 0)

    def start(self, context: torch.Tensor) -> torch.Tensor:
        """User states [B, state_size] at the start of sessions with `context` [B, C]."""
        state = self.initial(context)
        if self.history_match:
            state = torch.cat([state, state.new_zeros((len(state), self.state_size
                                                       - state.shape[-1]))], dim=-1)
        return state

    def _heard_sums(self, tracks: torch.Tensor, outcomes: torch.Tensor) -> torch.Tensor:
        """Per heard track [...]: its embedding and 1 in the listened or skipped part [..., 2D+2].

        Listened: skip_2 false (outcome classes 2 and 3); skipped: classes 0 and 1; an unknown
        outcome (4) counts in neither.
        """
        emb = self.embeddings[tracks]
        listened = ((outcomes >= FIRST_LISTENED) & (outcomes < N_OUTCOMES)).to(emb.dtype)
        skipped = (outcomes < FIRST_LISTENED).to(emb.dtype)
        listened, skipped = listened[..., None], skipped[..., None]
        return torch.cat([emb * listened, listened, emb * skipped, skipped], dim=-1)

    def _match(self, sums: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """The two taste-match inputs [..., 2] of candidates `emb` [..., D] from state sums."""
        dim = emb.shape[-1]
        listened = sums[..., :dim] / sums[..., dim:dim + 1].clamp(min=1.0)
        skipped = sums[..., dim + 1:2 * dim + 1] / sums[..., -1:].clamp(min=1.0)
        return torch.stack([(emb * listened).sum(-1), (emb * skipped).sum(-1)], dim=-1)

    def track_weights(self) -> torch.Tensor:
        """The head's first-layer weights on the candidate's embedding, match and statistics."""
        hidden, dim = self.taste.in_features, self.taste.out_features
        return self.head[0].weight[:, hidden:hidden + 2 * dim + STATS_DIM]

    def step_input(self, tracks: torch.Tensor, outcomes: torch.Tensor, context: torch.Tensor,
                   behaviour: torch.Tensor | None = None) -> torch.Tensor:
        """The GRU input for heard tracks [B] with outcomes [B] (4 = unknown).

        `behaviour` [B, BEHAVIOUR_DIM] holds `inputs.behaviour_features`; None is unknown.
        """
        onehot = nn.functional.one_hot(outcomes, N_OUTCOMES + 1).float()
        if behaviour is None:
            behaviour = context.new_zeros((*context.shape[:-1], BEHAVIOUR_DIM))
        return torch.cat([self.embeddings[tracks], onehot, context, behaviour], dim=-1)

    def observe(self, state: torch.Tensor, tracks: torch.Tensor, outcomes: torch.Tensor,
                context: torch.Tensor, behaviour: torch.Tensor | None = None) -> torch.Tensor:
        """Advance the user state [B, H] by one heard track per session."""
        # one GRU step written out: nn.GRU on a length-1 sequence costs ~1 ms on CPU
        hidden = self.taste.in_features
        if self.history_match:
            sums = state[..., hidden:] + self._heard_sums(tracks, outcomes)
            gru = self._gru_step(state[..., :hidden], tracks, outcomes, context, behaviour)
            return torch.cat([gru, sums], dim=-1)
        return self._gru_step(state, tracks, outcomes, context, behaviour)

    def _gru_step(self, state: torch.Tensor, tracks: torch.Tensor, outcomes: torch.Tensor,
                  context: torch.Tensor, behaviour: torch.Tensor | None) -> torch.Tensor:
        """One GRU step of the hidden part of the state."""
        x = self.step_input(tracks, outcomes, context, behaviour)
        gi = nn.functional.linear(x, self.gru.weight_ih_l0, self.gru.bias_ih_l0)
        gh = nn.functional.linear(state, self.gru.weight_hh_l0, self.gru.bias_hh_l0)
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        reset, update = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        candidate = torch.tanh(i_n + reset * h_n)
        return (1.0 - update) * candidate + update * state

    def logits(self, state: torch.Tensor, candidates: torch.Tensor, stats: torch.Tensor,
               context: torch.Tensor, position: torch.Tensor,
               with_bias: bool = True) -> torch.Tensor:
        """Outcome logits [..., 4] for candidates [...] given states and inputs with [..., F]."""
        emb = self.embeddings[candidates]
        hidden = self.taste.in_features
        gru, sums = state[..., :hidden], state[..., hidden:]
        parts = [gru, emb, self.taste(gru) * emb, stats, context, position]
        if self.history_match:
            parts.append(self._match(sums, emb))
        x = torch.cat(parts, dim=-1)
        out = self.head(x) / self.log_temperature.exp()
        if with_bias:
            out = out + position[..., POSITION_ONEHOT] @ self.output_bias
        return out

    def sequence_logits(self, tracks: torch.Tensor, outcome_inputs: torch.Tensor,
                        stats: torch.Tensor, context: torch.Tensor, position: torch.Tensor,
                        behaviour: torch.Tensor | None = None,
                        with_bias: bool = True) -> torch.Tensor:
        """Teacher-forced logits [B, T, 4]: step t is scored from the state after steps < t."""
        steps = tracks.shape[1]
        wide = context[:, None, :].expand(-1, steps, -1)
        start = self.initial(context)
        after, _ = self.gru(self.step_input(tracks, outcome_inputs, wide, behaviour), start[None])
        before = torch.cat([start[:, None, :], after[:, :-1]], dim=1)
        if self.history_match:  # sums over the steps before each step (exclusive)
            sums = self._heard_sums(tracks, outcome_inputs).cumsum(dim=1)
            sums = torch.cat([torch.zeros_like(sums[:, :1]), sums[:, :-1]], dim=1)
            before = torch.cat([before, sums], dim=-1)
        return self.logits(before, tracks, stats, wide, position, with_bias)


def second_half(mask: np.ndarray) -> np.ndarray:
    """Rows [B, T] after the challenge's first half: the first floor(n / 2) of n rows."""
    steps = np.arange(mask.shape[1])
    return steps[None, :] >= (mask.sum(axis=1) // 2)[:, None]


def hide_outcomes(outcomes: np.ndarray, mask: np.ndarray,
                  hidden_sessions: np.ndarray) -> np.ndarray:
    """Copy of `outcomes` [B, T] with second-half outcomes of `hidden_sessions` set unknown."""
    out = outcomes.copy()
    out[second_half(mask) & hidden_sessions[:, None]] = UNKNOWN_OUTCOME
    return out


def first_half_behaviour(codes: np.ndarray, mask: np.ndarray,
                         shown_sessions: np.ndarray) -> np.ndarray:
    """Copy of behaviour codes [B, T, 8]: known in the first half of `shown_sessions` only.

    Second-half behaviour is never shown: the challenge hides it, and the env never has it.
    """
    keep = ~second_half(mask) & np.asarray(shown_sessions, bool)[:, None]
    return np.where(keep[..., None], codes, 0).astype(np.uint8)
