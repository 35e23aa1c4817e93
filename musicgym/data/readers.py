"""Stream MSSD tables (CSV, CSV.gz or Parquet; one file or a folder of shards) in batches.

Every batch comes as an Arrow table of strings, so that one validator (see `validation.py`)
parses every source the same way and can name the file and row of any bad value. A file that
cannot be read as a table (a row with too many or too few fields, a truncated gzip stream, text
that is not UTF-8, a broken Parquet file) raises `MSSDInputError` naming the file and line.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from musicgym.artifacts import file_sha256  # noqa: F401  (re-exported for prepare)

SUFFIXES = (".csv", ".csv.gz", ".parquet")
BLOCK_BYTES = 16 << 20
STREAM_ERRORS = (OSError, EOFError, zlib.error)
"""What a truncated or corrupt compressed stream raises (gzip, zlib and Arrow's readers)."""
ACCESS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)
"""OSErrors that are not damage: passed on as they are (the CLI prints them as one line)."""


class MSSDInputError(ValueError):
    """An MSSD input file or folder cannot be read as given; the message says how to fix it."""


@dataclass(frozen=True)
class RawBatch:
    """A batch of rows from one input file, every column as strings."""

    path: Path
    first_row: int
    """1-based data row (header excluded) of the batch's first row within `path`."""
    table: pa.Table


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in SUFFIXES if name.endswith(s)), None)


def list_inputs(path: str | Path) -> list[Path]:
    """The data files behind `path`: the file itself, or a folder's shards in name order."""
    path = Path(path)
    if not path.exists():
        raise MSSDInputError(f"{path}: no such file or folder; pass an MSSD log (.csv, .csv.gz, "
                             ".parquet) or a folder of such shards")
    if path.is_file():
        if _suffix(path) is None:
            raise MSSDInputError(
                f"{path}: unknown file type; expected one of {', '.join(SUFFIXES)}")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) is not None)
    if not files:
        raise MSSDInputError(f"{path}: folder holds no {', '.join(SUFFIXES)} files")
    kinds = {(_suffix(p) == ".parquet") for p in files}
    if len(kinds) > 1:
        raise MSSDInputError(f"{path}: folder mixes CSV and Parquet shards; keep one format")
    return files


def read_header(path: Path) -> list[str]:
    """Column names of one input file, in file order (quotes and a UTF-8 BOM removed)."""
    if _suffix(path) == ".parquet":
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowException, OSError) as err:
            raise MSSDInputError(f"{path}: not a readable Parquet file ({err}); write the file "
                                 "again or pass it as CSV") from err
    opener = gzip.open if _suffix(path) == ".csv.gz" else open
    try:
        with opener(path, "rb") as handle:
            # utf-8-sig drops a byte-order mark, which spreadsheet programs write first
            line = handle.readline(1 << 20).decode("utf-8-sig")
        header = next(csv.reader([line]), None)
    except ACCESS_ERRORS:
        raise
    except UnicodeDecodeError as err:
        raise MSSDInputError(f"{path}, line 1: the header is not UTF-8 text ({err}); save the "
                             "file as UTF-8") from err
    except (*STREAM_ERRORS, csv.Error) as err:
        raise MSSDInputError(f"{path}, line 1: cannot read the header ({err}); "
                             f"{_stream_fix(path)}") from err
    if not header or not any(name.strip() for name in header):
        raise MSSDInputError(f"{path}, line 1: empty file; an MSSD CSV starts with a header line")
    return [name.strip() for name in header]


def _stream_fix(path: Path) -> str:
    if _suffix(path) == ".csv.gz":
        return "the gzip file is truncated or corrupt; download or compress it again"
    return "check that it is a plain CSV text file"


def iter_batches(path: Path, batch_rows: int = 262_144) -> Iterator[RawBatch]:
    """Yield `path`'s rows as string tables of at most about `batch_rows` rows each."""
    names = read_header(path)
    if _suffix(path) == ".parquet":
        yield from _parquet_batches(path, names, batch_rows)
    else:
        yield from _csv_batches(path, names)


def _parquet_batches(path: Path, names: list[str], batch_rows: int) -> Iterator[RawBatch]:
    row = 1
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([batch])
            yield RawBatch(path, row, pa.table(_as_strings(path, table, names), names=names))
            row += table.num_rows
    except ACCESS_ERRORS:
        raise
    except (pa.ArrowException, OSError) as err:
        raise MSSDInputError(f"{path}: unreadable Parquet data after data row {row - 1} "
                             f"({err}); write the file again") from err


