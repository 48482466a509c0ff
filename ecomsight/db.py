"""The one place for deliberate SQL on bulk paths: reading big tables into frames and writing many rows.

Pages and single objects use the ORM. Feature building, scoring and recommendation builds read whole
tables of a shop at once and write hundreds of thousands of rows: that goes through here, with COPY.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from django.db import connection


def epoch_sql(column: str) -> str:
    """SQL for a timestamp column as whole seconds since 1970 (cheap to move, cheap to parse)."""
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"


def read_frame(
    sql: str,
    params: Sequence,
    *,
    columns: Sequence[str],
    epoch_columns: Sequence[str] = (),
    dtypes: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Run one SELECT and return its rows as a DataFrame with `columns`.

    `epoch_columns` hold seconds since 1970 (see `epoch_sql`) and come back as UTC datetimes.
    The rows travel as one COPY stream (several times faster than fetching tuples)."""
    with connection.cursor() as cursor:
        query = cursor.mogrify(sql, params) if params else sql
        buffer = io.BytesIO()
        with cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                buffer.write(block)
    buffer.seek(0)
    if buffer.getbuffer().nbytes == 0:
        frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    else:
        frame = pd.read_csv(buffer, header=None, names=list(columns), keep_default_na=False,
                            na_values=[""], dtype={c: "str" for c in (dtypes or {}) if dtypes[c] == "str"})
    for name in epoch_columns:
        # errors="coerce": a date pandas cannot hold (before 1677, after 2262) reads as missing, not a crash.
        frame[name] = pd.to_datetime(pd.to_numeric(frame[name], errors="coerce"), unit="s", utc=True,
                                     errors="coerce")
    for name, dtype in (dtypes or {}).items():
        if dtype == "str":
            frame[name] = frame[name].fillna("").astype(str)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


NULL = "\\N"  # COPY's NULL marker, so that an empty string stays an empty string


def _csv_value(value) -> str:
    if value is None:
        return NULL
    if isinstance(value, float | np.floating) and math.isnan(value):
        return NULL
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    return str(value)


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert many rows into `table` (inside the caller's transaction). Returns the row count.

    Values are plain Python/numpy scalars; None and NaN become NULL; JSON columns take JSON text."""
    column_list = ", ".join(columns)
    count = 0
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")  # fields holding \r or \n get quoted
            for row in rows:
                writer.writerow([_csv_value(v) for v in row])
                count += 1
                if count % 50_000 == 0:
                    copy.write(buffer.getvalue())
                    buffer.seek(0)
                    buffer.truncate()
            copy.write(buffer.getvalue())
    return count


def bulk_insert_frame(table: str, frame: pd.DataFrame, *, chunk_rows: int = 200_000) -> int:
    """Insert a DataFrame's rows (its column names are the table's) — the fast path for big writes:
    pandas renders CSV in C and PostgreSQL takes it by COPY. NaN / None become NULL. Rows end with
    "\r\n" so that any value holding a line break is quoted (COPY refuses a bare carriage return)."""
    if frame.empty:
        return 0
    columns = [str(c) for c in frame.columns]
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
            for start in range(0, len(frame), chunk_rows):
                part = frame.iloc[start : start + chunk_rows]
                copy.write(part.to_csv(header=False, index=False, na_rep=NULL, lineterminator="\r\n"))
    return len(frame)
