"""Write artifacts so that a crash midway never leaves a half-written file a later run trusts.

Files and folders are written under a temporary sibling name and renamed into place; a rename
on one file system is atomic, so readers see either the old artifact or the complete new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout


class CorruptArtifactError(ValueError):
    """An artifact file does not match the checksum its manifest recorded."""


HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"
"""This machine's name as temporaries carry it (no '-', which separates the name's parts)."""
STALE_AGE_S = 2 * 24 * 3600
"""A temporary of another machine untouched this long is stale: its PID cannot be tested from
here, and no musicgym write goes two days without touching its files."""


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


# `.NAME.tmp-HOST-PID-xxxxxxxx`; older musicgym wrote `.NAME.tmp-PID-xxxxxxxx` (no host)
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?:(?P<host>[A-Za-z0-9._]+)-)?"
                        r"(?P<pid>\d+)-[0-9a-f]{8}$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _last_touched(entry: Path) -> float:
    """The newest modification time of `entry` and of everything under it."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for root, dirs, files in os.walk(entry):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:  # removed meanwhile
                    continue
    return newest


def _stale(entry: Path, match: re.Match[str]) -> bool:
    """Whether the temporary `entry` belongs to no running writer.

    On a cache shared between machines (NFS), a PID says nothing about another machine's
    processes: there only a temporary untouched for `STALE_AGE_S` is stale.
    """
    host = match["host"]
    if host is None or host == HOST:  # an older musicgym's name is judged as this machine's
        return not _pid_alive(int(match["pid"]))
    try:
        return time.time() - _last_touched(entry) > STALE_AGE_S
    except OSError:  # removed meanwhile
        return False


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Remove the temporaries that an interrupted musicgym write of `path` left beside it.

    Only siblings named as `atomic_dir` and `atomic_path` name them
    (`.NAME.tmp-HOST-PID-xxxxxxxx` or `.NAME.old-HOST-PID-xxxxxxxx`) are candidates: one of this
    machine whose process is no longer running, or one of another machine (a shared cache)
    whose files nobody touched for `STALE_AGE_S`. Anything else, including a live writer's
    temporary, is left alone. Returns what was removed.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return []
    removed = []
    for entry in path.parent.iterdir():
        match = _TEMPORARY.match(entry.name)
        if match is None or match["name"] != path.name or not _stale(entry, match):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


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
    remove_stale_temporaries(path)
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


def discard(path: str | Path) -> None:
    """Remove an artifact musicgym wrote (a corrupt or stale cache entry), crash-safely.

    It is renamed first, in one step, to a `.NAME.old-HOST-PID-*` sibling, which the next write of
    `path` clears if this process dies before removing it: never a half-deleted entry.
    """
    path = Path(path)
    old = _sibling(path, "old")
    os.replace(path, old)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


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
    remove_stale_temporaries(path)
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


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with paths made strings, for a JSON record of a config."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items()}


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON artifact, with an error that names the file when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: missing; rebuild the artifact that holds it") from err
    except IsADirectoryError as err:
        raise ValueError(f"{path}: a folder where a JSON file belongs; rebuild the artifact "
                         "that holds it") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it and rebuild") from err


def read_manifest(path: str | Path, version: int, fix: str) -> dict[str, Any]:
    """Read a JSON manifest and check its `format_version`; `fix` says how to rebuild it."""
    payload = read_json(path)
    found = payload.get("format_version")
    if found != version:
        raise ValueError(f"{path}: format version {found}, this musicgym reads version "
                         f"{version}; {fix}")
    return payload


_HASHED: dict[tuple[str, int, int], str] = {}
"""sha256 of the files this process has hashed, by (path, size, mtime_ns)."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks.

    A file is read once per process: while its size and modification time stay the same, the
    next call (the next `gym.make`, the next world on the same data) returns the same digest.
    """
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _HASHED:
        return _HASHED[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    # remembered only for files unchanged for a while: file systems stamp times in coarse
    # ticks, so a file rewritten right after it was hashed could keep its key
    if time.time_ns() - stat.st_mtime_ns > 2_000_000_000:
        _HASHED[key] = digest.hexdigest()
    return digest.hexdigest()


def checksum_files(folder: str | Path, names: Iterable[str] | None = None) -> dict[str, str]:
    """{relative path: sha256} for `names` in `folder` (default: every file below it).

    Record the result in the folder's manifest (under "files") before publishing the folder;
    `verify_files` checks it on load. The manifest itself is not included.
    """
    folder = Path(folder)
    if names is None:
        names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.name != "manifest.json")
    return {name: file_sha256(folder / name) for name in names}


