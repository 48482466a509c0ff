"""The PostgreSQL writer: COPY a batch of validated rows into a TEMP staging table (all text), then
write it to the real tables with a few set-based statements (stubs, unknown ids, one upsert).

Runs inside the caller's transaction (one per batch). The staging table lives only in this
session and is recreated per batch, so a rolled-back batch leaves nothing behind.

Events (the biggest table) take a faster path, measured with bench/ingest.py (2M events, a shared
2-core machine at load average 5–10; before: ~5,000 events/s, after: ~14,000/s, re-import ~55,000/s;
a 400k import into an emptier table ran at ~38,000/s):
- customer / product ids are resolved in Python with an `IdCache` kept across batches (one
  `= ANY(array)` query for the ids not seen yet, stand-ins created by one `INSERT … unnest … RETURNING`);
- behavior_event is partitioned by month (behavior.partitions): the batch's months get their partitions
  first; an event is (shop, idempotency key, occurred_at), the table's unique key;
- one probe per month (`idempotency_key = ANY(array)` within the month's bounds: that partition only) drops
  stored events, a dict drops repeats in the batch, and the rest is COPYed straight into behavior_event (no
  staging, multi-row heap inserts), sorted by month then idempotency key so each month's rows go to their
  partition in one run and the random MD5 keys sweep its unique index once (36 s → 20 s per 1M rows);
  a concurrent import storing the same events makes the COPY collide: a savepoint undoes it and a
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
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import psycopg
from django.db import IntegrityError, connection, transaction

from accounts.selectors import customer_id_hash, erased_customer_hashes
from ecomsight.crypto import email_index, is_token, personal_decrypt, personal_encrypt

from ..models import GUEST_CUSTOMER_ID
from ..partitions import event_months_ensure, month_bounds, months_of_iso
from ..signals import customers_changed, reviews_changed
from .common import BatchResult, IdCache, categories_ensure, stubs_count
from .formats import Batch, Plan, Reject

STAGE = "pg_temp.ecomsight_import_stage"
FLUSH_CHARS = 1 << 20

# Columns written to the target table from the staging table `s` (joined to customers `c`,
# products `p`, orders `o`, categories `g`), per kind: (target column, SQL expression, source field).
_VALUES = {
    "customers": [
        ("email", "COALESCE(s.email, '')", "email"),
        ("email_index", "COALESCE(s.email_index, '')", "email"),  # follows the email (staged beside it)
        ("name", "COALESCE(s.name, '')", "name"),
        ("country", "COALESCE(s.country, '')", "country"),
        ("signup_at", "s.signup_at::timestamptz", "signup_at"),
        ("marketing_consent", "s.marketing_consent::boolean", "marketing_consent"),
    ],
    "products": [
        ("title", "COALESCE(s.title, '')", "title"),
        ("description", "COALESCE(s.description, '')", "description"),
        ("category_id", "g.id", "category"),
        ("brand", "COALESCE(s.brand, '')", "brand"),
        ("price", "s.price::numeric", "price"),
        ("active", "COALESCE(s.active::boolean, true)", "active"),
        ("url", "COALESCE(s.url, '')", "url"),
        ("image_url", "COALESCE(s.image_url, '')", "image_url"),
        ("image_file", "COALESCE(s.image_file, '')", "image_file"),
    ],
    "orders": [
        ("customer_id", "c.id", "customer_id"),
        ("placed_at", "s.placed_at::timestamptz", "placed_at"),
        ("total", "s.total::numeric", "total"),
        ("currency", "COALESCE(s.currency, '')", "currency"),
        ("status", "COALESCE(s.status, 'placed')", "status"),
        ("item_count", "s.item_count::integer", "item_count"),
        ("offer_code", "COALESCE(s.offer_id, '')", "offer_id"),
        ("status_changed_at", "s.status_changed_at::timestamptz", "status_changed_at"),
    ],
    "reviews": [
        # A row naming no customer or product takes them from the order it names (`o`, `ol`: see _upsert).
        ("customer_id", "COALESCE(c.id, o.customer_id)", "customer_id"),
        ("product_id", "COALESCE(p.id, ol.product_id)", "product_id"),
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
                ids: IdCache | None = None, fields_of: Callable[[int], frozenset] | None = None,
                blanks_clear: bool = False) -> BatchResult:
    """Write one batch (inside the caller's transaction) and say what it did.

    `ids`: the import's id cache (events use it; the caller commits or rolls it back with the batch).
    A stored row keeps the values of the fields its row does not give: columns the file lacks, values the parser
    left empty (`batch.blanked`), and with `fields_of(line)` (the API's items) fields the item did not name.
    Rows are then written in groups that give the same fields. A file's empty cell of an order says nothing
    either: the stored order keeps that field (BLANK_KEEPS); `blanks_clear` (the API, whose explicit null clears a
    field it names) writes it empty instead."""
    erased = erased_taken_out(shop_id=shop_id, plan=plan, batch=batch)
    result = _batch_write_fields(shop_id=shop_id, plan=plan, batch=batch, create_missing=create_missing, ids=ids,
                                 fields_of=fields_of, blanks_clear=blanks_clear)
    result.rejects.extend(erased)
    return result


ERASED = "erased customer: an erased customer's id is not stored again"


def erased_taken_out(*, shop_id: int, plan: Plan, batch: Batch) -> list[Reject]:
    """Take the rows naming a customer erased from the shop (privacy.services.customer_erase: its audit row keeps
    the id's keyed hash) out of `batch`, as rejects: a later file or API call naming them must not bring them
    back as a stand-in or a customer (an outside review)."""
    if "customer_id" not in plan.spec.names or not batch.good:
        return []
    erased = erased_customer_hashes(shop_id=shop_id)
    if not erased:
        return []
    if batch.columns is not None:
        customers = batch.columns["customer_id"]
    else:
        at = 1 + plan.output_columns.index("customer_id")
        customers = [row[at] for row in batch.rows]
    hashes = {c: customer_id_hash(shop_id=shop_id, external_id=c) for c in set(customers) if c is not None}
    gone = [i for i, c in enumerate(customers) if c is not None and hashes[c] in erased]
    if not gone:
        return []
    if batch.columns is not None:
        keep = np.ones(len(customers), dtype=bool)
        keep[gone] = False
        lines = batch.columns["line"][~keep]
        batch.columns = {name: values[keep] for name, values in batch.columns.items()}
        return [Reject(int(line), "customer_id", "", ERASED) for line in lines]
    gone_rows = [batch.rows[i] for i in gone]
    dropped = set(gone)
    batch.rows = [row for i, row in enumerate(batch.rows) if i not in dropped]
    # an order row's id with its reject (services counts the rejected rows of orders the shop holds)
    orders = plan.spec.kind == "orders"
    return [Reject(int(row[0]), "customer_id", "", ERASED, _order_id_written(row[1]) if orders else "")
            for row in gone_rows]


def _order_id_written(order_id: str | None) -> str:
    """A staged order's id as its file wrote it (Reject.order_id): empty for an id derived from its content."""
    return "" if order_id is None or _DERIVED_MATCH(order_id) else order_id


def _batch_write_fields(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool, ids: IdCache | None,
                        fields_of: Callable[[int], frozenset] | None, blanks_clear: bool) -> BatchResult:
    absent: dict[int, frozenset] = {}
    for reject in batch.blanked:
        absent[reject.line] = absent.get(reject.line, frozenset()) | {reject.column}
    if fields_of is not None:
        names = frozenset(plan.spec.names)
        for row in batch.rows:
            absent[row[0]] = absent.get(row[0], frozenset()) | (names - fields_of(row[0]))
    if not absent or plan.spec.kind == "events":
        return _batch_write(shop_id=shop_id, plan=plan, batch=batch, create_missing=create_missing, ids=ids,
                            blanks_clear=blanks_clear)
    groups: dict[frozenset, list] = {}
    for row in batch.rows:
        groups.setdefault(absent.get(row[0], frozenset()), []).append(row)
    total = BatchResult()
    # Groups in the order of their last rows: each field then ends with the value of the last row giving it (a
    # group writes its last row per id; a group written later whose rows give that field would hold a later row).
    for missing, rows in sorted(groups.items(), key=lambda group: max(row[0] for row in group[1])):
        # never the id (the first column) nor a required column: every row gives those
        given = replace(plan, indexes=tuple(None if c.name in missing and not c.required and k else i
                                            for k, (c, i) in enumerate(zip(plan.spec.columns, plan.indexes,
                                                                           strict=True))))
        group = Batch(rows=rows)
        group.guests = batch.guests  # (not per group: only whether to look for guest rows)
        result = _batch_write(shop_id=shop_id, plan=given, batch=group, create_missing=create_missing,
                              ids=ids, blanks_clear=blanks_clear)
        total.inserted += result.inserted
        total.updated += result.updated
        total.duplicates += result.duplicates
        total.stubs += result.stubs
        total.stub_customers += result.stub_customers
        total.stub_products += result.stub_products
        total.rejects.extend(result.rejects)
        total.customers_changed.update(result.customers_changed)
        total.guests += result.guests
    return total


def _batch_write(*, shop_id: int, plan: Plan, batch: Batch, create_missing: bool,
                 ids: IdCache | None = None, blanks_clear: bool = False) -> BatchResult:
    result = BatchResult()
    if not batch.good:
        return result
    kind = plan.spec.kind
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")  # a crash loses at most the last batch; re-run it
        if kind == "events":
            _events_write(cursor, shop_id, _event_columns(batch, plan), create_missing,
                          ids if ids is not None else IdCache(), result)
            _customers_changed(shop_id, result)
            return result
        if kind == "customers":
            _stage(cursor, plan, _personal_encrypted(cursor, shop_id, plan, batch.rows),
                   extra=_STAGED_EXTRA["customers"])
        else:
            _stage(cursor, plan, batch.rows)
        if kind == "reviews":
            # Empty: no text, title nor rating. A row that leaves one of them out (an API item naming only what
            # changes) is empty only when it would be a new review; a stored one keeps what it is not given.
            stored = ("" if {"text", "title", "rating"} <= plan.present else
                      " AND NOT EXISTS (SELECT 1 FROM behavior_review t WHERE t.shop_id = %(shop)s"
                      " AND t.external_id = s.review_id)")
            cursor.execute(f"DELETE FROM {STAGE} s WHERE text IS NULL AND title IS NULL AND rating IS NULL{stored} "
                           "RETURNING line", {"shop": shop_id})
            result.rejects.extend(Reject(line, "text", "", EMPTY_REVIEW) for (line,) in cursor.fetchall())
        if kind == "orders" and batch.guests:
            _guest_rows_adopted(cursor, shop_id)
        if kind == "orders" and create_missing:
            # Before the stand-ins: a row refused for another customer's order id leaves no customer behind.
            _order_ids_of_other_customers(cursor, shop_id, result)
        if kind in ("orders", "events", "reviews"):
            _references(cursor, shop_id, result, field="customer_id", table="behavior_customer", label="customer",
                        create=create_missing, orders=kind == "orders", guests=kind == "orders" and bool(batch.guests))
        if kind == "order_lines":  # first: a line of an unknown order must not leave a product stand-in behind
            _references(cursor, shop_id, result, field="order_id", table="behavior_order", label="order",
                        create=False)
        if kind in ("order_lines", "events", "reviews"):
            _references(cursor, shop_id, result, field="product_id", table="catalog_product", label="product",
                        create=create_missing)
        if kind == "products" and "category" in plan.present:
            cursor.execute(f"SELECT DISTINCT category FROM {STAGE} WHERE category IS NOT NULL")
            categories_ensure(shop_id=shop_id, paths={row[0] for row in cursor.fetchall()})
        if kind == "orders" and not create_missing:
            # After the unknown customers' rows are refused as such: an earlier row of an unknown customer does not
            # take an order id from a later row of a known one.
            _order_ids_of_other_customers(cursor, shop_id, result)
        good = len(batch.rows) - len(result.rejects)
        if kind == "orders" and batch.guests:  # the guest checkouts written (stored or unchanged), not refused
            cursor.execute(f"SELECT count(*) FROM {STAGE} WHERE customer_id = %s", [GUEST_CUSTOMER_ID])
            result.guests = cursor.fetchone()[0]
        renamed = _orders_matched(cursor, shop_id, ids) if kind == "orders" else 0
        if kind == "order_lines":
            result.inserted, result.updated = _upsert_lines(cursor, shop_id, plan)
        else:
            before = _orders_dated_on_arrival(cursor, shop_id, plan, ids) if kind == "orders" else 0
            result.inserted, result.updated, changed = _upsert(cursor, shop_id, plan, renamed=renamed,
                                                               before=before, blanks_clear=blanks_clear)
            if kind == "orders":
                result.customers_changed.update(changed)
        result.duplicates = good - result.inserted - result.updated
    _customers_changed(shop_id, result)
    if kind == "reviews" and result.inserted + result.updated:
        reviews_changed.send(sender=BatchResult, shop_id=shop_id)
    return result


# The customer of the stored order of a staged row's id: index probes per row (LATERAL … LIMIT), one table each,
# whatever the statistics say (a shop's statistics are stale right after its first batches; in the tests, whose
# rows are rolled back, they count none). The order and its customer in one probe: the order table was scanned whole
# through its (customer, time) index for each row, the planner's order for a merge join - 3,663 orders took 1.5 s
# beside 400,000 dead rows, growing with them; the customer joined outside (or in a LATERAL without LIMIT, which
# the planner flattens into a join): every customer met every row, 3.6 s. Now 0.16 s.
_STORED_OWNER = """JOIN LATERAL (SELECT o.customer_id FROM behavior_order o
                       WHERE o.shop_id = %(shop)s AND o.external_id = s2.order_id LIMIT 1) stored ON true
        JOIN LATERAL (SELECT c.external_id FROM behavior_customer c WHERE c.id = stored.customer_id
                      LIMIT 1) owner ON true"""


def _guest_rows_adopted(cursor, shop_id: int) -> None:
    """A row naming no customer (the guest, behavior.models.GUEST_CUSTOMER_ID) of an order the shop holds under a
    real customer, or that another row of the batch gives one, is a row of that order - a status history's refund
    row that leaves the customer out - and takes its customer: its status and total apply to the order. Made a
    guest checkout, it was rejected as another customer's order id, yet counted as a guest and told to join the
    customer into the id (a review). An order stored as a guest checkout stays one."""
    cursor.execute(f"""
        UPDATE {STAGE} s SET customer_id = owner.external_id FROM {STAGE} s2
        {_STORED_OWNER}
        WHERE s.line = s2.line AND s2.customer_id = %(guest)s AND owner.external_id <> %(guest)s
          AND s2.order_id !~ %(derived)s""", {"shop": shop_id, "guest": GUEST_CUSTOMER_ID, "derived": _DERIVED})
    cursor.execute(f"""
        UPDATE {STAGE} s SET customer_id = f.customer_id
        FROM (SELECT DISTINCT ON (order_id) order_id, customer_id FROM {STAGE} WHERE customer_id <> %(guest)s
              ORDER BY order_id, line) f
        WHERE s.customer_id = %(guest)s AND f.order_id = s.order_id AND s.order_id !~ %(derived)s
          AND NOT EXISTS (SELECT 1 FROM behavior_order o WHERE o.shop_id = %(shop)s AND o.external_id = s.order_id)""",
        {"shop": shop_id, "guest": GUEST_CUSTOMER_ID, "derived": _DERIVED})


UNIQUE_ORDER_IDS = ("order ids must be unique in the shop (ids counted per customer? join the customer and the "
                    "number into one id, in the orders and in their lines)")

GUEST_ORDER = ("order id stored as a guest checkout (its rows named no customer): an order's customer does not "
               "change by import")


def _order_ids_of_other_customers(cursor, shop_id: int, result: BatchResult) -> None:
    """Reject the rows whose order id is another customer's order: stored so, or given so by an earlier row of the
    batch (the first row's customer keeps it; stored owners are checked first, so a row of the stored owner is
    not refused for an earlier row that is itself refused). Ids counted per customer (1, 2, 3 for each) made an outside
    analyst's 1,887 orders 82, of 5 customers, counted as duplicates without a word: each later row of an id took
    the order whole, its customer too. An order's customer never changes by import. (Derived ids hash the
    customer: never another customer's.)"""
    cursor.execute(f"""
        DELETE FROM {STAGE} s USING (
            SELECT s2.line, owner.external_id AS owner FROM {STAGE} s2
            {_STORED_OWNER}
            WHERE owner.external_id <> s2.customer_id AND s2.order_id !~ %(derived)s) bad
        WHERE s.line = bad.line RETURNING s.line, s.order_id, bad.owner""", {"shop": shop_id, "derived": _DERIVED})
    result.rejects.extend(Reject(line, "order_id", order_id[:200], GUEST_ORDER if owner == GUEST_CUSTOMER_ID else
                                 f"order id stored for customer {owner[:50]}: {UNIQUE_ORDER_IDS}", order_id)
                          for line, order_id, owner in cursor.fetchall())
    cursor.execute(f"""
        DELETE FROM {STAGE} s USING (
            SELECT s2.line, f.customer_id AS owner, f.line AS owner_line FROM {STAGE} s2
            JOIN (SELECT DISTINCT ON (order_id) order_id, customer_id, line FROM {STAGE} ORDER BY order_id, line) f
              ON f.order_id = s2.order_id AND f.customer_id <> s2.customer_id
            WHERE s2.order_id !~ %(derived)s) bad
        WHERE s.line = bad.line RETURNING s.line, s.order_id, bad.owner, bad.owner_line""",
        {"shop": shop_id, "derived": _DERIVED})
    result.rejects.extend(Reject(line, "order_id", order_id[:200], f"order id also given to customer {owner[:50]} on "
                                 f"line {owner_line}: {UNIQUE_ORDER_IDS}", order_id)
                          for line, order_id, owner, owner_line in cursor.fetchall())


# Orders imported without an id of their own are stored under one derived from their content: "auto-" and the MD5
# of customer|placed_at|total, "-k" on the k-th identical row (values.order_derived_id, rows._orders_finisher). The
# same orders imported again from a file read with other columns derive other ids - a total read now and not then,
# or their own order ids given now - and were stored a second time (an outside analyst's 8,642 orders became 17,284,
# then 25,926). So a batch's order that is not stored under its id is matched to a stored order of the same customer
# at the same time when one of the two has a derived id, the other has no id of its own (a stored order given its
# own id keeps it), and their totals agree or one is missing; not one the batch names itself, nor one an earlier
# batch of this import matched. Equal totals pair first (the k-th staged with the k-th stored), then the rest in
# the order they were written (the file's order, the stored orders' order of arrival; those without a total
# first). A staged order without an id of its own then takes the stored order's id (the upsert updates it); one
# given its own id gives it to the stored order. Two orders of a customer at one time whose totals both exist and
# differ stay two orders.
_MATCHED = "orders_matched"  # the IdCache map of the stored orders this import matched (external id → pk)
_BEFORE = "orders_before"  # {"id": the greatest order pk when the import began (0: the shop had none)}: newer ones
# (this import's own) are not matched
# Three temp tables (and two deletions from the second), each analysed so that the next step's plan can count on
# it (a shop's order statistics are stale right after its first import: one statement misjudged 100,000 stored
# orders as one and ran for minutes). The lookups by id and by customer and time are index probes per row
# (LATERAL … LIMIT), whatever the statistics say. (Each staged order's id is probed twice on a batch of a shop
# that has orders: here and by _order_ids_of_other_customers before it; a shared probe is left for later.)
_MATCH_STEPS = (
    # The batch's orders, each by its last row (the one the upsert writes), and the stored order of its id if any.
    """CREATE TEMP TABLE ecomsight_match_staged ON COMMIT DROP AS
    SELECT s.*, found.id AS stored_pk FROM (
        SELECT DISTINCT ON (order_id) order_id, customer_id, placed_at, total, order_id ~ %(derived)s AS derived,
               min(line) OVER (PARTITION BY order_id) AS first_line
        FROM {stage} ORDER BY order_id, line DESC) s
    LEFT JOIN LATERAL (SELECT x.id FROM behavior_order x WHERE x.shop_id = %(shop)s AND x.external_id = s.order_id
                       LIMIT 1) found ON true""",
    # The stored orders of the customers and times of the batch's orders not stored under their ids, older than
    # the import (OFFSET 0 keeps the probe per group: unfenced, it became a scan of every shop's orders) …
    """CREATE TEMP TABLE ecomsight_match_stored ON COMMIT DROP AS
    SELECT t.id, t.external_id, t.derived, t.total, g.customer_id, g.placed_at
    FROM (SELECT DISTINCT customer_id, placed_at FROM ecomsight_match_staged WHERE stored_pk IS NULL) g
    JOIN LATERAL (SELECT c.id FROM behavior_customer c WHERE c.shop_id = %(shop)s AND c.external_id = g.customer_id
                  LIMIT 1) c ON true
    JOIN LATERAL (SELECT o.id, o.external_id, o.external_id ~ %(derived)s AS derived, o.total FROM behavior_order o
                  WHERE o.customer_id = c.id AND o.placed_at = g.placed_at::timestamptz AND o.id <= %(before)s
                  OFFSET 0) t ON true""",
    # … not named by the batch, not matched by an earlier batch of the import.
    """DELETE FROM ecomsight_match_stored t USING ecomsight_match_staged n WHERE n.stored_pk = t.id""",
    """DELETE FROM ecomsight_match_stored t USING unnest(%(taken)s::bigint[]) AS taken(id) WHERE taken.id = t.id""",
    # Equal totals first, then the rest (see above). The k-th of a group meets the k-th by one key, its slot
    # (customer|time[|total]|k: only the customer id may hold a "|", and the fields after it cannot): joined on the
    # columns, the planner merged on customer and time and filtered k, comparing every pair of a customer's orders at
    # one time (a catch-all customer's 20,000 orders on 10 days: 40M pairs, 11 s; 50,000: 28-43 s).
    """CREATE TEMP TABLE ecomsight_import_matches ON COMMIT DROP AS
    WITH staged AS (SELECT * FROM ecomsight_match_staged WHERE stored_pk IS NULL),
    exact AS (
        SELECT u.order_id, t.id AS pk, u.derived, u.total, t.external_id AS stored_id, t.derived AS stored_derived,
               t.total AS stored_total FROM
            (SELECT *, concat_ws('|', customer_id, placed_at, trim_scale(total::numeric), row_number() OVER (
                 PARTITION BY customer_id, placed_at, total::numeric ORDER BY first_line)) AS slot
             FROM staged WHERE total IS NOT NULL) u
        JOIN (SELECT *, concat_ws('|', customer_id, placed_at, trim_scale(total), row_number() OVER (
                  PARTITION BY customer_id, placed_at, total ORDER BY id)) AS slot
              FROM ecomsight_match_stored WHERE total IS NOT NULL) t USING (slot)
        WHERE u.derived <> t.derived
    ),
    rest AS (
        SELECT u.order_id, t.id AS pk, u.derived, u.total, t.external_id AS stored_id, t.derived AS stored_derived,
               t.total AS stored_total FROM
            (SELECT *, concat_ws('|', customer_id, placed_at, row_number() OVER (
                 PARTITION BY customer_id, placed_at ORDER BY first_line)) AS slot
             FROM staged WHERE NOT EXISTS (SELECT 1 FROM exact WHERE exact.order_id = staged.order_id)) u
        JOIN (SELECT *, concat_ws('|', customer_id, placed_at, row_number() OVER (
                  PARTITION BY customer_id, placed_at ORDER BY total IS NOT NULL, id)) AS slot
              FROM ecomsight_match_stored t WHERE NOT EXISTS (SELECT 1 FROM exact WHERE exact.pk = t.id)) t USING (slot)
        WHERE (u.total IS NULL OR t.total IS NULL)
          AND (u.derived <> t.derived OR (u.derived AND t.derived AND (u.total IS NULL) <> (t.total IS NULL)))
    )
    -- the stored order id and total come along (joined to behavior_order again, a misjudged plan hashed every
    -- shop orders: 2.3 s a batch beside 3.8M orders)
    SELECT order_id, pk, stored_id,
           NOT derived OR (stored_derived AND stored_total IS NULL AND total IS NOT NULL) AS rename
    FROM (SELECT * FROM exact UNION ALL SELECT * FROM rest) m""",
)
_MATCHES = "pg_temp.ecomsight_import_matches"
# A derived id exactly (values.order_derived_id, "-k" from rows._orders_finisher): a shop's own ids may begin with
# "auto-" too (renewals), and an order given its own id must keep it.
_DERIVED = r"^auto-[0-9a-f]{32}(-[0-9]+)?$"
_DERIVED_MATCH = re.compile(_DERIVED).match


def _orders_matched(cursor, shop_id: int, ids: IdCache | None) -> int:
    """Match the staged orders to the stored orders they are (see _MATCH_STEPS): a staged order without an id of
    its own takes the stored order's id, or the stored order takes the staged order's id (its own, or one derived
    from a total the stored order lacked). The orders matched are kept in `ids` (the rest of the import does not
    match them again). Returns the orders renamed (the upsert counts them as updated)."""
    if ids is None:  # one batch (the API's): every stored order is from before it
        before, taken = 2**63 - 1, []
    else:
        if not ids.get(_BEFORE):
            # Whether the shop has orders (an index probe), then the newest order of any shop (the primary key's
            # end): a shop's max(id) walked the primary key back past every other shop's newer order (a new shop
            # beside 2.2M orders: 3.2 s). Every order of the shop is older than that one, and none made later is.
            cursor.execute("SELECT CASE WHEN EXISTS (SELECT 1 FROM behavior_order WHERE shop_id = %s)"
                           " THEN (SELECT max(id) FROM behavior_order) ELSE 0 END", [shop_id])
            ids.get(_BEFORE)["id"] = cursor.fetchone()[0]
        before, taken = ids.get(_BEFORE)["id"], list(ids.get(_MATCHED).values())
        if not before:  # the shop's first orders: nothing to match (and nothing to spend on it)
            return 0
    params = {"shop": shop_id, "taken": taken, "before": before, "derived": _DERIVED}
    for sql in _MATCH_STEPS:
        if sql.startswith("CREATE"):
            table = sql.split()[3]
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
            cursor.execute(sql.format(stage=STAGE), params)
            if not cursor.rowcount:
                return 0
            cursor.execute(f"ANALYZE pg_temp.{table}")
        else:
            cursor.execute(sql, params)
    cursor.execute(f"SELECT stored_id, pk FROM {_MATCHES}")
    if ids is not None:
        ids.learn(_MATCHED, dict(cursor.fetchall()))
    cursor.execute(f"UPDATE {STAGE} s SET order_id = m.stored_id FROM {_MATCHES} m "
                   "WHERE NOT m.rename AND s.order_id = m.order_id")
    cursor.execute(f"UPDATE behavior_order t SET external_id = m.order_id FROM {_MATCHES} m "
                   "WHERE m.rename AND t.id = m.pk")
    return cursor.rowcount


def _customers_changed(shop_id: int, result: BatchResult) -> None:
    """Tell the apps above (behavior.signals) whose orders or events this batch stored, in its transaction."""
    if result.customers_changed:
        customers_changed.send(sender=BatchResult, shop_id=shop_id, customer_ids=result.customers_changed)


def _personal_encrypted(cursor, shop_id: int, plan: Plan, rows: list[list]) -> list[list]:
    """The customers' rows as stored, with their email's blind index appended (ecomsight.crypto): COPY bypasses
    the model's field, and plaintext must never reach the table. Tokens have random IVs, so a value equal to
    the stored one (decrypted: one query for the batch's customers) keeps its stored token: the upsert then
    sees no change, and importing the same file again stays a no-op."""
    at = {name: i + 1 for i, name in enumerate(plan.output_columns)}  # + line
    positions = [at["email"], at["name"]]  # the order of `stored`'s values
    stored: dict[str, tuple[str, str]] = {}
    if rows and any(row[i] for row in rows for i in positions):
        cursor.execute("SELECT external_id, email, name FROM behavior_customer WHERE shop_id = %s "
                       "AND external_id = ANY(%s::text[])",
                       [shop_id, pg_array(list({row[at["customer_id"]] for row in rows}))])
        stored = {external_id: (email, name) for external_id, email, name in cursor.fetchall()}
    out = []
    for row in rows:
        row = list(row)
        email = row[at["email"]]
        before = stored.get(row[at["customer_id"]], ("", ""))
        for i, token in zip(positions, before, strict=True):
            if row[i]:
                keep = is_token(token) and personal_decrypt(token) == row[i]
                row[i] = token if keep else personal_encrypt(row[i])
        row.append(email_index(email) if email is not None else None)
        out.append(row)
    return out


def _stage(cursor, plan: Plan, rows: list[list], *, extra: tuple[str, ...] = ()) -> None:
    columns = ", ".join(f"{name} text" for name in plan.output_columns + extra)
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
                create: bool, orders: bool = False, guests: bool = False) -> None:
    """Create stand-ins for unknown customers/products, or reject the rows naming them (`orders`: the staged rows
    are orders, each reject carries its order id; `guests`: the batch read guest checkouts)."""
    if create:
        if table == "behavior_customer":
            # The guest customer (guest checkouts) is no stand-in of a customer a customers file would bring: not
            # counted as one (the import page's "It created N stand-in customers").
            sql = (f"INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, "
                   f"is_stub, created_at) SELECT DISTINCT %(shop)s, {field}, '', '', '', '{{}}'::jsonb, true, now() "
                   f"FROM {STAGE} s WHERE {field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} t "
               f"WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) ON CONFLICT DO NOTHING "
                   f"RETURNING external_id")
        else:
            sql = (f"INSERT INTO catalog_product (shop_id, external_id, title, description, brand, active, "
                   f"is_stub, created_at) SELECT DISTINCT %(shop)s, {field}, '', '', '', true, true, now() "
                   f"FROM {STAGE} s WHERE {field} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} t "
               f"WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) ON CONFLICT DO NOTHING "
                   f"RETURNING external_id")
        cursor.execute(sql, {"shop": shop_id})
        stubs_count(result, table=table, created=[external_id for (external_id,) in cursor.fetchall()
                                                  if external_id != GUEST_CUSTOMER_ID])
        return
    if guests and table == "behavior_customer":
        # The guest customer is the shop's own bucket of guest checkouts, not a customer the rows name: made when a
        # guest checkout needs it even with stand-ins off (`--no-create`, create_missing=false), which refused every
        # guest checkout of a shop without one as "unknown customer guest". One statement for a batch with guest
        # rows (those adopted by a stored order no longer name it), as the stand-ins are made; like the one made with
        # them, no stand-in counted.
        cursor.execute(
            f"INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes, is_stub, "
            f"created_at) SELECT %(shop)s, %(guest)s::text, '', '', '', '{{}}'::jsonb, true, now() "
            f"WHERE EXISTS (SELECT 1 FROM {STAGE} s WHERE s.{field} = %(guest)s::text) ON CONFLICT DO NOTHING",
            {"shop": shop_id, "guest": GUEST_CUSTOMER_ID})
    # an order row's id with its reject (services counts the rejected rows of orders the shop holds)
    order_id = "s.order_id" if orders else "NULL"
    cursor.execute(
        f"DELETE FROM {STAGE} s WHERE s.{field} IS NOT NULL AND NOT EXISTS "
        f"(SELECT 1 FROM {table} t WHERE t.shop_id = %(shop)s AND t.external_id = s.{field}) "
        f"RETURNING s.line, s.{field}, {order_id}",
        {"shop": shop_id},
    )
    result.rejects.extend(Reject(line, field, value, f"unknown {label} {value}", _order_id_written(order))
                          for line, value, order in cursor.fetchall())


# A shop is live when its latest order (this batch's included) was placed at most this many days ago: the anomaly
# check's notion (forecasts.services.alerts.LIVE_DAYS, the week before yesterday).
STATUS_LIVE_DAYS = 8


def _orders_dated_on_arrival(cursor, shop_id: int, plan: Plan, ids: IdCache | None) -> int:
    """The `before` of _MOMENT_ON_CHANGE: the greatest id of the orders stored before the import began (the API's
    batch: every stored order), or 0 - no status change dated on its arrival - when the rows give no status, the
    shop's first import was today, or the shop is not live (STATUS_LIVE_DAYS): a history loaded in two files, the
    orders then their final statuses without dates, is not news of the day it is loaded (its two years of refunds
    fell on that day). One index probe and a scan of the staged batch."""
    if "status" not in plan.present:
        return 0
    # Nor, for a file, on the day the shop's data first came: a live shop loading its history as orders, then their
    # final statuses, the same day would see its history's refunds as one wave of today (a second reader). An API
    # item is news as it comes.
    first_day = ("" if ids is None else " AND (SELECT min(created_at) FROM behavior_importjob WHERE shop_id = %s)"
                 " < date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")
    cursor.execute(f"SELECT greatest((SELECT max(placed_at) FROM behavior_order WHERE shop_id = %s),"
                   f" (SELECT max(placed_at::timestamptz) FROM {STAGE})) >= now() - make_interval(days => %s)"
                   + first_day, [shop_id, STATUS_LIVE_DAYS] + ([] if ids is None else [shop_id]))
    if not cursor.fetchone()[0]:
        return 0
    return 2**63 - 1 if ids is None else ids.get(_BEFORE).get("id", 0)


# An order's status_changed_at on a re-import: the row's moment when its status changes, else the import's time
# (now(): the batch's) for an order stored before the import began, of a live shop (`before`, see
# _orders_dated_on_arrival: a daily export without refund dates brings today's news; an order stored by an earlier
# batch of this import, or a backfill's, is history, and keeps none); a status that
# stays keeps its stored moment, filled in where none was (a later updated_at - a note, a shipment - moves no refund).
_MOMENT_ON_CHANGE = ("CASE WHEN t.status IS DISTINCT FROM EXCLUDED.status THEN COALESCE(EXCLUDED.status_changed_at,"
                     " CASE WHEN t.id <= %(before)s THEN now() END) ELSE {kept} END")
_MOMENT_KEPT = "COALESCE(t.status_changed_at, EXCLUDED.status_changed_at)"


def _upsert(cursor, shop_id: int, plan: Plan, *, renamed: int = 0, before: int = 0,
            blanks_clear: bool = False) -> tuple[int, int, list[int]]:
    """Insert or update the staged rows; returns the rows inserted, updated, and (orders) their customers' ids.
    `renamed`: orders given their own id by `_orders_matched` before, updated even where no other value changed.
    `before`: (orders) the greatest order id when the import began (see _MOMENT_ON_CHANGE).
    `blanks_clear`: a staged empty value clears the stored one (the API's explicit null); else (files) an order's
    empty value keeps it (BLANK_KEEPS)."""
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
    if kind == "reviews" and "order_id" in plan.present:  # the order gives what the file's columns do not
        changed += [c for c in ("customer_id", "product_id") if c not in changed]
    if kind in ("customers", "products"):
        changed.append("is_stub")  # a full row for a stand-in makes it real
    exprs = {}
    if kind == "orders" and ("status" in plan.present or "status_changed_at" in plan.present):
        if "status_changed_at" not in changed:
            changed.append("status_changed_at")
        exprs["status_changed_at"] = (_MOMENT_ON_CHANGE.format(kept=_MOMENT_KEPT) if "status" in plan.present
                                      else _MOMENT_KEPT)
    joins = {
        "customers": "",
        "products": "LEFT JOIN catalog_category g ON g.shop_id = %(shop)s AND g.path = s.category",
        "orders": "JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id",
        "reviews": "LEFT JOIN behavior_customer c ON c.shop_id = %(shop)s AND c.external_id = s.customer_id "
                   "LEFT JOIN catalog_product p ON p.shop_id = %(shop)s AND p.external_id = s.product_id "
                   "LEFT JOIN behavior_order o ON o.shop_id = %(shop)s AND o.external_id = s.order_id "
                   "LEFT JOIN LATERAL (SELECT min(l.product_id) AS product_id FROM behavior_orderline l "
                   "WHERE l.order_id = o.id HAVING count(DISTINCT l.product_id) = 1) ol ON TRUE",
    }[kind]
    merged = _one_row_per_key(plan, key)
    if not blanks_clear and kind in BLANK_KEEPS:
        merged = _blanks_kept(plan, key, merged)
    sql = f"""
        WITH s AS ({merged}),
        w AS (
            INSERT INTO {_TABLES[kind]} AS t ({", ".join(insert_columns)})
            SELECT {", ".join(select)} FROM s {joins}
            ON CONFLICT (shop_id, external_id) {_on_conflict(changed, also=", analyzed_at = NULL" if kind == "reviews"
                                                             else "", exprs=exprs)}
            RETURNING (t.xmax = 0) AS fresh, {"t.customer_id" if kind == "orders" else "NULL::bigint"} AS customer,
                      t.id
        )
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh),
               array_agg(DISTINCT customer) FILTER (WHERE customer IS NOT NULL),
               {f"(SELECT count(*) FROM {_MATCHES} m WHERE m.rename AND NOT EXISTS (SELECT 1 FROM w WHERE w.id = m.pk))"
                if renamed else "0"} FROM w"""
    cursor.execute(sql, {"shop": shop_id, "before": before})
    inserted, updated, customers, renamed_only = cursor.fetchone()
    return inserted, updated + renamed_only, customers or []


def _one_row_per_key(plan: Plan, key: str) -> str:
    """The staged rows, one per id. Customers, products and orders: each field from the id's last row holding it,
    so a later row with empty cells adds to an earlier one rather than erasing it (Shopify writes a product's
    title, vendor and picture on its first row only, then a row per variant with its price; a status history's
    refund row may leave the total out), and a status history ends with its last status. Reviews: the id's last
    row."""
    if plan.spec.kind not in ("customers", "products", "orders"):
        return f"SELECT DISTINCT ON ({key}) * FROM {STAGE} ORDER BY {key}, line DESC"
    extra = _STAGED_EXTRA.get(plan.spec.kind, ())
    fields = [c for c in (*plan.output_columns, *extra) if c != key]
    # An order's status moment is the one of the row giving its status (a placed row's updated_at is no refund's).
    given_with = {"status_changed_at": "status"} if plan.spec.kind == "orders" and "status" in plan.present else {}
    merged = ", ".join(f"(array_agg({c} ORDER BY line DESC) FILTER (WHERE {given_with.get(c, c)} IS NOT NULL))[1]"
                       f" AS {c}" for c in fields)
    return f"SELECT {key}, max(line) AS line, {merged} FROM {STAGE} GROUP BY {key}"


# A file's empty cell says nothing about the field (a Shopify line item's row after the order's first, a status
# history's refund row without its total, a re-import writing `-` or `n/a` in a number column): the stored order
# keeps its value, also when the order's rows fall in two batches of one import. Per field, the stored value (`k`)
# as staged text; an empty status stays the stored one (COALESCE(s.status, 'placed') after it: an explicit "placed"
# still writes placed).
# status_changed_at needs none: _MOMENT_ON_CHANGE keeps the stored moment unless the status changes.
BLANK_KEEPS = {
    "orders": {"total": "k.total::text", "currency": "NULLIF(k.currency, '')", "status": "k.status",
               "item_count": "k.item_count::text", "offer_id": "NULLIF(k.offer_code, '')"},
    # A customers or products file's empty cell the same: a CRM export without the email, a catalogue feed whose
    # variant rows leave the title, keeps the stored one (`-` in a text column is a value: only number columns read
    # it as empty, rows.NUMBER_BLANKS). The email's token and its blind index go together.
    "customers": {"email": "NULLIF(k.email, '')", "email_index": "NULLIF(k.email_index, '')",
                  "name": "NULLIF(k.name, '')", "country": "NULLIF(k.country, '')",
                  "signup_at": "k.signup_at::text", "marketing_consent": "k.marketing_consent::text"},
    "products": {"title": "NULLIF(k.title, '')", "description": "NULLIF(k.description, '')",
                 "category": "(SELECT kg.path FROM catalog_category kg WHERE kg.id = k.category_id)",
                 "brand": "NULLIF(k.brand, '')", "price": "k.price::text", "active": "k.active::text",
                 "url": "NULLIF(k.url, '')", "image_url": "NULLIF(k.image_url, '')",
                 "image_file": "NULLIF(k.image_file, '')"},
}
# Staged columns no file has, per kind, and the file's column each follows (the email's blind index).
_STAGED_EXTRA = {"customers": ("email_index",)}
_STAGED_WITH = {"email_index": "email"}


def _blanks_kept(plan: Plan, key: str, merged: str) -> str:
    """`merged` (one staged row per id) with each empty field the file has a column for taken from the stored row
    of the id, if any (one index probe per id, LATERAL … LIMIT as in _STORED_OWNER: joined, a re-import of 3,663
    orders compared each with every stored order of the shop, 6.7 million pairs, where the statistics counted none)."""
    kept = BLANK_KEEPS[plan.spec.kind]
    extra = _STAGED_EXTRA.get(plan.spec.kind, ())
    fields = [c for c in (*plan.output_columns, *extra) if c != key]
    select = ", ".join(f"COALESCE(m.{c}, {kept[c]}) AS {c}"
                       if c in kept and _STAGED_WITH.get(c, c) in plan.present else f"m.{c}" for c in fields)
    return (f"SELECT m.{key}, m.line, {select} FROM ({merged}) m "
            f"LEFT JOIN LATERAL (SELECT * FROM {_TABLES[plan.spec.kind]} k WHERE k.shop_id = %(shop)s "
            f"AND k.external_id = m.{key} LIMIT 1) k ON true")


def _on_conflict(changed: list[str], *, also: str = "", exprs: dict[str, str] | None = None) -> str:
    """Update the changed columns of a stored row (`exprs`: a column's value other than the row's, in SQL over `t`
    and EXCLUDED); with no column to update (an API item naming its id alone), leave it as it is."""
    if not changed:
        return "DO NOTHING"
    value = {c: (exprs or {}).get(c, f"EXCLUDED.{c}") for c in changed}
    return (f"DO UPDATE SET {', '.join(f'{c} = {value[c]}' for c in changed)}{also}"
            f" WHERE {' OR '.join(f't.{c} IS DISTINCT FROM {value[c]}' for c in changed)}")


MAX_QUANTITY = 2**31 - 1  # behavior_orderline.quantity is an integer: rows adding up past it are capped


def _upsert_lines(cursor, shop_id: int, plan: Plan) -> tuple[int, int]:
    """Rows of one product in one order add up (Olist writes a row per unit, UCI Online Retail the same product
    twice on an invoice, at different prices): their quantities are summed (a row without one counts 1), the
    price is their quantity-weighted mean (to the cent; the last row's where some rows have none), and the line
    stored replaced, so the same file imported again stores the same line. The extra rows count as duplicates."""
    values = _VALUES["order_lines"]
    columns = [v[0] for v in values]
    # The quantity is the rows' sum even without a quantity column (a row per unit): always written.
    changed = ["quantity", *(v[0] for v in values if v[2] in plan.present and v[0] != "quantity")]
    sql = f"""
        WITH s AS (SELECT order_id, product_id,
                          LEAST(sum(COALESCE(quantity::bigint, 1)), {MAX_QUANTITY})::text AS quantity,
                          COALESCE(CASE WHEN count(unit_price) = count(*) THEN
                                       round(sum(COALESCE(quantity::bigint, 1) * unit_price::numeric)
                                             / NULLIF(sum(COALESCE(quantity::bigint, 1)), 0), 2)::text END,
                                   (array_agg(unit_price ORDER BY line DESC))[1]) AS unit_price
                   FROM {STAGE} GROUP BY order_id, product_id),
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


def order_totals_from_lines(*, shop_id: int) -> int:
    """The shop's orders stored without a total get their lines' worth (quantity × unit price), when every line of
    the order has a price: files that price lines only (UCI Online Retail, Olist) then give orders a total for the
    models' spend and the forecasts' revenue. Run once an order-lines file is imported (its orders' lines may span
    batches); a total the shop gave is never replaced. Returns the orders given a total."""
    with connection.cursor() as cursor:
        cursor.execute("""
            UPDATE behavior_order o SET total = x.worth
            FROM (SELECT l.order_id, sum(l.quantity * l.unit_price) AS worth FROM behavior_orderline l
                  JOIN behavior_order t ON t.id = l.order_id AND t.shop_id = %(shop)s AND t.total IS NULL
                  GROUP BY l.order_id HAVING count(l.unit_price) = count(*)) x
            WHERE o.id = x.order_id AND o.total IS NULL""", {"shop": shop_id})
        return cursor.rowcount


# --- events: the biggest table, written by the fastest path ------------------------------------------

EVENT_COLUMNS = ("shop_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties",
                 "idempotency_key")
EVENT_STAGE = "ecomsight_event_stage"
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
        stubs_count(result, table=table, created=list(created))
        found.update(created)
        if len(created) < len(new):  # another import created some of them meanwhile
            cursor.execute(f"SELECT external_id, id FROM {table} WHERE shop_id = %s AND external_id = ANY(%s::text[])",
                           [shop_id, pg_array([key for key in new if key not in created])])
            found.update(cursor.fetchall())
    ids.learn(table, found)
    resolved.update(found)
    return resolved


def customer_references(*, rows: list[list], index: int, shop_id: int, result: BatchResult, create: bool,
                        ids: IdCache) -> tuple[list[list], dict[str, int]]:
    """For writers of other apps' kinds (offer assignments): map column `index`'s customer ids to ids as orders
    and events do — stand-ins for unknown customers, or with `create=False` the rows naming them rejected.
    Returns the rows kept and external id → id."""
    with connection.cursor() as cursor:
        known = _ids_resolve(cursor, shop_id, ids, "behavior_customer",
                             {row[index] for row in rows if row[index] is not None}, create=create, result=result)
    kept = []
    for row in rows:
        value = row[index]
        if value is not None and value not in known:
            result.rejects.append(Reject(row[0], "customer_id", value, f"unknown customer {value}"))
        else:
            kept.append(row)
    return kept, known


# Keys asked about per query: the array literal of a whole batch's keys, and its encoded copy, were ~15 MB.
STORED_KEYS_PER_QUERY = 25_000


def events_stored(cursor, *, shop_id: int, keys: list[str], moments: list[str]) -> set[str]:
    """Which of these events the shop already has, as `event_ids` (idempotency key + `occurred_at`, canonical UTC
    ISO text). An event is the same event when both match: behavior_event is partitioned by month and its unique
    key is (shop, idempotency key, occurred_at) (behavior.partitions).

    One query per month of the events and STORED_KEYS_PER_QUERY keys: its time bounds confine it to that
    month's partition (one index probe per key, as before partitioning). PostgreSQL writes the time as
    `datetime.isoformat()` does (microseconds only when there are some), so no row is parsed in Python."""
    by_month: dict[str, list[int]] = {}
    for i, moment in enumerate(moments):
        by_month.setdefault(moment[:7], []).append(i)
    found: set[str] = set()
    for prefix, positions in by_month.items():
        start, end = month_bounds(date(int(prefix[:4]), int(prefix[5:7]), 1))
        month_keys = [keys[i] for i in positions]
        for first in range(0, len(month_keys), STORED_KEYS_PER_QUERY):
            cursor.execute(f"SELECT replace(idempotency_key::text, '-', '') || {_ISO_SQL} FROM behavior_event "
                           "WHERE shop_id = %s AND occurred_at >= %s AND occurred_at < %s "
                           "AND idempotency_key = ANY(%s::uuid[])",
                           [shop_id, start, end,
                            pg_array(month_keys[first:first + STORED_KEYS_PER_QUERY], quoted=False)])
            found.update(row[0] for row in cursor.fetchall())
    if not found:
        return found
    return found.intersection(map(str.__add__, keys, moments))  # the same key at another time is another event


# occurred_at as `datetime.isoformat()` writes a UTC moment (2024-01-05T10:00:00+00:00, …T10:00:00.250000+00:00).
_ISO_SQL = ("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
            "|| CASE WHEN mod(date_part('microseconds', occurred_at)::bigint, 1000000) = 0 THEN '' "
            "ELSE to_char(occurred_at AT TIME ZONE 'UTC', '.US') END || '+00:00'")


def event_ids(keys: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """Each event's identity as one string: its idempotency key (32 hex digits) then its canonical time."""
    return keys + moments


# Keys probed first: when none of them is stored, the batch is taken for new and COPYed without probing the rest.
PROBE_SAMPLE = 1_000


def _events_stored_if_any(cursor, shop_id: int, keys: np.ndarray, moments: np.ndarray) -> set[str]:
    """The batch's events the shop already has (`event_ids`) — asked for every event only when a sample of them
    finds one.

    A first import (or new events) then skips one index probe per row (a sixth of the import's time,
    bench/ingest.py). Should an event be stored after all (a file overlapping an earlier one in a few rows), the
    COPY meets the unique index and the staged INSERT … ON CONFLICT DO NOTHING writes the batch instead: the
    same rows, a little slower. A re-import finds stored events in its sample and probes them all, as before."""
    step = max(1, len(keys) // PROBE_SAMPLE)
    if not events_stored(cursor, shop_id=shop_id, keys=keys[::step].tolist(), moments=moments[::step].tolist()):
        return set()
    return events_stored(cursor, shop_id=shop_id, keys=keys.tolist(), moments=moments.tolist())


def _event_columns(batch: Batch, plan: Plan) -> dict[str, np.ndarray]:
    """The batch as columns ({"line": int array, field: object array}): the file parser gives event batches
    in columns already; the API's row batches ([line, *plan.output_columns]) are turned into them here, so
    that events have one writer."""
    if batch.columns is not None:
        return batch.columns
    names = ("line", *plan.output_columns)
    values = list(zip(*batch.rows, strict=True))
    columns = {name: np.array(column, dtype=object) for name, column in zip(names, values, strict=True)}
    columns["line"] = columns["line"].astype(np.int64)
    return columns


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(values: np.ndarray, *, null: str = "\\N") -> list[str]:
    """A column of str/None as COPY text fields: None as `null`, backslash, tab and line breaks escaped.

    Escapes only when the column has one of those characters (one scan of the joined column)."""
    values = values.tolist()
    joined = "".join(filter(None, values))
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        return [null if value is None else value.translate(_COPY_ESCAPES) for value in values]
    return [null if value is None else value for value in values]


def _events_write(cursor, shop_id: int, columns: dict[str, np.ndarray], create: bool, ids: IdCache,
                   result: BatchResult) -> None:
    """Map ids (cached), drop keys already stored, COPY the rest straight into behavior_event: array
    operations per batch instead of Python per row, and the COPY text built by joins (COPY's text format)."""
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
    moments = columns["occurred_at"][good]
    # The batch's months get their partitions before anything reads or writes behavior_event (behavior.partitions).
    if len(good):
        event_months_ensure(months=months_of_iso(moments.tolist()), cursor=cursor)
    stored = _events_stored_if_any(cursor, shop_id, keys, moments) if len(good) else set()
    # An event is (key, occurred_at): the first of repeated events is the one kept; stored ones are skipped.
    identities = pd.Series(event_ids(keys, moments))
    fresh = ~identities.duplicated(keep="first").to_numpy()
    if stored:
        fresh &= ~identities.isin(stored).to_numpy()
    chosen = good[fresh]
    result.customers_changed.update(np.unique(customer_ids[chosen]).tolist())
    result.inserted = len(chosen)
    result.duplicates = n - len(rejects) - len(chosen)
    if not len(chosen):
        return
    # By month, then idempotency key: COPY routes each month's rows to its partition in one run, and that
    # partition's unique (shop, key, occurred_at) index takes MD5-random keys, which sorted sweep its leaf pages
    # once instead of jumping around (measured before partitioning: 1M rows, 5 indexes, 36 s → 20 s). The first 16
    # hex digits of the MD5 sort as well as all 32, and as fixed-width bytes they sort as fast as integers
    # (objects: ~50x slower).
    prefixes = columns["idempotency_key"][chosen].astype("S16")  # fixed-width bytes: no object per key
    months = columns["occurred_at"][chosen].astype("S7")  # YYYY-MM of the canonical UTC text
    chosen = chosen[np.lexsort((prefixes, months))]
    text = _event_copy_text(shop_id, customer_ids[chosen], product_ids[chosen],
                            {name: columns[name][chosen] for name in _EVENT_TEXT_COLUMNS})
    names = ", ".join(EVENT_COLUMNS)
    try:
        # COPY straight into the table (multi-row heap inserts, no staging). Only a concurrent import of the same
        # events can make a key collide now; then the savepoint undoes the COPY and a staged INSERT … ON CONFLICT
        # DO NOTHING runs instead.
        with transaction.atomic():
            _copy_chunks(cursor, f"COPY behavior_event ({names}) FROM STDIN", text)
    except (IntegrityError, psycopg.errors.UniqueViolation):
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{EVENT_STAGE}")
        cursor.execute(f"CREATE TEMP TABLE {EVENT_STAGE} ON COMMIT DROP AS "
                       f"SELECT {names} FROM behavior_event WITH NO DATA")
        _copy_chunks(cursor, f"COPY pg_temp.{EVENT_STAGE} FROM STDIN", text)
        cursor.execute(f"INSERT INTO behavior_event ({names}) SELECT {names} FROM pg_temp.{EVENT_STAGE} "
                       "ON CONFLICT (shop_id, idempotency_key, occurred_at) DO NOTHING")
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
