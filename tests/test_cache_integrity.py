"""Cached artifacts: checksums, corrupt entries rebuilt, hostile files refused, one fit per entry.

Also what a fit does to the caller's thread settings, and what it prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from musicgym.artifacts import CorruptArtifactError, write_json
from musicgym.data.dataset import PreparedDataset
from musicgym.datasets import load_dataset
from musicgym.embeddings import TrackEmbeddings
from musicgym.embeddings.catalog import Catalog, CatalogSpec, fit_catalog, load_or_fit_catalog
from musicgym.simulator import fitting
from musicgym.simulator.fitting import FittedSimulator, SimulatorConfig, load_or_fit
from musicgym.simulator.response_model import ResponseModel
from musicgym.simulator.response_net import ResponseConfig
from musicgym.simulator.worlds import world_split
from musicgym.synthetic import default
from musicgym.synthetic.generator import SyntheticConfig, generate

TINY = SimulatorConfig(embedding_dim=4, response=ResponseConfig(hidden=8, epochs=2, seed=0))
TINY_SOURCE = ("SimulatorConfig(embedding_dim=4, "
               "response=ResponseConfig(hidden=8, epochs=2, seed=0))")
UNSAFE = ("weights_only=False", "allow_pickle", "weights_only")
ROOT = Path(__file__).resolve().parents[1]


def tiny_synthetic() -> SyntheticConfig:
    return SyntheticConfig(n_sessions=200, n_tracks=500, seed=3, chunk_sessions=80)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> PreparedDataset:
    root = tmp_path_factory.mktemp("integrity")
    data = generate(tiny_synthetic(), root / "synthetic")
    return load_dataset(data.log_dir, data.track_features)


@pytest.fixture(scope="module")
def pristine(dataset: PreparedDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulator folder fitted once with TINY, copied by each test that breaks one."""
    folder = tmp_path_factory.mktemp("pristine") / "simulator"
    fitting.fit_simulator(dataset, TINY, progress=False).save(folder)
    return folder


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[SimulatorConfig]:
    """Every simulator fit made during the test, by its config."""
    made: list[SimulatorConfig] = []
    real = fitting.fit_simulator

    def counted(dataset, config=None, progress=True, device=None):
        made.append(config)
        return real(dataset, config, progress, device)

    monkeypatch.setattr(fitting, "fit_simulator", counted)
    return made


