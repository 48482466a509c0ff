"""A customer range's history is read from covering indexes (issue 23, migration 0016).

Scoring chunks and recommendation partitions read a range of customers. Events and orders lie in their tables in
the order they arrived, so reading a range's rows from the table touched nearly every page of it, whatever the
range's size: each chunk of a 1,000,000-customer shop read the whole events table. The (customer, time) indexes
of events and orders carry every column these reads take, so PostgreSQL can answer them from the index alone,
where a range's entries lie together. These tests keep it so: a column added to one of the reads, or removed from
an index, fails them.

The plans are asked for with the other scan kinds off: on a test's few rows the planner would rightly prefer a
sequential scan, and what matters here is that an index-only path exists at all."""

import datetime as dt

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


def _plan(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        for kind in ("seqscan", "bitmapscan", "indexscan"):
            cursor.execute(f"SET LOCAL enable_{kind} = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        for kind in ("seqscan", "bitmapscan", "indexscan"):
            cursor.execute(f"RESET enable_{kind}")
    return plan


def _table_scans(plan: str, table: str) -> list[str]:
    """The plan's lines that scan `table`: the table itself, or the months' partitions of the events (those that
    hold the rows; for a partition that has never held a row PostgreSQL plans a sequential scan whatever the
    settings, which costs nothing)."""
    names = [f" on {table}_p{month:%Y_%m} " for month in MONTHS] if table == "behavior_event" else [f" on {table} "]
    return [line.strip() for line in plan.splitlines() if "Scan" in line and any(name in line for name in names)]


def test_a_scoring_chunk_reads_its_customers_events_and_orders_from_the_indexes_alone(monkeypatch, shop, history):
    first, last = history[0].pk, history[1].pk
    reads = _reads(monkeypatch, prediction_frames, lambda: prediction_frames.shop_frames(
        shop_id=shop.pk, until=dt.datetime(2024, 3, 1, tzinfo=dt.UTC), customer_range=(first, last)))
    events = [(sql, params) for sql, params in reads if "FROM behavior_event" in sql]
    orders = [(sql, params) for sql, params in reads if "FROM behavior_order " in sql]
    assert len(events) == 1 and len(orders) == 1

    scans = _table_scans(_plan(*events[0]), "behavior_event")
    assert len(scans) == len(MONTHS) and all("Index Only Scan using" in scan and "customer_id_occurred_at" in scan
                         for scan in scans), scans
    scans = _table_scans(_plan(*orders[0]), "behavior_order")
    assert scans and all("Index Only Scan using order_customer_time" in scan for scan in scans), scans


def test_a_recommendation_partition_reads_its_customers_events_from_the_index_alone(monkeypatch, shop, history):
    first, last = history[0].pk, history[1].pk
    reads = _reads(monkeypatch, recommendation_selectors, lambda: recommendation_selectors.recommender_frames(
        shop_id=shop.pk, customer_range=(first, last)))
    events = [(sql, params) for sql, params in reads if "FROM behavior_event" in sql]
    assert len(events) == 1
    scans = _table_scans(_plan(*events[0]), "behavior_event")
    assert len(scans) == len(MONTHS) and all("Index Only Scan using" in scan and "customer_id_occurred_at" in scan
                         for scan in scans), scans
