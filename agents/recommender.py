"""`Recommender`: a trained agent's recommendations for a listening history, outside any env.

    rec = Recommender.load(run_dir)   # the folder `musicgym train` printed
    rec.recommend(history=["t_248b30dc-ed2a-49c7-a518-0fbcf57e4446",
                           "t_8692e448-a6aa-4580-9322-2909d559655d"],  # `musicgym tracks`
                  outcomes=["not_skipped", "skip_1"], k=10)

History tracks the simulator never saw raise `UnknownTracksError` (naming them), or, with
`unknown="skip"`, are left out of the history (and listed in `rec.last_skipped`).

`Recommender.load` reads the run's weights-only `policy.pt` and `run.json`
(`agents.training.load_policy`), never SB3's `model.zip`: loading a run folder cannot run code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.catalogs import check_catalog
from agents.training import load_policy
from musicgym.data.schema import CONTEXT_TYPES, MAX_SESSION_LENGTH, OUTCOMES
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.sessions import SessionBatch

OUTCOME_NAMES = {**{o: o for o in OUTCOMES}, "skip_2": "skip_2_only", "skip_3": "skip_3_only"}
"""Outcome names `recommend` accepts: `OUTCOMES`, and skip_2 / skip_3 for the *_only ones."""


class UnknownTracksError(KeyError):
    """History tracks the recommender's simulator has never seen."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class ListeningContext:
    """The listening context of a recommendation request (defaults: a premium user's library)."""

    premium: bool = True
    shuffle: bool = False
    context_type: str = "user_collection"
    """One of MSSD's `CONTEXT_TYPES`."""
    hour: int = 12
    """Hour of the day, 0 to 23."""
    session_length: int = MAX_SESSION_LENGTH
    """Tracks the session will hold, 1 to 20 (at least the history plus one is used)."""

    def __post_init__(self) -> None:
        for name in ("premium", "shuffle"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} ({getattr(self, name)!r}) must be True or False")
        if self.context_type not in CONTEXT_TYPES:
            raise ValueError(f"context_type ({self.context_type!r}) must be one of "
                             f"{CONTEXT_TYPES}")
        if not _is_int(self.hour) or not 0 <= self.hour <= 23:
            raise ValueError(f"hour ({self.hour!r}) must be an integer from 0 to 23")
        if not _is_int(self.session_length) or not 1 <= self.session_length <= MAX_SESSION_LENGTH:
            raise ValueError(f"session_length ({self.session_length!r}) must be an integer "
                             f"from 1 to {MAX_SESSION_LENGTH}")


