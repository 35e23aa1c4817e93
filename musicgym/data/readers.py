"""Stream MSSD tables (CSV, CSV.gz or Parquet; one file or a folder of shards) in batches.

Every batch comes as an Arrow table of strings, so that one validator (see `validation.py`)
parses every source the same way and can name the file and row of any bad value.
"""

from __future__ import annotations

import gzip
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
    """Column names of one input file, in file order."""
    if _suffix(path) == ".parquet":
        return list(pq.read_schema(path).names)
    opener = gzip.open if _suffix(path) == ".csv.gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        line = handle.readline().rstrip("\r\n")
    if not line:
        raise MSSDInputError(f"{path}: empty file; an MSSD CSV starts with a header line")
    return [name.strip() for name in line.split(",")]


def iter_batches(path: Path, batch_rows: int = 262_144) -> Iterator[RawBatch]:
    """Yield `path`'s rows as string tables of at most about `batch_rows` rows each."""
    names = read_header(path)
    row = 1
    if _suffix(path) == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            table = pa.Table.from_batches([batch])
            strings = [pc.cast(table[n], pa.string()) for n in names]
            yield RawBatch(path, row, pa.table(strings, names=names))
            row += table.num_rows
        return
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )
    try:
        for batch in reader:
            yield RawBatch(path, row, pa.Table.from_batches([batch]))
            row += batch.num_rows
    except pa.ArrowInvalid as err:
        raise MSSDInputError(f"{path}: malformed CSV after data row {row}: {err}") from err


