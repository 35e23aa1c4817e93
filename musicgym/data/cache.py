"""The user cache folder of musicgym: prepared datasets, fitted simulators, generated data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder: $MUSICGYM_CACHE, else $XDG_CACHE_HOME/musicgym, else ~/.cache/musicgym."""
    if os.environ.get("MUSICGYM_CACHE"):
        return Path(os.environ["MUSICGYM_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "musicgym"
    return Path.home() / ".cache" / "musicgym"
