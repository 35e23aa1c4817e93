"""`load_dataset`: any data argument (generated set, log, prepared folder); inputs hashed once."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from musicgym import datasets
from musicgym.cli import main
from musicgym.data import prepare as prepare_module
from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.synthetic.dataset import SyntheticDataset, synthetic_root
from musicgym.synthetic.generator import SyntheticConfig, generate


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    root = tmp_path_factory.mktemp("datasets") / "synthetic"
    return generate(SyntheticConfig(n_sessions=120, n_tracks=300, seed=1, chunk_sessions=50), root)


def test_generated_folder_is_its_log_and_features(generated: SyntheticDataset) -> None:
    dataset = datasets.load_dataset(generated.root)
    assert dataset.manifest["sessions"] == 120 and dataset.manifest["has_features"]
    roles = Counter(item["role"] for item in dataset.manifest["inputs"])
    assert roles == {"log": 3, "tracks": 1}
    # the same files given one by one: the same prepared copy
    assert datasets.load_dataset(generated.log_dir, generated.track_features).path == dataset.path
    assert datasets.load_dataset(dataset.path).path == dataset.path
    with pytest.raises(ValueError, match="cannot be added to the prepared dataset"):
        datasets.load_dataset(dataset.path, generated.track_features)


def test_summary_of_a_generated_folder(generated: SyntheticDataset,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--data", str(generated.root)]) == 0
    assert "120 sessions" in capsys.readouterr().out


def test_each_input_is_hashed_once(generated: SyntheticDataset, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "cache"))
    calls: Counter[Path] = Counter()
    real = prepare_module.file_sha256

    def counting(path: Path) -> str:
        calls[path] += 1
        return real(path)

    monkeypatch.setattr(datasets, "file_sha256", counting)
    monkeypatch.setattr(prepare_module, "file_sha256", counting)
    loaded = datasets.load_dataset(generated.root)
    assert set(calls) == {*generated.log_files, generated.track_features}
    assert set(calls.values()) == {1}
    monkeypatch.undo()
    direct = prepare(generated.log_dir, tmp_path / "direct", generated.track_features,
                     PrepareOptions(progress=False))
    assert loaded.manifest["inputs"] == direct.manifest["inputs"]
    assert loaded.checksum == direct.checksum


def test_a_generated_set_stays_generated_when_a_copy_was_prepared_first(tmp_path: Path) -> None:
    # prepared datasets are cached by content; the cached manifest names the copy's path
    generated = generate(SyntheticConfig(n_sessions=60, n_tracks=200, seed=23,
                                         chunk_sessions=60), tmp_path / "synthetic")
    copy_log = shutil.copytree(generated.log_dir, tmp_path / "elsewhere" / "log")
    copy_tracks = shutil.copy(generated.track_features, tmp_path / "elsewhere")
    copy = datasets.load_dataset(copy_log, copy_tracks)
    assert synthetic_root(copy) is None
    for given in (generated.root, generated.log_dir):
        dataset = datasets.load_dataset(given, None if given == generated.root
                                        else generated.track_features)
        assert dataset.path == copy.path  # the same cached entry
        assert synthetic_root(dataset) == generated.root
    assert synthetic_root(datasets.load_dataset(copy_log, copy_tracks)) is None
