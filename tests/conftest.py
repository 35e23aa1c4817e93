"""Shared test fixtures: where the real MSSD extracts live, and a private cache folder.

The real extracts are looked for in `$MUSICGYM_TEST_DATA`, a folder laid out like
`shared/data` (`mssd/log_sample.csv.gz`, `mssd/track_features_sample.csv`, `mssd_stats/`),
else in `../shared/data` beside the repository; tests that need them skip when they are absent.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from musicgym.data.dataset import PreparedDataset
from musicgym.datasets import load_dataset
from musicgym.synthetic.generator import SyntheticConfig, generate

TEST_DATA_VARIABLE = "MUSICGYM_TEST_DATA"
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data_dir() -> Path:
    """The folder of the real MSSD extracts: $MUSICGYM_TEST_DATA, else ../shared/data."""
    chosen = os.environ.get(TEST_DATA_VARIABLE)
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_SHARED_DATA


SHARED_DATA = shared_data_dir()
REAL_LOG = SHARED_DATA / "mssd" / "log_sample.csv.gz"
REAL_TRACKS = SHARED_DATA / "mssd" / "track_features_sample.csv"
MSSD_STATS = SHARED_DATA / "mssd_stats"

def generated_dataset(factory: pytest.TempPathFactory, name: str,
                      config: SyntheticConfig) -> PreparedDataset:
    """A small generated set, prepared: a module fixture's data (`name` names its folder)."""
    data = generate(config, factory.mktemp(name) / "synthetic")
    return load_dataset(data.log_dir, data.track_features, progress=False)


@pytest.fixture(scope="session")
def tiny_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated set (250 sessions, 400 tracks, so a truth world too): quick fits."""
    return generate(SyntheticConfig(n_sessions=250, n_tracks=400, seed=3),
                    tmp_path_factory.mktemp("tiny")).root


def load_script(name: str) -> ModuleType:
    """The module of `scripts/{name}.py`, imported by path (scripts/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


needs_real_data = pytest.mark.skipif(
    not REAL_LOG.exists(),
    reason=f"real MSSD sample not found at {REAL_LOG} (set {TEST_DATA_VARIABLE} to its folder)",
)


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once when $MUSICGYM_TEST_DATA is set but holds no MSSD sample (a typo)."""
    if os.environ.get(TEST_DATA_VARIABLE) and not REAL_LOG.is_file():
        raise pytest.UsageError(
            f"{TEST_DATA_VARIABLE} is {os.environ[TEST_DATA_VARIABLE]!r}, but {REAL_LOG} does "
            "not exist: point it at a folder laid out like shared/data (mssd/log_sample.csv.gz, "
            "mssd/track_features_sample.csv, mssd_stats/), or unset it")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep prepared data and fitted simulators of the tests out of the user's cache, and SB3's
    per-`learn` log folders (made when a model has no TensorBoard folder) out of /tmp."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MUSICGYM_CACHE", str(tmp_path_factory.mktemp("musicgym-cache")))
    mp.setenv("SB3_LOGDIR", str(tmp_path_factory.mktemp("sb3-logs")))
    yield
    mp.undo()
