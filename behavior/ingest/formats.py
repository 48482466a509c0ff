"""The import formats and the one parser that the file import and the API's batches share.

A file is opened (`source_open`: encoding, delimiter and binary checks, header), its header is matched
against the kind's columns (`plan_build`), and its rows are validated while streaming
(`parse.batches_parse`). Good rows leave the parser as *canonical text*: every value a string (or None for
"no value"), dates as ISO 8601 in UTC, decimals with two places, booleans as "true"/"false", JSON as
the text it was. The PostgreSQL writer COPYs that text as it is. Bad rows leave as `Reject`s with their
1-based line (the header is line 1).

This module holds the kinds and their fields, the file opening and the header matching; `parse` holds
`batches_parse`, which picks the row-wise parser (`rows`) or the column-wise one (event files, `columns`);
the per-value converters and derived keys are in `values`. Imports run one way: formats ← values ← rows,
columns ← parse.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from ecomsight.errors import UserError

KINDS = ("customers", "products", "orders", "order_lines", "events", "offers", "offer_assignments", "reviews")
SAMPLE_BYTES = 64 * 1024
# A header longer than this, or with more columns, is refused before anything is parsed or rendered: a
# 300,000-column file made the mapping page take 46 s and 65 MB of HTML; a 50 MB line without a newline
# made csv fail with a traceback.
MAX_HEADER_CHARS = 64 * 1024
MAX_COLUMNS = 500


class ImportFileError(UserError):
    """The file cannot be imported at all (missing, binary, empty, wrong encoding or header)."""

    code = "import_file"


@dataclass(frozen=True)
class Column:
    """One field of a kind: its name, whether a value is required, how values are checked."""

    name: str
    type: str = "text"  # text, id, datetime, decimal, int, bool, json, status, currency, category, rating
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
        Column("country", "country", max_length=64),
        Column("signup_at", "datetime"),
        Column("marketing_consent", "bool"),  # true / false; empty or absent: unknown
    )),
    "products": KindSpec("products", (
        Column("product_id", "id", required=True, max_length=100),
        Column("title", max_length=300),
        Column("description"),
        Column("category", "category", max_length=500),
        Column("brand", max_length=200),
        Column("price", "decimal", limit=Decimal(10) ** 10),
        Column("active", "bool"),
        Column("url", max_length=2000),  # the product's page, linked from campaign exports (optional)
        Column("image_url", max_length=2000),
        Column("image_file", max_length=500),
    )),
    "orders": KindSpec("orders", (
        Column("order_id", "id", max_length=100),
        Column("customer_id", "id", required=True, max_length=100),
        Column("placed_at", "datetime", required=True),
        Column("total", "decimal", limit=Decimal(10) ** 12),
        Column("currency", "currency"),
        Column("status", "status"),
        Column("item_count", "int"),
        Column("offer_id", "id", max_length=100),  # the offer / coupon redeemed (optional)
        # When the status last changed (a refund's, a cancellation's moment): the refund monitors' day (optional).
        Column("status_changed_at", "datetime"),
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
    # Written by the offers app (registered with behavior.ingest.services.kind_writer_register): kind, the
    # propensity and the eligibility columns are checked there, row by row, with line and reason.
    "offers": KindSpec("offers", (
        Column("offer_id", "id", required=True, max_length=100),
        Column("name", max_length=200),
        Column("kind", "id", required=True, max_length=20),
        Column("value", "decimal", limit=Decimal(10) ** 10),
        Column("cost_per_redemption", "decimal", limit=Decimal(10) ** 10),
        Column("min_spend", "decimal", limit=Decimal(10) ** 10),
        Column("categories", max_length=2000),
        Column("exclude_ordered_within_days", "int"),
        Column("active", "bool"),
    )),
    "offer_assignments": KindSpec("offer_assignments", (
        Column("assignment_id", "id", max_length=100),
        Column("customer_id", "id", required=True, max_length=100),
        Column("offer_id", "id", required=True, max_length=100),
        Column("assigned_at", "datetime", required=True),
        Column("propensity", "id", required=True, max_length=40),
    )),
    # Reviews: every column optional (a shop may export only text and stars); the writer refuses a row with
    # neither text, title nor rating. Without review_id the id is derived from the content (rows.py).
    "reviews": KindSpec("reviews", (
        Column("review_id", "id", max_length=200),
        Column("customer_id", "id", max_length=100),
        Column("product_id", "id", max_length=100),
        Column("rating", "rating"),
        Column("title", max_length=300),
        Column("text"),
        Column("created_at", "datetime"),
        Column("language", max_length=16),
        # The order reviewed (Olist's reviews name an order, not a customer): gives the review its customer, and its
        # product when the order holds one product, where the row names none.
        Column("order_id", "id", max_length=100),
    )),
}

# Canonical rows carry these derived values after the kind's own columns.
EXTRA_COLUMNS = {"events": ("idempotency_key",)}


@dataclass(frozen=True)
class Reject:
    """A row that was not stored: where, which column, the value and why; `order_id`: an order row's id as the file
    writes it (empty when it writes none, and for other kinds)."""

    line: int
    column: str
    value: str
    reason: str
    order_id: str = ""


@dataclass(frozen=True)
class Plan:
    """How a file's header maps onto a kind: the file's column index for each field (None: absent)."""

    spec: KindSpec
    indexes: tuple[int | None, ...]
    header: tuple[str, ...]
    ignored: tuple[str, ...]
    # A customer's name written in parts (Shopify's, WooCommerce's and Mailchimp's First Name and Last Name): the
    # columns joined with a space, read as a column after the file's last (`name`'s index is len(header)).
    name_parts: tuple[int, ...] = ()

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
    header: tuple[str, ...]  # lower case: what fields are matched against
    header_written: tuple[str, ...]  # as written in the file: what people are shown
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
    row-based callers (the API's batches) keep working, while the events writer reads the columns
    directly."""

    __slots__ = ("_rows", "rejects", "blanked", "first_line", "last_line", "bytes_read", "columns", "continued",
                 "continued_lines", "guests", "guest_zeros", "rounded")

    def __init__(self, rows: list[list] | None = None, rejects: list[Reject] | None = None, first_line: int = 0,
                 last_line: int = 0, bytes_read: int | None = None, columns: dict | None = None):
        self._rows = rows if rows is not None or columns is not None else []
        self.rejects = rejects if rejects is not None else []
        # Values of kept rows that could not be read and were left empty (a lenient parse: rows.LENIENT_KINDS).
        self.blanked: list[Reject] = []
        # Orders: rows that only continue the order of the row before them (its line items: Shopify writes the
        # order's fields on its first row only) - read, not stored, counted as duplicates.
        self.continued = 0
        # Their (first row's line, line) pairs: when the writer rejects an order's first row, the rows continuing it
        # are rejected too (services), not counted as duplicates.
        self.continued_lines: list[tuple[int, int]] = []
        # Orders: rows read as guest checkouts (behavior.models.GUEST_CUSTOMER_ID), kept.
        self.guests = 0
        # Of them: rows whose customer id was written `0` (a guest checkout; the file's 0000 is a customer).
        self.guest_zeros = 0
        # Amounts of kept rows that rounding to the cent changed: (line, field, value as written, value stored).
        self.rounded: list[tuple[int, str, str, str]] = []
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
        return self.good + len(self.rejects) + self.continued

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
# A compressed CSV (Dunnhumby's and many datasets' `.csv.gz`) imports once unpacked: one reader for every file (the
# progress counts the file's bytes), so the message says how.
_UNPACK = {b"\x1f\x8b": " Unzip it first (gunzip FILE, or gzip -dk FILE to keep the archive) and import the CSV it "
                        "holds."}


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
        first = _header_line(text, path)
        skipped = 0
        while first and not first.strip():
            skipped += 1
            first = _header_line(text, path)
        if not first.strip():
            raise ImportFileError(f"{path} is empty: expected a header row and data rows.")
        delimiter = _delimiter_sniff(first)
        try:
            written = tuple(h.strip() for h in next(csv.reader([first], delimiter=delimiter)))
            header = tuple(h.lower() for h in written)
        except csv.Error as exc:
            raise ImportFileError(f"{os.path.basename(path)}: the header row cannot be read ({exc}).") from None
        if written and written[0].startswith(("{", "[")):
            # A JSON (lines) export read as CSV: its first record's fields would be taken for a header of columns
            # (the web's mapping step offered them, and the import "succeeded" with nothing).
            # Said in plain words, for the web's users too (it named pandas' lines=True, wrong for a JSON array).
            shape = ("a JSON array of records" if written[0].startswith("[")
                     else "JSON lines (one record in braces per line)")
            raise ImportFileError(
                f"{os.path.basename(path)} looks like JSON, not CSV: it begins with {written[0][:1]!r}, as "
                f"{shape} does. Imports read CSV files: a first row naming the columns, then one row per "
                "record, values separated by commas. Export the data "
                "from your shop or tool as CSV, or save it as CSV from a spreadsheet, and import that file.")
        if any("\x00" in h for h in header):
            raise ImportFileError(f"{path} looks like a binary file, not a CSV.")
        if len(header) > MAX_COLUMNS:
            raise ImportFileError(f"{os.path.basename(path)} has {len(header):,} columns; at most {MAX_COLUMNS} "
                                  "are accepted. Keep the columns EcomSight reads (see the import formats) and "
                                  "upload it again.")
        reader = csv.reader(text, delimiter=delimiter)
        # The header was line 1 (or later, after blank lines): csv's counter starts after it.
        reader_lines = LineCounted(reader, offset=skipped + _count_newlines(first))
    except UnicodeDecodeError as exc:
        raw.close()
        raise ImportFileError(not_utf8_message(path, exc)) from None
    except BaseException:
        raw.close()
        raise
    return Source(path=path, reader=reader_lines, header=header, header_written=written, delimiter=delimiter,
                  encoding=encoding, bytes_total=size, _raw=raw, _text=text)


