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

import numpy as np
from threadpoolctl import ThreadpoolController

from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES, listened, p_listened
from musicgym.envs.bundle import SimulatorBundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.observation import ObservationLayout
from musicgym.simulator.inputs import encode_context
from musicgym.simulator.sampler import DrawnSessions, draw_outcomes


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


class SessionBatch:
    """State of N sessions: user states, what each heard, context, length and position."""

    def __init__(self, bundle: SimulatorBundle, config: EnvConfig, n: int) -> None:
        self.bundle, self.config, self.n = bundle, config, n
        self.catalog = bundle.catalog
        self.layout = ObservationLayout(config.history_length, bundle.catalog.dim)
        self.reward_table = REWARD_TABLES[config.reward]
        self.model = bundle.world.model
        self._world_row = bundle.world.rows(bundle.catalog.track_ids)
        self.played = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self.outcomes = np.zeros((n, MAX_SESSION_LENGTH), np.int64)
        self.n_played = np.zeros(n, np.int64)
        self.length = np.full(n, MAX_SESSION_LENGTH, np.int64)
        self.context = np.zeros((n, self.layout.parts["context"][0]), np.float32)
        self.logged = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self._state = np.zeros((n, self.model.hidden), np.float32)
        self._sessions = np.arange(n)[:, None]
        self._steps = np.arange(config.history_length)[None, :]

    # ---- starting sessions -----------------------------------------------------------------
    def reset(self, index: np.ndarray, rng: np.random.Generator,
              logged: np.ndarray | None = None) -> None:
        """Start new sessions in the slots `index`, from logged sessions drawn with `rng`.

        With `logged` (rows of the sampler's sessions, one per slot), start from those instead:
        evaluation replays the same held-out sessions for every agent.
        """
        sampler = self.bundle.sampler
        drawn = sampler.draw(rng, len(index)) if logged is None else sampler.take(logged)
        index = np.asarray(index)
        history = drawn.history_length
        steps = np.arange(MAX_SESSION_LENGTH)[None, :]
        self.logged[index] = np.where(steps < _rows(drawn), drawn.tracks, -1)
        with ONE_BLAS_THREAD:
            self._start(index, np.where(steps < history[:, None], drawn.tracks, -1),
                        np.where(steps < history[:, None], drawn.outcomes, 0), history,
                        drawn.session_length, drawn.context)

    def start(self, index: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
              context: dict[str, np.ndarray], session_length: np.ndarray) -> None:
        """Start sessions in the slots `index` from given histories (no logged session).

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
        with ONE_BLAS_THREAD:
            self._start(index, padded, codes, history, np.asarray(session_length), encoded)

    def _start(self, index: np.ndarray, tracks: np.ndarray, outcomes: np.ndarray,
               history: np.ndarray, session_length: np.ndarray, context: np.ndarray) -> None:
        """Let the users of slots `index` hear their histories; set their sessions' state."""
        state = self.model.initial_state(context)
        for t in range(int(history.max(initial=0))):
            heard = (t < history)[:, None]
            state = np.where(heard, self.model.observe(state, self._world_row[tracks[:, t]],
                                                       outcomes[:, t], context), state)
        self.played[index] = tracks
        self.outcomes[index] = outcomes
        self.n_played[index] = history
        self.length[index] = session_length
        self.context[index] = context
        self._state[index] = state

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
        model = self.model
        active = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        outcomes = np.full(tracks.shape, -1, np.int64)
        reward = np.zeros(self.n)
        live_rows = np.arange(self.n)
        for k in range(tracks.shape[1]):
            live = ~self.done & active
            if not live.any():
                break
            world_rows = self._world_row[tracks[:, k]]
            probs = model.probs(self._state, world_rows, self.context, self.n_played + 1,
                                self.length)
            outcome = draw_outcomes(probs, rng)
            new_state = model.observe(self._state, world_rows, outcome, self.context)
            self._state = np.where(live[:, None], new_state, self._state)
            slot = np.minimum(self.n_played, MAX_SESSION_LENGTH - 1)
            rows = live_rows[live]
            self.played[rows, slot[live]] = tracks[live, k]
            self.outcomes[rows, slot[live]] = outcome[live]
            self.n_played[live] += 1
            outcomes[live, k] = outcome[live]
            reward[live] += self.reward_table[outcome[live]]
        return {"reward": reward, "tracks": tracks, "outcomes": outcomes}

    # ---- what agents may read ----------------------------------------------------------------
    def allowed(self) -> np.ndarray:
        """Mask [N, recommendable] of the tracks each session may still hear (decoder order)."""
        return self.bundle.decoder.allowed(self.played)

    def listen_probs(self, sessions: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """P(listened) of catalog rows `tracks` [B] heard next by `sessions` [B] (no state change).

        What the world's user model predicts right now: greedy references read it.
        """
        with ONE_BLAS_THREAD:
            probs = self.model.probs(self._state[sessions], self._world_row[tracks],
                                     self.context[sessions], self.n_played[sessions] + 1,
                                     self.length[sessions])
        return p_listened(probs)

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


def _rows(drawn: DrawnSessions) -> np.ndarray:
    """Number of logged rows of each drawn session, as a column [n, 1]."""
    return (drawn.positions > 0).sum(axis=1)[:, None]
