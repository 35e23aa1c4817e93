"""`MusicRecEnv`: recommend songs to a listener simulated from MSSD skip logs."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Integral
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from musicgym.data.schema import OUTCOMES
from musicgym.envs.bundle import SimulatorBundle, load_bundle
from musicgym.envs.config import EnvArgumentError, EnvConfig
from musicgym.envs.sessions import SessionBatch

FLOAT32_MAX = float(np.finfo(np.float32).max)


class ResetNeededError(gym.error.ResetNeeded, RuntimeError):
    """`step` was called before `reset`, or after the episode ended."""


def check_action(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Validate an action batch: numbers of the right shape, finite and float32-sized.

    Values outside [-1, 1] are clipped; values float32 cannot hold are an error, not inf.
    """
    try:
        array = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"action must be an array of numbers of shape {shape}; "
                         f"{type(action).__name__} cannot be read as one ({err})") from None
    if array.shape != shape:
        raise ValueError(f"action has shape {array.shape}, expected {shape} "
                         "(slate_size proto-vectors of the embedding dimension, flattened)")
    bad = ~np.isfinite(array) | (np.abs(array) > FLOAT32_MAX)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        index, value = ", ".join(map(str, where)), array[where]
        if np.isfinite(value):
            raise ValueError(f"action[{index}] ({value:g}) is outside the action space bounds "
                             f"[-1, 1] and too large for float32 (|x| <= {FLOAT32_MAX:.4g}); "
                             "the policy must output values in [-1, 1] (values a little "
                             "outside are clipped)")
        raise ValueError(f"action[{index}] is {value}: the action holds NaN or inf; the "
                         "policy must output finite values in [-1, 1]")
    return np.clip(array, -1.0, 1.0).astype(np.float32)


def check_seed(seed: Any) -> int | None:
    """The `seed` of `reset` as a Python int (or None); any other value is an error."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise EnvArgumentError(f"seed ({seed!r}) of reset() must be None or a non-negative "
                               "integer")
    return int(seed)


def merge_env_config(env_config: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The env's arguments given as one mapping (RLlib's `env_config`) and as keywords.

    RLlib passes an env class its `env_config` as one positional `EnvContext`, a dict.
    """
    if env_config is None:
        return kwargs
    if not isinstance(env_config, Mapping):
        raise EnvArgumentError(f"env_config (a {type(env_config).__name__}) must be a mapping "
                               "from MusicRec-v0's argument names to values (RLlib's "
                               "env_config), or None")
    odd = [key for key in env_config if not isinstance(key, str)]
    if odd:
        raise EnvArgumentError(f"env_config has the key {odd[0]!r}; its keys must be names of "
                               "MusicRec-v0's arguments (strings)")
    if "num_envs" in env_config:
        raise EnvArgumentError("env_config holds num_envs, which belongs to the vector env, "
                               "not MusicRecEnv: with RLlib set num_envs_per_env_runner, and "
                               "for gym_env_vectorize_mode='vector_entry_point' use the name "
                               "that musicgym.rllib.register_env() registers")
    twice = sorted(set(env_config) & set(kwargs))
    if twice:
        raise TypeError(f"MusicRec-v0 got {twice} both in env_config and by keyword; pass each "
                        "once")
    return {**env_config, **kwargs}


