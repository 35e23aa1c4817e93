"""`Recommender`: a trained agent's recommendations for a listening history, outside any env.

    rec = Recommender.load("runs/MusicRec-v0__ddpg__0__1732752000")
    rec.recommend(history=["t_…", "t_…"], outcomes=["not_skipped", "skip_1"], k=10)

History tracks the simulator never saw raise `UnknownTracksError` (naming them), or, with
`unknown="skip"`, are left out of the history (and listed in `rec.last_skipped`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.algorithms import algorithm_class
from agents.catalogs import check_catalog
from musicgym.data.schema import MAX_SESSION_LENGTH, OUTCOMES
from musicgym.envs.bundle import load_bundle
from musicgym.envs.config import EnvConfig
from musicgym.envs.sessions import SessionBatch


class UnknownTracksError(KeyError):
    """History tracks the recommender's simulator has never seen."""


@dataclass(frozen=True)
class ListeningContext:
    """The listening context of a recommendation request (defaults: a premium user's library)."""

    premium: bool = True
    shuffle: bool = False
    context_type: str = "user_collection"
    hour: int = 12
    session_length: int = MAX_SESSION_LENGTH


class Recommender:
    """Recommends track ids from a listening history with a trained agent."""

    def __init__(self, model: Any, env_config: EnvConfig) -> None:
        self.model = model
        self.config = env_config
        self.bundle = load_bundle(env_config)
        check_catalog(getattr(model, "policy", None), self.bundle.catalog)
        self._row = {tid: i for i, tid in enumerate(self.bundle.catalog.track_ids[:-1])}
        self.last_skipped: list[str] = []

    @classmethod
    def load(cls, run_dir: str | Path) -> Recommender:
        """Load the agent and env config saved by `musicgym train` in `run_dir`."""
        run_dir = Path(run_dir)
        path = run_dir / "run.json"
        if not path.is_file():
            raise FileNotFoundError(f"{run_dir}: no run.json; pass a run folder written by "
                                    "`musicgym train`")
        run = json.loads(path.read_text())
        model = algorithm_class(run["algo"]).load(run_dir / "model.zip", device="cpu")
        return cls(model, EnvConfig.from_kwargs(**run["env"]))

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
        """The k track ids the agent recommends next, best first, none from the history."""
        if k < 1:
            raise ValueError(f"k ({k}) must be at least 1")
        if unknown not in ("error", "skip"):
            raise ValueError(f"unknown ({unknown!r}) must be 'error' or 'skip'")
        outcomes = list(outcomes) if outcomes is not None else ["not_skipped"] * len(history)
        if len(outcomes) != len(history):
            raise ValueError(f"outcomes has {len(outcomes)} entries for {len(history)} history "
                             "tracks; give one per track or none")
        bad = [o for o in outcomes if o not in OUTCOMES]
        if bad:
            raise ValueError(f"outcome {bad[0]!r} is not one of {OUTCOMES}")
        rows, kept = self._rows(list(history), unknown)
        codes = np.array([OUTCOMES.index(outcomes[i]) for i in kept], np.int64)
        obs = self._observation(rows, codes, context or ListeningContext())
        action, _ = self.model.predict(obs, deterministic=True)
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
