"""The import formats and the one parser both writers share.

A file is opened (`source_open`: encoding, delimiter and binary checks, header), its header is matched
against the kind's columns (`plan_build`), and its rows are validated while streaming
(`batches_parse`). Good rows leave the parser as *canonical text*: every value a string (or None for
"no value"), dates as ISO 8601 in UTC, decimals with two places, booleans as "true"/"false", JSON as
the text it was. The PostgreSQL writer COPYs that text as it is; the generic writer converts it to
Python values. Bad rows leave as `Reject`s with their 1-based line (the header is line 1).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ecomsight.errors import UserError

KINDS = ("customers", "products", "orders", "order_lines", "events")
ORDER_STATUSES = {"placed": "placed", "cancelled": "cancelled", "canceled": "cancelled", "refunded": "refunded"}
TRUE_WORDS = {"1", "true", "t", "yes", "y"}
FALSE_WORDS = {"0", "false", "f", "no", "n"}
SAMPLE_BYTES = 64 * 1024
CENT = Decimal("0.01")


class ImportFileError(UserError):
    """The file cannot be imported at all (missing, binary, empty, wrong encoding or header)."""

    code = "import_file"


class RowError(Exception):
    """Raised by a converter: the value cannot be stored. Its message is the reason in the report."""


@dataclass(frozen=True)
class Column:
    """One field of a kind: its name, whether a value is required, how values are checked."""

    name: str
    type: str = "text"  # text, id, datetime, decimal, int, bool, json, status, currency, category
    required: bool = False
    max_length: int | None = None
    # Largest absolute value a decimal column can hold (its max_digits / decimal_places).
    limit: Decimal | None = None


@dataclass(frozen=True)
class KindSpec:
    kind: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


SPECS: dict[str, KindSpec] = {
    "customers": KindSpec("customers", (
        Column("customer_id", "id", required=True, max_length=100),
        Column("email", max_length=254),
        Column("name", max_length=200),
        Column("country", max_length=64),
        Column("signup_at", "datetime"),
    )),
    "products": KindSpec("products", (
        Column("product_id", "id", required=True, max_length=100),
        Column("title", max_length=300),
        Column("description"),
        Column("category", "category", max_length=500),
        Column("brand", max_length=200),
        Column("price", "decimal", limit=Decimal(10) ** 10),
        Column("active", "bool"),
    )),
    "orders": KindSpec("orders", (
        Column("order_id", "id", max_length=100),
        Column("customer_id", "id", required=True, max_length=100),
        Column("placed_at", "datetime", required=True),
        Column("total", "decimal", limit=Decimal(10) ** 12),
        Column("currency", "currency"),
        Column("status", "status"),
        Column("item_count", "int"),
    )),
    "order_lines": KindSpec("order_lines", (
        Column("order_id", "id", required=True, max_length=100),
        Column("product_id", "id", required=True, max_length=100),
        Column("quantity", "int"),
        Column("unit_price", "decimal", limit=Decimal(10) ** 10),
    )),
    "events": KindSpec("events", (
        Column("event_id", "id", max_length=200),
        Column("customer_id", "id", required=True, max_length=100),
        Column("type", "id", required=True, max_length=32),
        Column("product_id", "id", max_length=100),
        Column("occurred_at", "datetime", required=True),
        Column("session_id", max_length=100),
        Column("properties", "json"),
    )),
}

# Canonical rows carry these derived values after the kind's own columns.
EXTRA_COLUMNS = {"events": ("idempotency_key",)}


@dataclass(frozen=True)
class Reject:
    """A row that was not stored: where, which column, the value and why."""

    line: int
    column: str
    value: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """How a file's header maps onto a kind: the file's column index for each field (None: absent)."""

    spec: KindSpec
    indexes: tuple[int | None, ...]
    header: tuple[str, ...]
    ignored: tuple[str, ...]

    @property
    def present(self) -> frozenset[str]:
        """The fields the file has a column for (only those are updated on existing rows)."""
        return frozenset(c.name for c, i in zip(self.spec.columns, self.indexes, strict=True) if i is not None)

    @property
    def output_columns(self) -> tuple[str, ...]:
        return self.spec.names + EXTRA_COLUMNS.get(self.spec.kind, ())


@dataclass
class Source:
    """An open CSV file: the csv reader positioned after the header, and byte progress."""

    path: str
    reader: Iterator[list[str]]
    header: tuple[str, ...]
    delimiter: str
    encoding: str
    bytes_total: int
    _raw: io.BufferedReader
    _text: io.TextIOWrapper

    @property
    def bytes_read(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.bytes_total

    @property
    def line(self) -> int:
        return self.reader.line_num  # type: ignore[attr-defined]

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Batch:
    """Up to batch-size rows: the good ones as canonical text (line first), the rejected ones.

    The column-wise parser fills `columns` instead of `rows`: {"line": int array, field: object array
    of canonical text or None}, in `Plan.output_columns` order. `rows` is then built on first use, so
    the row-based writers (generic, API) keep working, while the PostgreSQL events writer reads the
    columns directly."""

    __slots__ = ("_rows", "rejects", "first_line", "last_line", "bytes_read", "columns")

    def __init__(self, rows: list[list] | None = None, rejects: list[Reject] | None = None, first_line: int = 0,
                 last_line: int = 0, bytes_read: int | None = None, columns: dict | None = None):
        self._rows = rows if rows is not None or columns is not None else []
        self.rejects = rejects if rejects is not None else []
        self.first_line = first_line
        self.last_line = last_line
        # Bytes of the file read when the batch was complete (progress, even while a batch is parsed ahead).
        self.bytes_read = bytes_read
        self.columns = columns

    @property
    def rows(self) -> list[list]:
        if self._rows is None:
            lines = self.columns["line"].tolist()
            values = [self.columns[name].tolist() for name in self.columns if name != "line"]
            self._rows = [list(row) for row in zip(lines, *values, strict=True)]
        return self._rows

    @rows.setter
    def rows(self, rows: list[list]) -> None:
        self._rows = rows
        self.columns = None

    @property
    def size(self) -> int:
        return self.good + len(self.rejects)

    @property
    def good(self) -> int:
        """How many rows passed the parser."""
        if self._rows is None:
            return len(self.columns["line"])
        return len(self._rows)


_MAGIC = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\x1f\x8b", "a gzip archive"), (b"\xd0\xcf\x11\xe0", "an old Excel/Office document"),
)


def source_open(path: str | os.PathLike) -> Source:
    """Open a CSV file for streaming, or raise `ImportFileError` saying clearly what is wrong.

    Accepts UTF-8 with or without a BOM, UTF-16 with a BOM, CRLF line ends, and `,` `;` tab or `|`
    as delimiter (sniffed from the header line)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImportFileError(f"File not found: {path}")
    if os.path.isdir(path):
        raise ImportFileError(f"{path} is a folder, not a CSV file.")
    size = os.path.getsize(path)
    raw = open(path, "rb")  # noqa: SIM115 - closed by Source.close
    try:
        sample = raw.read(SAMPLE_BYTES)
        encoding = _encoding_detect(path, sample)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        first = text.readline()
        skipped = 0
        while first and not first.strip():
            skipped += 1
            first = text.readline()
        if not first.strip():
            raise ImportFileError(f"{path} is empty: expected a header row and data rows.")
        delimiter = _delimiter_sniff(first)
        header = tuple(h.strip().lower() for h in next(csv.reader([first], delimiter=delimiter)))
        if any("\x00" in h for h in header):
            raise ImportFileError(f"{path} looks like a binary file, not a CSV.")
        reader = csv.reader(text, delimiter=delimiter)
        # The header was line 1 (or later, after blank lines): csv's counter starts after it.
        reader_lines = _LineCounted(reader, offset=skipped + _count_newlines(first))
    except UnicodeDecodeError as exc:
        raw.close()
        raise ImportFileError(_not_utf8_message(path, exc)) from None
    except BaseException:
        raw.close()
        raise
    return Source(path=path, reader=reader_lines, header=header, delimiter=delimiter, encoding=encoding,
                  bytes_total=size, _raw=raw, _text=text)