def verify_files(folder: str | Path, files: dict[str, str], fix: str,
                 manifest: str = "manifest.json") -> None:
    """Check every file in `files` ({relative path: sha256}) against its recorded checksum.

    :param fix: what the user should do, appended to the error.
    :param manifest: the file in `folder` that recorded the checksums, named in the error.
    :raises CorruptArtifactError: naming the first missing or changed file.
    """
    folder = Path(folder)
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise CorruptArtifactError(f"{path}: missing from the artifact; {fix}")
        if file_sha256(path) != expected:
            raise CorruptArtifactError(f"{path}: contents do not match the sha256 recorded in "
                                       f"{folder / manifest} (corrupted or edited); {fix}")


def warn_rebuilding(path: str | Path, err: Exception) -> None:
    """Say that a corrupt cache entry is being rebuilt, and why."""
    warnings.warn(f"musicgym: the cache entry {path} is corrupt and is rebuilt ({err})",
                  RuntimeWarning, stacklevel=3)


@contextmanager
def entry_lock(path: str | Path, what: str = "cache entry") -> Iterator[None]:
    """Hold an exclusive file lock for building `path`, so two processes never build it twice.

    The lock file is `.NAME.lock` beside `path`. Callers check again, after the lock is
    taken, whether another process finished the entry meanwhile. Progress is printed every
    minute while another process holds the lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.with_name(f".{path.name}.lock"))
    waited = 0.0
    while True:
        try:
            lock.acquire(timeout=60)
            break
        except Timeout:
            waited += 60
            print(f"musicgym: waiting for another process to finish the {what} {path} "
                  f"({waited / 60:.0f} min)", file=sys.stderr, flush=True)
    try:
        yield
    finally:
        lock.release()


_UNSAFE_HINTS = ("weights_only", "allow_pickle", "pickle")


def unreadable(path: str | Path, err: BaseException, fix: str,
               what: str = "cannot be read") -> CorruptArtifactError:
    """The error for an artifact file that could not be read: names the file, says `fix`.

    The reader's own text is kept only when it holds no advice to load unsafely: torch and
    numpy suggest `weights_only=False` and `allow_pickle=True`, which would let a crafted file
    run code.
    """
    text = str(err).strip().splitlines()
    detail = text[0] if text else ""
    if not detail or any(hint in str(err) for hint in _UNSAFE_HINTS):
        detail = "its contents are damaged"
    return CorruptArtifactError(f"{path}: {what} ({type(err).__name__}: {detail}); {fix}")


def read_verified_manifest(folder: str | Path, name: str, version: int, fix: str,
                           required: Iterable[str] = ()) -> dict[str, Any]:
    """Read the manifest `name` of `folder`, then check every file it records by sha256.

    :param required: files the manifest must record (so a damaged manifest cannot skip them)
    :raises CorruptArtifactError: when the manifest records no checksums (an older format),
        lacks a required file, or a file is missing or changed.
    """
    folder = Path(folder)
    payload = read_manifest(folder / name, version, fix)
    files = payload.get("files")
    if not isinstance(files, dict) or not files:
        raise CorruptArtifactError(f"{folder / name}: records no file checksums (written by an "
                                   f"older musicgym); {fix}")
    missing = sorted(set(required) - set(files))
    if missing:
        raise CorruptArtifactError(f"{folder / name}: records no checksum of {missing}; {fix}")
    verify_files(folder, files, fix, name)
    return payload


@contextmanager
def building(what: str, where: str | Path) -> Iterator[None]:
    """Say on stderr that `what` is being built into the cache entry `where`, then how long it took.

    Only cache misses are wrapped in it: a warm load prints nothing.
    """
    print(f"musicgym: {what} (first use; cached in {where}) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    yield
    print(f"musicgym: {what}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr,
          flush=True)

T = TypeVar("T")


def load_or_build(folder: Path, manifest: str, load: Callable[[Path], T], build: Callable[[], T],
                  what: str, message: str) -> T:
    """The artifact in the cache entry `folder`: loaded, or built by `build` (which saves it).

    Loads without a lock when the entry is intact; otherwise takes the entry's lock, looks
    again (another process may have built it meanwhile) and builds it, printing `message`
    (`building`). A corrupt entry (anything `load` raises) is rebuilt with a warning naming it.

    :param manifest: the file whose presence marks a finished entry
    :param what: what the entry holds, for the line printed while waiting for the lock
    """
    def cached(warn: bool) -> T | None:
        if not (folder / manifest).is_file():
            return None
        try:
            return load(folder)
        except (ValueError, OSError, KeyError, EOFError) as err:  # corrupt: rebuild it
            if warn:
                warn_rebuilding(folder, err)
            return None

    found = cached(warn=False)
    if found is not None:
        return found
    with entry_lock(folder, what):
        found = cached(warn=True)
        if found is None:
            with building(message, folder):
                found = build()
    return found
