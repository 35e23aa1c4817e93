"""musicgym: a Gymnasium environment for music recommendation fitted to MSSD skip logs."""

__version__ = "0.1.0"
