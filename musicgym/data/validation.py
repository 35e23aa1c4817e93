"""Parse and check MSSD string batches against the schema, with errors that say where and how.

Fatal problems (a missing or unknown column, a value of the wrong type, a value out of its range)
raise `MSSDValidationError` naming the file, the 1-based data row, the column, the value and the
fix. Problems that leave a row usable are not raised here: `prepare` counts and flags them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from musicgym.data.readers import RawBatch
from musicgym.data.schema import FALSE_STRINGS, LOG_BY_NAME, TRUE_STRINGS, Column

INT_PATTERN = r"^\s*[-+]?\d+\s*$"
FLOAT_PATTERN = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(nan|NaN|inf|Infinity)\s*$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


class MSSDValidationError(ValueError):
    """An MSSD table breaks the schema; the message names file, row, column and the fix."""


def check_columns(path: Path, names: Sequence[str], columns: Sequence[Column]) -> None:
    """Raise unless `names` holds every column of `columns` and nothing else."""
    expected = [c.name for c in columns]
    missing = [n for n in expected if n not in names]
    unknown = [n for n in names if n not in expected]
    duplicated = sorted({n for n in names if list(names).count(n) > 1})
    if duplicated:
        raise MSSDValidationError(f"{path}: column(s) {duplicated} appear more than once in the "
                                  "header; keep one of each")
    if missing:
        hint = ""
        if "track_id" in names and "track_id_clean" in missing:
            hint = " (is this a track-features table passed as a log?)"
        raise MSSDValidationError(
            f"{path}: missing column(s) {missing}{hint}; an MSSD file needs all of {expected}"
        )
    if unknown:
        raise MSSDValidationError(
            f"{path}: unknown column(s) {unknown}; rename them to the official MSSD names "
            f"or remove them (expected {expected})"
        )


def _fail(batch: RawBatch, index: int, column: Column, value: object, expected: str) -> None:
    row = batch.first_row + index
    where = f"{batch.path}, row {row}"
    if batch.path.name.lower().endswith((".csv", ".csv.gz")):
        where += f" (line {row + 1})"
    what = "the cell is empty" if value is None else f"{value!r} {expected}"
    raise MSSDValidationError(
        f"{where}, column '{column.name}': {what}; correct the value or remove the row"
    )


def _first_true(mask: pa.Array) -> int | None:
    hits = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    return int(hits[0]) if len(hits) else None


def _check(batch: RawBatch, raw: pa.Array, column: Column, bad: pa.Array, expected: str) -> None:
    index = _first_true(pc.fill_null(bad, True))
    if index is not None:
        _fail(batch, index, column, raw[index].as_py(), expected)


def _parse_numeric(batch: RawBatch, raw: pa.Array, column: Column) -> pa.Array:
    pattern, target = (INT_PATTERN, pa.int64()) if column.kind == "int" else (FLOAT_PATTERN,
                                                                             pa.float64())
    kind = "an integer" if column.kind == "int" else "a number"
    _check(batch, raw, column, pc.invert(pc.match_substring_regex(raw, pattern)), f"is not {kind}")
    values = pc.cast(pc.utf8_trim_whitespace(raw), target)
    low, high = column.minimum, column.maximum
    outside = pa.array(np.zeros(len(values), bool))
    if low is not None:
        outside = pc.or_(outside, pc.less(values, low))
    if high is not None:
        outside = pc.or_(outside, pc.greater(values, high))
    _check(batch, raw, column, outside, f"is outside [{low}, {high}]")
    return pc.cast(values, column.arrow_type)


def parse_column(batch: RawBatch, column: Column) -> pa.Array:
    """Parse one string column of `batch` into its schema type, raising on the first bad value."""
    raw = batch.table[column.name].combine_chunks()
    _check(batch, raw, column, pc.is_null(raw), "is empty")
    if column.kind in ("int", "float"):
        return _parse_numeric(batch, raw, column)
    if column.kind == "bool":
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(raw))
        is_true = pc.is_in(lowered, pa.array(sorted(TRUE_STRINGS)))
        is_false = pc.is_in(lowered, pa.array(sorted(FALSE_STRINGS)))
        _check(batch, raw, column, pc.invert(pc.or_(is_true, is_false)),
               "is not a boolean (expected True or False)")
        return is_true
    if column.kind == "date":
        _check(batch, raw, column, pc.invert(pc.match_substring_regex(raw, DATE_PATTERN)),
               "is not a date in YYYY-MM-DD form")
        parsed = pc.strptime(raw, format="%Y-%m-%d", unit="s", error_is_null=True)
        # strptime rolls 2018-02-30 over to March; a round trip catches it
        again = pc.strftime(parsed, format="%Y-%m-%d")
        _check(batch, raw, column, pc.not_equal(again, raw),
               "is not a calendar date (month 01-12, day within the month)")
        return pc.cast(parsed, pa.date32())
    if column.kind == "category":
        allowed = pa.array(list(column.categories))
        _check(batch, raw, column, pc.invert(pc.is_in(raw, allowed)),
               f"is not one of {list(column.categories)}")
        return raw
    _check(batch, raw, column, pc.equal(pc.utf8_length(raw), 0), "is empty")
    return raw


def parse_batch(batch: RawBatch, columns: Sequence[Column]) -> pa.Table:
    """Parse a string batch into a typed table with `columns` in schema order."""
    arrays = [parse_column(batch, column) for column in columns]
    return pa.table(arrays, names=[c.name for c in columns])


def check_positions(batch: RawBatch, table: pa.Table) -> None:
    """Raise on the first row whose session_position exceeds its session_length."""
    over = pc.greater(table["session_position"], table["session_length"])
    index = _first_true(over.combine_chunks())
    if index is not None:
        raw = batch.table["session_position"][index].as_py()
        length = table["session_length"][index].as_py()
        _fail(batch, index, LOG_BY_NAME["session_position"], raw,
              f"exceeds session_length ({length})")
