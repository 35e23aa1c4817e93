"""Validation errors, the prepared-dataset round trip, flags and drops."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicgym.data.dataset import FORMAT_VERSION, PreparedDataset
from musicgym.data.prepare import PrepareOptions, prepare
from musicgym.data.readers import MSSDInputError
from musicgym.data.schema import LOG_COLUMN_NAMES, outcome_class
from musicgym.data.validation import MSSDValidationError

from .conftest import REAL_LOG, REAL_TRACKS, needs_real_data

QUIET = PrepareOptions(progress=False)


def tiny_log(n_sessions: int = 3, length: int = 10) -> pd.DataFrame:
    """A small, valid log in the official schema, built here."""
    rows = []
    for s in range(n_sessions):
        for p in range(1, length + 1):
            skipped = (s + p) % 3 == 0
            rows.append({
                "session_id": f"0_s{s}", "session_position": p, "session_length": length,
                "track_id_clean": f"t_{(s * 7 + p) % 13}", "skip_1": skipped,
                "skip_2": skipped, "skip_3": skipped, "not_skipped": not skipped,
                "context_switch": 0, "no_pause_before_play": 1, "short_pause_before_play": 0,
                "long_pause_before_play": 0, "hist_user_behavior_n_seekfwd": 0,
                "hist_user_behavior_n_seekback": 0, "hist_user_behavior_is_shuffle": False,
                "hour_of_day": 12, "date": "2018-07-15", "premium": True,
                "context_type": "radio", "hist_user_behavior_reason_start": "trackdone",
                "hist_user_behavior_reason_end": "fwdbtn" if skipped else "trackdone",
            })
    return pd.DataFrame(rows, columns=list(LOG_COLUMN_NAMES))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_valid_log_prepares_with_indexes(tmp_path: Path) -> None:
    log = tiny_log()
    ds = prepare(write_csv(log, tmp_path / "log.csv"), tmp_path / "out", options=QUIET)
    assert ds.manifest["rows"] == 30 and ds.manifest["sessions"] == 3
    assert ds.manifest["tracks"] == log["track_id_clean"].nunique()
    frame = ds.log()
    assert (ds.track_ids[frame["track_idx"]] == frame["track_id_clean"].to_numpy()).all()
    expected = outcome_class(log["skip_1"], log["skip_2"], log["skip_3"])
    assert (frame["outcome"].to_numpy() == expected).all()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


@pytest.mark.parametrize(("column", "value", "message"), [
    ("skip_2", "maybe", "column 'skip_2': 'maybe' is not a boolean"),
    ("hour_of_day", "24", "column 'hour_of_day': '24' is outside [0, 23]"),
    ("hour_of_day", "noon", "is not an integer"),
    ("session_position", "11", "exceeds session_length (10)"),
    ("date", "15/07/2018", "is not a date in YYYY-MM-DD form"),
    ("context_type", "podcast", "is not one of"),
    ("track_id_clean", "", "is empty"),
])
def test_bad_value_names_file_row_column(tmp_path: Path, column: str, value: str,
                                         message: str) -> None:
    log = tiny_log().astype(str)
    log.loc[13, column] = value
    path = write_csv(log, tmp_path / "bad.csv")
    with pytest.raises(MSSDValidationError, match="row 14 \\(line 15\\)") as err:
        prepare(path, tmp_path / "out", options=QUIET)
    assert message in str(err.value) and str(path) in str(err.value)
    assert not (tmp_path / "out").exists(), "a failed prepare must leave nothing behind"
    assert [p.name for p in tmp_path.iterdir()] == ["bad.csv"]


def test_missing_and_unknown_columns(tmp_path: Path) -> None:
    log = tiny_log()
    with pytest.raises(MSSDValidationError, match=r"missing column\(s\) \['premium'\]"):
        prepare(write_csv(log.drop(columns="premium"), tmp_path / "a.csv"), tmp_path / "o",
                options=QUIET)
    with pytest.raises(MSSDValidationError, match=r"unknown column\(s\) \['mood'\]"):
        prepare(write_csv(log.assign(mood=1), tmp_path / "b.csv"), tmp_path / "o", options=QUIET)


def test_conflicting_duplicate_is_fatal_and_exact_duplicate_dropped(tmp_path: Path) -> None:
    log = tiny_log()
    exact = pd.concat([log, log.iloc[[4]]], ignore_index=True)
    ds = prepare(write_csv(exact, tmp_path / "a.csv"), tmp_path / "o1", options=QUIET)
    assert ds.manifest["dropped"]["duplicate_rows"] == 1 and ds.manifest["rows"] == 30
    conflict = pd.concat([log, log.iloc[[4]].assign(hour_of_day=3)], ignore_index=True)
    with pytest.raises(MSSDValidationError, match="position 5 twice with different values"):
        prepare(write_csv(conflict, tmp_path / "b.csv"), tmp_path / "o2", options=QUIET)


def test_nesting_and_cut_short_are_flagged_not_dropped(tmp_path: Path) -> None:
    log = tiny_log()
    log.loc[2, ["skip_1", "skip_2", "skip_3", "not_skipped"]] = [False, True, False, False]
    log = log.drop(index=[28, 29])  # session 2 ends after 8 of its 10 tracks
    ds = prepare(write_csv(log, tmp_path / "a.csv"), tmp_path / "o", options=QUIET)
    assert ds.manifest["flagged"]["nesting_violation_rows"] == 1
    assert ds.manifest["flagged"]["cut_short_sessions"] == 1
    assert ds.manifest["rows"] == 28
    assert ds.log()["outcome"].iloc[2] == 1  # keeps its skip_2 label


def test_inconsistent_session_length_is_fatal(tmp_path: Path) -> None:
    log = tiny_log()
    log.loc[3, "session_length"] = 12
    with pytest.raises(MSSDValidationError, match="session_length 10 and 12"):
        prepare(write_csv(log, tmp_path / "a.csv"), tmp_path / "o", options=QUIET)


def test_folder_of_shards_and_parquet_match_single_csv(tmp_path: Path) -> None:
    log = tiny_log(4)
    single = prepare(write_csv(log, tmp_path / "all.csv"), tmp_path / "o1", options=QUIET)
    shards = tmp_path / "shards"
    shards.mkdir()
    with gzip.open(shards / "part-0.csv.gz", "wt") as handle:
        log.iloc[:17].to_csv(handle, index=False)
    write_csv(log.iloc[17:], shards / "part-1.csv")
    sharded = prepare(shards, tmp_path / "o2", options=QUIET)
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    typed = log.assign(date=pd.to_datetime(log["date"]).dt.date)
    pq.write_table(pa.Table.from_pandas(typed, preserve_index=False), pq_dir / "log.parquet")
    parquet = prepare(pq_dir / "log.parquet", tmp_path / "o3", options=QUIET)
    for other in (sharded, parquet):
        pd.testing.assert_frame_equal(single.log(), other.log())


def test_bad_paths_are_clear(tmp_path: Path) -> None:
    with pytest.raises(MSSDInputError, match="no such file"):
        prepare(tmp_path / "nope.csv", tmp_path / "o", options=QUIET)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(MSSDInputError, match="unknown file type"):
        prepare(tmp_path / "notes.txt", tmp_path / "o", options=QUIET)


def test_reprepare_replaces_atomically(tmp_path: Path) -> None:
    path = write_csv(tiny_log(2), tmp_path / "a.csv")
    prepare(path, tmp_path / "o", options=QUIET)
    write_csv(tiny_log(3), path)
    ds = prepare(path, tmp_path / "o", options=QUIET)
    assert ds.manifest["sessions"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "o"]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["inputs"][0]["sha256"] and manifest["format_version"] == FORMAT_VERSION == 2
    assert sorted(manifest["files"]) == ["log.parquet", "sessions.parquet", "tracks.parquet"]


def test_prepared_folder_check(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        PreparedDataset(tmp_path)


@needs_real_data
def test_real_sample_counts_and_round_trip(tmp_path: Path) -> None:
    ds = prepare(REAL_LOG, tmp_path / "real", REAL_TRACKS, options=QUIET)
    m = ds.manifest
    assert (m["rows"], m["sessions"], m["tracks_played"]) == (80454, 4795, 30082)
    assert m["flagged"]["cut_short_sessions"] == 1
    assert m["flagged"]["nesting_violation_rows"] == 1
    assert m["dropped"]["duplicate_rows"] == 0
    assert ds.tracks["has_features"].sum() == 175
    original = pd.read_csv(REAL_LOG)
    back = ds.to_mssd()
    for column in LOG_COLUMN_NAMES:
        left = original[column].astype(str).to_numpy()
        right = back[column].astype(str).to_numpy()
        assert np.array_equal(left, right), column


def test_old_format_version_is_refused(tmp_path: Path) -> None:
    ds = prepare(write_csv(tiny_log(2), tmp_path / "a.csv"), tmp_path / "o", options=QUIET)
    manifest = ds.manifest | {"format_version": 99}
    (tmp_path / "o" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="format version 99.*run `musicgym prepare` again"):
        PreparedDataset(tmp_path / "o")
