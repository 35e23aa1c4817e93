"""Writes the synthetic MSSD's tables chunk by chunk: log shards, ground truth, track features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from musicgym.data.schema import (
    CONTEXT_TYPES,
    LOG_COLUMNS,
    MAX_SESSION_LENGTH,
    OUTCOMES,
    REASONS_END,
    REASONS_START,
    arrow_schema,
    outcome_flags,
)
from musicgym.synthetic.catalog import Catalog
from musicgym.synthetic.ground_truth import SessionState

JULY_2018 = np.datetime64("2018-07-01", "D")
GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.string()),
        pa.field("session_position", pa.int16()),
        pa.field("p_skip_1", pa.float32()),
        pa.field("p_skip_2", pa.float32()),
        pa.field("p_skip_3", pa.float32()),
    ]
)
_CATEGORIES = {
    "context_type": pa.array(CONTEXT_TYPES),
    "hist_user_behavior_reason_start": pa.array(REASONS_START),
    "hist_user_behavior_reason_end": pa.array(REASONS_END),
}


def _to_csv_booleans(table: pa.Table) -> pa.Table:
    """Spell boolean columns True/False, as the real MSSD CSV files do."""
    for i, column in enumerate(table.schema):
        if pa.types.is_boolean(column.type):
            text = pc.if_else(table.column(i), "True", "False")
            table = table.set_column(i, column.name, text)
    return table


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    """Write `table` as Parquet, or as gzip CSV with an unquoted header and values."""
    if fmt == "parquet":
        pq.write_table(table, path)
        return
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with pa.CompressedOutputStream(str(path), "gzip") as stream:
        # Arrow quotes header names whatever the quoting style; the real files do not.
        stream.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(_to_csv_booleans(table), stream, options)


def _log_columns(
    session_ids: pa.Array, state: SessionState, rows: dict[str, np.ndarray], catalog: Catalog
) -> dict[str, np.ndarray | pa.Array]:
    """The log's values by column name, one entry per logged row, session-major order."""
    mask = np.arange(MAX_SESSION_LENGTH)[None, :] < state.length[:, None]
    session, position = np.nonzero(mask)
    flags = outcome_flags(rows["outcome"][mask])
    return {
        "session_id": session_ids.take(pa.array(session)),
        "session_position": position + 1,
        "session_length": state.length[session],
        "track_id_clean": catalog.track_ids.take(pa.array(rows["track"][mask])),
        **flags,
        "context_switch": rows["switch"][mask],
        "no_pause_before_play": rows["no_pause"][mask],
        "short_pause_before_play": rows["short_pause"][mask],
        "long_pause_before_play": rows["long_pause"][mask],
        "hist_user_behavior_n_seekfwd": rows["seekfwd"][mask],
        "hist_user_behavior_n_seekback": rows["seekback"][mask],
        "hist_user_behavior_is_shuffle": state.shuffle[session],
        "hour_of_day": state.hour[session],
        "date": JULY_2018 + (state.day[session] - 1).astype("timedelta64[D]"),
        "premium": state.premium[session],
        "context_type": rows["context"][mask],
        "hist_user_behavior_reason_start": rows["reason_start"][mask],
        "hist_user_behavior_reason_end": rows["reason_end"][mask],
        **{k: rows[k][mask] for k in ("p1", "p2", "p3")},
    }


def log_table(
    session_ids: pa.Array, state: SessionState, rows: dict[str, np.ndarray], catalog: Catalog
) -> tuple[pa.Table, pa.Table]:
    """Flatten one simulated chunk into (log table, ground-truth table), session-major order."""
    columns = _log_columns(session_ids, state, rows, catalog)
    schema = arrow_schema(LOG_COLUMNS)
    arrays = []
    for column in schema:
        values = columns[column.name]
        if column.name in _CATEGORIES:
            arrays.append(_CATEGORIES[column.name].take(pa.array(values)))
        elif isinstance(values, pa.Array):
            arrays.append(values)
        else:
            arrays.append(pa.array(values).cast(column.type))
    truth = pa.Table.from_arrays(
        [arrays[0], arrays[1], *(pa.array(columns[k]) for k in ("p1", "p2", "p3"))],
        schema=GROUND_TRUTH_SCHEMA,
    )
    return pa.Table.from_arrays(arrays, schema=schema), truth


class ChunkWriter:
    """Writes log shards and the ground truth chunk by chunk, and keeps running counts."""

    def __init__(self, folder: Path, fmt: str, catalog: Catalog) -> None:
        """Open the outputs under `folder` in format `fmt`; write the track features now."""
        self.folder, self.fmt, self.catalog = folder, fmt, catalog
        self.suffix = "parquet" if fmt == "parquet" else "csv.gz"
        (folder / "log").mkdir()
        self.features_name = f"track_features.{self.suffix}"
        write_table(catalog.features, folder / self.features_name, fmt)
        self.truth_writer = pq.ParquetWriter(folder / "ground_truth.parquet", GROUND_TRUTH_SCHEMA)
        self.log_names: list[str] = []
        self.outcome_counts = np.zeros(len(OUTCOMES), dtype=np.int64)

    def write_chunk(
        self, index: int, session_ids: pa.Array, state: SessionState, rows: dict[str, np.ndarray]
    ) -> None:
        """Write chunk `index` as log shard part-{index:05d} and append its ground truth."""
        log, truth = log_table(session_ids, state, rows, self.catalog)
        name = f"log/part-{index:05d}.{self.suffix}"
        write_table(log, self.folder / name, self.fmt)
        self.truth_writer.write_table(truth)
        self.log_names.append(name)
        mask = np.arange(MAX_SESSION_LENGTH)[None, :] < state.length[:, None]
        self.outcome_counts += np.bincount(rows["outcome"][mask], minlength=len(OUTCOMES))

    def close(self) -> dict:
        """Close the ground-truth file; return the relative file names for truth.json."""
        self.truth_writer.close()
        return {
            "log": self.log_names,
            "track_features": self.features_name,
            "ground_truth": "ground_truth.parquet",
        }

    def stats(self) -> dict:
        """Row count, skip_2 rate and outcome mix of everything written so far."""
        n_rows = int(self.outcome_counts.sum())
        mix = self.outcome_counts / max(n_rows, 1)
        return {
            "n_rows": n_rows,
            "skip_2_rate": round(float(mix[0] + mix[1]), 6),
            "outcome_mix": dict(zip(OUTCOMES, (round(float(x), 6) for x in mix), strict=True)),
        }
