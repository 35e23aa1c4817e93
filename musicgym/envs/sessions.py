"""`SessionBatch`: N simulated listening sessions advanced together with array operations.

The single env is a batch of one; the vector env is a batch of N. Each session starts from a
drawn logged session (its context, its length and its opening tracks with their real outcomes),
then hears the recommended tracks in slate order, each outcome updating the user before the
next. All randomness comes from the generator the caller passes in.

This is the one way into simulated sessions: the envs, the SB3 adapter, evaluation, the
baselines and the Recommender all use its public methods (`reset`, `start`, `step`, `play`,
`observation`, `allowed`, `listen_probs`, `logged_next`, `done`) and read, never write, its
public arrays (`played`, `outcomes`, `n_played`, `length`, `context`, `logged`). Tracks are
catalog rows; the world's user model sees its own rows, mapped by track id.
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import ThreadpoolController

from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES, listened, p_listened
from musicgym.embeddings.catalog import rate_error
from musicgym.envs.bundle import SimulatorBundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.observation import ObservationLayout
from musicgym.simulator.inputs import encode_context
from musicgym.simulator.sampler import DrawnSessions, draw_outcomes
from musicgym.simulator.user_model import UserModel, World


class OneBlasThread:
    """Run BLAS on one thread inside the block, then restore the thread counts.

    The env's matrices are small: multithreaded BLAS on them is slower (50x slower when the
    cores are busy). threadpoolctl's `limit` re-reads library info on every call; this keeps the
    library handles and costs two C calls per library.
    """

    def __init__(self) -> None:
        self.libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        self.saved: list[list[int]] = []  # a stack, so nested blocks restore correctly

    def __enter__(self) -> None:
        self.saved.append([lib.get_num_threads() for lib in self.libraries])
        for lib in self.libraries:
            lib.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        for lib, threads in zip(self.libraries, self.saved.pop(), strict=True):
            lib.set_num_threads(threads)


ONE_BLAS_THREAD = OneBlasThread()

LISTEN_REWARD = np.array([0.0, 1 / 3, 2 / 3, 1.0])
LISTENED_REWARD = listened(np.arange(len(OUTCOMES))).astype(np.float64)
REWARD_TABLES = {"listened": LISTENED_REWARD, "listen": LISTEN_REWARD}
"""Reward of each outcome class, per `EnvConfig.reward`."""
ONEHOT = np.vstack([np.eye(len(OUTCOMES)), np.zeros(len(OUTCOMES))]).astype(np.float32)
"""Outcome one-hot rows; the last, all zeros, stands for an empty history slot."""
CONCENTRATION_WINDOW = 5_000
"""About how many recent recommendations the concentration penalty counts."""
CONCENTRATION_SCALE = 100.0
"""Share over the uniform share at which a track's concentration reaches 1."""


