"""Hostile and damaged inputs, outputs and cache entries for `prepare` and `load_dataset`.

Every file is built here. Each case asserts the located message (file, row or line, column, fix)
and that nothing of the user's is deleted or left half-written.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import threading
import warnings
import zlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from musicgym import datasets
from musicgym.artifacts import CorruptArtifactError, checksum_files, entry_lock, file_sha256
from musicgym.cli import main
from musicgym.data import readers
from musicgym.data.dataset import FORMAT_VERSION, PreparedDataset, StaleDatasetError
from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.data.readers import MSSDInputError
from musicgym.data.validation import MSSDValidationError

from .test_prepare import tiny_log, write_csv

QUIET = PrepareOptions(progress=False)
LAST = "hist_user_behavior_reason_end"


def csv_lines(n_sessions: int = 3) -> list[str]:
    return tiny_log(n_sessions).to_csv(index=False).splitlines()


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# 1. the output folder: never delete what musicgym did not write ---------------------------------

def test_out_holding_user_files_is_refused_and_kept(tmp_path: Path) -> None:
    out = tmp_path / "project"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "notes.txt").write_text("mine")
    log = write_csv(tiny_log(), out / "log.csv")  # the log itself lives in --out
    with pytest.raises(FileExistsError) as err:
        prepare(log, out, options=QUIET)
    message = str(err.value)
    assert str(out) in message and ".git, log.csv, notes.txt" in message
    assert "not a prepared dataset; choose a new or empty output folder (--out)" in message
    assert listing(out) == [".git", "log.csv", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine" and (out / ".git" / "HEAD").is_file()
    assert listing(tmp_path) == ["project"], "no temporary left beside --out"


def test_out_that_is_a_file_is_refused_not_moved(tmp_path: Path) -> None:
    log = write_csv(tiny_log(), tmp_path / "log.csv")
    target = tmp_path / "thesis.docx"
    target.write_bytes(b"\x00precious")
    with pytest.raises(FileExistsError, match="exists and is a file; prepare writes a folder and "
                                              r"never replaces a file.*\(--out\)"):
        prepare(log, target, options=QUIET)
    assert target.read_bytes() == b"\x00precious"
    assert listing(tmp_path) == ["log.csv", "thesis.docx"], "nothing moved to .NAME.old-*"


def test_cli_refuses_folder_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    log = write_csv(tiny_log(), tmp_path / "log.csv")
    code = main(["prepare", "--log", str(log), "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"musicgym prepare: error: {tmp_path} is a folder that holds other")
    assert listing(tmp_path) == ["log.csv"]


def test_prepared_folder_with_foreign_file_is_refused(tmp_path: Path) -> None:
    log = write_csv(tiny_log(), tmp_path / "log.csv")
    prepare(log, tmp_path / "out", options=QUIET)
    (tmp_path / "out" / "analysis.ipynb").write_text("{}")
    with pytest.raises(FileExistsError, match=r"also holds files prepare did not write "
                                              r"\(analysis.ipynb\); move them out"):
        prepare(log, tmp_path / "out", options=QUIET)
    assert (tmp_path / "out" / "analysis.ipynb").read_text() == "{}"


def test_earlier_prepared_dataset_and_empty_folder_are_replaced(tmp_path: Path) -> None:
    log = write_csv(tiny_log(2), tmp_path / "log.csv")
    (tmp_path / "out").mkdir()
    assert prepare(log, tmp_path / "out", options=QUIET).manifest["sessions"] == 2
    write_csv(tiny_log(3), log)
    assert prepare(log, tmp_path / "out", options=QUIET).manifest["sessions"] == 3
    assert listing(tmp_path) == ["log.csv", "out"]
    assert listing(tmp_path / "out") == ["log.parquet", "manifest.json", "sessions.parquet",
                                         "tracks.parquet"]


# 3. nothing is spliced into SQL ------------------------------------------------------------------

def test_memory_limit_injection_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    hostile = "1GB'; COPY (SELECT 42) TO 'x.csv'; SELECT '1"
    with pytest.raises(ValueError, match=r"memory_limit \(--memory-limit\) .* is not a size"):
        PrepareOptions(memory_limit=hostile)
    log = write_csv(tiny_log(), tmp_path / "log.csv")
    code = main(["prepare", "--log", str(log), "--out", str(tmp_path / "o"),
                 "--memory-limit", hostile])
    assert code == 2 and "--memory-limit" in capsys.readouterr().err
    assert listing(tmp_path) == ["log.csv"], "no x.csv and no output folder"
    for good in ("512MB", "1.5 GB", "4GiB", "2gb"):
        assert PrepareOptions(memory_limit=good).memory_limit == good
    for bad in ("1", "GB", "-1GB", "1GB;", "1e3MB"):
        with pytest.raises(ValueError, match="memory_limit"):
            PrepareOptions(memory_limit=bad)


def test_quotes_and_glob_characters_in_paths(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    weird = tmp_path / "it's [a] *b?"
    weird.mkdir()
    log = write_csv(tiny_log(), weird / "lo'g.csv")
    ds = prepare(log, weird / "o'ut", options=QUIET)
    assert ds.manifest["rows"] == 30 and len(ds.log()) == 30
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "ca'che"))
    cached = datasets.load_dataset(log)
    assert cached.path.parent.parent == tmp_path / "ca'che"
    pd.testing.assert_frame_equal(cached.log(), ds.log())


# 4. malformed files: one located line each ------------------------------------------------------

@pytest.mark.parametrize(("value", "why"), [
    ("2018-13-45", "is not a calendar date"),
    ("2018-02-30", "is not a calendar date"),
])
def test_impossible_date(tmp_path: Path, value: str, why: str) -> None:
    log = tiny_log().astype(str)
    log.loc[13, "date"] = value
    path = write_csv(log, tmp_path / "bad.csv")
    with pytest.raises(MSSDValidationError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, row 14 (line 15), column 'date': '{value}' {why} "
                              "(month 01-12, day within the month); correct the value or remove "
                              "the row")


def test_row_with_extra_field(tmp_path: Path) -> None:
    lines = csv_lines()
    lines[14] += ",surprise"
    path = write_lines(tmp_path / "extra.csv", lines)
    with pytest.raises(MSSDInputError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, row 14 (line 15): 22 fields where the header has 21 "
                              f"columns, an extra field after the last column '{LAST}'; remove "
                              "it, or quote a value that holds a comma")
    assert listing(tmp_path) == ["extra.csv"]


def test_row_with_missing_field_deep_in_a_big_file(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 4096)  # many blocks: numbering across them
    lines = csv_lines(100)  # 2,000 rows, 1,001 lines
    lines[900] = lines[900].rsplit(",", 1)[0]
    path = write_lines(tmp_path / "short.csv", lines)
    with pytest.raises(MSSDInputError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, row 900 (line 901): 20 fields where the header has 21 "
                              f"columns, no value for column '{LAST}'; add the missing value or "
                              "remove the row")


def test_truncated_gzip(tmp_path: Path) -> None:
    text = "\n".join(csv_lines(100)).encode() + b"\n"
    packed = gzip.compress(text)
    path = tmp_path / "log.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    whole_lines = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
        packed[: len(packed) // 2]).count(b"\n")
    assert 1 < whole_lines < 2000
    with pytest.raises(MSSDInputError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    message = str(err.value)
    assert message.startswith(f"{path}, line {whole_lines + 1} (row {whole_lines}): the file "
                              "ends early or is corrupt")
    assert message.endswith("the gzip file is truncated or corrupt; download or compress it "
                            "again")
    path.write_bytes(packed[:12])  # cut inside the header
    with pytest.raises(MSSDInputError, match=r"line 1: cannot read the header .*truncated"):
        prepare(path, tmp_path / "o", options=QUIET)
    assert listing(tmp_path) == ["log.csv.gz"]


def test_header_only_log_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "empty.csv", csv_lines()[:1])
    with pytest.raises(MSSDInputError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, line 2: no data rows after the header; the log must "
                              "hold at least one row")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("cell", "said"), [
    ("NaN", "'NaN' is not an integer"),
    ("NA", "'NA' is not an integer"),
    ("", "the cell is empty"),
])
def test_missing_values_are_named_not_none(tmp_path: Path, cell: str, said: str) -> None:
    log = tiny_log().astype(str)
    log.loc[4, "hour_of_day"] = cell
    path = write_csv(log, tmp_path / "nan.csv")
    with pytest.raises(MSSDValidationError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, row 5 (line 6), column 'hour_of_day': {said}; correct "
                              "the value or remove the row")
    assert "None" not in str(err.value)


def test_bom_and_quoted_header_are_valid_csv(tmp_path: Path) -> None:
    lines = csv_lines()
    plain = prepare(write_lines(tmp_path / "plain.csv", lines), tmp_path / "o1", options=QUIET)
    header = ",".join(f'"{name}"' for name in lines[0].split(","))
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *lines[1:]]).encode() + b"\r\n")
    again = prepare(quoted, tmp_path / "o2", options=QUIET)
    pd.testing.assert_frame_equal(plain.log(), again.log())
    with gzip.open(tmp_path / "quoted.csv.gz", "wb") as handle:
        handle.write(quoted.read_bytes())
    gz = prepare(tmp_path / "quoted.csv.gz", tmp_path / "o3", options=QUIET)
    pd.testing.assert_frame_equal(plain.log(), gz.log())


def test_text_that_is_not_utf8_and_broken_parquet(tmp_path: Path) -> None:
    lines = csv_lines()
    path = tmp_path / "latin.csv"
    path.write_bytes("\n".join(lines[:5]).encode() + b"\n0_s9,1,10,t_\xe9" + b",x" * 17 + b"\n")
    with pytest.raises(MSSDInputError) as err:
        prepare(path, tmp_path / "o", options=QUIET)
    assert str(err.value) == (f"{path}, row 5 (line 6): the text is not UTF-8 (byte b'\\xe9' in "
                              "column 'track_id_clean'); save the file as UTF-8")
    broken = tmp_path / "log.parquet"
    broken.write_bytes(b"PAR1 this is not parquet PAR1")
    with pytest.raises(MSSDInputError, match=f"{broken}: not a readable Parquet file"):
        prepare(broken, tmp_path / "o", options=QUIET)


# 5. interrupted work ------------------------------------------------------------------------------

def test_stale_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    log = write_csv(tiny_log(), tmp_path / "log.csv")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = dead_pid()
        stale = tmp_path / f".out.tmp-{dead}-0123abcd"
        (stale / "duckdb.tmp").mkdir(parents=True)
        (stale / "stage.parquet").write_bytes(b"x" * 1000)
        stale_old = tmp_path / f".out.old-{dead}-4567cdef"
        stale_old.mkdir()
        running = tmp_path / f".out.tmp-{live.pid}-89abcdef"
        running.mkdir()
        other = tmp_path / f".other.tmp-{dead}-0123abcd"  # not a temporary of --out
        other.mkdir()
        prepare(log, tmp_path / "out", options=QUIET)
        assert not stale.exists() and not stale_old.exists()
        assert running.is_dir() and other.is_dir()
        assert listing(tmp_path) == sorted([running.name, other.name, "log.csv", "out"])
    finally:
        live.kill()
        live.wait()


def test_failed_prepare_leaves_no_temporary(tmp_path: Path) -> None:
    log = tiny_log()
    log.loc[3, "session_length"] = 12  # fails in the DuckDB pass, after staging
    path = write_csv(log, tmp_path / "a.csv")
    with pytest.raises(MSSDValidationError, match="session_length 10 and 12"):
        prepare(path, tmp_path / "o", options=QUIET)
    assert listing(tmp_path) == ["a.csv"]


# 6. checksums of prepared data -----------------------------------------------------------------

def flip(path: Path, n: int = 64) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_manifest_records_every_table(tmp_path: Path) -> None:
    ds = prepare(write_csv(tiny_log(), tmp_path / "a.csv"), tmp_path / "o", options=QUIET)
    assert ds.manifest["files"] == checksum_files(tmp_path / "o")
    assert set(ds.manifest["files"]) == {"log.parquet", "sessions.parquet", "tracks.parquet"}


@pytest.mark.parametrize("name", ["log.parquet", "sessions.parquet", "tracks.parquet"])
def test_user_folder_changed_after_prepare_names_the_file(tmp_path: Path, name: str) -> None:
    prepare(write_csv(tiny_log(), tmp_path / "a.csv"), tmp_path / "o", options=QUIET)
    flip(tmp_path / "o" / name)
    with pytest.raises(CorruptArtifactError) as err:
        datasets.load_dataset(tmp_path / "o")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'o' / name}: contents do not match the sha256")
    assert message.endswith("it was changed after prepare; run `musicgym prepare` again to "
                            "rebuild it")
    (tmp_path / "o" / name).unlink()
    with pytest.raises(CorruptArtifactError, match=f"{name}: missing from the artifact"):
        PreparedDataset(tmp_path / "o")
    assert (tmp_path / "a.csv").exists()


def test_cli_summary_of_a_changed_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    prepare(write_csv(tiny_log(), tmp_path / "a.csv"), tmp_path / "o", options=QUIET)
    flip(tmp_path / "o" / "log.parquet")
    assert main(["summary", "--data", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "log.parquet" in err and "was changed after prepare" in err


def test_corrupt_cache_entry_is_rebuilt_with_a_warning(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "cache"))
    log = write_csv(tiny_log(), tmp_path / "a.csv")
    first = datasets.load_dataset(log)
    expected = first.log()
    entry = first.path
    flip(entry / "log.parquet")
    with pytest.warns(RuntimeWarning, match=f"cache entry {entry} is corrupt and is rebuilt "
                                            r"\(.*log.parquet: contents do not match"):
        again = datasets.load_dataset(log)
    assert again.path == entry
    pd.testing.assert_frame_equal(again.log(), expected)
    assert file_sha256(entry / "log.parquet") == again.manifest["files"]["log.parquet"]
    (entry / "manifest.json").write_text("{not json")
    with pytest.warns(RuntimeWarning, match="manifest.json: not valid JSON"):
        assert len(datasets.load_dataset(log).log()) == 30
    assert listing(entry.parent) == [f".{entry.name}.lock", entry.name]


def test_old_format_without_checksums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "cache"))
    log = write_csv(tiny_log(), tmp_path / "a.csv")
    entry = datasets.load_dataset(log).path
    user = prepare(log, tmp_path / "mine", options=QUIET).path
    for folder in (entry, user):
        manifest = json.loads((folder / "manifest.json").read_text())
        del manifest["files"]
        manifest["format_version"] = 1
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stale cache entry is rebuilt quietly
        rebuilt = datasets.load_dataset(log)
    assert rebuilt.path == entry and rebuilt.manifest["format_version"] == FORMAT_VERSION
    with pytest.raises(StaleDatasetError, match=f"{user / 'manifest.json'}: format version 1, "
                                                r"this musicgym reads version \d+; run "
                                                "`musicgym prepare` again to rebuild it"):
        datasets.load_dataset(user)
    manifest = json.loads((user / "manifest.json").read_text())
    (user / "manifest.json").write_text(json.dumps(manifest | {"format_version": FORMAT_VERSION}))
    with pytest.raises(CorruptArtifactError, match="'files'.* is missing or incomplete; run "
                                                   "`musicgym prepare` again"):
        datasets.load_dataset(user)


def test_entry_lock_prepares_a_cold_entry_once(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path / "cache"))
    log = write_csv(tiny_log(), tmp_path / "a.csv")
    entry = datasets.load_dataset(log).path
    calls = []
    real = datasets.prepare

    def counting(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets, "prepare", counting)
    shutil.rmtree(entry)
    results: list[PreparedDataset] = []
    with entry_lock(entry):  # another process holds the entry: the loader waits for it
        waiter = threading.Thread(target=lambda: results.append(datasets.load_dataset(log)),
                                  name="waiter")
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not calls
        real(log, entry, options=QUIET)  # ... and finishes the entry meanwhile
    waiter.join(timeout=60)
    assert results and results[0].path == entry and calls == []
    shutil.rmtree(entry)
    threads = [threading.Thread(target=lambda: results.append(datasets.load_dataset(log)),
                                name=f"t{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(calls) == 1 and len(results) == 3
    assert pq.read_table(entry / "log.parquet").num_rows == 30
    assert os.path.isdir(entry)
