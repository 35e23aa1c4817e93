"""musicgym: a Gymnasium environment for music recommendation fitted to MSSD skip logs."""

from musicgym.envs import ENV_ID, register_envs
from musicgym.version import __version__

__all__ = ["ENV_ID", "__version__", "register_envs"]
