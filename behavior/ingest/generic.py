"""The generic writer (SQLite, the demo's database; works on any backend): the ORM in bulk.

Same input and the same counting rules as the PostgreSQL writer, per batch: read which keys exist
(chunked IN queries), compare, `bulk_create` the new rows and `bulk_update` the changed ones."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from behavior.models import Customer, Event, Order, OrderLine, Review
from catalog.models import Category, Product

from .common import BatchResult, IdCache, categories_ensure
from .formats import Batch, Plan, Reject

CHUNK = 900  # below SQLite's historical limit of 999 query parameters


def _dt(text: str | None):
    return None if text is None else datetime.fromisoformat(text)


def _dec(text: str | None):
    return None if text is None else Decimal(text)


def _int(text: str | None):
    return None if text is None else int(text)


def _bool(text: str | None):
    return True if text is None else text == "true"


def _str(text: str | None):
    return text or ""


# Model field ← (source field, converter) per kind, for the fields written from the file.
_FIELDS: dict[str, dict[str, tuple[str, Callable]]] = {
    "customers": {"email": ("email", _str), "name": ("name", _str), "country": ("country", _str),
                  "signup_at": ("signup_at", _dt)},
    "products": {"title": ("title", _str), "description": ("description", _str), "category_id": ("category", None),
                 "brand": ("brand", _str), "price": ("price", _dec), "active": ("active", _bool)},
    "orders": {"customer_id": ("customer_id", None), "placed_at": ("placed_at", _dt), "total": ("total", _dec),
               "currency": ("currency", _str), "status": ("status", lambda t: t or "placed"),
               "item_count": ("item_count", _int)},
    "order_lines": {"quantity": ("quantity", lambda t: 1 if t is None else int(t)), "unit_price": ("unit_price", _dec)},
    "reviews": {"customer_id": ("customer_id", None), "product_id": ("product_id", None), "rating": ("rating", _int),
                "title": ("title", _str), "text": ("text", _str), "created_at": ("created_at", _dt),
                "language": ("language", _str)},
}
_MODELS = {"customers": Customer, "products": Product, "orders": Order, "reviews": Review}
_KEYS = {"customers": "customer_id", "products": "product_id", "orders": "order_id", "reviews": "review_id"}


def _chunks(items: list):
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _id_map(model, shop_id: int, keys: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(keys)):
        found.update(model.objects.filter(shop_id=shop_id, external_id__in=chunk).values_list("external_id", "id"))
    return found


def batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool,
                ids: IdCache | None = None) -> BatchResult:
    """Write one batch (inside the caller's transaction) and say what it did.

    `ids`: the import's id cache (the caller commits or rolls it back with the batch)."""
    result = BatchResult()
    ids = ids if ids is not None else IdCache()
    kind = plan.spec.kind
    position = {name: i + 1 for i, name in enumerate(plan.output_columns)}
    rows = batch.rows
    if not rows:
        return result
    refs: dict[str, dict[str, int]] = {}
    if kind == "reviews":
        rows = _reviews_not_empty(rows, position, result)
    if kind in ("orders", "events", "reviews"):
        rows, refs["customer_id"] = _references(rows, position["customer_id"], Customer, shop_id, result,
                                                label="customer", create=create_missing, ids=ids)
    if kind in ("order_lines", "events", "reviews"):
        rows, refs["product_id"] = _references(rows, position["product_id"], Product, shop_id, result,
                                               label="product", create=create_missing, ids=ids)
    if kind == "order_lines":
        rows, refs["order_id"] = _references(rows, position["order_id"], Order, shop_id, result,
                                             label="order", create=False, ids=ids)
    if kind == "events":
        _events_write(rows, position, refs, shop_id, result)
    elif kind == "order_lines":
        _lines_write(rows, position, refs, plan, shop_id, result)
    else:
        _upsert(rows, position, refs, plan, shop_id, result)
    return result


def _reviews_not_empty(rows: list[list], position: dict[str, int], result: BatchResult) -> list[list]:
    """Reviews with text, a title or a rating; the others rejected (as the PostgreSQL writer does)."""
    kept = []
    for row in rows:
        if row[position["text"]] is None and row[position["title"]] is None and row[position["rating"]] is None:
            result.rejects.append(Reject(row[0], "text", "", "empty review: no text, title or rating"))
        else:
            kept.append(row)
    return kept


def _references(rows: list[list], index: int, model, shop_id: int, result: BatchResult, *, label: str,
                create: bool, ids: IdCache) -> tuple[list[list], dict[str, int]]:
    """Map the external ids in column `index` to ids; create stand-ins or reject rows for unknown ones."""
    cached = ids.get(model._meta.db_table)
    known: dict[str, int] = {}
    wanted: set[str] = set()
    for row in rows:
        key = row[index]
        if key is not None and key not in known:
            found = cached.get(key)
            if found is None:
                wanted.add(key)
            else:
                known[key] = found
    fetched = _id_map(model, shop_id, wanted)
    ids.learn(model._meta.db_table, fetched)
    known.update(fetched)
    missing = wanted - fetched.keys()
    if not missing:
        return rows, known
    if create and model is not Order:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        if model is Customer:
            columns = ("shop_id", "external_id", "email", "name", "country", "attributes", "is_stub", "created_at")
            stubs = [(shop_id, key, "", "", "", "{}", True, now) for key in sorted(missing)]
        else:
            columns = ("shop_id", "external_id", "title", "description", "brand", "active", "is_stub", "created_at")
            stubs = [(shop_id, key, "", "", "", True, True, now) for key in sorted(missing)]
        _insert_many(model._meta.db_table, columns, stubs, conflict="(shop_id, external_id)")
        result.stubs += len(missing)
        created = _id_map(model, shop_id, missing)
        ids.learn(model._meta.db_table, created)
        known.update(created)
        return rows, known
    field = {Customer: "customer_id", Product: "product_id", Order: "order_id"}[model]
    kept = []
    for row in rows:
        value = row[index]
        if value is not None and value not in known:
            result.rejects.append(Reject(row[0], field, value, f"unknown {label} {value}"))
        else:
            kept.append(row)
    return kept, known


def _values(row: list, position: dict[str, int], fields: dict[str, tuple[str, Callable]], refs) -> dict:
    values = {}
    for name, (source, convert) in fields.items():
        text = row[position[source]]
        values[name] = refs[source].get(text) if convert is None else convert(text)
    return values


def _upsert(rows, position, refs, plan: Plan, shop_id: int, result: BatchResult) -> None:
    kind = plan.spec.kind
    model = _MODELS[kind]
    key_at = position[_KEYS[kind]]
    fields = {name: spec for name, spec in _FIELDS[kind].items() if spec[0] in plan.present}
    if kind == "products" and "category" in plan.present:
        paths = {row[position["category"]] for row in rows if row[position["category"]]}
        categories_ensure(shop_id=shop_id, paths=paths)
        refs["category"] = dict(Category.objects.filter(shop_id=shop_id, path__in=paths).values_list("path", "id"))
    latest: dict[str, list] = {}
    for row in rows:  # a later row for the same key replaces an earlier one
        latest[row[key_at]] = row
    compare = list(fields) + (["is_stub"] if kind in ("customers", "products") else [])
    existing: dict[str, dict] = {}
    for chunk in _chunks(list(latest)):
        for current in model.objects.filter(shop_id=shop_id, external_id__in=chunk).values("id", "external_id",
                                                                                          *compare):
            existing[current["external_id"]] = current
    new, changed = [], []
    for key, row in latest.items():
        values = _values(row, position, fields, refs)
        if "is_stub" in compare:
            values["is_stub"] = False
        current = existing.get(key)
        if current is None:
            new.append(model(shop_id=shop_id, external_id=key, **values))
        elif any(current[name] != value for name, value in values.items()):
            changed.append(model(id=current["id"], **values))
    model.objects.bulk_create(new, batch_size=500)
    if changed:
        model.objects.bulk_update(changed, compare, batch_size=500)
    result.inserted, result.updated = len(new), len(changed)
    result.duplicates = len(rows) - len(new) - len(changed)


def _lines_write(rows, position, refs, plan: Plan, shop_id: int, result: BatchResult) -> None:
    fields = {name: spec for name, spec in _FIELDS["order_lines"].items()
              if spec[0] in plan.present or name == "quantity"}
    latest: dict[tuple[int, int], list] = {}
    for row in rows:
        latest[(refs["order_id"][row[position["order_id"]]], refs["product_id"][row[position["product_id"]]])] = row
    existing: dict[tuple[int, int], dict] = {}
    order_ids = sorted({order for order, _ in latest})
    for chunk in _chunks(order_ids):
        for current in OrderLine.objects.filter(order_id__in=chunk).values("id", "order_id", "product_id", *fields):
            existing[(current["order_id"], current["product_id"])] = current
    new, changed = [], []
    for (order_id, product_id), row in latest.items():
        values = _values(row, position, fields, refs)
        current = existing.get((order_id, product_id))
        if current is None:
            new.append(OrderLine(shop_id=shop_id, order_id=order_id, product_id=product_id, **values))
        elif any(current[name] != value for name, value in values.items()):
            changed.append(OrderLine(id=current["id"], **values))
    OrderLine.objects.bulk_create(new, batch_size=500)
    if changed:
        OrderLine.objects.bulk_update(changed, list(fields), batch_size=500)
    result.inserted, result.updated = len(new), len(changed)
    result.duplicates = len(rows) - len(new) - len(changed)


def _events_write(rows, position, refs, shop_id: int, result: BatchResult) -> None:
    key_at = position["idempotency_key"]
    customers, products = refs["customer_id"], refs["product_id"]
    at = [position[name] for name in ("customer_id", "type", "product_id", "occurred_at", "session_id",
                                      "properties")]
    # Raw executemany with values adapted as Django would (the ORM's bulk_create costs ~5x more per row);
    # INSERT … ON CONFLICT DO NOTHING skips stored and repeated keys (the first one is kept) without a
    # lookup query per chunk. SQLite stores UTC datetimes as "YYYY-MM-DD HH:MM:SS[.ffffff]" and UUIDs as
    # 32 hex digits: the canonical text converts with string operations there.
    sqlite_utc = connection.vendor == "sqlite" and connection.timezone_name == "UTC"
    adapt_datetime = connection.ops.adapt_datetimefield_value
    properties_field = Event._meta.get_field("properties")
    native_uuid = connection.features.has_native_uuid_field
    events = []
    for row in rows:
        customer, kind, product, occurred, session, properties = (row[i] for i in at)
        key = row[key_at]
        if sqlite_utc and occurred.endswith("+00:00"):
            moment = occurred[:-6].replace("T", " ", 1)
        else:
            moment = adapt_datetime(datetime.fromisoformat(occurred))
        if properties is not None and not sqlite_utc:
            properties = properties_field.get_db_prep_save(json.loads(properties), connection)
        events.append((shop_id, customers[customer], kind, products.get(product) if product else None, moment,
                       session or "", properties, uuid.UUID(key) if native_uuid else key))
    inserted = _insert_many("behavior_event", ("shop_id", "customer_id", "type", "product_id", "occurred_at",
                                               "session_id", "properties", "idempotency_key"), events,
                            conflict="(shop_id, idempotency_key)")
    result.inserted = inserted
    result.duplicates = len(rows) - inserted


def _insert_many(table: str, columns: tuple[str, ...], rows: list[tuple], *, conflict: str) -> int:
    """INSERT … ON CONFLICT DO NOTHING for many rows (SQLite ≥ 3.24 and PostgreSQL both speak it); rows inserted."""
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
           f"ON CONFLICT {conflict} DO NOTHING")
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 10_000):
            cursor.executemany(sql, rows[start:start + 10_000])
            inserted += max(cursor.rowcount, 0)
    return inserted
