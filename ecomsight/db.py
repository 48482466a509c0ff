"""The one place for deliberate SQL on bulk paths: reading big tables into frames and writing many rows.

Pages and single objects use the ORM. Feature building, scoring and recommendation builds read whole
tables of a shop at once and write hundreds of thousands of rows: that goes through here, with COPY.
The API's busiest per-customer reads are one statement each, paged by DRF (SqlRows, at the end).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection
from psycopg.rows import dict_row


def epoch_sql(column: str) -> str:
    """SQL for a timestamp column as whole seconds since 1970 (cheap to move, cheap to parse)."""
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"


def sql_with_values(sql: str, params: Sequence, *, using=None) -> str:
    """`sql` with `params` written into it as SQL literals, by psycopg on the client: for the statements that take
    no parameters (COPY, DDL such as a partition's bounds), whichever binding the connection uses (the settings
    bind parameters on the server). `using`: the Django connection to quote for (default: the default one)."""
    using = using or connection
    using.ensure_connection()
    with psycopg.ClientCursor(using.connection) as cursor:
        return cursor.mogrify(sql, params)


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
        query = sql_with_values(sql, params) if params else sql
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


@contextmanager
def _copy_in(table: str, columns: Sequence[str]) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A COPY into `table` (inside the caller's transaction) and the function that sends it a frame's rows: Arrow
    renders the CSV (pyarrow.csv, in C++: pandas' `to_csv` took 8 times as long, Python's csv module with a value
    check per field longer still — docs/status/issue-23-session12.md). Arrow quotes every string and leaves nulls
    unquoted and empty, which is COPY's own CSV convention: NaN / None / NaT become NULL, an empty string stays
    one, and a value holding a line break or a carriage return is quoted."""
    options = pa_csv.WriteOptions(include_header=False)

    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            def send(frame: pd.DataFrame) -> None:
                buffer = io.BytesIO()
                pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer, write_options=options)
                copy.write(buffer.getbuffer())

            yield send


def bulk_insert(table: str, columns: Sequence[str], rows: Iterable[Sequence], *, chunk_rows: int = 50_000) -> int:
    """Insert many rows into `table` (inside the caller's transaction). Returns the row count.

    Values are plain Python/numpy scalars; None and NaN become NULL; JSON columns take JSON text. The rows go in
    batches of `chunk_rows`, each made a frame and written as `bulk_insert_frame` writes."""
    count = 0
    with _copy_in(table, columns) as send:
        batch: list[Sequence] = []
        for row in rows:
            batch.append(row)
            if len(batch) == chunk_rows:
                send(pd.DataFrame.from_records(batch, columns=list(columns)))
                count, batch = count + len(batch), []
        if batch:
            send(pd.DataFrame.from_records(batch, columns=list(columns)))
            count += len(batch)
    return count


def bulk_insert_frame(table: str, frame: pd.DataFrame, *, chunk_rows: int = 200_000) -> int:
    """Insert a DataFrame's rows (its column names are the table's) — the fast path for big writes (`_copy_in`)."""
    if frame.empty:
        return 0
    with _copy_in(table, [str(c) for c in frame.columns]) as send:
        for start in range(0, len(frame), chunk_rows):
            send(frame.iloc[start : start + chunk_rows])
    return len(frame)


# ---- Rows of one SQL statement that DRF's cursor pagination can page, for the API's busiest reads --------
#
# Why not a QuerySet: building and compiling the ORM query of a customer's recommendations or scores cost
# 1.2-3 ms of CPU a call against 0.15 ms for the statement itself (bench/api.py's 200,000-customer shop; the
# figures are in docs/status/issue-22.md), and on two cores that CPU is what caps the API's throughput. The
# selector writes the statement once; DRF's `CursorPagination` stays the one paginator: it asks the rows for
# `order_by(*fields)`, `filter(<field>__gt=position)` or `__lt`, and a slice, which become the statement's
# ORDER BY, one more WHERE condition and LIMIT/OFFSET. Rows are dicts keyed by the selected column names.


class SqlRows:
    """`select` (SELECT ... FROM ... WHERE ..., named %(params)s) with `params`; `columns` maps each field the
    paginator may order or filter by to its SQL expression, and `model` is the model whose fields they are (the
    paginator checks a cursor's position against the field's type). Immutable: order_by and filter return copies."""

    def __init__(self, select: str, params: dict, *, columns: dict[str, str], model=None, order: tuple[str, ...] = (),
                 conditions: tuple[str, ...] = (), position: object = None, also: str | None = None,
                 also_rows: list | None = None):
        self.select, self.params, self.columns, self.model = select, params, columns, model
        self.order, self.conditions, self.position = order, conditions, position
        # `also`: a second SELECT (same params, the same columns as `select`) read in the same statement as the
        # page (UNION ALL: one round trip; a statement of its own cost a scores call ~0.15 ms of its 1.3 ms CPU);
        # both end with a boolean column `_also`, true on its rows, which go to the caller's list `also_rows`.
        self.also, self.also_rows = also, also_rows

    def _copy(self, **changes) -> SqlRows:
        state = {"order": self.order, "conditions": self.conditions, "position": self.position, "also": self.also,
                 "also_rows": self.also_rows, **changes}
        return SqlRows(self.select, self.params, columns=self.columns, model=self.model, **state)

    def order_by(self, *fields: str) -> SqlRows:
        return self._copy(order=tuple(f"{self.columns[f.lstrip('-')]} {'DESC' if f.startswith('-') else 'ASC'}"
                                      for f in fields))

    def filter(self, **lookup) -> SqlRows:
        ((key, value),) = lookup.items()  # the paginator filters on one position at a time
        field, _, op = key.rpartition("__")
        if op not in ("gt", "lt") or self.position is not None:
            raise ValueError(f"SqlRows cannot filter by {key}")
        # The position is the text DRF's cursor carries (str() of the value): PostgreSQL reads it as the column's type.
        return self._copy(conditions=(*self.conditions, f"{self.columns[field]} {'>' if op == 'gt' else '<'} "
                                                        f"%(position)s"), position=value)

    def __getitem__(self, window: slice) -> list[dict]:
        # `select` ends with its WHERE clause: the paginator's condition is ANDed to it.
        if not isinstance(window, slice) or window.step is not None:
            raise TypeError("SqlRows takes a slice")
        start, stop = window.start or 0, window.stop
        sql = self.select + "".join(f" AND {c}" for c in self.conditions)
        if self.order:
            sql += " ORDER BY " + ", ".join(self.order)
        params = {**self.params, "position": self.position, "offset": start}
        if stop is not None:
            sql += " LIMIT %(limit)s"
            params["limit"] = max(0, stop - start)
        sql += " OFFSET %(offset)s"
        if self.also is None:
            return fetch_dicts(sql, params)
        # PostgreSQL's Append returns the branches' rows one branch after the other, each branch's in its own
        # order (the page's ORDER BY holds inside its parentheses); the rows are split by `_also` all the same.
        page = []
        self.also_rows.clear()
        for row in fetch_dicts(f"({sql}) UNION ALL ({self.also})", params):
            (self.also_rows if row.pop("_also") else page).append(row)
        return page


def fetch_dicts(sql: str, params: dict) -> list[dict]:
    """The rows of one SELECT as dicts keyed by column name. psycopg's own dict_row builds them: reading the names
    from `cursor.description` built a Column object per column and row batch (~4 % of a scores call's CPU)."""
    with connection.cursor() as cursor:
        cursor.cursor.row_factory = dict_row  # this cursor only: Django's next cursor is a new one
        cursor.execute(sql, params)
        return cursor.fetchall()
