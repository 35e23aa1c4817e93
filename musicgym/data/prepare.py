"""Turn MSSD logs (and optional track features) into a prepared dataset, streaming.

Pass one streams every input file in batches through the validator and appends typed rows to a
staging Parquet file. Pass two runs in DuckDB with a memory limit (it spills to disk): duplicate
checks, the integer track and session indexes, flags, and the sorted, final Parquet files.
The whole folder is written under a temporary name and renamed into place at the end; its
manifest records the sha256 of every table, which `PreparedDataset` checks on load.

The output folder must be new, empty, or an earlier prepared dataset (which is replaced): prepare
never deletes or moves anything it did not write. No path or option is ever spliced into SQL:
DuckDB gets its settings as a config dict and reads and writes files through its Python API.

What happens to each problem:

| problem | what prepare does |
|---|---|
| a row with too many or too few fields, truncated .gz, non-UTF-8 text | fatal, naming file, line |
| a log (or features table) with a header and no rows | fatal |
| missing/unknown column, unparseable or out-of-range value | fatal, naming file, row, column |
| session_position > session_length | fatal |
| a session whose rows disagree on session_length | fatal |
| the same (session_id, session_position) twice with different values | fatal, naming both rows |
| the same row twice (every value equal) | dropped, counted as `duplicate_rows` |
| skip flags that break the nesting (skip_2 without skip_3) | kept, `nesting_violation_rows` |
| a session with fewer rows than session_length | kept, counted as `cut_short_sessions` |
| a session whose positions are not 1..n | kept, counted as `position_gap_sessions` |

A row that breaks the nesting keeps its skip_2 label in its outcome class.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from musicgym.artifacts import atomic_dir, checksum_files, write_json
from musicgym.data.dataset import FORMAT_VERSION, TABLES, PreparedDataset, check_replaceable
from musicgym.data.readers import (
    MSSDInputError,
    file_sha256,
    iter_batches,
    list_inputs,
    read_header,
)
from musicgym.data.schema import FEATURE_COLUMNS, LOG_COLUMN_NAMES, LOG_COLUMNS, arrow_schema
from musicgym.data.splits import HASH_UNIT_SQL
from musicgym.data.validation import (
    MSSDValidationError,
    check_columns,
    check_positions,
    parse_batch,
)
from musicgym.version import __version__

MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
SCRATCH = ("stage.parquet", "features_stage.parquet", "duckdb.tmp")
"""Work files prepare keeps inside its temporary folder and removes before publishing it."""


@dataclass(frozen=True)
class PrepareOptions:
    """How `prepare` runs: batch size, DuckDB memory limit and threads, progress bar."""

    batch_rows: int = 262_144
    memory_limit: str = "1GB"
    threads: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_rows", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} ({value!r}) must be an integer of at least 1")
        if not isinstance(self.memory_limit, str) or not MEMORY_LIMIT.match(self.memory_limit):
            raise ValueError(f"memory_limit (--memory-limit) {self.memory_limit!r} is not a size; "
                             "pass a number and a unit, such as 512MB, 1.5GB or 4GiB")


def _stage(files: list[Path], columns, out: Path, options: PrepareOptions, what: str
           ) -> list[int]:
    """Validate `files` batch by batch into the Parquet file `out`; return each file's first row.

    The returned list ends with the total row count.
    """
    schema = arrow_schema(columns).append(pa.field("_row", pa.int64()))
    schema = schema.append(pa.field("_file", pa.int32()))
    rows = 0
    offsets = []
    total = sum(f.stat().st_size for f in files)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"reading {what}",
               disable=not options.progress)
    with pq.ParquetWriter(out, schema) as writer:
        for file_index, path in enumerate(files):
            offsets.append(rows)
            check_columns(path, read_header(path), columns)
            for batch in iter_batches(path, options.batch_rows):
                table = parse_batch(batch, columns)
                if columns is LOG_COLUMNS:
                    check_positions(batch, table)
                n = table.num_rows
                table = table.append_column("_row", pa.array(range(rows, rows + n), pa.int64()))
                table = table.append_column(
                    "_file", pa.array([file_index] * n, pa.int32()))
                writer.write_table(table.cast(schema))
                rows += n
            bar.update(path.stat().st_size)
    bar.close()
    if rows == 0:
        where = f"{files[0]}, line 2" if len(files) == 1 else f"{files[0].parent} (every shard)"
        raise MSSDInputError(f"{where}: no data rows after the header; the {what} must hold "
                             "at least one row")
    return [*offsets, rows]


def _row_location(files: list[Path], offsets: list[int], row: int) -> str:
    """Name the file and 1-based data row of a global staging row number."""
    index = bisect.bisect_right(offsets, row) - 1
    return f"{files[index]}, row {row - offsets[index] + 1}"


def _check_duplicates(con: duckdb.DuckDBPyConnection, files: list[Path], offsets: list[int]
                      ) -> int:
    """Raise on conflicting duplicates; return how many exact duplicate rows will be dropped."""
    values = ", ".join(LOG_COLUMN_NAMES)
    con.execute(f"""
        CREATE TEMP TABLE dups AS
        SELECT session_id, session_position, count(*) AS n,
               count(DISTINCT hash({values})) AS variants, list(_row ORDER BY _row) AS rows
        FROM stage GROUP BY session_id, session_position HAVING count(*) > 1
    """)
    conflict = con.execute(
        "SELECT session_id, session_position, rows FROM dups WHERE variants > 1 LIMIT 1"
    ).fetchone()
    if conflict:
        sid, pos, rows = conflict
        a, b = (_row_location(files, offsets, r) for r in rows[:2])
        raise MSSDValidationError(
            f"session '{sid}' has position {pos} twice with different values ({a}; {b}); "
            "remove one of the rows (did two shards overlap?)"
        )
    con.execute("CREATE TEMP TABLE dropped AS SELECT unnest(rows[2:]) AS _row FROM dups")
    return con.execute("SELECT count(*) FROM dropped").fetchone()[0]


def _check_lengths(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.execute("""
        SELECT session_id, min(session_length), max(session_length) FROM kept
        GROUP BY session_id HAVING min(session_length) <> max(session_length) LIMIT 1
    """).fetchone()
    if bad:
        raise MSSDValidationError(
            f"session '{bad[0]}' has rows with session_length {bad[1]} and {bad[2]}; "
            "a session's rows must agree on its length"
        )


NESTING = "((skip_1 AND NOT skip_2) OR (skip_2 AND NOT skip_3) OR (not_skipped AND skip_3))"
OUTCOME = "CASE WHEN skip_1 THEN 0 WHEN skip_2 THEN 1 WHEN skip_3 THEN 2 ELSE 3 END"


def _index_tables(con: duckdb.DuckDBPyConnection, with_features: bool) -> None:
    con.execute(f"""
        CREATE TEMP TABLE sessions AS
        SELECT (row_number() OVER (ORDER BY first_row) - 1)::INTEGER AS session_idx, *
        FROM (SELECT session_id, min(_row) AS first_row, count(*)::SMALLINT AS n_rows,
                     max(session_length) AS session_length, min(date) AS date,
                     count(*) < max(session_length) AS cut_short,
                     max(session_position) <> count(*) AS position_gap,
                     {HASH_UNIT_SQL} AS hash_unit
              FROM kept GROUP BY session_id)
    """)
    con.execute("""
        CREATE TEMP TABLE played AS
        SELECT track_id_clean AS track_id, min(_row) AS first_row, count(*)::INTEGER AS plays,
               avg(skip_2::DOUBLE) AS skip_2_rate
        FROM kept GROUP BY track_id_clean
    """)
    extra = ""
    if with_features:
        extra = """UNION ALL SELECT f.track_id, 1e18 + f._row, 0, NULL FROM features f
                   ANTI JOIN played p ON f.track_id = p.track_id"""
    con.execute(f"""
        CREATE TEMP TABLE tracks AS
        SELECT (row_number() OVER (ORDER BY first_row) - 1)::INTEGER AS track_idx,
               track_id, plays, skip_2_rate
        FROM (SELECT * FROM played {extra})
    """)


def _write_outputs(con: duckdb.DuckDBPyConnection, tmp: Path, with_features: bool) -> None:
    official = ", ".join(f"k.{c}" for c in LOG_COLUMN_NAMES)
    con.sql(f"""
        SELECT {official}, t.track_idx, s.session_idx,
               ({OUTCOME})::TINYINT AS outcome, {NESTING} AS nesting_violation
        FROM kept k JOIN tracks t ON k.track_id_clean = t.track_id
        JOIN sessions s USING (session_id)
        ORDER BY s.session_idx, k.session_position
    """).write_parquet(str(tmp / "log.parquet"), row_group_size=131072)
    con.sql("SELECT * EXCLUDE (first_row) FROM sessions ORDER BY session_idx").write_parquet(
        str(tmp / "sessions.parquet"))
    features = ""
    if with_features:
        names = ", ".join(f"f.{c.name}" for c in FEATURE_COLUMNS[1:])
        features = f", f.track_id IS NOT NULL AS has_features, {names}"
        features += " FROM tracks t LEFT JOIN features f USING (track_id)"
    else:
        features = " FROM tracks t"
    con.sql(f"SELECT t.* {features} ORDER BY t.track_idx").write_parquet(
        str(tmp / "tracks.parquet"))


def _features_stage(con: duckdb.DuckDBPyConnection, files: list[Path], tracks: Path, tmp: Path,
                    options: PrepareOptions) -> None:
    stage = tmp / "features_stage.parquet"
    _stage(files, FEATURE_COLUMNS, stage, options, "track features")
    con.read_parquet(str(stage)).create_view("features")
    dup = con.execute(
        "SELECT track_id, count(*) FROM features GROUP BY 1 HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if dup:
        raise MSSDValidationError(f"{tracks}: track_id '{dup[0]}' appears {dup[1]} times in the "
                                  "track features; keep one row per track")


def prepare(log: str | Path, out: str | Path, tracks: str | Path | None = None,
            options: PrepareOptions | None = None, *,
            checksums: Mapping[Path, str] | None = None) -> PreparedDataset:
    """Validate an MSSD log (and optional track features) and write a prepared dataset to `out`.

    :param log: an MSSD log file or a folder of shards.
    :param out: the folder to write: new, empty, or an earlier prepared dataset, which is
        replaced atomically. A file or any other non-empty folder is refused (FileExistsError).
    :param tracks: an optional track-features table (file or folder of shards).
    :param options: batch size, DuckDB limits, progress bar.
    :param checksums: the hex SHA-256 of input files that the caller has hashed already, keyed
        by the paths `readers.list_inputs` gives; the others are hashed here.
    """
    options = options or PrepareOptions()
    if not isinstance(options, PrepareOptions):
        raise TypeError(f"options must be a PrepareOptions, not {type(options).__name__}")
    start = time.perf_counter()
    files = list_inputs(log)
    feature_files = list_inputs(tracks) if tracks else []
    target = Path(os.path.abspath(out))
    replacing = check_replaceable(target)
    with atomic_dir(target, overwrite=replacing) as tmp:
        counts = _build(files, feature_files, tracks, tmp, options)
        tables = checksum_files(tmp, TABLES)
        seconds = time.perf_counter() - start
        manifest = _manifest(files, feature_files, counts, seconds, checksums or {})
        write_json(tmp / "manifest.json", {**manifest, "files": tables})
        check_replaceable(target)  # again: refuse what appeared at `out` while this ran
    return PreparedDataset(out, verify=False)


def _build(files: list[Path], feature_files: list[Path], tracks: str | Path | None, tmp: Path,
           options: PrepareOptions) -> dict:
    """Stage, check and index the inputs into the tables of `tmp`; return the manifest counts."""
    offsets = _stage(files, LOG_COLUMNS, tmp / "stage.parquet", options, "log")
    # settings as a config dict and files through the Python API: nothing is spliced into SQL
    con = duckdb.connect(config={
        "memory_limit": options.memory_limit, "threads": options.threads,
        "temp_directory": str(tmp / "duckdb.tmp"),
    })
    try:
        con.execute("SET enable_progress_bar = " + ("true" if options.progress else "false"))
        con.read_parquet(str(tmp / "stage.parquet")).create_view("stage")
        if feature_files:
            _features_stage(con, feature_files, Path(tracks), tmp, options)
        duplicates = _check_duplicates(con, files, offsets)
        con.execute("CREATE TEMP VIEW kept AS SELECT * FROM stage ANTI JOIN dropped USING (_row)")
        _check_lengths(con)
        _index_tables(con, bool(feature_files))
        _write_outputs(con, tmp, bool(feature_files))
        counts = _counts(con, offsets[-1], duplicates)
    finally:
        con.close()
    for name in SCRATCH:
        path = tmp / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return counts


def _counts(con: duckdb.DuckDBPyConnection, rows_read: int, duplicates: int) -> dict:
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "rows_read": rows_read,
        "rows": q("SELECT count(*) FROM kept"),
        "sessions": q("SELECT count(*) FROM sessions"),
        "tracks": q("SELECT count(*) FROM tracks"),
        "tracks_played": q("SELECT count(*) FROM played"),
        "dropped": {"duplicate_rows": duplicates},
        "flagged": {
            "nesting_violation_rows": q(f"SELECT count(*) FROM kept WHERE {NESTING}"),
            "cut_short_sessions": q("SELECT count(*) FROM sessions WHERE cut_short"),
            "position_gap_sessions": q("SELECT count(*) FROM sessions WHERE position_gap"),
        },
        "dates": [str(d) for d in con.execute("SELECT min(date), max(date) FROM kept").fetchone()],
    }


def _manifest(files: list[Path], feature_files: list[Path], counts: dict, seconds: float,
              checksums: Mapping[Path, str]) -> dict:
    inputs = [{"path": str(p.resolve()), "bytes": p.stat().st_size,
               "sha256": checksums.get(p) or file_sha256(p), "role": role}
              for role, group in (("log", files), ("tracks", feature_files)) for p in group]
    checksum = hashlib.sha256("".join(i["sha256"] for i in inputs).encode()).hexdigest()
    return {"format": "musicgym.prepared", "format_version": FORMAT_VERSION,
            "musicgym_version": __version__, "inputs": inputs, "data_checksum": checksum,
            "has_features": bool(feature_files), "seconds": round(seconds, 2), **counts}
