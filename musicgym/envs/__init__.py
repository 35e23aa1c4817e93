"""Gymnasium environments of musicgym; importing this registers `MusicRec-v0`."""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

ENV_ID = "MusicRec-v0"


def register_envs() -> None:
    """Register `MusicRec-v0` with Gymnasium (a no-op when it is already registered)."""
    if ENV_ID in registry:
        return
    register(
        id=ENV_ID,
        entry_point="musicgym.envs.music_rec:MusicRecEnv",
        vector_entry_point="musicgym.envs.vector:MusicRecVectorEnv",
    )


register_envs()
