"""SB3's DDPG, TD3 and SAC, learning from the tracks actually played.

The env decodes each proto-vector to a real track; the reward depends on that track, not on
where in the gaps between tracks the proto-vector fell. These subclasses store the played
tracks' vectors (the env's `info["effective_action"]`) in the replay buffer instead of the
proto-vectors, so the critic learns Q(state, track) on real tracks and the actor's gradient
points toward tracks that were good, as in Wolpertinger training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3 import DDPG, SAC, TD3
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm


class EffectiveActionMixin:
    """Replace the stored action by `info["effective_action"]` when every env reports one."""

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