class SessionBatch:
    """State of N sessions: user states, what each heard, context, length and position."""

    def __init__(self, bundle: SimulatorBundle, config: EnvConfig, n: int) -> None:
        self.bundle, self.config, self.n = bundle, config, n
        self.catalog = bundle.catalog
        self.layout = ObservationLayout(config.history_length, bundle.catalog.dim)
        self.reward_table = REWARD_TABLES[config.reward]
        self.world = bundle.world
        self.penalty = config.uncertainty_penalty
        self.concentration_penalty = config.concentration_penalty
        self.support_penalty = config.support_penalty
        self._rate_error = rate_error(bundle.catalog.plays)
        """Largest standard error of each catalog row's listen rate from its training plays."""
        self._recent = np.zeros(len(bundle.catalog.track_ids), np.float64)
        """Exponentially decayed count of the recent recommendations of each catalog row."""
        self._world_row = bundle.world.rows(bundle.catalog.track_ids)
        self.member = np.zeros(n, np.int64)
        """Which of the world's user models is each session's user."""
        self.played = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self.outcomes = np.zeros((n, MAX_SESSION_LENGTH), np.int64)
        self.n_played = np.zeros(n, np.int64)
        self.length = np.full(n, MAX_SESSION_LENGTH, np.int64)
        self.context = np.zeros((n, self.layout.parts["context"][0]), np.float32)
        self.logged = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self._state = np.zeros((len(self.world), n, self.world.members[0].hidden), np.float32)
        self._beliefs: tuple[World, int, np.ndarray, np.ndarray] | None = None
        """The last replayed world, the version of the sessions it saw, its states and its rows
        of the catalog's tracks."""
        self._version = 0
        self._sessions = np.arange(n)[:, None]
        self._steps = np.arange(config.history_length)[None, :]

    # ---- starting sessions -----------------------------------------------------------------
    def reset(self, index: np.ndarray, rng: np.random.Generator,
              logged: np.ndarray | None = None) -> None:
        """Start new sessions in the slots `index`, from logged sessions drawn with `rng`.

        With `logged` (rows of the sampler's sessions, one per slot), start from those instead:
        evaluation replays the same held-out sessions for every agent. With an ensemble, each
        session's user is one member, drawn with `rng`.
        """
        sampler = self.bundle.sampler
        drawn = sampler.draw(rng, len(index)) if logged is None else sampler.take(logged)
        index = np.asarray(index)
        if len(self.world) > 1:
            self.member[index] = rng.integers(len(self.world), size=len(index))
        history = drawn.history_length
        steps = np.arange(MAX_SESSION_LENGTH)[None, :]
        self.logged[index] = np.where(steps < _rows(drawn), drawn.tracks, -1)
        with ONE_BLAS_THREAD:
            self._start(index, np.where(steps < history[:, None], drawn.tracks, -1),
                        np.where(steps < history[:, None], drawn.outcomes, 0), history,
                        drawn.session_length, drawn.context, drawn.session_idx)

    def start(self, index: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
              context: dict[str, np.ndarray], session_length: np.ndarray) -> None:
        """Start sessions in the slots `index` from given histories (no logged session).

        Their user is the world's first member.

        :param tracks: catalog rows heard, oldest first [len(index), H], -1 after the end
        :param outcomes: their outcome classes [len(index), H]
        :param context: per session, "premium", "shuffle", "context_type" and "hour"
        :param session_length: the sessions' lengths, each above its history length
        """
        index = np.asarray(index)
        heard = np.asarray(tracks) >= 0
        history = heard.sum(axis=1)
        if (np.asarray(session_length) <= history).any():
            raise ValueError("session_length must exceed the number of tracks heard")
        padded = np.full((len(index), MAX_SESSION_LENGTH), -1, np.int64)
        codes = np.zeros((len(index), MAX_SESSION_LENGTH), np.int64)
        padded[:, : heard.shape[1]] = np.where(heard, tracks, -1)
        codes[:, : heard.shape[1]] = np.where(heard, outcomes, 0)
        encoded = encode_context(np.asarray(context["premium"]), np.asarray(context["shuffle"]),
                                 np.asarray(context["context_type"]),
                                 np.asarray(context["hour"]), np.asarray(session_length))
        self.logged[index] = -1
        self.member[index] = 0
        with ONE_BLAS_THREAD:
            self._start(index, padded, codes, history, np.asarray(session_length), encoded,
                        None)

    def _start(self, index: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
               history: np.ndarray, session_length: np.ndarray, context: np.ndarray,
               session_idx: np.ndarray | None) -> None:
        """Let the users of slots `index` hear their histories; set their sessions' state."""
        rows = self._world_row[tracks]
        for k, model in enumerate(self.world.members):
            self._state[k, index] = _replay(model, rows, outcomes, history, context, session_idx)
        self.played[index] = tracks
        self.outcomes[index] = outcomes
        self.n_played[index] = history
        self.length[index] = session_length
        self.context[index] = context
        self._version += 1

    # ---- stepping ----------------------------------------------------------------------------
    @property
    def done(self) -> np.ndarray:
        """Sessions that reached their logged length (truncation)."""
        return self.n_played >= self.length

    def step(self, protos: np.ndarray, rng: np.random.Generator,
             active: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Recommend one slate per session from proto-vectors [N, K, dim]; advance the users.

        Only `active` sessions (default: all) hear their slate. Returns rewards [N] and, per
        slot, the tracks, outcomes (-1 for slots not played) and distances.
        """
        with ONE_BLAS_THREAD:
            tracks, distance = self.bundle.decoder.decode(protos, self.played)
            out = self._play(tracks, rng, active)
        return {**out, "distances": distance}

    def play(self, tracks: np.ndarray, rng: np.random.Generator,
             active: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Let each session hear the slate `tracks` [N, K] (catalog rows), in order.

        For agents that choose tracks directly (baselines); `step` decodes proto-vectors first.
        """
        with ONE_BLAS_THREAD:
            return self._play(np.asarray(tracks, np.int64), rng, active)

    def _play(self, tracks: np.ndarray, rng: np.random.Generator,
              active: np.ndarray | None) -> dict[str, np.ndarray]:
        active = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        outcomes = np.full(tracks.shape, -1, np.int64)
        disagreement = np.zeros(tracks.shape)
        concentration = np.zeros(tracks.shape)
        rate_error = np.zeros(tracks.shape)
        reward = np.zeros(self.n)
        live_rows = np.arange(self.n)
        for k in range(tracks.shape[1]):
            live = ~self.done & active
            if not live.any():
                break
            world_rows = self._world_row[tracks[:, k]]
            probs = np.stack([model.probs(self._state[j], world_rows, self.context,
                                          self.n_played + 1, self.length)
                              for j, model in enumerate(self.world.members)])
            # the session's own user answers; the other members only say how sure the world is
            outcome = draw_outcomes(probs[self.member, live_rows], rng)
            spread = p_listened(probs).std(axis=0) if len(probs) > 1 else np.zeros(self.n)
            for j, model in enumerate(self.world.members):
                new_state = model.observe(self._state[j], world_rows, outcome, self.context)
                self._state[j] = np.where(live[:, None], new_state, self._state[j])
            slot = np.minimum(self.n_played, MAX_SESSION_LENGTH - 1)
            rows = live_rows[live]
            self.played[rows, slot[live]] = tracks[live, k]
            self.outcomes[rows, slot[live]] = outcome[live]
            self.n_played[live] += 1
            outcomes[live, k] = outcome[live]
            disagreement[live, k] = spread[live]
            reward[live] += self.reward_table[outcome[live]]
            if self.penalty > 0:
                reward[live] -= self.penalty * spread[live]  # MOPO: r - λ u(s, a)
            rate_error[live, k] = self._rate_error[tracks[live, k]]
            if self.support_penalty > 0:  # pessimism where the data are thin
                reward[live] -= self.support_penalty * rate_error[live, k]
            if self.concentration_penalty > 0:
                concentration[live, k] = self._concentration(tracks[live, k])
                reward[live] -= self.concentration_penalty * concentration[live, k]
        self._version += 1
        return {"reward": reward, "tracks": tracks, "outcomes": outcomes,
                "disagreement": disagreement, "concentration": concentration,
                "rate_error": rate_error}

    def forget_recommendations(self) -> None:
        """Clear what the concentration penalty counts; a seeded reset does, for reproducibility."""
        self._recent[:] = 0.0

    def concentration(self, tracks: np.ndarray) -> np.ndarray:
        """How over-recommended catalog rows `tracks` are now, in [0, 1] (no state change).

        Share of the decayed recent recommendations times the recommendable tracks, over
        `CONCENTRATION_SCALE`: 1 when a track takes 100 times its uniform share. The counts
        grow only while `concentration_penalty` is set; otherwise every track reads 0.
        """
        tracks = np.asarray(tracks, np.int64)
        total = self._recent.sum()
        share = self._recent[tracks] / total if total > 0 else np.zeros(tracks.shape)
        uniform = 1.0 / len(self.catalog.recommendable)
        return np.minimum(share / uniform / CONCENTRATION_SCALE, 1.0)

    def _concentration(self, tracks: np.ndarray) -> np.ndarray:
        """`concentration` of `tracks`; then count them as recommended."""
        value = self.concentration(tracks)
        self._recent *= math.exp(-len(tracks) / CONCENTRATION_WINDOW)
        np.add.at(self._recent, tracks, 1.0)
        return value

    # ---- what agents may read ----------------------------------------------------------------
    def allowed(self) -> np.ndarray:
        """Mask [N, recommendable] of the tracks each session may still hear (decoder order)."""
        return self.bundle.decoder.allowed(self.played)

    def listen_probs(self, sessions: np.ndarray, tracks: np.ndarray,
                     world: World | None = None) -> np.ndarray:
        """P(listened) of catalog rows `tracks` [B] heard next by `sessions` [B] (no state change).

        What a world predicts right now, averaged over its members: greedy references read it.
        `world`: another world than the one that judges (default: the judge), whose users are
        brought up to date by replaying each session's history.
        """
        world = world or self.world
        with ONE_BLAS_THREAD:
            states, world_rows = self._states_in(world)
            rows = world_rows[tracks]
            probs = [_member_probs(model, states[k], sessions, rows, self.context,
                                   self.n_played + 1, self.length)
                     for k, model in enumerate(world.members)]
        return np.mean([p_listened(p) for p in probs], axis=0)

    def _states_in(self, world: World) -> tuple[np.ndarray, np.ndarray]:
        """Every member's user states [K, N, H] of `world`, and its row of each catalog track.

        The states are those of the sessions as they are now (replayed once per change).
        """
        if world is self.world:
            return self._state, self._world_row
        if self._beliefs is None or self._beliefs[0] is not world:
            self._beliefs = (world, -1, None, world.rows(self.catalog.track_ids))
        if self._beliefs[1] != self._version:
            rows = self._beliefs[3]
            states = np.stack([_replay(model, rows[self.played], self.outcomes, self.n_played,
                                       self.context, None) for model in world.members])
            self._beliefs = (world, self._version, states, rows)
        return self._beliefs[2], self._beliefs[3]

    def logged_next(self) -> np.ndarray:
        """Catalog row of the track the real session played at each next position (-1)."""
        slot = np.minimum(self.n_played, MAX_SESSION_LENGTH - 1)
        return np.where(self.n_played < MAX_SESSION_LENGTH,
                        self.logged[np.arange(self.n), slot], -1)

    def observation(self) -> np.ndarray:
        """Flat observations [N, layout.size] (see `observation.py`)."""
        h = self.config.history_length
        index = self.n_played[:, None] - h + self._steps
        valid = index >= 0
        safe = np.maximum(index, 0)
        # invalid slots read the all-zero unknown-track vector and the all-zero outcome row
        rows = np.where(valid, self.played[self._sessions, safe], -1)
        outcomes = np.where(valid, self.outcomes[self._sessions, safe], len(OUTCOMES))
        position = np.stack([(self.n_played + 1) / MAX_SESSION_LENGTH,
                             (self.length - self.n_played) / MAX_SESSION_LENGTH], axis=1)
        parts = [self.catalog.vectors[rows].reshape(self.n, -1),
                 ONEHOT[outcomes].reshape(self.n, -1), valid, self.context, position]
        return np.concatenate(parts, axis=1, dtype=np.float32)


def _member_probs(model: UserModel, state: np.ndarray, sessions: np.ndarray,
                  rows: np.ndarray, context: np.ndarray, position: np.ndarray,
                  length: np.ndarray) -> np.ndarray:
    """Outcome probabilities [B, 4] of tracks `rows` [B] heard by `sessions` [B].

    The per-session arrays are indexed by `sessions`; a model that can score by session (the
    fitted numpy models) computes its session terms once per session.
    """
    by_session = getattr(model, "probs_by_session", None)
    if by_session is not None:
        return by_session(state, sessions, rows, context, position, length)
    return model.probs(state[sessions], rows, context[sessions], position[sessions],
                       length[sessions])


def _replay(model: UserModel, rows: np.ndarray, outcomes: np.ndarray, history: np.ndarray,
            context: np.ndarray, session_idx: np.ndarray | None) -> np.ndarray:
    """User states [B, H] of `model` after each session heard its first `history` tracks.

    :param rows: the model's rows of the tracks heard [B, T]
    :param outcomes: their outcome classes [B, T]
    """
    state = model.initial_state(context, session_idx)
    for t in range(int(np.max(history, initial=0))):
        heard = (t < history)[:, None]
        state = np.where(heard, model.observe(state, rows[:, t], outcomes[:, t], context), state)
    return state


def _rows(drawn: DrawnSessions) -> np.ndarray:
    """Number of logged rows of each drawn session, as a column [n, 1]."""
    return (drawn.positions > 0).sum(axis=1)[:, None]