def _as_strings(path: Path, table: pa.Table, names: list[str]) -> list[pa.ChunkedArray]:
    out = []
    for name in names:
        try:
            out.append(pc.cast(table[name], pa.string()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise MSSDInputError(f"{path}, column '{name}': type {table[name].type} cannot hold "
                                 "MSSD values; store it as text, numbers or booleans") from err
    return out


def _csv_reader(path: Path, names: list[str], on_invalid) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        path,
        # the header as `read_header` parsed it (stripped, unquoted, without BOM) names columns
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, column_names=names, skip_rows=1),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        # only an empty cell is missing: "NaN" or "NA" stay text so the validator can name them
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True,
            null_values=[""],
        ),
    )


def _csv_batches(path: Path, names: list[str]) -> Iterator[RawBatch]:
    row = 1
    invalid: list = []

    def on_invalid(bad) -> str:
        invalid.append(bad)
        return "error"

    try:
        for batch in _csv_reader(path, names, on_invalid):
            yield RawBatch(path, row, pa.Table.from_batches([batch]))
            row += batch.num_rows
    except pa.ArrowInvalid as err:
        if invalid:
            raise _field_count_error(path, names, invalid[0]) from err
        if "UTF8" in str(err) or "UTF-8" in str(err):
            line, why = _first_non_utf8_line(path, names)
            where = f"{path}, row {line - 1} (line {line})" if line else str(path)
            raise MSSDInputError(f"{where}: the text is not UTF-8 ({why}); save the file as "
                                 "UTF-8") from err
        raise MSSDInputError(f"{path}: malformed CSV after data row {row - 1} ({err}); "
                             "fix the file") from err
    except ACCESS_ERRORS:
        raise
    except STREAM_ERRORS as err:
        line = _complete_lines(path) + 1
        raise MSSDInputError(f"{path}, line {line} (row {line - 1}): the file ends early or is "
                             f"corrupt ({err}); {_stream_fix(path)}") from err


def _field_count_error(path: Path, names: list[str], bad) -> MSSDInputError:
    """The located error for a row whose number of fields differs from the header's."""
    line = bad.number or _invalid_line(path, names)
    where = f"{path}, row {line - 1} (line {line})" if line else str(path)
    expected, actual = bad.expected_columns, bad.actual_columns
    if actual > expected:
        what = (f"an extra field after the last column '{names[-1]}'; remove it, or quote a "
                "value that holds a comma")
    else:
        what = f"no value for column '{names[actual]}'; add the missing value or remove the row"
    return MSSDInputError(f"{where}: {actual} fields where the header has {expected} columns, "
                          f"{what}")


def _invalid_line(path: Path, names: list[str]) -> int | None:
    """The line of the first row with a wrong field count, read again without threads.

    Arrow numbers a bad row only when it parses serially; this runs only after an error.
    """
    found: list = []

    def on_invalid(bad) -> str:
        found.append(bad)
        return "error"

    try:
        for _ in pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(use_threads=False, column_names=names,
                                                 skip_rows=1),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
        ):
            pass
    except (pa.ArrowInvalid, *STREAM_ERRORS):
        pass
    return found[0].number if found else None


def _first_non_utf8_line(path: Path, names: list[str]) -> tuple[int | None, str]:
    """The 1-based line holding the first byte sequence that is not UTF-8, and where in it."""
    opener = gzip.open if _suffix(path) == ".csv.gz" else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                before = line[:err.start].decode("utf-8", "replace")
                field = max(len(next(csv.reader([before]), [""])) - 1, 0)
                column = f"column '{names[field]}'" if field < len(names) else "an extra field"
                return number, f"byte {line[err.start:err.start + 1]!r} in {column}"
    return None, "invalid UTF-8"


def _complete_lines(path: Path) -> int:
    """How many whole lines a damaged file yields before its (gzip) stream breaks."""
    lines = 0
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if _suffix(path) == ".csv.gz" else None
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if inflate is None:
                lines += block.count(b"\n")
                continue
            try:
                while block:
                    lines += inflate.decompress(block).count(b"\n")
                    block = inflate.unused_data if inflate.eof else b""
                    if inflate.eof:  # the next member of a multi-member gzip file
                        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            except zlib.error:
                break
    return lines
