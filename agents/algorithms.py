"""SB3's DDPG, TD3 and SAC, learning from the tracks actually played.

The env decodes each proto-vector to a real track; the reward depends on that track, not on
where in the gaps between tracks the proto-vector fell. These subclasses store the played
tracks' vectors (the env's `info["effective_action"]`) in the replay buffer instead of the
proto-vectors, so the critic learns Q(state, track) on real tracks and the actor's gradient
points toward tracks that were good, as in Wolpertinger training.

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


class EffectiveActionMixin:
    """Replace the stored action by `info["effective_action"]` when every env reports one.

    `explore_tracks` (0 to 1) is the share of slate slots that, while collecting experience,
    recommend a catalog track drawn at random instead of the actor's choice (epsilon-greedy
    over tracks), so the critic sees the whole catalog and not only the actor's neighbourhood.
    """

    def __init__(self, *args: Any, explore_tracks: float = 0.0, **kwargs: Any) -> None:
        if not 0.0 <= explore_tracks <= 1.0:
            raise ValueError(f"explore_tracks ({explore_tracks}) must be in [0, 1]")
        self.explore_tracks = explore_tracks
        self._track_rng: np.random.Generator | None = None
        self._catalog: np.ndarray | None = None
        super().__init__(*args, **kwargs)

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
        return out

    def set_env(self, env: Any, force_reset: bool = True) -> None:
        """Use `env` from now on; refuse one whose catalog is not the policy's."""
        super().set_env(env, force_reset)
        check_catalog(self.policy, self.env.get_attr("bundle")[0].catalog)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_track_rng", "_catalog"]

    def _sample_action(self, learning_starts: int, action_noise: Any = None,
                       n_envs: int = 1) -> tuple[np.ndarray, np.ndarray]:
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
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward,
                                  dones, infos)


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
