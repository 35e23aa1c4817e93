"""The project's default data: one synthetic MSSD set, generated into the cache on first use."""

from __future__ import annotations

from pathlib import Path

from musicgym.data.cache import cache_dir
from musicgym.synthetic.generator import GENERATOR_VERSION, SyntheticConfig, generate

DEFAULT_SYNTHETIC = SyntheticConfig(n_sessions=5_000, n_tracks=20_000, seed=0)
"""The project's default data: small enough to generate in about a second."""


def synthetic_dir_name(config: SyntheticConfig) -> str:
    """The cache folder name of a synthetic set: generator version, sizes, seed and format."""
    fmt = config.format.replace(".", "")
    return (
        f"synthetic-v{GENERATOR_VERSION}-s{config.n_sessions}-t{config.n_tracks}"
        f"-seed{config.seed}-{fmt}"
    )


def default_synthetic_dir() -> Path:
    """The folder of the default synthetic set, generated under `cache_dir()` on first use.

    The folder name carries the generator version, so a changed generator never reuses an old
    set. Safe when several processes call it at once: each writes a temporary folder and renames
    it into place; one that loses the race uses the winner's folder.
    """
    target = cache_dir() / synthetic_dir_name(DEFAULT_SYNTHETIC)
    if (target / "truth.json").is_file():
        return target
    try:
        generate(DEFAULT_SYNTHETIC, target, overwrite=False)
    except FileExistsError:
        if not (target / "truth.json").is_file():
            raise
    return target
