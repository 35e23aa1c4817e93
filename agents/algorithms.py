"""SB3's DDPG, TD3 and SAC, learning from the tracks actually played.

The env decodes each proto-vector to a real track; the reward depends on that track, not on
where in the gaps between tracks the proto-vector fell. These subclasses store the played
tracks' vectors (the env's `info["effective_action"]`) in the replay buffer instead of the
proto-vectors, so the critic learns Q(state, track) on real tracks and the actor's gradient
points toward tracks that were good, as in Wolpertinger training.

With `teacher_weight` above 0 (DDPG and TD3), the training world also teaches. At every step
the tracks its user models rate best right now (greedy-by-model, `agents.baselines`) are stored
with the transition. The teacher ranks by the reward the agent is trained on: P(listened) less
the env's `support_penalty` κ times 0.5 / sqrt(the track's training plays), as `greedy_lcb`
ranks with its own κ, and less the env's `concentration_penalty` β times how over-recommended
the track is among the agent's recent recommendations (so the teacher spreads its picks over
near-best tracks as the agent keeps to a few). With `teacher_taste` η above 0 each track's score
also gains η times its cosine to the session's taste vector (`agents.scoring.knn_scores`), so that
among near-best tracks each listener is taught the ones nearest their own taste: labels that
depend on the state, which the actor (a function of the state) can follow. After each of SB3's
updates the actor takes one step on `teacher_weight` times the cross-entropy of those tracks under
its decoding (as `bc_logged` clones the log). The teacher reads the simulator only while
training; the trained actor recommends alone.

Their `.load` is SB3's: it unpickles parts of the zip with cloudpickle, which can run any code,
so load only zips you made or trust. A run folder's weights-only `policy.pt` loads safely with
`agents.training.load_policy` (what `Recommender.load` uses).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from agents.catalogs import check_catalog
from agents.cloning import CloningLoss
from agents.scoring import greedy_tracks

TEACHER_FIELD = "teacher_tracks"
"""The `infos` key under which the teacher's catalog rows for a transition reach the buffer."""