class MusicRecEnv(gym.Env[np.ndarray, np.ndarray]):
    """Recommend songs to a listener whose skips are simulated from MSSD logs.

    ## Description
    Each episode is one listening session. Two parts are kept apart: the catalog (the tracks
    the agent sees and acts in, their vectors and ids, fitted on the training sessions it may
    learn from) and the world (the user model that responds, mapping tracks by id). An agent
    trained in world "A" can be judged in world "B", fitted on disjoint sessions, with its own
    catalog (`world="B", catalog="A"`). A logged session is drawn from the training split of
    the data: its context (premium, shuffle, context type, hour), its length and its opening
    tracks with their real outcomes, which the simulated user has already heard. At each step
    the agent recommends a slate of tracks; the user hears them in order and a response model
    fitted to the logs samples how far each one is played (skip_1, skip_2, skip_3 or to the end),
    each outcome updating the user before the next track.

    ## Action Space
    `Box(-1, 1, (slate_size * dim,), float32)`: slate_size proto-vectors in track-embedding space
    (embeddings scaled by one number so the catalog fits in [-1, 1]). Each proto-vector is
    decoded to the best recommendable track ("dot": highest dot product; "nearest": nearest by
    Euclidean distance; "cosine": highest cosine), never a track already played in the session
    nor twice in one slate.
    Values outside [-1, 1] are clipped; NaN, inf and values too large for float32 raise
    `ValueError`.

    ## Observation Space
    A flat `Box(float32)`; `env.unwrapped.layout.split(obs)` gives its named parts.

    | Num | Observation | Min | Max |
    |-----|-------------|-----|-----|
    | 0 .. H*d-1 | embeddings of the last H tracks heard, oldest first | -1 | 1 |
    | H*d .. H*d+4H-1 | their outcomes, one-hot in `OUTCOME_NAMES` order (see Info) | 0 | 1 |
    | next H | valid bit of each history slot | 0 | 1 |
    | next 11 | premium, shuffle, context type one-hot (6), hour sin/cos, length/20 | -1 | 1 |
    | last 2 | next position / 20, tracks left / 20 | 0 | 21/20 |

    ## Rewards
    The sum over the slate's tracks of: with `reward="listened"`, 1 when the track is listened
    (skip_2 false: played beyond the brief-skip point); with `reward="listen"`, 0, 1/3, 2/3 or
    1 for skip_1, skip_2, skip_3 and played to the end. (MSSD's own `not_skipped` flag means
    "played to the end"; `reward="not_skipped"` is the deprecated name of "listened".) With an
    ensemble, each track's reward loses `uncertainty_penalty` times `info["disagreement"]`, the
    standard deviation of P(listened) across the ensemble's user models. With
    `concentration_penalty=β`, it also loses β times `info["concentration"]`: how far the track
    is over-recommended among the env's recent recommendations (see `EnvConfig`), a diversity
    term for training like DORL's entropy term. With `support_penalty=κ`, it loses κ times
    `info["rate_error"]`, 0.5 / sqrt(the track's training plays): pessimism about tracks the
    data barely know.

    ## Starting State
    A logged session drawn uniformly from the catalog's training sessions (or from the
    `sessions` split), with the first `history_fraction` of its tracks heard, their real
    outcomes observed by the user model; with an ensemble, the user is one of its members,
    drawn uniformly.

    ## Episode End
    Truncation: the session reaches its logged length (10 to 20 tracks); a slate that would run
    past it is cut. Termination never happens: there is no leave model, because the MSSD cuts
    sessions at 20 tracks and when a user would have quit is not identifiable from it.
    Calling `step` before `reset`, or after the episode ended, raises `ResetNeededError`
    (a `gymnasium.error.ResetNeeded` and a `RuntimeError`).

    ## Info
    `reset` returns `history_tracks` (ids heard, oldest first), `session_length` and
    `position` (1-based, of the next track). `step` returns, per slot of the slate, the
    recommended track ids (`tracks`), their outcome codes (`outcomes`), whether each was heard
    (`played`: slots past the session's end are not), the proto-to-track `distances`, the
    ensemble's `disagreement`, the tracks' `concentration` and `rate_error`; and the track the
    logged session played next (`logged_track`) and the new `position`. Outcome codes index
    `MusicRecEnv.OUTCOME_NAMES` (the MSSD schema's `OUTCOMES`); -1 marks a slot not played:

    | code | outcome | meaning | "listened" |
    |---|---|---|---|
    | 0 | skip_1 | played very briefly | no |
    | 1 | skip_2_only | played briefly | no |
    | 2 | skip_3_only | most of the track played | yes |
    | 3 | not_skipped | played to the end | yes |
    | -1 | | slot not played (the session ended) | |

    ## Arguments
    >>> import gymnasium as gym
    >>> import musicgym
    >>> env = gym.make("MusicRec-v0", slate_size=3)
    >>> obs, info = env.reset(seed=0)
    >>> env.action_space.shape == (3 * env.unwrapped.dim,)
    True
    >>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    >>> len(info["tracks"]), 0.0 <= reward <= 3.0, terminated
    (3, True, False)
    >>> env.unwrapped.OUTCOME_NAMES
    ('skip_1', 'skip_2_only', 'skip_3_only', 'not_skipped')

    The arguments may also come as one mapping, `MusicRecEnv({"slate_size": 3})`, which is how
    Ray RLlib passes its `env_config` to an env class (see `musicgym.rllib`).
    Each argument is checked when the env is made, before any data is read or model fitted;
    a bad one raises `EnvArgumentError` (a `ValueError`) naming it, or `DataNotFoundError`
    (also a `FileNotFoundError`) for a `data` or `test_data` path that does not exist.

    | argument | default | meaning |
    |---|---|---|
    | data | None | prepared dataset or MSSD log; None: the synthetic default set |
    | slate_size | 1 | tracks per step (1 to 20) |
    | history_length | 10 | tracks of history in the observation (1 to 20) |
    | reward | "listened" | or "listen" |
    | min_plays | 5 | training plays a track needs to be recommendable (at least 1) |
    | decoding | "dot" | or "nearest", or "cosine" |
    | decoder_index | "auto" | "exact" (BLAS) or "faiss" (HNSW; extra `faiss`); "auto": by size |
    | index_threshold | 100000 | recommendable tracks from which "auto" uses faiss (at least 0) |
    | index_hnsw_m | 32 | neighbours per HNSW node, faiss `M` (2 to 256) |
    | index_ef_search | 64 | candidates an HNSW search keeps, faiss `efSearch` (at least 1) |
    | history_fraction | 0.5 | share of the logged session heard at reset, in [0, 1) |
    | simulator_seed | 0 | seed of the simulator fit, at least 0 (`seed`: deprecated name) |
    | world | "all" | who responds: fitted on all training sessions, half "A" or "B", "truth" |
    | catalog | None | training sessions of the agent's catalog ("all", "A", "B"; None: world's) |
    | ensemble | 1 | user models fitted on bootstrap resamples (at least 1); a user is one |
    | ensemble_resample | "bootstrap" | or "folds" (disjoint), "jackknife" (all folds but one) |
    | history_match | False | fit the world with explicit taste-match inputs (listened/skipped) |
    | uncertainty_penalty | 0.0 | reward minus this (finite, at least 0) times the disagreement |
    | concentration_penalty | 0.0 | reward minus this (at least 0) times the concentration |
    | support_penalty | 0.0 | reward minus this (at least 0) times 0.5 / sqrt(training plays) |
    | sessions | "train" | split whose logged sessions start episodes ("test" to evaluate) |
    | test_data | None | another log whose sessions start the test episodes |

    ## Version History
    * v0: initial version. Since 0.1.0 the arguments `seed` and `reward="not_skipped"` are
      named `simulator_seed` and `reward="listened"` (the old names warn; same behaviour);
      `simulator_half=0/1` became `world="A"/"B"` and the catalog became its own artifact.
      Every argument is checked (type, range, whether a data path exists) before any data is
      read, each error (`EnvArgumentError`, a `ValueError`) naming the argument; `step`
      before `reset` raises `ResetNeededError` instead of stepping an empty session.
    """

    metadata = {"render_modes": []}  # noqa: RUF012
    OUTCOME_NAMES: ClassVar[tuple[str, ...]] = OUTCOMES
    """Name of each code in `info["outcomes"]` (-1: not played)."""

    def __init__(self, env_config: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        self.config = EnvConfig.from_kwargs(**merge_env_config(env_config, kwargs))
        self._needs_reset = True
        self.bundle: SimulatorBundle = load_bundle(self.config)
        self.sessions = SessionBatch(self.bundle, self.config, 1)
        self.layout = self.sessions.layout
        self.dim = self.layout.dim
        k = self.config.slate_size
        self.action_space = spaces.Box(-1.0, 1.0, (k * self.dim,), np.float32)
        self.observation_space = self.layout.space()

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new session drawn from the logs."""
        super().reset(seed=check_seed(seed))
        if seed is not None:
            self.sessions.forget_recommendations()
        self.sessions.reset(np.array([0]), self.np_random)
        self._needs_reset = False
        return self.sessions.observation()[0], self._reset_info()

    def _reset_info(self) -> dict[str, Any]:
        s, ids = self.sessions, self.bundle.catalog.track_ids
        return {"history_tracks": ids[s.played[0, : s.n_played[0]]].tolist(),
                "session_length": int(s.length[0]), "position": int(s.n_played[0]) + 1}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Recommend one slate; the user hears it in order."""
        if self._needs_reset:
            raise ResetNeededError("step() called before reset(); call reset() first")
        if self.sessions.done[0]:
            raise ResetNeededError("step() called after the episode ended; call reset() first")
        protos = check_action(action, self.action_space.shape).reshape(1, -1, self.dim)
        logged = self.sessions.logged_next()[0]
        out = self.sessions.step(protos, self.np_random)
        played = out["outcomes"][0] >= 0
        info = {"tracks": self.bundle.catalog.track_ids[out["tracks"][0]].tolist(),
                "outcomes": out["outcomes"][0], "played": played,
                "distances": out["distances"][0], "disagreement": out["disagreement"][0],
                "concentration": out["concentration"][0], "rate_error": out["rate_error"][0],
                "logged_track": self.bundle.catalog.track_ids[logged] if logged >= 0 else None,
                "position": int(self.sessions.n_played[0]) + 1}
        obs = self.sessions.observation()[0]
        return obs, float(out["reward"][0]), False, bool(self.sessions.done[0]), info

    def nearest_tracks(self, proto: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
        """The k recommendable tracks nearest to one proto-vector [dim], with their vectors.

        For agents that refine actions (Wolpertinger): score these k with the critic.
        """
        rows, vectors = self.bundle.decoder.nearest(np.asarray(proto, np.float32), k)
        return self.bundle.catalog.track_ids[rows].tolist(), vectors

    def close(self) -> None:
        """Nothing to release; safe to call more than once."""

    def __getstate__(self) -> dict[str, Any]:
        # the bundle is rebuilt from the (disk-cached) fit on unpickling
        state = self.__dict__.copy()
        for name in ("bundle", "sessions", "layout"):
            state.pop(name, None)
        state["_session_arrays"] = {f: getattr(self.sessions, f) for f in (
            "played", "outcomes", "n_played", "length", "context", "logged", "_state")}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        arrays = state.pop("_session_arrays")
        self.__dict__.update(state)
        self.bundle = load_bundle(self.config)
        self.sessions = SessionBatch(self.bundle, self.config, 1)
        for name, value in arrays.items():
            setattr(self.sessions, name, value)
        self.layout = self.sessions.layout

