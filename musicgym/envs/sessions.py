"""`SessionBatch`: N simulated listening sessions advanced together with array operations.

The single env is a batch of one; the vector env is a batch of N. Each session starts from a
drawn logged session (its context, its length and its opening tracks with their real outcomes),
then hears the recommended tracks in slate order, each outcome updating the user before the
next. All randomness comes from the generator the caller passes in.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import ThreadpoolController

from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES
from musicgym.envs.bundle import SimulatorBundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.observation import ObservationLayout
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
NOT_SKIPPED_REWARD = np.array([0.0, 0.0, 1.0, 1.0])
ONEHOT = np.vstack([np.eye(len(OUTCOMES)), np.zeros(len(OUTCOMES))]).astype(np.float32)
"""Outcome one-hot rows; the last, all zeros, stands for an empty history slot."""


class SessionBatch:
    """State of N sessions: user states, what each heard, context, length and position."""

    def __init__(self, bundle: SimulatorBundle, config: EnvConfig, n: int) -> None:
        self.bundle, self.config, self.n = bundle, config, n
        self.layout = ObservationLayout(config.history_length, bundle.vectors.shape[1])
        self.reward_table = LISTEN_REWARD if config.reward == "listen" else NOT_SKIPPED_REWARD
        self.played = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self.outcomes = np.zeros((n, MAX_SESSION_LENGTH), np.int64)
        self.n_played = np.zeros(n, np.int64)
        self.length = np.full(n, MAX_SESSION_LENGTH, np.int64)
        self.context = np.zeros((n, self.layout.parts["context"][0]), np.float32)
        self.logged = np.full((n, MAX_SESSION_LENGTH), -1, np.int64)
        self.state = np.zeros((n, bundle.response.hidden), np.float32)
        self._sessions = np.arange(n)[:, None]
        self._steps = np.arange(config.history_length)[None, :]

    def reset(self, index: np.ndarray, rng: np.random.Generator,
              logged: np.ndarray | None = None) -> None:
        """Start new sessions in the slots `index`, from logged sessions drawn with `rng`.

        With `logged` (rows of the sampler's sessions, one per slot), start from those instead:
        evaluation replays the same held-out sessions for every agent.
        """
        sampler = self.bundle.sampler
        drawn = sampler.draw(rng, len(index)) if logged is None else sampler.take(logged)
        with ONE_BLAS_THREAD:
            self._reset(np.asarray(index), drawn)

    def _reset(self, index: np.ndarray, drawn: DrawnSessions) -> None:
        model = self.bundle.response
        history = drawn.history_length
        state = model.initial_state(drawn.context)
        for t in range(int(history.max(initial=0))):
            heard = (t < history)[:, None]
            state = np.where(heard, model.observe(state, drawn.tracks[:, t],
                                                  drawn.outcomes[:, t], drawn.context), state)
        steps = np.arange(MAX_SESSION_LENGTH)[None, :]
        self.played[index] = np.where(steps < history[:, None], drawn.tracks, -1)
        self.outcomes[index] = np.where(steps < history[:, None], drawn.outcomes, 0)
        self.n_played[index] = history
        self.length[index] = drawn.session_length
        self.context[index] = drawn.context
        self.logged[index] = np.where(np.arange(MAX_SESSION_LENGTH) < _rows(drawn), drawn.tracks,
                                      -1)
        self.state[index] = state

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
        """Let each session hear the slate `tracks` [N, K] (simulator rows), in order.

        For agents that choose tracks directly (baselines); `step` decodes proto-vectors first.
        """
        with ONE_BLAS_THREAD:
            return self._play(np.asarray(tracks, np.int64), rng, active)

    def _play(self, tracks: np.ndarray, rng: np.random.Generator,
              active: np.ndarray | None) -> dict[str, np.ndarray]:
        model = self.bundle.response
        active = np.ones(self.n, bool) if active is None else np.asarray(active, bool)
        outcomes = np.full(tracks.shape, -1, np.int64)
        reward = np.zeros(self.n)
        live_rows = np.arange(self.n)
        for k in range(tracks.shape[1]):
            live = ~self.done & active
            if not live.any():
                break
            probs = model.probs(self.state, tracks[:, k], self.context, self.n_played + 1,
                                self.length)
            outcome = draw_outcomes(probs, rng)
            new_state = model.observe(self.state, tracks[:, k], outcome, self.context)
            self.state = np.where(live[:, None], new_state, self.state)
            slot = np.minimum(self.n_played, MAX_SESSION_LENGTH - 1)
            rows = live_rows[live]
            self.played[rows, slot[live]] = tracks[live, k]
            self.outcomes[rows, slot[live]] = outcome[live]
            self.n_played[live] += 1
            outcomes[live, k] = outcome[live]
            reward[live] += self.reward_table[outcome[live]]
        return {"reward": reward, "tracks": tracks, "outcomes": outcomes}

    def logged_next(self) -> np.ndarray:
        """Simulator row of the track the real session played at each next position (-1)."""
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
        parts = [self.bundle.vectors[rows].reshape(self.n, -1),
                 ONEHOT[outcomes].reshape(self.n, -1), valid, self.context, position]
        return np.concatenate(parts, axis=1, dtype=np.float32)


def _rows(drawn) -> np.ndarray:
    """Number of logged rows of each drawn session, as a column [n, 1]."""
    return (drawn.positions > 0).sum(axis=1)[:, None]
