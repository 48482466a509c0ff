"""JSON batches of events and orders through the CSV import's rules and writers.

Each item is turned into the row a CSV file would hold (strings; objects as JSON text), then parsed
by `behavior.ingest.parse.batches_parse` — the same converters, limits and idempotency keys as a
file import — and written by the same writer (`postgres.batch_write`: COPY into a staging table and
one set-based INSERT ... ON CONFLICT), all in one transaction.
The API requires the idempotency key (`event_id`, `order_id`) that a CSV file may leave out.
Orders may carry their `lines`, written after the orders in the same transaction."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction

from accounts.models import Shop
from behavior.ingest import postgres
from behavior.ingest.common import BatchResult
from behavior.ingest.formats import SPECS, Batch, Reject, plan_build
from behavior.ingest.parse import batches_parse
from behavior.ingest.values import event_type_canonical
from behavior.models import Event
from behavior.signals import data_arrived

MAX_ITEMS = 10_000
GUEST_WORDS = "customer_id is required: null, \"\", \"0\" or \"guest\" for a guest checkout."

MAX_LINES_PER_ORDER = 1_000

# Reason text of the ingest package → a stable code for clients.
_REASON_CODES = (
    ("missing required value", "required"),
    ("longer than", "max_length"),
    ("unparseable date", "invalid_datetime"),
    ("date in the future", "future_date"),
    ("not a whole number", "invalid_integer"),
    ("not a number", "invalid_number"),
    ("negative value", "negative"),
    ("number too large", "too_large"),
    ("invalid JSON", "invalid_json"),
    ("unknown status", "invalid_choice"),
    ("not a 3-letter currency code", "invalid_currency"),
    ("not a yes/no value", "invalid_boolean"),
    ("unknown customer", "unknown_customer"),
    ("unknown product", "unknown_product"),
    ("unknown order", "unknown_order"),
    ("order id also given to customer", "conflict"),
    ("order id stored for customer", "conflict"),
    ("order id stored as a guest checkout", "conflict"),
    ("erased customer", "erased_customer"),
    ("a date that can be", "invalid_datetime"),
    ("no such day", "invalid_datetime"),
    ("no month ", "invalid_datetime"),
    ("rating", "invalid_rating"),
    ("empty review", "empty"),
)


@dataclass(frozen=True)
class ItemRejected:
    """One refused item: its index in the request, the field at fault, a code and a message."""

    index: int
    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "field": self.field, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch did: new rows, items already stored (or repeated in the batch), changed orders, rejects."""

    stored: int
    duplicates: int
    updated: int = 0
    lines_stored: int = 0
    rejected: list[ItemRejected] = field(default_factory=list)
    # events only: accepted events whose type the models do not read (a typo shows here), by type
    unknown_types: dict[str, int] | None = None
    # orders only: the accepted orders written (stored, updated or unchanged) as guest checkouts
    guest_orders: int | None = None

    def as_dict(self) -> dict:
        answer = {"stored": self.stored, "duplicates": self.duplicates, "updated": self.updated,
                  "lines_stored": self.lines_stored, "rejected": [r.as_dict() for r in self.rejected]}
        if self.unknown_types is not None:
            answer["unknown_types"] = self.unknown_types
        if self.guest_orders is not None:
            answer["guest_orders"] = self.guest_orders
        return answer


class _Reader:
    """A csv.reader look-alike over prepared rows; `line_num` is the index of the last row read."""

    def __init__(self, rows: list[tuple[int, list[str]]]):
        self._rows = iter(rows)
        self.line_num = -1

    def __iter__(self):
        return self

    def __next__(self) -> list[str]:
        self.line_num, row = next(self._rows)
        return row


@dataclass
class _Source:
    """What `batches_parse` reads from a Source: a reader, the current line, a path and a delimiter."""

    reader: _Reader
    path: str = "request"
    delimiter: str = ","
    bytes_read: int = 0
    bytes_total: int = 0

    @property
    def line(self) -> int:
        return self.reader.line_num


def _reason_code(reason: str) -> str:
    return next((code for prefix, code in _REASON_CODES if reason.startswith(prefix)), "invalid")