class Recommender:
    """Recommends track ids from a listening history with a trained agent."""

    def __init__(self, model: Any, env_config: EnvConfig) -> None:
        """Recommend with `model` (an SB3 model or policy) in the env of `env_config`."""
        self.model = model
        self.policy = getattr(model, "policy", model)
        self.config = env_config
        self.bundle = load_bundle(env_config)
        check_catalog(self.policy, self.bundle.catalog)
        self._row = {tid: i for i, tid in enumerate(self.bundle.catalog.track_ids[:-1])}
        self.last_skipped: list[str] = []

    @classmethod
    def load(cls, run_dir: str | Path) -> Recommender:
        """Load the policy and env config saved by `musicgym train` in `run_dir`.

        Reads the weights-only `policy.pt` and `run.json`, never `model.zip` (SB3's own
        `.load` of a zip unpickles code: use it only on files you trust).
        """
        record, policy = load_policy(Path(run_dir))
        try:
            env_config = EnvConfig.from_kwargs(**record["env"])
        except TypeError as err:
            raise ValueError(f"{Path(run_dir) / 'run.json'}: its env config does not fit this "
                             f"musicgym ({err}); train the agent again") from None
        return cls(policy, env_config)

    def _rows(self, history: Sequence[str], unknown: str) -> tuple[list[int], list[int]]:
        known = [i for i, t in enumerate(history) if t in self._row]
        missing = [t for t in history if t not in self._row]
        if missing and unknown == "error":
            raise UnknownTracksError(
                f"{len(missing)} history track(s) unknown to this recommender, e.g. "
                f"{missing[0]!r}; pass unknown='skip' (on the command line: --unknown skip) "
                "to leave them out")
        self.last_skipped = missing
        return [self._row[history[i]] for i in known], known

    def _observation(self, rows: list[int], outcomes: np.ndarray,
                     context: ListeningContext) -> np.ndarray:
        """The observation of one session that heard `rows` with `outcomes` in `context`."""
        batch = SessionBatch(self.bundle, self.config, 1)
        rows, outcomes = rows[-(MAX_SESSION_LENGTH - 1):], outcomes[-(MAX_SESSION_LENGTH - 1):]
        length = max(context.session_length, len(rows) + 1)
        batch.start(np.array([0]), np.array([rows], np.int64).reshape(1, -1),
                    np.asarray(outcomes, np.int64).reshape(1, -1),
                    {"premium": [context.premium], "shuffle": [context.shuffle],
                     "context_type": [context.context_type], "hour": [context.hour]},
                    np.array([length]))
        return batch.observation()

    def recommend(self, history: Sequence[str], outcomes: Sequence[str] | None = None,
                  context: ListeningContext | None = None, k: int = 10,
                  unknown: str = "error") -> list[str]:
        """The k track ids the agent recommends next, best first, none from the history.

        :param history: track ids heard, oldest first (a list, not one string)
        :param outcomes: one outcome name per history track (`OUTCOME_NAMES`); default: all
            not_skipped
        :param context: the listening context (default: `ListeningContext()`)
        :param k: how many tracks, an integer >= 1
        :param unknown: history tracks the simulator never saw: "error" or "skip" them
        """
        if not _is_int(k) or k < 1:
            raise ValueError(f"k ({k!r}) must be an integer >= 1")
        if unknown not in ("error", "skip"):
            raise ValueError(f"unknown ({unknown!r}) must be 'error' or 'skip'")
        if context is not None and not isinstance(context, ListeningContext):
            raise ValueError(f"context ({context!r}) must be a ListeningContext")
        history = _names("history", history, "track ids")
        outcomes = (_names("outcomes", outcomes, "outcome names") if outcomes is not None
                    else ["not_skipped"] * len(history))
        if len(outcomes) != len(history):
            raise ValueError(f"outcomes has {len(outcomes)} entries for {len(history)} history "
                             "tracks; give one per track or none")
        bad = [o for o in outcomes if o not in OUTCOME_NAMES]
        if bad:
            raise ValueError(f"outcome {bad[0]!r} is not one of {tuple(OUTCOME_NAMES)}")
        rows, kept = self._rows(history, unknown)
        codes = np.array([OUTCOMES.index(OUTCOME_NAMES[outcomes[i]]) for i in kept], np.int64)
        obs = self._observation(rows, codes, context or ListeningContext())
        action, _ = self.policy.predict(obs, deterministic=True)
        protos = np.asarray(action, np.float32).reshape(-1, self.bundle.catalog.dim)
        return self._rank(protos, set(rows), k)

    def _rank(self, protos: np.ndarray, heard: set[int], k: int) -> list[str]:
        """Round-robin over the slate's proto-vectors, each slot's best unpicked track first."""
        decoder = self.bundle.decoder
        order = np.argsort(-decoder.scores(protos), axis=1, kind="stable")
        picked: list[int] = []
        cursors = [0] * len(protos)
        limit = min(k, len(decoder) - len(heard & set(decoder.rows.tolist())))
        while len(picked) < limit:
            for slot in range(len(protos)):
                while cursors[slot] < order.shape[1]:
                    row = int(decoder.rows[order[slot, cursors[slot]]])
                    cursors[slot] += 1
                    if row not in heard and row not in picked:
                        picked.append(row)
                        break
                if len(picked) == limit:
                    break
        return self.bundle.catalog.track_ids[picked].tolist()


def _names(argument: str, values: Any, what: str) -> list[str]:
    """`values` as a list of strings; a bare string (read letter by letter otherwise) fails."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise ValueError(f"{argument} must be a list of {what}, not {type(values).__name__} "
                         f"{values!r:.60}" + ("; wrap a single one in a list" if
                                              isinstance(values, str) else ""))
    values = list(values)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(f"{argument}[{i}] ({value!r}) must be a string")
    return values
