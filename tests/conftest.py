"""Shared test fixtures: where the real MSSD extracts live beside the project."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_LOG = SHARED_DATA / "mssd" / "log_sample.csv.gz"
REAL_TRACKS = SHARED_DATA / "mssd" / "track_features_sample.csv"
MSSD_STATS = SHARED_DATA / "mssd_stats"

needs_real_data = pytest.mark.skipif(
    not REAL_LOG.exists(), reason=f"real MSSD sample not found at {REAL_LOG}"
)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep prepared data and fitted simulators of the tests out of the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSICGYM_CACHE", str(tmp_path_factory.mktemp("musicgym-cache")))
    yield
    mp.undo()