class _LineCounted:
    """A csv reader whose `line_num` counts from the top of the file (the header included)."""

    __slots__ = ("_reader", "_offset")

    def __init__(self, reader, *, offset: int):
        self._reader = reader
        self._offset = offset

    def __iter__(self):
        return self._reader

    def __next__(self):
        return next(self._reader)

    @property
    def line_num(self) -> int:
        return self._reader.line_num + self._offset


def _count_newlines(text: str) -> int:
    return max(1, text.count("\n"))


def _encoding_detect(path: str, sample: bytes) -> str:
    if not sample.strip(b"\xef\xbb\xbf \t\r\n"):
        raise ImportFileError(f"{path} is empty: expected a header row and data rows.")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for magic, what in _MAGIC:
        if sample.startswith(magic):
            raise ImportFileError(f"{path} is {what}, not a CSV file.")
    if b"\x00" in sample:
        raise ImportFileError(f"{path} looks like a binary file (it contains NUL bytes), not a CSV file. "
                              "If it is UTF-16 text, save it as UTF-8.")
    try:
        # The sample may end inside a multi-byte character: only the last 3 bytes may be incomplete.
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            raise ImportFileError(_not_utf8_message(path, exc)) from None
    return "utf-8-sig"


def _not_utf8_message(path: str, exc: UnicodeDecodeError) -> str:
    byte = exc.object[exc.start:exc.start + 1].hex() if isinstance(exc.object, bytes | bytearray) else "?"
    return (f"{path} is not UTF-8 text (byte 0x{byte} near byte offset {exc.start}). It may be Latin-1 or "
            "Windows-1252: save it as UTF-8 (CSV UTF-8 in Excel) and import again.")


