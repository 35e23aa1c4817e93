"""Atomic artifacts: folders and files appear whole or not at all; broken files are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musicgym.artifacts import atomic_dir, atomic_path, read_json, read_manifest, write_json


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_dir_publishes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "set"
    with atomic_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and not target.exists()
        (tmp / "a.txt").write_text("one")
    assert (target / "a.txt").read_text() == "one"
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("two")
    assert _names(target) == ["b.txt"]
    assert _names(tmp_path) == ["set"]


def test_atomic_dir_keeps_old_content_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "set"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("disk full")
    assert _names(target) == ["old.txt"] and (target / "old.txt").read_text() == "old"
    assert _names(tmp_path) == ["set"], "no temporary folder may be left behind"


def test_atomic_dir_without_overwrite(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty, overwrite=False) as tmp:
        (tmp / "a.txt").write_text("one")
    assert _names(empty) == ["a.txt"]
    with pytest.raises(FileExistsError, match="already exists"), \
            atomic_dir(empty, overwrite=False) as tmp:
        (tmp / "b.txt").write_text("two")
    assert _names(empty) == ["a.txt"]
    assert _names(tmp_path) == ["empty"]


def test_atomic_path_keeps_old_content_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="crash"), atomic_path(target) as tmp:
        tmp.write_bytes(b"ne")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert _names(tmp_path) == ["weights.bin"]


def test_read_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"b": 1, "a": [1, 2]})
    assert read_json(path) == {"a": [1, 2], "b": 1}
    path.write_text('{"a": ')
    with pytest.raises(ValueError, match=r"run\.json: not valid JSON.*delete it and rebuild"):
        read_json(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.json: missing"):
        read_json(tmp_path / "missing.json")


def test_read_manifest_checks_the_format_version(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"format_version": 2, "rows": 3}))
    assert read_manifest(path, 2, "rebuild it")["rows"] == 3
    with pytest.raises(ValueError, match="format version 2, this musicgym reads version 1; "
                                         "run `musicgym prepare` again"):
        read_manifest(path, 1, "run `musicgym prepare` again")


def test_a_file_is_hashed_once_until_it_changes(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import os
    import time

    from musicgym import artifacts

    reads = []
    real = hashlib.sha256

    def counting(*args: object) -> object:
        reads.append(1)
        return real(*args)

    monkeypatch.setattr(artifacts.hashlib, "sha256", counting)
    path = tmp_path / "table.bin"
    path.write_bytes(b"a" * 100)
    old = time.time_ns() - 10_000_000_000
    os.utime(path, ns=(old, old))
    first = artifacts.file_sha256(path)
    assert artifacts.file_sha256(path) == first and len(reads) == 1
    path.write_bytes(b"b" * 100)  # rewritten now: a new modification time, hashed again
    assert artifacts.file_sha256(path) == real(b"b" * 100).hexdigest() and len(reads) == 2
    assert artifacts.file_sha256(path) != first and len(reads) == 3  # fresh files: not cached