def flip(path: Path, n: int = 64) -> None:
    """Invert `n` bytes in the middle of the file, as a bad disk or a careless edit would."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    for i in range(start, start + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def at(path: Path) -> str:
    """`path` as a regular expression that matches it literally."""
    return re.escape(str(path))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def rerecord(folder: Path, manifest: str, name: str) -> None:
    """Record the current sha256 of `name` in the manifest: a file edited along with it."""
    from musicgym.artifacts import file_sha256

    payload = json.loads((folder / manifest).read_text())
    payload["files"][name] = file_sha256(folder / name)
    write_json(folder / manifest, payload)


def weights(simulator: FittedSimulator) -> dict[str, np.ndarray]:
    state = {k: v.numpy().copy() for k, v in simulator.response.net.state_dict().items()}
    return state | {"embeddings.npz": simulator.embeddings.matrix.copy()}


def assert_same_fit(a: FittedSimulator, b: FittedSimulator) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)


def assert_safe_message(err: BaseException) -> None:
    assert not any(hint in str(err) for hint in UNSAFE), str(err)
    assert err.__cause__ is None  # the reader's own (unsafe) advice is not chained either


# ---- the simulator cache entry --------------------------------------------------------------


@pytest.mark.parametrize("name", ["response/model.pt", "embeddings.npz",
                                  "response/track_stats.npz"])
def test_flipped_bytes_in_a_cached_simulator_are_refitted_with_a_warning(
        dataset, pristine, cache, fits, name) -> None:
    folder = fitting.cache_folder(dataset, TINY)
    shutil.copytree(pristine, folder)
    flip(folder / name)
    with pytest.warns(RuntimeWarning, match=rf"cache entry {at(folder)} is corrupt.*{name}"):
        simulator = load_or_fit(dataset, TINY, progress=False)
    assert fits == [TINY]  # refitted once, then saved intact
    assert_same_fit(simulator, FittedSimulator.load(pristine))
    assert_same_fit(FittedSimulator.load(folder), simulator)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_or_fit(dataset, TINY, progress=False)
    assert len(fits) == 1


@pytest.mark.parametrize("name", ["response/model.pt", "embeddings.npz",
                                  "response/track_stats.npz", "response/config.json"])
def test_flipped_bytes_in_a_users_simulator_raise_an_error_naming_the_file(
        pristine, tmp_path, name) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(pristine, folder)
    flip(folder / name, n=4)
    with pytest.raises(CorruptArtifactError,
                       match=rf"^{at(folder / name)}: contents do not match the sha256") as info:
        FittedSimulator.load(folder)
    assert "fit and save the simulator again" in str(info.value)
    assert_safe_message(info.value)


def test_64_flipped_bytes_no_longer_load_silently(pristine, tmp_path) -> None:
    # the case: the same flip used to change 17 embedding values by up to 127
    folder = tmp_path / "mine"
    shutil.copytree(pristine, folder)
    flip(folder / "response" / "model.pt")
    with pytest.raises(CorruptArtifactError, match="model.pt"):
        ResponseModel.load(folder / "response")


def test_a_truncated_file_is_named_without_unsafe_advice(pristine, tmp_path) -> None:
    for name in ("response/model.pt", "response/track_stats.npz", "embeddings.npz"):
        folder = tmp_path / name.replace("/", "_")
        shutil.copytree(pristine, folder)
        truncate(folder / name)
        with pytest.raises(CorruptArtifactError, match=rf"^{at(folder / name)}: ") as info:
            FittedSimulator.load(folder)
        assert_safe_message(info.value)


def test_unreadable_files_with_matching_checksums_are_named_without_unsafe_advice(
        pristine, tmp_path) -> None:
    """A file edited together with its recorded sha256 still cannot reach an unsafe reader."""
    folder = tmp_path / "mine"
    shutil.copytree(pristine, folder)
    response = folder / "response"
    truncate(response / "model.pt")  # torch: a bare EOFError / zip error before
    rerecord(response, "config.json", "model.pt")
    with pytest.raises(CorruptArtifactError,
                       match=rf"^{at(response / 'model.pt')}: cannot be read") as info:
        ResponseModel.load(response)
    assert_safe_message(info.value)
    # an object array needs pickle: numpy's refusal suggests allow_pickle=True
    np.savez(response / "track_stats.npz", plays=np.array([{"a": 1}], dtype=object),
             skips=np.zeros(3))
    (response / "model.pt").write_bytes((pristine / "response" / "model.pt").read_bytes())
    rerecord(response, "config.json", "model.pt")
    rerecord(response, "config.json", "track_stats.npz")
    with pytest.raises(CorruptArtifactError,
                       match=rf"^{at(response / 'track_stats.npz')}: cannot be read") as info:
        ResponseModel.load(response)
    assert_safe_message(info.value)


def test_a_pickled_payload_in_model_pt_does_not_run(pristine, tmp_path) -> None:
    folder = tmp_path / "mine"
    shutil.copytree(pristine, folder)
    response = folder / "response"
    ran = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {ran}",))

    torch.save({"embeddings": Payload()}, response / "model.pt")
    rerecord(response, "config.json", "model.pt")
    with pytest.raises(CorruptArtifactError, match=rf"^{at(response / 'model.pt')}") as info:
        ResponseModel.load(response)
    assert_safe_message(info.value)
    assert not ran.exists()


def test_a_cache_entry_without_checksums_is_refitted(dataset, pristine, cache, fits) -> None:
    folder = fitting.cache_folder(dataset, TINY)
    shutil.copytree(pristine, folder)
    manifest = json.loads((folder / "simulator.json").read_text())
    del manifest["files"]
    write_json(folder / "simulator.json", manifest)
    with pytest.raises(CorruptArtifactError, match="records no file checksums"):
        FittedSimulator.load(folder)
    with pytest.warns(RuntimeWarning, match="records no file checksums"):
        load_or_fit(dataset, TINY, progress=False)
    assert fits == [TINY]
    assert "files" in json.loads((folder / "simulator.json").read_text())


def test_embeddings_file_edited_inside_is_refused(tmp_path) -> None:
    emb = TrackEmbeddings(["a", "b"], np.array([[1.0, 2.0], [3.0, 4.0]]))
    path = emb.save(tmp_path / "emb.npz")
    # rewrite the archive with one changed value and its metadata kept: the zip CRC is valid
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["vectors"] = arrays["vectors"] + np.float32(127)
    np.savez(path, **arrays)
    with pytest.raises(CorruptArtifactError, match=rf"^{at(path)}: contents do not match"):
        TrackEmbeddings.load(path)
    flip(path)
    with pytest.raises(CorruptArtifactError, match=rf"^{at(path)}: not a readable") as info:
        TrackEmbeddings.load(path)
    assert_safe_message(info.value)


# ---- the catalog cache entry ----------------------------------------------------------------


def test_a_corrupt_cached_catalog_is_rebuilt_and_a_users_raises(dataset, cache, tmp_path) -> None:
    sessions, spec = world_split("all"), CatalogSpec(min_plays=1)
    first = load_or_fit_catalog(dataset, sessions, spec)
    (folder,) = [p for p in (cache / "catalogs").iterdir() if not p.name.startswith(".")]
    mine = tmp_path / "mine"
    shutil.copytree(folder, mine)
    flip(folder / "catalog.npz")
    with pytest.warns(RuntimeWarning, match=rf"cache entry {at(folder)} is corrupt.*catalog.npz"):
        again = load_or_fit_catalog(dataset, sessions, spec)
    assert again.checksum == first.checksum == Catalog.load(folder).checksum
    truncate(mine / "catalog.npz")
    with pytest.raises(CorruptArtifactError, match=rf"^{at(mine / 'catalog.npz')}: ") as info:
        Catalog.load(mine)
    assert_safe_message(info.value)


# ---- the default synthetic data -------------------------------------------------------------


def test_the_default_data_is_checked_and_generated_again_when_corrupt(
        cache, monkeypatch) -> None:
    monkeypatch.setattr(default, "DEFAULT_SYNTHETIC", tiny_synthetic())
    folder = default.default_synthetic_dir()
    recorded = json.loads((folder / default.CHECKSUMS).read_text())["files"]
    assert "truth.json" in recorded and any(name.startswith("log/") for name in recorded)
    shard = folder / next(name for name in recorded if name.startswith("log/"))
    original = shard.read_bytes()
    flip(shard)
    with pytest.warns(RuntimeWarning, match=rf"cache entry {at(folder)} is corrupt.*{shard.name}"):
        assert default.default_synthetic_dir() == folder
    assert shard.read_bytes() == original  # generated again, from the same seed
    (folder / default.CHECKSUMS).unlink()  # a set from an older musicgym
    with pytest.warns(RuntimeWarning, match="without checksums"):
        default.default_synthetic_dir()
    assert (folder / default.CHECKSUMS).is_file()


# ---- one fit per cold entry, across processes -----------------------------------------------

CHILD = f"""
import hashlib, os, sys, time
from pathlib import Path
from musicgym.data.dataset import PreparedDataset
from musicgym.simulator import fitting
from musicgym.simulator.fitting import SimulatorConfig
from musicgym.simulator.response_net import ResponseConfig

