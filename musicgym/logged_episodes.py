"""The logged sessions of a dataset split as `MusicRec-v0` episodes, for offline learning.

Each logged session is one episode, built through the env's own code paths so that its
observations are what `MusicRec-v0` builds by construction:

- it starts as the env's `reset` starts a session (`SessionBatch.reset` with the session's row:
  the same opening history, `history_fraction` of its logged tracks with their real outcomes);
- each step plays the next logged track with its logged outcome, appended to the session as the
  env appends a played track, and the observation is `SessionBatch.observation`;
- the action is the logged track's catalog vector (in the action space, like the vectors of
  played tracks that the agents' replay buffers store; the "dot" decoder may map it to another
  track, the "nearest" and "cosine" decoders map it to itself); the reward is the env's reward table
  (`reward`) of the logged outcome. The world's penalties (`uncertainty_penalty`,
  `concentration_penalty`, `support_penalty`) are the simulator's doubt about simulated
  answers: logged answers are real, so they carry none;
- the episode is truncated after the session's last logged track (its logged length, or
  earlier for the rare session cut short in the log), never terminated, as in the env.

A logged track that is not recommendable (fewer than `min_plays` training plays) stays in its
episode, since the user heard it and later observations show it: its action is still its
catalog vector and `recommendable` marks the step False, so learners can leave it out (an
agent can never play it). Sessions of another log mapped into the catalog (`test_data`) may
hold tracks outside the catalog: their action is the zero vector of `Catalog.unknown_row`.

Logged sessions play one track per step, so only `slate_size=1` has logged episodes;
`minari_export.record_episodes` records any agent's episodes in the env at any slate size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from musicgym.data.schema import MAX_SESSION_LENGTH
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvArgumentError, EnvConfig
from musicgym.envs.sessions import SessionBatch

BATCH = 1024
"""Logged sessions built together (memory: about 20 observations of each)."""


@dataclass(frozen=True, eq=False)
class Episodes:
    """Episodes of `MusicRec-v0` as flat arrays: E episodes, S steps in all.

    Episode i has steps `starts[i]:starts[i + 1]` of the step arrays and observations
    `starts[i] + i : starts[i + 1] + i + 1` (one more observation than steps: the last one is
    the observation after its last step).

    :param observations: [S + E, obs size] float32
    :param actions: [S, action size] float32, in [-1, 1]
    :param rewards: [S] float64, the env's reward
    :param tracks: [S, K] catalog rows played at each step (-1: slot not played)
    :param outcomes: [S, K] outcome codes (-1: slot not played)
    :param recommendable: [S] whether every played track of the step is recommendable
    :param starts: [E + 1] offsets of the episodes in the step arrays
    :param session_idx: [E] the logged session of each episode (-1: not known)
    :param config: the env config the episodes are episodes of
    :param catalog_checksum: the checksum of that env's catalog
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    tracks: np.ndarray
    outcomes: np.ndarray
    recommendable: np.ndarray
    starts: np.ndarray
    session_idx: np.ndarray
    config: EnvConfig
    catalog_checksum: str

    def __len__(self) -> int:
        return len(self.starts) - 1

    @property
    def steps(self) -> int:
        """Steps (transitions) over all episodes."""
        return int(self.starts[-1])

    def lengths(self) -> np.ndarray:
        """Steps of each episode [E]."""
        return np.diff(self.starts)

    def episode(self, i: int) -> dict[str, np.ndarray]:
        """Episode i: observations [T + 1, size], actions, rewards, tracks, outcomes [T, ...]."""
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return {"observations": self.observations[a + i: b + i + 1],
                "actions": self.actions[a:b], "rewards": self.rewards[a:b],
                "tracks": self.tracks[a:b], "outcomes": self.outcomes[a:b],
                "recommendable": self.recommendable[a:b]}

    def transitions(self) -> dict[str, np.ndarray]:
        """(s, a, r, s') of every step for offline learners, and `last`: the episodes' ends.

        An episode's end is the session's (a truncation, as in the env): no reward follows it,
        so the learners here do not bootstrap past it.
        """
        episode = np.repeat(np.arange(len(self)), self.lengths())
        index = np.arange(self.steps) + episode
        last = np.zeros(self.steps, bool)
        last[self.starts[1:] - 1] = True
        return {"observations": self.observations[index], "actions": self.actions,
                "rewards": self.rewards, "next_observations": self.observations[index + 1],
                "last": last, "tracks": self.tracks, "recommendable": self.recommendable}


