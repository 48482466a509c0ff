"""The PostgreSQL writer: COPY a batch of validated rows into a TEMP staging table (all text), then
write it to the real tables with a few set-based statements (stubs, unknown ids, one upsert).

Runs inside the caller's transaction (one per batch). The staging table lives only in this
session and is recreated per batch, so a rolled-back batch leaves nothing behind.

Events (the biggest table) take a faster path, measured with bench/ingest.py (2M events, a shared
2-core machine at load average 5–10; before: ~5,000 events/s, after: ~14,000/s, re-import ~55,000/s;
a 400k import into an emptier table ran at ~38,000/s):
- customer / product ids are resolved in Python with an `IdCache` kept across batches (one
  `= ANY(array)` query for the ids not seen yet, stand-ins created by one `INSERT … unnest … RETURNING`);
- one probe (`idempotency_key = ANY(array)`) drops stored events, a dict drops repeats in the batch,
  and the rest is COPYed straight into behavior_event (no staging, multi-row heap inserts), sorted by
  idempotency key so the random MD5 keys sweep the unique index once (36 s → 20 s per 1M rows);
  a concurrent import storing the same keys makes the COPY collide: a savepoint undoes it and a
  staged `INSERT … ON CONFLICT DO NOTHING` runs instead;
- behavior_event has no FK constraints and no redundant single-column indexes (migration 0003:
  the deferred FK checks cost ~2.5 s per 100k rows); the shop-scoped id lookups keep integrity;
- the parser runs one batch ahead in a thread (services._Prefetched), batches are 100k rows
  (services.DEFAULT_BATCH_SIZE) and commits are asynchronous (`synchronous_commit = off`).
Event files are parsed column-wise (columns.py) and written by `_events_write_columns` (factorised id
mapping, array literals instead of psycopg's per-element list adapter, COPY text built by joins):
400k events 26k/s → 42–64k/s at load average ~4, 2M events 34k/s at load average 7–9.5.
What is left is index maintenance (5 indexes, 128 MB shared_buffers by default) and CPU shared
with other jobs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import psycopg
from django.db import IntegrityError, connection, transaction

from .common import BatchResult, IdCache, categories_ensure
from .formats import Batch, Plan, Reject

STAGE = "pg_temp.ecomsight_import_stage"
FLUSH_CHARS = 1 << 20

# Columns written to the target table from the staging table `s` (joined to customers `c`,
# products `p`, orders `o`, categories `g`), per kind: (target column, SQL expression, source field).
_VALUES = {
    "customers": [
        ("email", "COALESCE(s.email, '')", "email"),
        ("name", "COALESCE(s.name, '')", "name"),
        ("country", "COALESCE(s.country, '')", "country"),
        ("signup_at", "s.signup_at::timestamptz", "signup_at"),
    ],
    "products": [
        ("title", "COALESCE(s.title, '')", "title"),
        ("description", "COALESCE(s.description, '')", "description"),
        ("category_id", "g.id", "category"),
        ("brand", "COALESCE(s.brand, '')", "brand"),
        ("price", "s.price::numeric", "price"),
        ("active", "COALESCE(s.active::boolean, true)", "active"),
    ],
    "orders": [
        ("customer_id", "c.id", "customer_id"),
        ("placed_at", "s.placed_at::timestamptz", "placed_at"),
        ("total", "s.total::numeric", "total"),
        ("currency", "COALESCE(s.currency, '')", "currency"),
        ("status", "COALESCE(s.status, 'placed')", "status"),
        ("item_count", "s.item_count::integer", "item_count"),
    ],
    "reviews": [
        ("customer_id", "c.id", "customer_id"),
        ("product_id", "p.id", "product_id"),
        ("rating", "s.rating::smallint", "rating"),
        ("title", "COALESCE(s.title, '')", "title"),
        ("text", "COALESCE(s.text, '')", "text"),
        ("created_at", "s.created_at::timestamptz", "created_at"),
        ("language", "COALESCE(s.language, '')", "language"),
    ],
    "order_lines": [
        ("quantity", "COALESCE(s.quantity::integer, 1)", "quantity"),
        ("unit_price", "s.unit_price::numeric", "unit_price"),
    ],
}
_TABLES = {"customers": "behavior_customer", "products": "catalog_product", "orders": "behavior_order",
           "reviews": "behavior_review"}
_KEYS = {"customers": "customer_id", "products": "product_id", "orders": "order_id", "reviews": "review_id"}
EMPTY_REVIEW = "empty review: no text, title or rating"


def batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool,
                ids: IdCache | None = None) -> BatchResult:
    """Write one batch (inside the caller's transaction) and say what it did.

    `ids`: the import's id cache (events use it; the caller commits or rolls it back with the batch)."""
    result = BatchResult()
    if not batch.good:
        return result
    kind = plan.spec.kind
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # a crash loses at most the last batch; re-run it
        if kind == "events" and batch.columns is not None:
            _events_write_columns(cursor, shop_id, batch, create_missing, ids if ids is not None else IdCache(),
                                  result)
            return result
        if kind == "events":
            _events_write(cursor, shop_id, batch, create_missing, ids if ids is not None else IdCache(), result)
            return result
        _stage(cursor, plan, batch.rows)
        if kind == "reviews":
            cursor.execute(f"DELETE FROM {STAGE} WHERE text IS NULL AND title IS NULL AND rating IS NULL "
                           "RETURNING line")
            result.rejects.extend(Reject(line, "text", "", EMPTY_REVIEW) for (line,) in cursor.fetchall())
        if kind in ("orders", "events", "reviews"):
            _references(cursor, shop_id, result, field="customer_id", table="behavior_customer", label="customer",
                        create=create_missing)
        if kind in ("order_lines", "events", "reviews"):
            _references(cursor, shop_id, result, field="product_id", table="catalog_product", label="product",
                        create=create_missing)
        if kind == "order_lines":
            _references(cursor, shop_id, result, field="order_id", table="behavior_order", label="order",
                        create=False)
        if kind == "products" and "category" in plan.present:
            cursor.execute(f"SELECT DISTINCT category FROM {STAGE} WHERE category IS NOT NULL")
            categories_ensure(shop_id=shop_id, paths={row[0] for row in cursor.fetchall()})
        good = len(batch.rows) - len(result.rejects)
        if kind == "order_lines":
            result.inserted, result.updated = _upsert_lines(cursor, shop_id, plan)
        else:
            result.inserted, result.updated = _upsert(cursor, shop_id, plan)
        result.duplicates = good - result.inserted - result.updated
    return result


def _stage(cursor, plan: Plan, rows: list[list]) -> None:
    columns = ", ".join(f"{name} text" for name in plan.output_columns)
    cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
    cursor.execute(f"CREATE TEMP TABLE {STAGE.split('.')[1]} (line integer, {columns}) ON COMMIT DROP")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # "\r\n": fields holding \r or \n get quoted
    # Canonical values are never empty strings, so CSV's unquoted empty field (NULL) means "no value".
    with cursor.copy(f"COPY {STAGE} FROM STDIN (FORMAT csv)") as copy:
        for start in range(0, len(rows), 20_000):
            writer.writerows(rows[start:start + 20_000])
            if buffer.tell() >= FLUSH_CHARS:
                copy.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        copy.write(buffer.getvalue())
    cursor.execute(f"ANALYZE {STAGE}")  # the planner otherwise guesses the size of a fresh temp table


def _references(cursor, shop_id: int, result: BatchResult, *, field: str, table: str, label: str,
                create: bool) -> None:
    """Create stand-ins for unknown customers/products, or reject the rows naming them."""
    if create:
        if table == "behavior_customer":
            sql = (f"INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, "
                   f"is_stub, created_at) SELECT DISTINCT %(shop)s, {field}, '', '', '', '{{}}'::jsonb, true, now() "
                   f"FROM {STAGE} s WHERE {field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} t "
               f"WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) ON CONFLICT DO NOTHING")
        else:
            sql = (f"INSERT INTO catalog_product (shop_id, external_id, title, description, brand, active, "
                   f"is_stub, created_at) SELECT DISTINCT %(shop)s, {field}, '', '', '', true, true, now() "
                   f"FROM {STAGE} s WHERE {field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} t "
               f"WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) ON CONFLICT DO NOTHING")
        cursor.execute(sql, {"shop": shop_id})
        result.stubs += cursor.rowcount
        return
    cursor.execute(
        f"DELETE FROM {STAGE} s WHERE s.{field} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {table} t WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) "
        f"RETURNING s.line, s.{field}",
        {"shop": shop_id},
    )
    result.rejects.extend(Reject(line, field, value, f"unknown {label} {value}") for line, value in cursor.fetchall())


def _upsert(cursor, shop_id: int, plan: Plan) -> tuple[int, int]:
    kind = plan.spec.kind
    key = _KEYS[kind]
    # New rows get every column (absent ones as their defaults); existing rows only those in the file.
    values = _VALUES[kind]
    insert_columns = ["shop_id", "external_id"] + [v[0] for v in values]
    select = ["%(shop)s", f"s.{key}"] + [v[1] for v in values]
    if kind in ("customers", "products"):
        insert_columns += ["is_stub", "created_at"]
        select += ["false", "now()"]
        if kind == "customers":
            insert_columns.append("attributes")
            select.append("'{}'::jsonb")
    if kind == "reviews":
        insert_columns += ["sentiment", "aspects", "imported_at"]
        select += ["''", "'[]'::jsonb", "now()"]
    changed = [v[0] for v in values if v[2] in plan.present]
    if kind in ("customers", "products"):
        changed.append("is_stub")  # a full row for a stand-in makes it real
    joins = {
        "customers": "",
        "products": "LEFT JOIN catalog_category g ON g.shop_id = %(shop)s AND g.path = s.category",
        "orders": "JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id",
        "reviews": "LEFT JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id "
                   "LEFT JOIN catalog_product p ON p.shop_id = %(shop)s AND p.external_id = s.product_id",
    }[kind]
    sql = f"""
        WITH s AS (SELECT DISTINCT ON ({key}) * FROM {STAGE} ORDER BY {key}, line DESC),
        w AS (
            INSERT INTO {_TABLES[kind]} AS t ({", ".join(insert_columns)})
            SELECT {", ".join(select)} FROM s {joins}
            ON CONFLICT (shop_id, external_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in changed)}
            WHERE {" OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in changed)}
            RETURNING (t.xmax = 0) AS fresh
        )
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM w"""
    cursor.execute(sql, {"shop": shop_id})
    inserted, updated = cursor.fetchone()
    return inserted, updated


def _upsert_lines(cursor, shop_id: int, plan: Plan) -> tuple[int, int]:
    values = _VALUES["order_lines"]
    columns = [v[0] for v in values]
    changed = [v[0] for v in values if v[2] in plan.present] or ["quantity"]
    sql = f"""
        WITH s AS (SELECT DISTINCT ON (order_id, product_id) * FROM {STAGE} ORDER BY order_id, product_id, line DESC),
        w AS (
            INSERT INTO behavior_orderline AS t (shop_id, order_id, product_id, {", ".join(columns)})
            SELECT %(shop)s, o.id, p.id, {", ".join(v[1] for v in values)} FROM s
            JOIN behavior_order o ON o.shop_id = %(shop)s AND o.external_id = s.order_id
            JOIN catalog_product p ON p.shop_id = %(shop)s AND p.external_id = s.product_id
            ON CONFLICT (order_id, product_id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in changed)}
            WHERE {" OR ".join(f"t.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in changed)}
            RETURNING (t.xmax = 0) AS fresh
        )
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM w"""
    cursor.execute(sql, {"shop": shop_id})
    inserted, updated = cursor.fetchone()
    return inserted, updated


# --- events: the biggest table, written by the fastest path ------------------------------------------

EVENT_COLUMNS = ("shop_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties",
                 "idempotency_key")
EVENT_STAGE = "ecomsight_event_stage"
# CSV's unquoted empty field is NULL; session_id is NOT NULL with '' for "none".
_EVENT_COPY_OPTIONS = "(FORMAT csv, FORCE_NOT_NULL (session_id))"
_STUB_SQL = {
    "behavior_customer": (
        "INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, is_stub, created_at) "
        "SELECT %s, k, '', '', '', '{}'::jsonb, true, now() FROM unnest(%s::text[]) AS k "
        "ON CONFLICT DO NOTHING RETURNING external_id, id"),
    "catalog_product": (
        "INSERT INTO catalog_product (shop_id, external_id, title, description, brand, active, is_stub, created_at) "
        "SELECT %s, k, '', '', '', true, true, now() FROM unnest(%s::text[]) AS k "
        "ON CONFLICT DO NOTHING RETURNING external_id, id"),
}


def pg_array(values: list[str], *, quoted: bool = True) -> str:
    """A PostgreSQL array literal of `values` (pass it as text and cast: `%s::text[]`).

    psycopg's pure-Python list adapter costs ~5 µs per element, a join ~0.2 µs; `quoted=False` only for
    values that need no quoting (hex digits)."""
    if not quoted:
        return "{" + ",".join(values) + "}"
    return "{" + ",".join('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values) + "}"


def _ids_resolve(cursor, shop_id: int, ids: IdCache, table: str, keys: set[str], *, create: bool,
                 result: BatchResult) -> dict[str, int]:
    """external_id → id for `keys`: from the cache, else one query; unknown ones become stand-ins if `create`."""
    known = ids.get(table)
    resolved: dict[str, int] = {}
    missing: list[str] = []
    for key in keys:
        found_id = known.get(key)
        if found_id is None:
            missing.append(key)
        else:
            resolved[key] = found_id
    if not missing:
        return resolved
    cursor.execute(f"SELECT external_id, id FROM {table} WHERE shop_id = %s AND external_id = ANY(%s::text[])",
                   [shop_id, pg_array(missing)])
    found = dict(cursor.fetchall())
    if create and len(found) < len(missing):
        new = sorted(set(missing) - found.keys())
        cursor.execute(_STUB_SQL[table], [shop_id, pg_array(new)])
        created = dict(cursor.fetchall())
        result.stubs += len(created)
        found.update(created)
        if len(created) < len(new):  # another import created some of them meanwhile
            cursor.execute(f"SELECT external_id, id FROM {table} WHERE shop_id = %s AND external_id = ANY(%s::text[])",
                           [shop_id, pg_array([key for key in new if key not in created])])
            found.update(cursor.fetchall())
    ids.learn(table, found)
    resolved.update(found)
    return resolved


# Keys asked about per query: the array literal of a whole batch's keys, and its encoded copy, were ~15 MB.
STORED_KEYS_PER_QUERY = 25_000


def events_stored(cursor, *, shop_id: int, keys: list[str]) -> set[str]:
    """Which of these idempotency keys (32 hex digits) the shop already has: one index probe per key."""
    stored: set[str] = set()
    for start in range(0, len(keys), STORED_KEYS_PER_QUERY):
        cursor.execute("SELECT replace(idempotency_key::text, '-', '') FROM behavior_event "
                       "WHERE shop_id = %s AND idempotency_key = ANY(%s::uuid[])",
                       [shop_id, pg_array(keys[start:start + STORED_KEYS_PER_QUERY], quoted=False)])
        stored.update(key for (key,) in cursor.fetchall())
    return stored


def _events_write(cursor, shop_id: int, batch: Batch, create: bool, ids: IdCache, result: BatchResult) -> None:
    """Map ids in Python (cached), drop keys already stored, COPY the rest straight into behavior_event.

    Rows: [line, event_id, customer_id, type, product_id, occurred_at, session_id, properties, key]."""
    rows = batch.rows
    customers = _ids_resolve(cursor, shop_id, ids, "behavior_customer", {row[2] for row in rows}, create=create,
                             result=result)
    products = _ids_resolve(cursor, shop_id, ids, "catalog_product", {row[4] for row in rows if row[4] is not None},
                            create=create, result=result)
    stored = events_stored(cursor, shop_id=shop_id, keys=[row[8] for row in rows])
    fresh: dict[str, tuple] = {}
    rejects = result.rejects
    for line, _, customer, kind, product, occurred, session, properties, key in rows:
        customer_id = customers.get(customer)
        if customer_id is None:  # only with --no-create
            rejects.append(Reject(line, "customer_id", customer, f"unknown customer {customer}"))
            continue
        if product is not None:
            product_id = products.get(product)
            if product_id is None:
                rejects.append(Reject(line, "product_id", product, f"unknown product {product}"))
                continue
        else:
            product_id = None
        if key not in stored and key not in fresh:  # the first of repeated events is the one kept
            fresh[key] = (shop_id, customer_id, kind, product_id, occurred, session, properties, key)
    result.inserted = len(fresh)
    result.duplicates = len(rows) - len(rejects) - len(fresh)
    if not fresh:
        return
    columns = ", ".join(EVENT_COLUMNS)
    # In idempotency-key order: the unique (shop, key) index takes MD5-random keys, and a sorted batch
    # sweeps its leaf pages once instead of jumping around (measured: 1M rows, 5 indexes, 36 s → 20 s).
    fresh = {key: fresh[key] for key in sorted(fresh)}
    try:
        # COPY straight into the table (multi-row heap inserts, no staging). Only a concurrent import of the
        # same events can make a key collide now; then the savepoint undoes the COPY and the upsert path runs.
        with transaction.atomic():
            _copy(cursor, f"COPY behavior_event ({columns}) FROM STDIN {_EVENT_COPY_OPTIONS}", fresh.values())
    except (IntegrityError, psycopg.errors.UniqueViolation):
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{EVENT_STAGE}")
        cursor.execute(f"CREATE TEMP TABLE {EVENT_STAGE} ON COMMIT DROP AS "
                       f"SELECT {columns} FROM behavior_event WITH NO DATA")
        _copy(cursor, f"COPY pg_temp.{EVENT_STAGE} FROM STDIN {_EVENT_COPY_OPTIONS}", fresh.values())
        cursor.execute(f"INSERT INTO behavior_event ({columns}) SELECT {columns} FROM pg_temp.{EVENT_STAGE} "
                       "ON CONFLICT (shop_id, idempotency_key) DO NOTHING")
        result.inserted = cursor.rowcount
        result.duplicates = len(rows) - len(rejects) - result.inserted


def _copy(cursor, sql: str, rows) -> None:
    """COPY `rows` (tuples) as CSV, in ~1 MB writes (psycopg sends them while Python formats the next)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # "\r\n": fields holding \r or \n get quoted
    chunk: list = []
    with cursor.copy(sql) as copy:
        for row in rows:
            chunk.append(row)
            if len(chunk) == 20_000:
                writer.writerows(chunk)
                chunk.clear()
                copy.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        writer.writerows(chunk)
        copy.write(buffer.getvalue())


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(values: np.ndarray, *, null: str = "\\N") -> list[str]:
    """A column of str/None as COPY text fields: None as `null`, backslash, tab and line breaks escaped.

    Escapes only when the column has one of those characters (one scan of the joined column)."""
    values = values.tolist()
    joined = "".join(filter(None, values))
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [null if value is None else value.translate(_COPY_ESCAPES) for value in values]
    return [null if value is None else value for value in values]


def _events_write_columns(cursor, shop_id: int, batch: Batch, create: bool, ids: IdCache,
                          result: BatchResult) -> None:
    """`_events_write` for a column batch (`Batch.columns`): the same rules, with array operations per batch
    instead of Python per row, and the COPY text built by joins (COPY's text format, not CSV)."""
    columns = batch.columns
    line = columns["line"]
    n = len(line)
    customer_codes, customer_keys = pd.factorize(columns["customer_id"])
    customers = _ids_resolve(cursor, shop_id, ids, "behavior_customer", set(customer_keys.tolist()),
                             create=create, result=result)
    # Database ids are positive: 0 marks an unknown id, and the product code -1 (no product) maps to -1.
    customer_ids = np.array([customers.get(key, 0) for key in customer_keys.tolist()], dtype=np.int64)[customer_codes]
    product_codes, product_keys = pd.factorize(columns["product_id"])
    products = _ids_resolve(cursor, shop_id, ids, "catalog_product", set(product_keys.tolist()), create=create,
                            result=result)
    product_ids = np.array([products.get(key, 0) for key in product_keys.tolist()] + [-1],
                           dtype=np.int64)[product_codes]
    rejects = result.rejects
    unknown_customer = customer_ids == 0
    unknown_product = ~unknown_customer & (product_ids == 0)
    for i in np.flatnonzero(unknown_customer):
        value = columns["customer_id"][i]
        rejects.append(Reject(int(line[i]), "customer_id", value, f"unknown customer {value}"))
    for i in np.flatnonzero(unknown_product):
        value = columns["product_id"][i]
        rejects.append(Reject(int(line[i]), "product_id", value, f"unknown product {value}"))
    good = np.flatnonzero(~unknown_customer & ~unknown_product)
    keys = columns["idempotency_key"][good]
    stored = events_stored(cursor, shop_id=shop_id, keys=keys.tolist()) if len(good) else set()
    # The first of repeated events is the one kept; stored ones are skipped.
    fresh = ~pd.Series(keys).duplicated(keep="first").to_numpy()
    if stored:
        fresh &= ~pd.Series(keys).isin(stored).to_numpy()
    chosen = good[fresh]
    result.inserted = len(chosen)
    result.duplicates = n - len(rejects) - len(chosen)
    if not len(chosen):
        return
    # In idempotency-key order (see `_events_write`); the first 16 hex digits of the MD5 sort as well as all
    # 32, and as fixed-width bytes they sort as fast as integers (objects: ~50x slower).
    prefixes = columns["idempotency_key"][chosen].astype("S16")  # fixed-width bytes: no object per key
    chosen = chosen[np.argsort(prefixes, kind="stable")]
    text = _event_copy_text(shop_id, customer_ids[chosen], product_ids[chosen],
                            {name: columns[name][chosen] for name in _EVENT_TEXT_COLUMNS})
    names = ", ".join(EVENT_COLUMNS)
    try:
        # Straight into the table, as `_events_write` does (a concurrent import of the same keys collides:
        # the savepoint undoes the COPY and a staged INSERT … ON CONFLICT DO NOTHING runs instead).
        with transaction.atomic():
            _copy_chunks(cursor, f"COPY behavior_event ({names}) FROM STDIN", text)
    except (IntegrityError, psycopg.errors.UniqueViolation):
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{EVENT_STAGE}")
        cursor.execute(f"CREATE TEMP TABLE {EVENT_STAGE} ON COMMIT DROP AS "
                       f"SELECT {names} FROM behavior_event WITH NO DATA")
        _copy_chunks(cursor, f"COPY pg_temp.{EVENT_STAGE} FROM STDIN", text)
        cursor.execute(f"INSERT INTO behavior_event ({names}) SELECT {names} FROM pg_temp.{EVENT_STAGE} "
                       "ON CONFLICT (shop_id, idempotency_key) DO NOTHING")
        result.inserted = cursor.rowcount
        result.duplicates = n - len(rejects) - result.inserted


# Rows turned into COPY text at a time: the text of a whole 200,000-row batch, and the strings it is made
# from, held ~70 MB at once.
COPY_TEXT_ROWS = 10_000
_EVENT_TEXT_COLUMNS = ("type", "occurred_at", "session_id", "properties", "idempotency_key")


def _event_copy_text(shop_id: int, customer_ids: np.ndarray, product_ids: np.ndarray,
                     columns: dict[str, np.ndarray]) -> Callable[[], Iterator[str]]:
    """The COPY text (EVENT_COLUMNS, text format) of events given as arrays (product id -1: none), made on
    demand COPY_TEXT_ROWS rows at a time; callable again (the collision path sends it twice)."""
    shop = str(shop_id)

    def pieces() -> Iterator[str]:
        for start in range(0, len(customer_ids), COPY_TEXT_ROWS):
            part = slice(start, start + COPY_TEXT_ROWS)
            products = product_ids[part]
            product_text = products.astype(str).astype(object)
            product_text[products == -1] = None
            fields = [
                [shop] * len(products),
                customer_ids[part].astype(str).tolist(),
                _copy_text(columns["type"][part]),
                _copy_text(product_text),
                columns["occurred_at"][part].tolist(),
                _copy_text(columns["session_id"][part], null=""),  # NOT NULL: "" for no session
                _copy_text(columns["properties"][part]),
                columns["idempotency_key"][part].tolist(),
            ]
            yield "\n".join(map("\t".join, zip(*fields, strict=True))) + "\n"
    return pieces


def _copy_chunks(cursor, sql: str, text: Callable[[], Iterator[str]]) -> None:
    """COPY the pieces of `text()` (psycopg sends each while the next is made)."""
    with cursor.copy(sql) as copy:
        for piece in text():
            copy.write(piece)
