"""The bulk SQL helpers: what every feature build and bulk write relies on."""

import datetime as dt

import pandas as pd
import pytest
from django.db import connection

from behavior.models import Customer, Event, Order
from ecomsight.db import bulk_insert, bulk_insert_frame, epoch_sql, read_frame


@pytest.mark.django_db
def test_read_frame_returns_utc_times_and_nulls_not_strings(shop):
    customer = Customer.objects.create(shop=shop, external_id="C1")
    placed = dt.datetime(2024, 3, 1, 14, 5, tzinfo=dt.UTC)
    Order.objects.create(shop=shop, external_id="O1", customer=customer, placed_at=placed, total=None)
    frame = read_frame(
        f"SELECT customer_id, {epoch_sql('placed_at')}, total FROM behavior_order WHERE shop_id = %s",
        [shop.id], columns=["customer_id", "placed_at", "total"], epoch_columns=["placed_at"],
        dtypes={"total": "float64"},
    )
    assert frame["placed_at"].iloc[0] == pd.Timestamp(placed)
    assert pd.isna(frame["total"].iloc[0])
    assert frame["customer_id"].iloc[0] == customer.id


@pytest.mark.django_db
def test_read_frame_with_no_rows_has_the_columns(shop):
    frame = read_frame("SELECT id, external_id FROM behavior_customer WHERE shop_id = %s", [shop.id],
                       columns=["customer_id", "external_id"])
    assert list(frame.columns) == ["customer_id", "external_id"]
    assert len(frame) == 0


@pytest.mark.django_db
def test_bulk_insert_writes_every_row_with_nulls_and_text_that_needs_quoting(shop):
    customer = Customer.objects.create(shop=shop, external_id="C1")
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    rows = [
        (shop.id, customer.id, "view", when, 'say "hi", then leave', f"00000000-0000-0000-0000-{i:012d}")
        for i in range(3)
    ] + [(shop.id, customer.id, "login", when, "", "00000000-0000-0000-0000-000000000099", None)]
    rows[0] = rows[0] + ('{"q": "x"}',)
    rows[1:3] = [r + (float("nan"),) for r in rows[1:3]]
    count = bulk_insert("behavior_event", ["shop_id", "customer_id", "type", "occurred_at", "session_id",
                                           "idempotency_key", "properties"], rows)
    assert count == 4
    assert Event.objects.filter(shop=shop).count() == 4
    assert Event.objects.get(type="login").session_id == ""
    assert Event.objects.filter(properties__isnull=True).count() == 3
    assert Event.objects.filter(properties__q="x").count() == 1
    assert Event.objects.filter(session_id='say "hi", then leave').count() == 3
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_bulk_insert_frame_writes_nan_as_null_and_keeps_empty_strings(shop):
    customer = Customer.objects.create(shop=shop, external_id="C1")
    when = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame({
        "shop_id": [shop.id] * 3, "customer_id": [customer.id] * 3, "type": ["view", "login", "view"],
        "occurred_at": [when] * 3, "session_id": ["", "s,1", 'q"x'],
        "idempotency_key": [f"00000000-0000-0000-0000-{i:012d}" for i in range(3)],
        "product_id": [float("nan")] * 3,
    })
    assert bulk_insert_frame("behavior_event", frame) == 3
    assert sorted(Event.objects.values_list("session_id", flat=True)) == ["", 'q"x', "s,1"]
    assert Event.objects.filter(product__isnull=True).count() == 3


@pytest.mark.django_db
def test_bulk_insert_frame_keeps_times_to_the_microsecond_and_writes_categories_as_their_words(shop):
    customer = Customer.objects.create(shop=shop, external_id="C1")
    when = pd.Timestamp("2024-01-01 10:00:00.123456", tz="UTC").as_unit("ns")  # nanoseconds, as pandas holds them
    frame = pd.DataFrame({
        "shop_id": [shop.id] * 2, "customer_id": [customer.id] * 2,
        "type": pd.Categorical(["view", "add_to_cart"]), "occurred_at": [when, when.tz_convert("Europe/Paris")],
        "session_id": pd.Categorical(["s1", ""]),
        "idempotency_key": [f"00000000-0000-0000-0000-{i:012d}" for i in range(2)],
    })
    bulk_insert_frame("behavior_event", frame)
    rows = sorted(Event.objects.values_list("type", "session_id", "occurred_at"))
    assert rows == [("add_to_cart", "", when.to_pydatetime()), ("view", "s1", when.to_pydatetime())]


@pytest.mark.django_db
@pytest.mark.parametrize("writer", ["rows", "frame"])
def test_bulk_writes_keep_line_breaks_and_carriage_returns_inside_values(shop, writer):
    customer = Customer.objects.create(shop=shop, external_id="C1")
    when = pd.Timestamp("2024-01-01", tz="UTC")
    values = ["a\rb", "c\nd", "e\r\nf"]
    columns = ["shop_id", "customer_id", "type", "occurred_at", "session_id", "idempotency_key"]
    rows = [(shop.id, customer.id, "view", when, v, f"00000000-0000-0000-0000-{i:012d}")
            for i, v in enumerate(values)]
    if writer == "rows":
        bulk_insert("behavior_event", columns, rows)
    else:
        bulk_insert_frame("behavior_event", pd.DataFrame(rows, columns=columns))
    assert sorted(Event.objects.values_list("session_id", flat=True)) == sorted(values)


@pytest.mark.django_db
def test_big_queries_are_not_kept_alive_after_they_ran():
    # Django binds client-side, so a query's text holds its values: an import's `= ANY(<150,000 keys>)` is
    # megabytes. Nothing may keep those texts once they ran (psycopg counts queries by text when
    # preparing is on), or every batch of an import leaves megabytes behind (drill 16).
    import gc
    import tracemalloc

    keys = [f"K{i:09d}" for i in range(50_000)]  # ~0.6 MB of query text per statement
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20):
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM behavior_customer WHERE external_id = ANY(%s) AND %s > 0",
                               [keys, i])
                assert cursor.fetchone() == (0,)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MB still held after 20 big queries"
