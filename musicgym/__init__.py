"""musicgym: a Gymnasium environment for music recommendation fitted to MSSD skip logs."""

from musicgym.envs import ENV_ID, register_envs

__version__ = "0.1.0"
__all__ = ["ENV_ID", "register_envs"]