marker, data, go = sys.argv[1:4]
real = fitting.fit_simulator

def counted(*args, **kwargs):
    with open(marker, "a") as out:
        out.write(f"{{os.getpid()}}\\n")
    time.sleep(1.0)  # a slow fit: the other process asks for the entry meanwhile
    return real(*args, **kwargs)

fitting.fit_simulator = counted
dataset = PreparedDataset(data)
Path(f"{{go}}.ready-{{os.getpid()}}").touch()
while not Path(go).exists():
    time.sleep(0.01)
sim = fitting.load_or_fit(dataset, {TINY_SOURCE}, progress=False)
digest = hashlib.sha256(sim.embeddings.matrix.tobytes())
for name, tensor in sorted(sim.response.net.state_dict().items()):
    digest.update(tensor.numpy().tobytes())
print(digest.hexdigest())
"""


def test_two_processes_fit_a_cold_entry_once(dataset, pristine, cache, tmp_path,
                                             monkeypatch, capfd) -> None:
    """This process and a child ask for the same cold entry at once: one fits, one waits."""
    marker, go = tmp_path / "fits.log", tmp_path / "go"
    real = fitting.fit_simulator

    def counted(*args, **kwargs):
        with open(marker, "a") as out:
            out.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit_simulator", counted)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(marker), str(dataset.path),
                              str(go)], env={**os.environ, "MUSICGYM_CACHE": str(cache)},
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("go.ready-*")) and time.monotonic() < deadline:
        assert child.poll() is None, child.communicate()[1]
        time.sleep(0.05)
    go.touch()
    here = load_or_fit(dataset, TINY, progress=False)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert len(marker.read_text().split()) == 1  # one process fitted, the other waited
    digest = hashlib.sha256(here.embeddings.matrix.tobytes())
    for _, tensor in sorted(here.response.net.state_dict().items()):
        digest.update(tensor.numpy().tobytes())
    assert out.strip() == digest.hexdigest()
    assert_same_fit(here, FittedSimulator.load(pristine))
    said = capfd.readouterr().err + err
    assert said.count("musicgym: fitting a user simulator") == 2  # started, then done
    assert said.count("(first use; cached in") == 1


# ---- threads and messages -------------------------------------------------------------------


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_a_fit_runs_on_one_thread_and_restores_the_callers_settings(
        dataset, monkeypatch) -> None:
    seen = []
    real = fitting.fit_response_model

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), blas_threads()))
        return real(*args, **kwargs)

    monkeypatch.setattr(fitting, "fit_response_model", spy)
    before_torch, before_blas = torch.get_num_threads(), blas_threads()
    torch.set_num_threads(3)
    try:
        fitting.fit_simulator(dataset, TINY, progress=False)
        assert torch.get_num_threads() == 3
        assert blas_threads() == before_blas
        fit_catalog(dataset, world_split("A"), CatalogSpec())
        assert torch.get_num_threads() == 3
        assert blas_threads() == before_blas
    finally:
        torch.set_num_threads(before_torch)
    assert seen == [(1, [1] * len(before_blas))]


def test_a_cold_fit_says_what_and_where_and_a_warm_load_is_silent(
        dataset, cache, capfd) -> None:
    load_or_fit(dataset, TINY, progress=True)
    err = capfd.readouterr().err
    folder = fitting.cache_folder(dataset, TINY)
    said = [line for line in err.splitlines() if line.startswith("musicgym: ")]
    assert len(said) == 2, err
    assert "fitting a user simulator (all training sessions, seed 0)" in said[0]
    assert str(folder) in said[0]
    assert said[1].endswith(" s") and "done in" in said[1]
    assert "fitting response model" in err  # the epochs' progress bar
    load_or_fit(dataset, TINY, progress=True)
    assert capfd.readouterr().err == ""


def test_the_first_gym_make_says_what_it_fits_and_the_next_says_nothing(
        dataset, cache, capfd) -> None:
    import gymnasium as gym

    import musicgym.envs  # noqa: F401  (registers MusicRec-v0)
    from musicgym.envs.bundle import load_bundle

    load_bundle.cache_clear()
    gym.make("MusicRec-v0", data=dataset.path, min_plays=1, slate_size=2).close()
    err = capfd.readouterr().err
    assert sum("fitting the agent's track catalog (first use" in line
               for line in err.splitlines()) == 1, err
    assert sum("fitting a user simulator (all training sessions, seed 0) (first use" in line
               for line in err.splitlines()) == 1, err
    load_bundle.cache_clear()
    gym.make("MusicRec-v0", data=dataset.path, min_plays=1, slate_size=2).close()
    assert "musicgym:" not in capfd.readouterr().err
    load_bundle.cache_clear()
