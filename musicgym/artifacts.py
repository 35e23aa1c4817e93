"""Write artifacts so that a crash midway never leaves a half-written file a later run trusts.

Files and folders are written under a temporary sibling name and renamed into place; a rename
on one file system is atomic, so readers see either the old artifact or the complete new one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder that replaces `path` only when the block ends without error.

    :param path: the folder to publish.
    :param overwrite: replace whatever is at `path`; if False, publish only where `path` is
        absent or an empty folder and raise FileExistsError otherwise (also when another
        process published `path` while the block ran).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        if overwrite:
            replace_dir(tmp, path)
        else:
            _rename_new(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(src: Path, dst: Path) -> None:
    """Move the complete folder `src` to `dst`, replacing an existing `dst` safely."""
    old = None
    if dst.exists():
        old = _sibling(dst, "old")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _rename_new(src: Path, dst: Path) -> None:
    """Move the folder `src` to `dst` unless something other than an empty folder is there."""
    try:
        os.rename(src, dst)  # POSIX replaces an empty folder only, in one step
    except OSError as err:
        if dst.exists():
            raise FileExistsError(f"{dst} already exists and overwrite is off; remove it or "
                                  "allow overwriting") from err
        raise


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path that is renamed to `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path`, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` as indented JSON, atomically."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON artifact, with an error that names the file when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: missing; rebuild the artifact that holds it") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it and rebuild") from err


def read_manifest(path: str | Path, version: int, fix: str) -> dict[str, Any]:
    """Read a JSON manifest and check its `format_version`; `fix` says how to rebuild it."""
    payload = read_json(path)
    found = payload.get("format_version")
    if found != version:
        raise ValueError(f"{path}: format version {found}, this musicgym reads version "
                         f"{version}; {fix}")
    return payload