def _delimiter_sniff(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def plan_build(*, kind: str, header: tuple[str, ...], column_map: dict[str, str] | None = None) -> Plan:
    """Match a header to a kind. `column_map` maps FIELD → the file's COLUMN for differently named columns.

    Raises `ImportFileError` naming the missing required columns and the columns found."""
    if kind not in SPECS:
        raise ImportFileError(f"Unknown kind '{kind}': choose one of {', '.join(KINDS)}.")
    spec = SPECS[kind]
    column_map = {k.strip().lower(): v.strip().lower() for k, v in (column_map or {}).items()}
    found = ", ".join(header)
    for name, column in column_map.items():
        if name not in spec.names:
            raise ImportFileError(f"--map {name}=…: '{name}' is not a {kind} field ({', '.join(spec.names)}).")
        if column not in header:
            raise ImportFileError(f"--map {name}={column}: the file has no column '{column}'. Found: {found}.")
    positions = {h: i for i, h in reversed(list(enumerate(header)))}  # the first of repeated names wins
    indexes = tuple(positions.get(column_map.get(name, name)) for name in spec.names)
    missing = [c.name for c, i in zip(spec.columns, indexes, strict=True) if c.required and i is None]
    if missing:
        raise ImportFileError(
            f"The {kind} file lacks required column(s): {', '.join(missing)}. Found: {found}. "
            "Rename them or map them with --map FIELD=COLUMN.")
    used = {column_map.get(name, name) for name in spec.names}
    ignored = tuple(h for h in header if h not in used)
    return Plan(spec=spec, indexes=indexes, header=header, ignored=ignored)


# --- converters: canonical text or RowError -------------------------------------------------------


def _text(value: str, column: Column) -> str:
    if column.max_length and len(value) > column.max_length:
        raise RowError(f"longer than {column.max_length} characters")
    return value


def _datetime(value: str, column: Column, *, latest: datetime) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError("unparseable date (expected ISO 8601, e.g. 2024-03-01 or 2024-03-01T14:05:00)") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > latest:
        raise RowError("date in the future")
    return moment.isoformat()


def _decimal(value: str, column: Column) -> str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RowError("not a number") from None
    if not number.is_finite():
        raise RowError("not a number")
    if number < 0:
        raise RowError("negative value")
    number = number.quantize(CENT, rounding=ROUND_HALF_UP)
    if column.limit is not None and number >= column.limit:
        raise RowError("number too large")
    return str(number)


def _int(value: str, column: Column) -> str:
    try:
        number = int(value)
    except ValueError:
        raise RowError("not a whole number") from None
    if number < 0:
        raise RowError("negative value")
    if number > 2_147_483_647:
        raise RowError("number too large")
    return str(number)


def _bool(value: str, column: Column) -> str:
    word = value.lower()
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    raise RowError("not a yes/no value (expected true/false, 1/0, yes/no)")


def _reject_constant(name: str):
    raise ValueError(name)


def _json(value: str, column: Column) -> str:
    try:
        parsed = json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        raise RowError("invalid JSON") from None
    # Only escapes can smuggle in what PostgreSQL's jsonb refuses (a raw NUL or lone surrogate is invalid JSON).
    if "\\u" in value and _json_unstorable(parsed):
        raise RowError("JSON contains \\u0000 or an unpaired surrogate escape (PostgreSQL cannot store it)")
    return value


def _json_unstorable(value) -> bool:
    """Whether a parsed JSON value holds a NUL or a lone surrogate in any string or key (jsonb refuses them)."""
    if isinstance(value, str):
        return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_json_unstorable(k) or _json_unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_unstorable(v) for v in value)
    return False