def _cell(value, column_type: str) -> str | None:
    """A JSON value as the CSV cell the parser expects; None for a wrong type (rejected by the caller)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ("true" if value else "false") if column_type == "bool" else None
    if isinstance(value, int | float):
        return repr(value) if column_type in ("decimal", "int", "text", "id", "rating") else None
    if isinstance(value, dict | list) and column_type == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return None


def _bad_text(value: str) -> bool:
    if "\x00" in value:
        return True
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _rows_from_items(items: list, kind: str, *, key: str, index_of=lambda i: i, also: frozenset[str] = frozenset(),
                     implied: list[dict] | None = None,
                     ) -> tuple[list[tuple[int, list[str]]], list[ItemRejected]]:
    """Prepared rows (line, cells) in the kind's column order, and the items refused for their JSON shape.

    A key that is neither a column of the kind nor in `also` refuses its item (`unknown_field`): dropped, a typo
    (`stauts: cancelled`) stored a cancelled order as placed and said nothing. `implied[i]`: columns item i takes
    from where it sits (a line's `order_id`), not from the client: an item naming one of them is refused too."""
    columns = SPECS[kind].columns
    known = frozenset(SPECS[kind].names) - frozenset(implied[0] if implied else ()) | also
    rows: list[tuple[int, list[str]]] = []
    rejected: list[ItemRejected] = []
    for position, item in enumerate(items):
        index = index_of(position)
        if not isinstance(item, dict):
            rejected.append(ItemRejected(index, None, "invalid_type", "Each item must be a JSON object."))
            continue
        unknown = sorted(str(name) for name in item if name not in known)
        if unknown:
            takes = ", ".join(sorted(known))
            rejected.append(ItemRejected(index, unknown[0][:40], "unknown_field",
                                         f"Unknown field “{unknown[0][:40]}”: an item takes {takes}."))
            continue
        if implied:
            item = {**item, **implied[position]}
        cells = []
        for column in columns:
            value = item.get(column.name)
            cell = _cell(value, column.type)
            if cell is None:
                expected = "an object" if column.type == "json" else "a string or a number"
                rejected.append(ItemRejected(index, column.name, "invalid_type",
                                             f"{column.name} must be {expected}, not {type(value).__name__}."))
                break
            if _bad_text(cell):
                rejected.append(ItemRejected(index, column.name, "invalid",
                                             f"{column.name} contains NUL or invalid characters."))
                break
            if column.name == key and not cell.strip():
                rejected.append(ItemRejected(index, column.name, "required",
                                             f"{column.name} is required: it makes re-sending the item safe."))
                break
            cells.append(cell)
        else:
            rows.append((position, cells))
    return rows, rejected


def _parse(kind: str, rows: list[tuple[int, list[str]]]) -> Batch:
    """The items' rows parsed as a file's would be; an order's customer id null, "", 0 or guest (any case) is a guest
    checkout, as in a file (behavior.models.GUEST_CUSTOMER_ID): "0" was stored as one real customer holding every
    guest's orders, an empty one refused."""
    plan = plan_build(kind=kind, header=SPECS[kind].names)
    batches = list(batches_parse(_Source(_Reader(rows)), plan, batch_size=len(rows) + 1,  # type: ignore[arg-type]
                                 guests=kind == "orders"))
    return batches[0] if batches else Batch()


def _write(*, shop: Shop, kind: str, batch: Batch, create_missing: bool, fields_of=None) -> BatchResult:
    """Write `batch` (inside the caller's transaction). `fields_of(line)`: the fields the item on that line named;
    a stored row keeps the values of the fields its item left out, as a re-imported file without that column
    leaves them; an explicit null clears one (a file's empty cell does not): see postgres.batch_write."""
    plan = plan_build(kind=kind, header=SPECS[kind].names)
    return postgres.batch_write(shop_id=shop.pk, plan=plan, batch=batch, create_missing=create_missing,
                                fields_of=fields_of, blanks_clear=True)


def _lines_not_sent_remove(shop: Shop, *, orders: list[str], kept: list[tuple[str, str]]) -> int:
    """Delete the lines of `orders` (their ids) whose (order, product) is not in `kept`; returns how many."""
    if not orders:
        return 0
    with connection.cursor() as cursor:
        # a line whose product was deleted (product_id NULL) is not among those sent either
        cursor.execute(
            "DELETE FROM behavior_orderline l USING behavior_order o"
            " WHERE o.shop_id = %(shop)s AND o.external_id = ANY(%(orders)s) AND l.order_id = o.id"
            " AND NOT EXISTS (SELECT 1 FROM unnest(%(o)s::text[], %(p)s::text[]) AS k(o, p)"
            " JOIN catalog_product p ON p.shop_id = %(shop)s AND p.external_id = k.p"
            " WHERE k.o = o.external_id AND p.id = l.product_id)",
            {"shop": shop.pk, "orders": orders, "o": [o for o, _ in kept], "p": [p for _, p in kept]})
        return cursor.rowcount


def _rejects(rejects: list[Reject], index_of, prefix: str = "") -> Iterator[ItemRejected]:
    for r in rejects:
        column = r.column or None
        message = f"{column}: {r.reason}" if column else r.reason
        yield ItemRejected(index_of(r.line), f"{prefix}{column}" if column else (prefix.rstrip(".") or None),
                           _reason_code(r.reason), message)


def _arrived(shop: Shop, kind: str, changed: int) -> None:
    """Tell the apps above (behavior.signals.data_arrived) that this batch stored data (after its commit)."""
    if changed:
        data_arrived.send(sender=BatchOutcome, shop_id=shop.pk, kind=kind, source="api")


def events_ingest(*, shop: Shop, items: list, create_missing: bool = True) -> BatchOutcome:
    """Validate and store a list of event objects in one transaction. Re-sending stores nothing new."""
    rows, rejected = _rows_from_items(items, "events", key="event_id")
    batch = _parse("events", rows)
    rejected.extend(_rejects(batch.rejects, int))
    stored = duplicates = 0
    if batch.rows:
        with transaction.atomic():
            result = _write(shop=shop, kind="events", batch=batch, create_missing=create_missing)
        rejected.extend(_rejects(result.rejects, int))
        stored, duplicates = result.inserted, result.duplicates
        _arrived(shop, "events", stored)
    rejected.sort(key=lambda r: r.index)
    return BatchOutcome(stored=stored, duplicates=duplicates, rejected=rejected,
                        unknown_types=_unknown_types(items, {r.index for r in rejected}))


def _unknown_types(items: list, rejected: set[int]) -> dict[str, int]:
    """Accepted events whose type is none of Event.Type's (stored, but no model reads them), by type."""
    known = set(Event.Type.values)
    found = Counter(event_type_canonical(item["type"].strip()) for index, item in enumerate(items)
                    if index not in rejected and isinstance(item, dict) and isinstance(item.get("type"), str))
    return {name: count for name, count in sorted(found.items()) if name not in known}


def reviews_ingest(*, shop: Shop, items: list, create_missing: bool = True) -> BatchOutcome:
    """Validate and store a list of review objects in one transaction (`review_id` is the idempotency key).

    The same review again is a duplicate; the same id with a changed text or rating updates it."""
    rows, rejected = _rows_from_items(items, "reviews", key="review_id")
    batch = _parse("reviews", rows)
    rejected.extend(_rejects(batch.rejects, int))
    stored = duplicates = updated = 0
    if batch.rows:
        with transaction.atomic():
            result = _write(shop=shop, kind="reviews", batch=batch, create_missing=create_missing,
                            fields_of=lambda line: frozenset(items[line]))
        rejected.extend(_rejects(result.rejects, int))
        stored, duplicates, updated = result.inserted, result.duplicates, result.updated
    rejected.sort(key=lambda r: r.index)
    return BatchOutcome(stored=stored, duplicates=duplicates, updated=updated, rejected=rejected)


def orders_ingest(*, shop: Shop, items: list, create_missing: bool = True) -> BatchOutcome:
    """Validate and store a list of order objects (with optional `lines`) in one transaction.

    An order that is already stored with the same values counts as a duplicate; one with changed
    values is updated (as a re-imported CSV row would be). A rejected order's lines are dropped."""
    rows, rejected = _rows_from_items(items, "orders", key="order_id", also=frozenset({"lines"}))
    # An item that leaves customer_id out is refused (a client that forgot it is told); null, "", 0 or guest is a
    # guest checkout (_parse).
    forgot = {index for index, _ in rows if "customer_id" not in items[index]}
    if forgot:
        rows = [row for row in rows if row[0] not in forgot]
        rejected.extend(ItemRejected(index, "customer_id", "required", GUEST_WORDS) for index in sorted(forgot))
    batch = _parse("orders", rows)
    rejected.extend(_rejects(batch.rejects, int))
    good = {row[0] for row in batch.rows}
    # Lines of the accepted orders, numbered so that a reject finds its order and line again.
    line_items: list[dict] = []
    line_owner: list[tuple[int, int]] = []
    line_order: list[dict] = []  # each line's order_id: the order holding it
    for row in batch.rows:
        index = row[0]
        lines = items[index].get("lines")
        if lines is None:
            continue
        if not isinstance(lines, list) or len(lines) > MAX_LINES_PER_ORDER:
            rejected.append(ItemRejected(index, "lines", "invalid_type" if not isinstance(lines, list) else "too_many",
                                         f"lines must be a list of at most {MAX_LINES_PER_ORDER} objects."))
            good.discard(index)
            continue
        for j, line in enumerate(lines):
            line_items.append(line)
            line_owner.append((index, j))
            line_order.append({"order_id": row[1]})
    # A line's order is the one holding it: a line naming an `order_id` is refused, never moved or silently re-keyed.
    line_rows, line_rejected = _rows_from_items(line_items, "order_lines", key="product_id",
                                                implied=line_order,
                                                index_of=lambda n: n)
    line_batch = _parse("order_lines", line_rows)
    bad_lines = [(line_owner[r.index], r) for r in line_rejected]
    bad_lines += [(line_owner[r.line], ItemRejected(r.line, r.column or None, _reason_code(r.reason),
                                                    f"{r.column}: {r.reason}")) for r in line_batch.rejects]
    for (index, j), r in bad_lines:
        # A bad line refuses its whole order: a half-stored order would be wrong in every total.
        if index in good:
            good.discard(index)
            rejected.append(ItemRejected(index, f"lines.{j}.{r.field}" if r.field else f"lines.{j}", r.code,
                                         f"line {j}: {r.message}"))
    batch.rows = [row for row in batch.rows if row[0] in good]
    line_batch.rows = [row for row in line_batch.rows if line_owner[row[0]][0] in good]
    stored = duplicates = updated = lines_stored = guest_orders = 0
    if batch.rows:
        with transaction.atomic():
            while True:
                # A line refused by the writer (an unknown product under create_missing=false) refuses its order:
                # the orders and lines are written again without the orders holding one. Each pass drops at least
                # one order, so this ends.
                attempt = transaction.savepoint()
                result = _write(shop=shop, kind="orders", batch=batch, create_missing=create_missing,
                                fields_of=lambda line: frozenset(items[line]) - {"lines"} | {"order_id"})
                # the lines of an order the writer refused (an unknown customer) are not written: not its own
                # lines, nor does it lose its stored ones
                refused_orders = {r.line for r in result.rejects}
                lines_kept = [row for row in line_batch.rows if line_owner[row[0]][0] not in refused_orders]
                lines_result = (_write(shop=shop, kind="order_lines", batch=Batch(rows=lines_kept),
                                       create_missing=create_missing) if lines_kept else BatchResult())
                refused = {}
                for r in lines_result.rejects:
                    refused.setdefault(line_owner[r.line][0], r)
                if not refused:
                    break
                transaction.savepoint_rollback(attempt)
                for index, r in refused.items():
                    j = line_owner[r.line][1]
                    rejected.append(ItemRejected(index, f"lines.{j}.{r.column}", _reason_code(r.reason),
                                                 f"line {j}: {r.reason}"))
                batch.rows = [row for row in batch.rows if row[0] not in refused]
                line_batch.rows = [row for row in line_batch.rows if line_owner[row[0]][0] not in refused]
            rejected.extend(_rejects(result.rejects, int))
            stored, duplicates, updated = result.inserted, result.duplicates, result.updated
            guest_orders = result.guests
            lines_stored = lines_result.inserted + lines_result.updated
            # An order sent with `lines` holds those lines and no others (sent without `lines`, it keeps its own).
            removed = _lines_not_sent_remove(
                shop, orders=[row[1] for row in batch.rows
                              if items[row[0]].get("lines") is not None and row[0] not in refused_orders],
                kept=[(row[1], row[2]) for row in lines_kept])
        _arrived(shop, "orders", stored + updated + removed)
    rejected.sort(key=lambda r: r.index)
    return BatchOutcome(stored=stored, duplicates=duplicates, updated=updated, lines_stored=lines_stored,
                        rejected=rejected, guest_orders=guest_orders)
