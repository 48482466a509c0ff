"""The row-wise parser: one Python loop per row, the reference (and the fallback) of the column-wise one.

`rows_parse` turns a source's records into `Batch`es of canonical rows ([line, *values]) and `Reject`s,
with the converters of `values`; `batches_parse` (in `parse`) picks it or the column-wise parser.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections.abc import Iterator
from datetime import datetime

from ..models import GUEST_CUSTOMER_ID, GUEST_CUSTOMER_IDS_WRITTEN
from .formats import SPECS, Batch, ImportFileError, Plan, Reject, not_utf8_message
from .values import (
    CENTS_FIELDS,
    CONVERTERS,
    RowError,
    datetime_canonical,
    event_idempotency_key,
    event_type_canonical,
    in_cents,
    order_derived_id,
    review_derived_id,
)

# Kinds whose rows are kept when an optional value cannot be read (`lenient`): a customer whose signup date is
# written as "03/08/2016", or a product whose price is "6,92 EUR" in a comma file, is still that customer or product
# (rejected, it came back as a nameless stand-in when its orders arrived), and a review rated "1/10" still has its
# text. Never lenient: the kind's id (its first column) and required columns. Orders and their lines stay strict:
# an order's total, status or quantity is what it is about (an unreadable total column rejects every order, and
# the import says so, where left empty it would lose the shop's revenue quietly).
LENIENT_KINDS = frozenset({"customers", "products", "reviews"})
# What spreadsheets and exports write for "no number" in a number column: an empty cell, not a value to refuse (an
# analyst's 69 of 1,378 orders with a total written "-" were rejected whole).
NUMBER_BLANKS = frozenset({"-", "–", "—", "n/a", "na", "null", "none", "nan"})
BLANKED = "left empty: "
# The reason of an orders row that continues an order whose first row was rejected (by the parser or the writer):
# the order is not stored, so neither is that row (counted as a duplicate, a Dunnhumby file whose every order was
# refused "succeeded": 17,284 rows rejected, 104,112 duplicates). Followed by the first row's reason.
ORDER_ROW_REJECTED = "another row of this order was rejected: "


def _strict(kind: str, column, position: int) -> bool:
    return kind not in LENIENT_KINDS or column.required or position == 0


def rows_parse(source, plan: Plan, *, batch_size: int, latest: datetime,
               stop_line: int | None = None, lenient: bool = False, day_first: bool | None = None,
               comma_columns: frozenset[str] = frozenset(), guests: bool | None = None) -> Iterator[Batch]:
    """The row-wise parser: `source` is a Source or anything with its reader, path, delimiter, line, bytes_read.

    `stop_line`: stop after the record that ends on this line (the column-wise parser hands it a chunk).
    `lenient`: see LENIENT_KINDS; a value left empty is listed in `Batch.blanked` with its reason.
    `day_first`: how the file writes dates such as 03/04/2024 (parse.slash_date_order); `comma_columns`: the amount
    columns that write the decimal comma, where a point groups thousands (parse.decimal_comma_columns);
    `guests`: an order's customer id empty, 0 or guest is the guest customer (default: as `lenient`, files; the API's
    orders too)."""
    spec = plan.spec
    width = len(plan.header)
    # (position in output, file index, column, converter); absent columns stay None in every row.
    steps = []
    # Amounts rounded to the cent, as the decimal converter lists them, then with their line first (Batch.rounded):
    # a rejected row's taken out.
    rounded: list[tuple] = []
    for position, (column, index) in enumerate(zip(spec.columns, plan.indexes, strict=True)):
        if index is None:
            continue
        if column.type in ("text", "id"):
            convert = None  # checked inline: the hot loop's most common case, without a call per value
        elif column.type == "datetime":
            convert = functools.partial(datetime_canonical, latest=latest, day_first=day_first)
        elif column.type == "decimal":
            # "19,99" in a ;-separated file is 19.99 (values.number_text_normalise has the rules); a column named
            # in cents (total_cents) holds 1999 for 19.99: it was stored 100 times the amount.
            convert = functools.partial(CONVERTERS["decimal"], decimal_comma=source.delimiter != ",",
                                        points_group=column.name in comma_columns,
                                        cents=column.name in CENTS_FIELDS and in_cents(plan.header[index]),
                                        rounded=rounded)
        else:
            convert = CONVERTERS[column.type]
        strict = not lenient or _strict(spec.kind, column, position)
        # An email column's "-" or "n/a" is no address either: stored, it would replace the customer's email.
        blanks = NUMBER_BLANKS if column.type in ("decimal", "int") or column.name == "email" else ()
        steps.append((position + 1, index, column, column.max_length, convert, strict, blanks))
    template = [None] * (1 + len(plan.output_columns))
    name_parts = plan.name_parts
    finish = _FINISHERS[spec.kind]() if spec.kind in _FINISHERS else None
    reader = source.reader
    # The plain csv reader and the header's line offset, when available (saves two Python calls per row).
    records = getattr(reader, "_reader", reader)
    offset = getattr(reader, "_offset", 0) if records is not reader else 0
    # Orders: a row giving the order id of the row before it and nothing else but what that row gave continues
    # the order (Shopify's export: an order's fields on its first row, a row per further line item with its name,
    # perhaps its email and date again, and the item): counted in `Batch.continued`, not rejected as "missing
    # required value" (an analyst's 16,194 of 18,081 rows were), nor stored as the order with its total and status
    # left empty (another's: revenue -59 %, refunds read as sales). A row that says something new (a status
    # history's next status) is a row of its own. Files only (`lenient`): an API item without its customer is
    # refused as such.
    order_at = plan.indexes[spec.names.index("order_id")] if spec.kind == "orders" and lenient else None
    read_at = [i for i in plan.indexes if i is not None]
    # Orders of files and of the API: a guest checkout's customer id (empty, 0, guest) is the shop's guest customer,
    # its order kept.
    guests = lenient if guests is None else guests
    guest_at = plan.indexes[spec.names.index("customer_id")] if spec.kind == "orders" and guests else None
    previous_order, previous_values = None, []
    # The order's first row (its line) and, when it was rejected, its reject: the rows continuing it go the same way.
    head_line, head_reject = 0, None
    # An order row's id, given with its reject: the import says how many rejected rows are of orders it has stored.
    id_at = plan.indexes[0] if spec.kind == "orders" else None
    batch = Batch()
    rows, rejects, blanked = batch.rows, batch.rejects, batch.blanked
    while True:
        if stop_line is not None and records.line_num + offset >= stop_line:
            break
        try:
            record = next(records)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"{source.path} is not UTF-8 text after line {source.line}: "
                                  f"{not_utf8_message(source.path, exc)}") from None
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
            if order_at is not None:
                order, values = record[order_at].strip(), [record[i].strip() for i in read_at]
                if order and order == previous_order and all(
                        not value or value == before for value, before in zip(values, previous_values, strict=True)):
                    if head_reject is not None:
                        column = head_reject.column
                        at = plan.indexes[spec.names.index(column)] if column in spec.names else None
                        rejects.append(Reject(line, column, record[at].strip()[:200] if at is not None else "",
                                              ORDER_ROW_REJECTED + head_reject.reason, head_reject.order_id))
                    else:  # the writer may reject the order's first row yet (services: `Batch.continued_lines`)
                        batch.continued += 1
                        batch.continued_lines.append((head_line, line))
                    continue
                previous_order, previous_values = order, values
                head_line, head_reject = line, None
            guest = guest_at is not None and record[guest_at].strip().lower() in GUEST_CUSTOMER_IDS_WRITTEN
            if guest:
                guest = record[guest_at].strip() or "-"  # what it was written (the import compares a 0 with 0000)
                record[guest_at] = GUEST_CUSTOMER_ID
            if name_parts:  # the name in parts, read as one more column (Plan.name_parts)
                record.append(" ".join(part for part in (record[i].strip() for i in name_parts) if part))
            out = template.copy()
            out[0] = line
            row_blanked = []  # kept only if the row is
            mark = len(rounded)
            order_id = record[id_at].strip() if id_at is not None else ""
            for position, index, column, max_length, convert, strict, blanks in steps:
                value = record[index].strip()
                if not value or blanks and value.lower() in blanks:
                    if column.required:
                        rejects.append(Reject(line, column.name, "", "missing required value", order_id))
                        break
                    continue
                if convert is None:
                    if max_length and len(value) > max_length:
                        reason = f"longer than {max_length} characters"
                        if strict:
                            rejects.append(Reject(line, column.name, value[:200], reason, order_id))
                            break
                        row_blanked.append(Reject(line, column.name, value[:200], BLANKED + reason))
                        continue
                    out[position] = value
                    continue
                try:
                    out[position] = convert(value, column)
                except RowError as exc:
                    if strict:
                        rejects.append(Reject(line, column.name, value[:200], str(exc), order_id))
                        break
                    row_blanked.append(Reject(line, column.name, value[:200], BLANKED + str(exc)))
            else:
                if finish is not None:
                    finish(out)
                rows.append(out)
                if guest:
                    batch.guests += 1
                    batch.guest_zeros += guest == "0"
                if row_blanked:
                    blanked.extend(row_blanked)
            if order_at is not None and (not rows or rows[-1] is not out):
                head_reject = rejects[-1]
            if len(rounded) > mark:
                if not rows or rows[-1] is not out:
                    del rounded[mark:]  # the row was rejected: nothing of it is stored
                else:  # with its line: the writer may reject the row yet (services counts the rows it keeps)
                    rounded[mark:] = [(line, *entry) for entry in rounded[mark:]]
        if len(rows) + len(rejects) >= batch_size:
            batch.first_line = rows[0][0] if rows else rejects[0].line
            batch.last_line = line
            batch.bytes_read = source.bytes_read
            batch.rounded, rounded[:] = rounded[:], []
            yield batch
            batch = Batch()
            rows, rejects, blanked = batch.rows, batch.rejects, batch.blanked
    if rows or rejects or batch.continued:
        batch.first_line = rows[0][0] if rows else rejects[0].line if rejects else records.line_num + offset
        batch.last_line = records.line_num + offset
        batch.bytes_read = source.bytes_read
        batch.rounded = rounded[:]
        yield batch


_ORDER_MOMENT = 1 + SPECS["orders"].names.index("status_changed_at")  # its position in a row (after the line)


def _orders_finisher():
    """Orders without an id get one from their content (customer, time, total); the k-th identical row of a file
    (k >= 2: a customer's nine 14.99 orders of one day in the CD shop's file) gets that id with "-k" appended, so
    each is its own order and importing the file again still changes nothing. Memory: one entry per distinct
    id-less order row."""
    seen: dict[tuple, int] = {}

    def finish(out: list) -> None:
        # out: [line, order_id, customer_id, placed_at, total, currency, status, item_count, ...]
        if out[1] is None:
            derived = order_derived_id(customer_id=out[2], placed_at=out[3], total=out[4])
            # Counted on the whole row: a later row of the same order with another status (a status history)
            # still replaces the earlier one, as before; only a row repeated exactly is another order - whenever
            # its status changed (two orders of a customer's day whose updated_at differ stay two).
            key = tuple(out[2:_ORDER_MOMENT]) + tuple(out[_ORDER_MOMENT + 1:])
            k = seen[key] = seen.get(key, 0) + 1
            out[1] = derived if k == 1 else f"{derived}-{k}"

    return finish


def _finish_events(out: list) -> None:
    # out: [line, event_id, customer_id, type, product_id, occurred_at, session_id, properties, key]
    event_id = out[1]
    if event_id:
        out[8] = hashlib.md5(("id:" + event_id).encode(), usedforsecurity=False).hexdigest()
    else:
        out[8] = event_idempotency_key(event_id=None, customer_id=out[2], type=out[3], product_id=out[4],
                                       occurred_at=out[5], session_id=out[6], properties=out[7])
    # The key is the row's as written (a file imported before the type was renamed stores nothing new again).
    out[3] = event_type_canonical(out[3])


def _finish_reviews(out: list) -> None:
    # out: [line, review_id, customer_id, product_id, rating, title, text, created_at, language, order_id]
    if out[1] is None:
        out[1] = review_derived_id(customer_id=out[2], product_id=out[3], rating=out[4], title=out[5], text=out[6],
                                   created_at=out[7], order_id=out[9])


# Each import gets its own finisher (the orders' one counts identical rows within the file).
_FINISHERS = {"orders": _orders_finisher, "events": lambda: _finish_events, "reviews": lambda: _finish_reviews}