def _status(value: str, column: Column) -> str:
    status = ORDER_STATUSES.get(value.lower())
    if status is None:
        raise RowError("unknown status (expected placed, cancelled or refunded)")
    return status


def _currency(value: str, column: Column) -> str:
    if len(value) != 3 or not value.isalpha():
        raise RowError("not a 3-letter currency code")
    return value.upper()


def category_path_normalize(value: str) -> str:
    """'Home>Kitchen ' → 'Home > Kitchen' (the form stored in catalog.Category.path)."""
    return " > ".join(part.strip() for part in value.split(">") if part.strip())


def _category(value: str, column: Column) -> str:
    return _text(category_path_normalize(value), column)


_CONVERTERS: dict[str, Callable[[str, Column], str]] = {
    "text": _text, "id": _text, "decimal": _decimal, "int": _int, "bool": _bool, "json": _json,
    "status": _status, "currency": _currency, "category": _category,
}


def md5_uuid(text: str) -> str:
    """MD5 of `text` as 32 hex digits (a UUID's value): stable ids for rows without one."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def event_idempotency_key(*, event_id: str | None, customer_id: str, type: str, product_id: str | None,
                          occurred_at: str, session_id: str | None, properties: str | None) -> str:
    """The event's idempotency key (32 hex digits): MD5 of "id:<event_id>", else of its content.

    `occurred_at` is the canonical UTC ISO text, so the same moment written two ways hashes the same."""
    if event_id:
        return md5_uuid("id:" + event_id)
    return md5_uuid("|".join((customer_id, type, product_id or "", occurred_at, session_id or "", properties or "")))


def order_derived_id(*, customer_id: str, placed_at: str, total: str | None) -> str:
    """The external id of an order imported without one, from its content (re-imports match)."""
    return "auto-" + md5_uuid("|".join((customer_id, placed_at, total or "")))


# "auto": event files go through the column-wise parser (behavior/ingest/columns.py), everything else
# row by row; "rows": always row by row (the reference the column-wise parser is tested against).
PARSE_METHOD = "auto"


def batches_parse(source: Source, plan: Plan, *, batch_size: int, now: datetime | None = None,
                  method: str | None = None) -> Iterator[Batch]:
    """Stream the rows of `source` as batches of canonical rows ([line, *values]) and rejects.

    `method`: "auto" (default: `PARSE_METHOD`) parses event files column-wise with pandas (same rows,
    rejects and reasons, ~5x faster); "rows" always uses the row-wise parser."""
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    if (method or PARSE_METHOD) != "rows" and plan.spec.kind == "events" and isinstance(source, Source):
        from .columns import batches_parse_columns

        return batches_parse_columns(source, plan, batch_size=batch_size, latest=latest)
    return rows_parse(source, plan, batch_size=batch_size, latest=latest)


def rows_parse(source, plan: Plan, *, batch_size: int, latest: datetime,
               stop_line: int | None = None) -> Iterator[Batch]:
    """The row-wise parser: `source` is a Source or anything with its reader, path, delimiter, line, bytes_read.

    `stop_line`: stop after the record that ends on this line (the column-wise parser hands it a chunk)."""
    spec = plan.spec
    width = len(plan.header)
    # (position in output, file index, column, converter); absent columns stay None in every row.
    steps = []
    for position, (column, index) in enumerate(zip(spec.columns, plan.indexes, strict=True)):
        if index is None:
            continue
        if column.type in ("text", "id"):
            convert = None  # checked inline: the hot loop's most common case, without a call per value
        elif column.type == "datetime":
            convert = functools.partial(_datetime, latest=latest)
        else:
            convert = _CONVERTERS[column.type]
        steps.append((position + 1, index, column, column.max_length, convert))
    template = [None] * (1 + len(plan.output_columns))
    finish = _FINISHERS.get(spec.kind)
    reader = source.reader
    # The plain csv reader and the header's line offset, when available (saves two Python calls per row).
    records = getattr(reader, "_reader", reader)
    offset = getattr(reader, "_offset", 0) if records is not reader else 0
    batch = Batch()
    rows, rejects = batch.rows, batch.rejects
    while True:
        if stop_line is not None and records.line_num + offset >= stop_line:
            break
        try:
            record = next(records)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{source.path} is not UTF-8 text after line {source.line}: "
                                  f"{_not_utf8_message(source.path, exc)}") from None
        except csv.Error as exc:
            rejects.append(Reject(source.line, "", "", f"malformed CSV: {exc}"))
            continue
        line = records.line_num + offset
        if len(record) != width:
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank lines are not rows
            rejects.append(Reject(line, "", source.delimiter.join(record)[:200],
                                  f"wrong number of fields: expected {width}, found {len(record)}"))
        else:
            out = template.copy()
            out[0] = line
            for position, index, column, max_length, convert in steps:
                value = record[index].strip()
                if not value:
                    if column.required:
                        rejects.append(Reject(line, column.name, "", "missing required value"))
                        break
                    continue
                if convert is None:
                    if max_length and len(value) > max_length:
                        rejects.append(Reject(line, column.name, value[:200], f"longer than {max_length} characters"))
                        break
                    out[position] = value
                    continue
                try:
                    out[position] = convert(value, column)
                except RowError as exc:
                    rejects.append(Reject(line, column.name, value[:200], str(exc)))
                    break
            else:
                if finish is not None:
                    finish(out)
                rows.append(out)
        if len(rows) + len(rejects) >= batch_size:
            batch.first_line = rows[0][0] if rows else rejects[0].line
            batch.last_line = line
            batch.bytes_read = source.bytes_read
            yield batch
            batch = Batch()
            rows, rejects = batch.rows, batch.rejects
    if rows or rejects:
        batch.first_line = rows[0][0] if rows else rejects[0].line
        batch.last_line = records.line_num + offset
        batch.bytes_read = source.bytes_read
        yield batch


def _finish_orders(out: list) -> None:
    # out: [line, order_id, customer_id, placed_at, total, currency, status, item_count]
    if out[1] is None:
        out[1] = order_derived_id(customer_id=out[2], placed_at=out[3], total=out[4])


def _finish_events(out: list) -> None:
    # out: [line, event_id, customer_id, type, product_id, occurred_at, session_id, properties, key]
    event_id = out[1]
    if event_id:
        out[8] = hashlib.md5(("id:" + event_id).encode(), usedforsecurity=False).hexdigest()
    else:
        out[8] = event_idempotency_key(event_id=None, customer_id=out[2], type=out[3], product_id=out[4],
                                       occurred_at=out[5], session_id=out[6], properties=out[7])


_FINISHERS = {"orders": _finish_orders, "events": _finish_events}