class TeacherReplayBuffer(ReplayBuffer):
    """SB3's replay buffer that also keeps the teacher's tracks of every transition.

    `add` reads them from each env's `infos[TEACHER_FIELD]` (catalog rows, one per slate slot;
    -1 where an info has none); `teacher_batch` samples observations with them.
    """

    def __init__(self, *args: Any, slate_size: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher = np.full((self.buffer_size, self.n_envs, slate_size), -1, np.int64)

    def add(self, obs: np.ndarray, next_obs: np.ndarray, action: np.ndarray,
            reward: np.ndarray, done: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Store a transition of every env, with its teacher tracks."""
        for i, info in enumerate(infos):
            self.teacher[self.pos, i] = info.get(TEACHER_FIELD, -1)
        super().add(obs, next_obs, action, reward, done, infos)

    def teacher_batch(self, batch_size: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Observations [B, ...] and teacher rows [B, slate_size] of B stored transitions."""
        upper = self.buffer_size if self.full else self.pos
        rows = rng.integers(upper, size=batch_size)
        envs = rng.integers(self.n_envs, size=batch_size)
        return self.observations[rows, envs], self.teacher[rows, envs]


class EffectiveActionMixin:
    """Replace the stored action by `info["effective_action"]` when every env reports one.

    `explore_tracks` (0 to 1) is the share of slate slots that, while collecting experience,
    recommend a catalog track drawn at random instead of the actor's choice (epsilon-greedy
    over tracks), so the critic sees the whole catalog and not only the actor's neighbourhood.

    `teacher_weight` (>= 0; DDPG and TD3 only) weighs the training world's greedy teacher (see
    the module docstring); 0: no teacher. `teacher_taste` (>= 0; needs a teacher) weighs the
    listener's taste in the teacher's ranking.
    """

    def __init__(self, *args: Any, explore_tracks: float = 0.0, teacher_weight: float = 0.0,
                 teacher_taste: float = 0.0, **kwargs: Any) -> None:
        if not 0.0 <= explore_tracks <= 1.0:
            raise ValueError(f"explore_tracks ({explore_tracks}) must be in [0, 1]")
        for name, value in (("teacher_weight", teacher_weight), ("teacher_taste", teacher_taste)):
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} ({value}) must be a number >= 0")
        if teacher_taste > 0 and teacher_weight <= 0:
            raise ValueError(f"teacher_taste ({teacher_taste}) shapes the teacher's ranking, "
                             "and teacher_weight is 0 (no teacher): set teacher_weight > 0 "
                             "or leave teacher_taste at 0")
        if teacher_weight > 0:
            if isinstance(self, SAC):
                raise ValueError("teacher_weight is for DDPG and TD3 (SAC's actor samples its "
                                 "actions); leave it at 0 with SAC")
            kwargs["replay_buffer_class"] = TeacherReplayBuffer
        self.explore_tracks = explore_tracks
        self.teacher_weight = float(teacher_weight)
        self.teacher_taste = float(teacher_taste)
        self._track_rng: np.random.Generator | None = None
        self._catalog: np.ndarray | None = None
        # set by `learn`: the teacher's ranking, `greedy_tracks`' keywords; None: no teacher yet
        self._teacher: dict[str, float] | None = None
        self._teacher_rows: np.ndarray | None = None
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        if self.teacher_weight > 0:
            slate = self.action_space.shape[0] // self.policy_kwargs["dim"]
            self.replay_buffer_kwargs = {**self.replay_buffer_kwargs, "slate_size": slate}
        super()._setup_model()

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        """Read the env's catalog once per `learn` for exploration and the target actor.

        Random-track exploration draws from it; the target actor outputs its tracks, so
        bootstrap targets value real tracks.
        """
        out = super()._setup_learn(*args, **kwargs)
        bundle = self.env.get_attr("bundle")[0]
        check_catalog(self.policy, bundle.catalog)
        decoder = bundle.decoder
        self._catalog = decoder.vectors
        target = getattr(self, "actor_target", None)
        if target is not None and getattr(target, "unit", False):
            # "nearest" decoding of a unit vector is not its dot-product track: leave it bare
            target.catalog = (th.as_tensor(decoder.vectors, device=self.device)
                              if decoder.by_dot_product else None)
        if self.teacher_weight > 0 and self._teacher is None:
            self._setup_teacher(bundle)
        return out

    def _setup_teacher(self, bundle: Any) -> None:
        """The greedy teacher over the training env's own world, and its cloning loss.

        It ranks as the training reward does: P(listened) less the env's support and
        concentration penalties.
        """
        config = self.env.get_attr("config")[0]
        self._teacher = {"pessimism": float(config.support_penalty),
                         "concentration": float(config.concentration_penalty),
                         "taste": self.teacher_taste}
        self._cloning = CloningLoss(bundle.catalog).to(self.device)
        self._cloning_optimizer = th.optim.Adam([self._cloning.log_scale],
                                                lr=self.lr_schedule(1.0))
        self._teacher_rng = np.random.default_rng(self.seed)

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        """Use `env` from now on; refuse one whose catalog is not the policy's."""
        super().set_env(env, force_reset)
        check_catalog(self.policy, self.env.get_attr("bundle")[0].catalog)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_track_rng", "_catalog", "_teacher",
                "_teacher_rows", "_cloning", "_cloning_optimizer", "_teacher_rng"]

    def _sample_action(self, learning_starts: int, action_noise: Any = None,
                       n_envs: int = 1) -> tuple[np.ndarray, np.ndarray]:
        if self._teacher is not None:  # the sessions are in the state acted in
            env = self.env.get_attr("unwrapped")[0]
            self._teacher_rows = greedy_tracks(env, None, **self._teacher)
        action, buffer_action = super()._sample_action(learning_starts, action_noise, n_envs)
        if self.explore_tracks <= 0.0 or self.num_timesteps < learning_starts:
            return action, buffer_action
        if self._track_rng is None:
            self._track_rng = np.random.default_rng(self.seed)
        catalog = self._catalog
        slots = action.reshape(n_envs, -1, catalog.shape[1])
        swap = self._track_rng.random(slots.shape[:2]) < self.explore_tracks
        slots[swap] = catalog[self._track_rng.integers(len(catalog), size=int(swap.sum()))]
        action = slots.reshape(action.shape)
        return action, self.policy.scale_action(action)

    def _store_transition(self, replay_buffer: ReplayBuffer, buffer_action: np.ndarray,
                          new_obs: Any, reward: np.ndarray, dones: np.ndarray,
                          infos: list[dict[str, Any]]) -> None:
        effective = [info.get("effective_action") for info in infos]
        if all(e is not None for e in effective):
            buffer_action = np.stack(effective).astype(buffer_action.dtype)
        if self._teacher_rows is not None:
            for info, rows in zip(infos, self._teacher_rows, strict=True):
                info[TEACHER_FIELD] = rows
            self._teacher_rows = None
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward,
                                  dones, infos)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's updates, then (with a teacher) as many cloning steps of the actor."""
        super().train(gradient_steps, batch_size)
        if self._teacher is None:
            return
        losses = [self._teacher_step(batch_size) for _ in range(gradient_steps)]
        self.logger.record("train/teacher_loss", float(np.mean(losses)))

    def _teacher_step(self, batch_size: int) -> float:
        """One actor step on teacher_weight x the cross-entropy of the teacher's tracks."""
        obs, rows = self.replay_buffer.teacher_batch(batch_size, self._teacher_rng)
        keep = (rows >= 0).all(axis=1)
        if not keep.any():
            return 0.0
        obs_t = th.as_tensor(obs[keep], device=self.device)
        targets = self._cloning.targets(rows[keep].reshape(-1)).to(self.device)
        protos = self.actor(obs_t).reshape(len(targets), -1)
        loss = self.teacher_weight * self._cloning(protos, targets)
        self.actor.optimizer.zero_grad()
        self._cloning_optimizer.zero_grad()
        loss.backward()
        self.actor.optimizer.step()
        self._cloning_optimizer.step()
        return float(loss.detach())


class RecDDPG(EffectiveActionMixin, DDPG):
    """DDPG that learns from the played tracks' vectors."""


class RecTD3(EffectiveActionMixin, TD3):
    """TD3 that learns from the played tracks' vectors."""


class RecSAC(EffectiveActionMixin, SAC):
    """SAC that learns from the played tracks' vectors."""


ALGORITHMS: dict[str, type[OffPolicyAlgorithm]] = {"ddpg": RecDDPG, "td3": RecTD3,
                                                   "sac": RecSAC}


def algorithm_class(name: str) -> type[OffPolicyAlgorithm]:
    """The SB3 class of an algorithm name."""
    if name not in ALGORITHMS:
        raise ValueError(f"algo ({name!r}) must be one of {sorted(ALGORITHMS)}")
    return ALGORITHMS[name]
