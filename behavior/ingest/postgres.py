"""The PostgreSQL writer: COPY a batch of validated rows into a TEMP staging table (all text), then
write it to the real tables with a few set-based statements (stubs, unknown ids, one upsert).

Runs inside the caller's transaction (one per batch). The staging table lives only in this
session and is recreated per batch, so a rolled-back batch leaves nothing behind."""

from __future__ import annotations

import csv
import io

from django.db import connection

from .common import BatchResult, categories_ensure
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
    "order_lines": [
        ("quantity", "COALESCE(s.quantity::integer, 1)", "quantity"),
        ("unit_price", "s.unit_price::numeric", "unit_price"),
    ],
}
_TABLES = {"customers": "behavior_customer", "products": "catalog_product", "orders": "behavior_order"}
_KEYS = {"customers": "customer_id", "products": "product_id", "orders": "order_id"}


def batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool) -> BatchResult:
    """Write one batch (inside the caller's transaction) and say what it did."""
    result = BatchResult()
    if not batch.rows:
        return result
    kind = plan.spec.kind
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # a crash loses at most the last batch; re-run it
        _stage(cursor, plan, batch.rows)
        if kind in ("orders", "events"):
            _references(cursor, shop_id, result, field="customer_id", table="behavior_customer", label="customer",
                        create=create_missing)
        if kind in ("order_lines", "events"):
            _references(cursor, shop_id, result, field="product_id", table="catalog_product", label="product",
                        create=create_missing)
        if kind == "order_lines":
            _references(cursor, shop_id, result, field="order_id", table="behavior_order", label="order",
                        create=False)
        if kind == "products" and "category" in plan.present:
            cursor.execute(f"SELECT DISTINCT category FROM {STAGE} WHERE category IS NOT NULL")
            categories_ensure(shop_id=shop_id, paths={row[0] for row in cursor.fetchall()})
        good = len(batch.rows) - len(result.rejects)
        if kind == "events":
            cursor.execute(_EVENTS_SQL, {"shop": shop_id})
            result.inserted = cursor.rowcount
        elif kind == "order_lines":
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
    writer = csv.writer(buffer, lineterminator="\n")
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
    changed = [v[0] for v in values if v[2] in plan.present]
    if kind in ("customers", "products"):
        changed.append("is_stub")  # a full row for a stand-in makes it real
    joins = {
        "customers": "",
        "products": "LEFT JOIN catalog_category g ON g.shop_id = %(shop)s AND g.path = s.category",
        "orders": "JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id",
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


_EVENTS_SQL = f"""
    INSERT INTO behavior_event (shop_id, customer_id, type, product_id, occurred_at, session_id, properties,
                                idempotency_key)
    SELECT %(shop)s, c.id, s.type, p.id, s.occurred_at::timestamptz, COALESCE(s.session_id, ''),
           s.properties::jsonb, s.idempotency_key::uuid
    FROM {STAGE} s
    JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id
    LEFT JOIN catalog_product p ON p.shop_id = %(shop)s AND p.external_id = s.product_id
    -- in index order: fewer pages touched per row in the (customer, time) index and the FK checks
    ORDER BY c.id, s.occurred_at
    ON CONFLICT (shop_id, idempotency_key) DO NOTHING"""