PREVIEW_VALUES = 5
PREVIEW_MAX_ROWS = 2_000
PREVIEW_VALUE_CHARS = 80


@dataclass(frozen=True)
class FilePreview:
    """A file's header as written and, per column, its first few non-empty values (shown before mapping)."""

    header: tuple[str, ...]
    samples: tuple[tuple[str, ...], ...]


def file_preview(path: str | os.PathLike, *, values: int = PREVIEW_VALUES,
                 max_rows: int = PREVIEW_MAX_ROWS) -> FilePreview:
    """The header as written and the first `values` non-empty values of each column, from at most `max_rows`
    rows (a sparse column shows fewer). Long values are cut to PREVIEW_VALUE_CHARS characters.
    Raises `ImportFileError` like `source_open`."""
    with source_open(path) as source:
        width = len(source.header_written)
        found: list[list[str]] = [[] for _ in range(width)]
        try:
            for _, record in zip(range(max_rows), source.reader, strict=False):
                for index, value in enumerate(record[:width]):
                    value = value.strip()
                    if value and len(found[index]) < values:
                        found[index].append(value if len(value) <= PREVIEW_VALUE_CHARS
                                            else value[:PREVIEW_VALUE_CHARS - 1] + "…")
                if all(len(column) >= values for column in found):
                    break
        except (csv.Error, UnicodeDecodeError):
            pass  # the preview shows what came before; the import itself reports the bad line
    return FilePreview(header=source.header_written, samples=tuple(tuple(column) for column in found))