class _LoggedSessions(SessionBatch):
    """`SessionBatch` whose sessions hear their logged tracks with their logged outcomes."""

    def hear(self, tracks: np.ndarray, outcomes: np.ndarray, live: np.ndarray) -> None:
        """Append track `tracks[i]` with outcome `outcomes[i]` to each live session i.

        Exactly the bookkeeping of `SessionBatch._play` for a played slot; the users' states
        are not advanced, because no simulated answer is drawn and observations do not read
        them.
        """
        rows = np.flatnonzero(live)
        slot = self.n_played[rows]
        self.played[rows, slot] = tracks[rows]
        self.outcomes[rows, slot] = outcomes[rows]
        self.n_played[rows] += 1
        self._version += 1


def check_logged_config(config: EnvConfig) -> EnvConfig:
    """The config with paths as text (JSON-ready env kwargs); raise for `slate_size` > 1."""
    if not isinstance(config, EnvConfig):
        raise TypeError(f"config must be an EnvConfig, not {type(config).__name__}")
    if config.slate_size != 1:
        raise EnvArgumentError(f"slate_size ({config.slate_size}): logged sessions play one "
                               "track per step, so only slate_size=1 has logged episodes; "
                               "record an agent's episodes in the env for larger slates")
    return text_paths(config)


def text_paths(config: EnvConfig) -> EnvConfig:
    """The config with `data` and `test_data` as str (what `gym.make` kwargs in JSON hold)."""
    return replace(config, **{name: str(getattr(config, name))
                              for name in ("data", "test_data")
                              if getattr(config, name) is not None})


@functools.lru_cache(maxsize=4)
def logged_episodes(config: EnvConfig) -> Episodes:
    """The logged sessions of `config.sessions` as episodes of the env `config` makes.

    The sessions are the env's own: those its resets draw from (for `sessions="train"`, the
    training sessions of the catalog's half). Memoised per config (the arrays are read-only).
    """
    config = check_logged_config(config)
    bundle = load_bundle(config)
    n = len(bundle.sampler)
    parts = [_build(bundle, config, np.arange(a, min(a + BATCH, n))) for a in range(0, n, BATCH)]
    lengths = np.concatenate([p["lengths"] for p in parts])
    arrays = {key: np.concatenate([p[key] for p in parts])
              for key in ("observations", "actions", "rewards", "tracks", "outcomes")}
    session_idx = np.concatenate([p["session_idx"] for p in parts]).astype(np.int64)
    for value in arrays.values():
        value.flags.writeable = False
    catalog = bundle.catalog
    recommendable = np.isin(arrays["tracks"][:, 0], catalog.recommendable)
    return Episodes(**arrays, recommendable=recommendable,
                    starts=np.concatenate([[0], np.cumsum(lengths)]),
                    session_idx=session_idx,
                    config=config, catalog_checksum=catalog.checksum)


def _build(bundle, config: EnvConfig, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The episodes of the sampler's sessions `rows`, as flat arrays."""
    b = len(rows)
    sessions = _LoggedSessions(bundle, config, b)
    # the generator only draws ensemble members, which observations do not show
    sessions.reset(np.arange(b), np.random.default_rng(0), logged=rows)
    drawn = bundle.sampler.take(rows)
    logged_rows = (drawn.positions > 0).sum(axis=1)
    steps = np.minimum(logged_rows, sessions.length) - sessions.n_played
    obs = np.zeros((b, MAX_SESSION_LENGTH + 1, sessions.layout.size), np.float32)
    tracks = np.full((b, MAX_SESSION_LENGTH), -1, np.int64)
    outcomes = np.full((b, MAX_SESSION_LENGTH), -1, np.int64)
    for t in range(int(steps.max(initial=0)) + 1):
        obs[:, t] = sessions.observation()
        live = t < steps
        if not live.any():
            break
        tracks[live, t] = sessions.logged_next()[live]
        outcomes[live, t] = drawn.outcomes[live, sessions.n_played[live]]
        sessions.hear(tracks[:, t], outcomes[:, t], live)
    # a session with no track left after its opening (only possible in a damaged log) is
    # no episode: the env would never start there either
    keep = steps >= 1
    steps, obs, tracks, outcomes = steps[keep], obs[keep], tracks[keep], outcomes[keep]
    taken = np.arange(MAX_SESSION_LENGTH)[None, :] < steps[:, None]
    kept = np.arange(MAX_SESSION_LENGTH + 1)[None, :] <= steps[:, None]
    played = tracks[taken]
    return {"lengths": steps, "observations": obs[kept], "session_idx": drawn.session_idx[keep],
            "actions": bundle.catalog.vectors[played].astype(np.float32),
            "rewards": sessions.reward_table[outcomes[taken]].astype(np.float64),
            "tracks": played[:, None], "outcomes": outcomes[taken][:, None]}
