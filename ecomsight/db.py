"""The one place for deliberate SQL on bulk paths: reading big tables into frames and writing many rows,
and running the API's hot reads as prepared statements.

Pages and single objects use the ORM. Feature building, scoring and recommendation builds read whole
tables of a shop at once and write hundreds of thousands of rows: that goes through here, with COPY.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
import orjson
import pandas as pd
from django.conf import settings
from django.db import connection


def fetch_prepared(sql: str, params: Sequence | dict) -> tuple[list[str], list[tuple]]:
    """Run the read `sql` (`%s` or `%(name)s` placeholders) and return its column names and rows.

    On PostgreSQL the statement is prepared on the connection the first time and executed by name after:
    the API's hot reads are small indexed lookups that PostgreSQL takes longer to parse and plan (about
    1 ms, client-side binding re-plans every call) than to run (0.1 to 0.5 ms), and the database shares
    the machine's cores with the web workers. Django's own cursors bind client-side and never prepare;
    this one binds server-side and prepares, for the statements passed here only (psycopg keeps at most
    100 per connection), and reads the results in binary (timestamps decoded by psycopg's C loaders
    instead of parsed from text, jsonb by orjson: it comes back decoded). DATABASE_PREPARED_STATEMENTS=false
    turns it off, for a pooler in transaction mode that cannot keep prepared statements (PgBouncer
    before 1.21)."""
    if not settings.DATABASE_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [column.name if hasattr(column, "name") else column[0] for column in cursor.description], \
                cursor.fetchall()
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    # psycopg prepares nothing while the connection's threshold is None (Django's setting). It is lifted for
    # this statement only: with any threshold, psycopg also counts every other query in an LRU of 100 keyed
    # by its text, and Django's client-side binding inlines the values into that text, so an import's
    # `= ANY(<150,000 keys>)` queries stayed alive (drill 16: +28 MB over an import, and in every worker).
    previous = raw.prepare_threshold  # None unless the database OPTIONS set one
    raw.prepare_threshold = previous if previous is not None else _PREPARE_ASKED_ONLY
    _jsonb_loader_register(raw)
    try:
        with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params, prepare=True, binary=True)
            return _column_names(sql, cursor), cursor.fetchall()
    finally:
        raw.prepare_threshold = previous


# Column names by statement: the same text always has the same columns, and building cursor.description
# (a Column object per column, with its type looked up) was 3 % of an at-risk page's CPU.
_names: dict[str, list[str]] = {}
_NAMES_MAX = 1024


def _column_names(sql: str, cursor) -> list[str]:
    names = _names.get(sql)
    if names is None:
        names = [column.name for column in cursor.description]
        if len(_names) >= _NAMES_MAX:
            _names.clear()
        _names[sql] = names
    return list(names)


def _jsonb_loader_register(raw) -> None:
    """Decode binary jsonb with orjson on this connection (an at-risk page has 50 `reasons` arrays: the
    standard library's json.loads, with its encoding detection on bytes, was a tenth of the page's CPU).
    Only the binary format, which only fetch_prepared asks for: Django's text loader stays as it is."""
    from psycopg.postgres import types
    from psycopg.pq import Format

    oid, loader = types["jsonb"].oid, _orjson_jsonb_loader()
    if raw.adapters.get_loader(oid, Format.BINARY) is not loader:
        raw.adapters.register_loader(oid, loader)


@functools.cache
def _orjson_jsonb_loader() -> type:
    from psycopg.types.json import JsonbBinaryLoader

    class OrjsonJsonbBinaryLoader(JsonbBinaryLoader):
        _loads = staticmethod(_orjson_loads)

    return OrjsonJsonbBinaryLoader


def _orjson_loads(data):
    # orjson turns integers beyond 64 bits into floats: a value with a run of 20 digits goes to json.
    if _LONG_NUMBER.search(data):
        return json.loads(data)
    return orjson.loads(data)


_LONG_NUMBER = re.compile(rb"\d{20}")


# prepare=True prepares at once whatever the figure; it only has to be a number for psycopg to prepare at all.
_PREPARE_ASKED_ONLY = 1_000_000


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