def _header_line(text, path: str) -> str:
    """The next line, at most MAX_HEADER_CHARS long; ImportFileError for a longer one (no newline within)."""
    line = text.readline(MAX_HEADER_CHARS + 1)
    if len(line) > MAX_HEADER_CHARS and not line.endswith("\n"):
        raise ImportFileError(f"{os.path.basename(path)}: the header row is longer than {MAX_HEADER_CHARS:,} "
                              "characters (is it one line without line breaks, or not a CSV file?).")
    return line


class LineCounted:
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
            raise ImportFileError(f"{path} is {what}, not a CSV file.{_UNPACK.get(magic, '')}")
    if b"\x00" in sample:
        raise ImportFileError(f"{path} looks like a binary file (it contains NUL bytes), not a CSV file. "
                              "If it is UTF-16 text, save it as UTF-8.")
    try:
        # The sample may end inside a multi-byte character: only the last 3 bytes may be incomplete.
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            raise ImportFileError(not_utf8_message(path, exc)) from None
    return "utf-8-sig"


def not_utf8_message(path: str, exc: UnicodeDecodeError) -> str:
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
    written = tuple(h.strip() for h in header)
    found = ", ".join(written)  # as written, for the messages
    header = tuple(h.lower() for h in written)  # a header as written matches in any case
    column_map = {k.strip().lower(): v.strip().lower() for k, v in (column_map or {}).items()}
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
    name_parts = ()
    if kind == "customers" and indexes[spec.names.index("name")] is None:
        name_parts = tuple(next((positions[h] for h in words if h in positions), None) for words in NAME_PARTS)
        name_parts = tuple(i for i in name_parts if i is not None)
        if name_parts:
            indexes = tuple(len(header) if n == "name" else i for n, i in zip(spec.names, indexes, strict=True))
            used |= {header[i] for i in name_parts}
    ignored = tuple(w for h, w in zip(header, written, strict=True) if h not in used)  # named as written
    return Plan(spec=spec, indexes=indexes, header=header, ignored=ignored, name_parts=name_parts)


# The columns a customers file without a name column may write it in, joined in this order (matched in lower case).
NAME_PARTS = (("first_name", "first name", "firstname", "given_name", "given name", "forename", "billing_first_name"),
              ("last_name", "last name", "lastname", "surname", "family_name", "family name", "billing_last_name"))


# "auto": event files go through the column-wise parser (behavior/ingest/columns.py), everything else
# row by row; "rows": always row by row (the reference the column-wise parser is tested against).
