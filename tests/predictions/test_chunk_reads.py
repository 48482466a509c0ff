"""A customer range's history is read from covering indexes (issue 23, migration 0016).

Scoring chunks and recommendation partitions read a range of customers. Events and orders lie in their tables in
the order they arrived, so reading a range's rows from the table touched nearly every page of it, whatever the
range's size: each chunk of a 1,000,000-customer shop read the whole events table. The (customer, time) indexes
of events and orders carry every column these reads take, so PostgreSQL can answer them from the index alone,
where a range's entries lie together. These tests keep it so: a column added to one of the reads, or removed from
an index, fails them.

The tests compare the columns PostgreSQL's plan of each read takes from the table (EXPLAIN VERBOSE) with the
columns the index holds, rather than the plan's scan kind: on a test's few rows, with no visibility map, the
planner rightly prefers other scans, and what matters is that an index-only scan is possible at all."""

import datetime as dt
import json
import re

import pytest
from django.db import connection

from behavior.partitions import event_months_ensure
from ecomsight import db as ecomsight_db
from predictions.selectors import frames as prediction_frames
from recommendations import selectors as recommendation_selectors
from tests.behavior.factories import CustomerFactory, EventFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

MONTHS = [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]


@pytest.fixture
def history(shop):
    event_months_ensure(months=MONTHS)
    customers = CustomerFactory.create_batch(3, shop=shop)
    for customer in customers:
        for month in MONTHS:
            moment = dt.datetime(month.year, month.month, 3, tzinfo=dt.UTC)
            line = OrderLineFactory(order__customer=customer, order__placed_at=moment, shop=shop)
            EventFactory(customer=customer, occurred_at=moment, product=line.product)
    return customers


def _reads(monkeypatch, module, call) -> list[tuple[str, list]]:
    """The SQL and parameters of every `read_frame` that `call` makes through `module` (run for real)."""
    seen: list[tuple[str, list]] = []

    def recording(sql, params, **kwargs):
        seen.append((sql, list(params)))
        return ecomsight_db.read_frame(sql, params, **kwargs)

    monkeypatch.setattr(module, "read_frame", recording)
    call()
    return seen


def _columns_read(sql: str, params: list, table: str) -> set[str]:
    """The columns of `table` (or of its partitions) that PostgreSQL's plan of the read takes: the table's column
    names found in what its scan nodes output and test (EXPLAIN VERBOSE)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                       " AND NOT attisdropped", [table])
        names = {row[0] for row in cursor.fetchall()}
        cursor.execute("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    columns: set[str] = set()

    def walk(node: dict) -> None:
        relation = node.get("Relation Name", "")
        if relation == table or relation.startswith(f"{table}_p") or relation == f"{table}_default":
            texts = list(node.get("Output", [])) + [node.get(key, "") for key in
                                                    ("Filter", "Index Cond", "Recheck Cond")]
            columns.update(names.intersection(re.findall(r"\w+", " ".join(texts))))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return columns


def _index_columns(index: str) -> set[str]:
    """The columns an index holds: its keys and what it INCLUDEs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                       " AND a.attnum = ANY(i.indkey) WHERE i.indexrelid = %s::regclass", [index])
        return {row[0] for row in cursor.fetchall()}


def test_a_scoring_chunk_reads_its_customers_events_and_orders_from_the_indexes_alone(monkeypatch, shop, history):
    first, last = history[0].pk, history[1].pk
    reads = _reads(monkeypatch, prediction_frames, lambda: prediction_frames.shop_frames(
        shop_id=shop.pk, until=dt.datetime(2024, 3, 1, tzinfo=dt.UTC), customer_range=(first, last)))
    events = [(sql, params) for sql, params in reads if "FROM behavior_event" in sql]
    orders = [(sql, params) for sql, params in reads if sql.lstrip().startswith("SELECT id, customer_id")
              and "FROM behavior_order " in sql]
    assert len(events) == 1 and len(orders) == 1

    read = _columns_read(*events[0], "behavior_event")
    assert {"customer_id", "occurred_at", "type", "product_id", "shop_id"} <= read
    assert read <= _index_columns("event_customer_time"), read - _index_columns("event_customer_time")
    read = _columns_read(*orders[0], "behavior_order")
    assert {"id", "customer_id", "placed_at", "status", "shop_id"} <= read
    assert read <= _index_columns("order_customer_time"), read - _index_columns("order_customer_time")


def test_a_recommendation_partition_reads_its_customers_events_from_the_index_alone(monkeypatch, shop, history):
    first, last = history[0].pk, history[1].pk
    reads = _reads(monkeypatch, recommendation_selectors, lambda: recommendation_selectors.recommender_frames(
        shop_id=shop.pk, customer_range=(first, last)))
    events = [(sql, params) for sql, params in reads if "FROM behavior_event" in sql]
    assert len(events) == 1
    read = _columns_read(*events[0], "behavior_event")
    assert {"customer_id", "occurred_at", "type", "product_id", "shop_id"} <= read
    assert read <= _index_columns("event_customer_time"), read - _index_columns("event_customer_time")


def test_a_range_or_list_of_customers_gets_exactly_its_own_order_lines(shop, history):
    # the lines are found by the ids of the range's orders (lines_by_order_ids_sql): the same rows as the join
    first, second, third = (customer.pk for customer in history)
    chunk = prediction_frames.shop_frames(shop_id=shop.pk, until=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
                                          customer_range=(first, second))
    assert sorted(chunk.order_lines["customer_id"]) == [first, second]  # January's line of each, not February's
    listed = prediction_frames.shop_frames(shop_id=shop.pk, customer_ids=[third])
    assert sorted(listed.order_lines["customer_id"]) == [third, third]
    partition = recommendation_selectors.recommender_frames(shop_id=shop.pk, customer_range=(second, third))
    bought = partition.interactions[partition.interactions["kind"].astype(str) == "purchase"]
    assert sorted(bought["customer_id"]) == [second, second, third, third]
