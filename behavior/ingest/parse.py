"""`batches_parse`: the one entry to the parsers, for the file import and the API's batches alike."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .columns import batches_parse_columns
from .formats import Batch, Plan, Source, source_open
from .rows import rows_parse
from .values import amount_ambiguous, decimal_mark_written, written_date_parts

PARSE_METHOD = "auto"
# A file whose first DATE_ORDER_PROBE rows hold no date such as 03/04/2024 is not read further to learn their
# order; one that has them is read until a row tells (a file sorted by date may hold only days 1 to 12 for
# its first 50,000 rows: Ta-Feng's November), at worst to its end.
DATE_ORDER_PROBE = 2_000


@dataclass(frozen=True)
class DateOrder:
    """How a file writes dates such as 03/04/2024: `day_first` True (day/month/year), False (month/day/year) or
    None (no such date, or no row tells); `example` is the value that told."""

    day_first: bool | None = None
    example: str | None = None

    @property
    def words(self) -> str:
        return {True: "day/month/year", False: "month/day/year"}.get(self.day_first, "")


def slash_date_order(path: str, plan: Plan) -> DateOrder:
    """Read the file's date columns until a row tells: a first number above 12 (25/04/2024) says day first, a
    second one (04/25/2024) month first. Exports write every date of a file one way, so the first row that
    tells decides for all (a later row written the other way is rejected: its month is above 12)."""
    indexes = [index for column, index in zip(plan.spec.columns, plan.indexes, strict=True)
               if column.type == "datetime" and index is not None]
    if not indexes:
        return DateOrder()
    written = False
    with source_open(path) as source:
        try:
            for n, record in enumerate(source.reader):
                if n == DATE_ORDER_PROBE and not written:
                    break
                for index in indexes:
                    value = record[index].strip() if index < len(record) else ""
                    parts = written_date_parts(value)
                    if parts is None:
                        continue
                    written = True
                    if parts[0] > 12 >= parts[1]:
                        return DateOrder(day_first=True, example=value)
                    if parts[1] > 12 >= parts[0]:
                        return DateOrder(day_first=False, example=value)
        except (csv.Error, UnicodeDecodeError):
            pass  # the parse itself reports the bad line
    return DateOrder()


def decimal_comma_columns(path: str, plan: Plan) -> frozenset[str]:
    """The amount columns of a file separated by `;`, tab or `|` that write the decimal comma: a value shows it
    (12,50 or 1.234,56) before any shows the decimal point (12.50). In them a point groups thousands: 1.234 and
    2.500 are 1234 and 2500 (a German export's totals were stored 1000 times too small). The first value that
    tells decides, as for dates; a file whose first DATE_ORDER_PROBE rows hold no amount that could be either
    (1.234) is not read further."""
    with source_open(path) as source:
        if source.delimiter == ",":
            return frozenset()
        undecided = {index: column.name for column, index in zip(plan.spec.columns, plan.indexes, strict=True)
                     if column.type == "decimal" and index is not None}
        commas = set()
        ambiguous = False
        try:
            for n, record in enumerate(source.reader):
                if not undecided or n >= DATE_ORDER_PROBE and not ambiguous:
                    break
                for index in list(undecided):
                    value = record[index] if index < len(record) else ""
                    mark = decimal_mark_written(value)
                    if mark is not None:
                        if mark == ",":
                            commas.add(undecided[index])
                        del undecided[index]
                    elif not ambiguous and amount_ambiguous(value):
                        ambiguous = True
        except (csv.Error, UnicodeDecodeError):
            pass  # the parse itself reports the bad line
    return frozenset(commas)


def batches_parse(source: Source, plan: Plan, *, batch_size: int, now: datetime | None = None,
                  method: str | None = None, lenient: bool = False,
                  date_order: DateOrder | None = None, comma_columns: frozenset[str] | None = None,
                  guests: bool | None = None) -> Iterator[Batch]:
    """Stream the rows of `source` as batches of canonical rows ([line, *values]) and rejects.

    `method`: "auto" (default: `PARSE_METHOD`) parses event files column-wise with pandas (same rows,
    rejects and reasons, ~5x faster); "rows" always uses the row-wise parser. `lenient` (file imports): a bad
    value in an optional column of a kind in rows.LENIENT_KINDS is left empty and its row kept (`Batch.blanked`).
    A file's dates such as 03/04/2024 are read in the order its other rows show (`date_order`: the caller's
    `slash_date_order` of the file, found here when not given), its amounts as its columns write them
    (`comma_columns`: the caller's `decimal_comma_columns`, likewise). `guests`: orders whose customer id is empty, 0
    or guest are guest checkouts (rows.rows_parse; default: as `lenient`)."""
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    if date_order is None and isinstance(source, Source):
        date_order = slash_date_order(source.path, plan)
    day_first = date_order.day_first if date_order is not None else None
    if (method or PARSE_METHOD) != "rows" and plan.spec.kind == "events" and isinstance(source, Source):
        return batches_parse_columns(source, plan, batch_size=batch_size, latest=latest, day_first=day_first)
    if comma_columns is None:
        comma_columns = (decimal_comma_columns(source.path, plan) if isinstance(source, Source)
                         and source.delimiter != "," else frozenset())
    batches = rows_parse(source, plan, batch_size=batch_size, latest=latest, lenient=lenient, day_first=day_first,
                         comma_columns=comma_columns, guests=guests)
    if plan.spec.kind == "order_lines":
        return orders_kept_together(batches, position=1 + plan.output_columns.index("order_id"),
                                    batch_size=batch_size)
    return batches


CARRY_BATCHES = 10


def orders_kept_together(batches: Iterator[Batch], *, position: int, batch_size: int) -> Iterator[Batch]:
    """Order lines: a full batch's last rows of one order move to the next batch, so the rows of an order written
    together in the file are written in one batch. The writer sums an order's rows of one product and replaces
    the stored line with the sum (a second import of the file changes nothing), so an order cut in two by a
    batch boundary kept only the later batch's part (UCI Online Retail repeats a product on an invoice). Rows
    of one order scattered through the file, or an order of more rows than CARRY_BATCHES batches, can still fall
    in different batches (the README says so). A batch left with no row and no reject is not yielded.
    `position`: the order id's index in a canonical row."""
    carried: list[list] = []
    carried_rounded: list[tuple] = []  # the carried rows' amounts rounded to the cent (Batch.rounded) go with them
    bytes_read = None
    for batch in batches:
        rows = batch.rows
        if carried:
            rows[:0] = carried
            batch.rounded[:0] = carried_rounded
            batch.first_line = min(batch.first_line, carried[0][0])
            carried, carried_rounded = [], []
        bytes_read = batch.bytes_read
        if rows and len(rows) + len(batch.rejects) >= batch_size:  # full: the file goes on
            cut = len(rows)
            while cut > 0 and rows[cut - 1][position] == rows[-1][position]:
                cut -= 1
            # An order is carried until it fills CARRY_BATCHES batches (a column of one value mapped as the order
            # id would carry the whole file into one batch, one transaction, all of it in memory).
            if cut > 0 or len(rows) < CARRY_BATCHES * batch_size:
                carried = rows[cut:]
                del rows[cut:]
                if batch.rounded:
                    lines = {row[0] for row in carried}
                    carried_rounded = [entry for entry in batch.rounded if entry[0] in lines]
                    batch.rounded = [entry for entry in batch.rounded if entry[0] not in lines]
        if rows or batch.rejects:
            yield batch
    if carried:
        last = Batch(rows=carried, first_line=carried[0][0], last_line=carried[-1][0], bytes_read=bytes_read)
        last.rounded = carried_rounded
        yield last
