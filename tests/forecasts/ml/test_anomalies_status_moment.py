"""forecasts.ml.anomalies: refunds and cancellations are counted on the day their status changed (the orders'
`status_changed_at`), not on the day the order was placed - a refund wave alerts on the day it happens."""

import numpy as np
import pandas as pd
import pytest

from forecasts.ml.anomalies import daily_metrics_frame, detect

WAVE = pd.Timestamp("2024-06-14")


def _orders(*, days=200, rate=30.0, seed=0, status="refunded", share=0.2):
    """Poisson daily orders; `share` of them turn `status` 5-40 days after they were placed (the moment given)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    counts = rng.poisson(rate * np.where(dates.day_of_week >= 5, 1.3, 1.0))
    placed = pd.to_datetime(np.repeat(dates.values, counts), utc=True) + pd.to_timedelta(
        rng.integers(8 * 3600, 20 * 3600, counts.sum()), unit="s")
    n = len(placed)
    turned = rng.random(n) < share
    changed = pd.Series(placed + pd.to_timedelta(rng.integers(5, 41, n), unit="D")).where(turned)
    orders = pd.DataFrame({"order_id": np.arange(n), "customer_id": rng.integers(0, 3000, n), "placed_at": placed,
                           "total": rng.gamma(2.0, 20.0, n), "item_count": 1.0,
                           "status": np.where(turned, status, "placed"), "status_changed_at": changed})
    # A status that changes after the data's end is not known yet (an export of the day the data end).
    unknown = orders["status_changed_at"] > placed.max()
    orders.loc[unknown, ["status", "status_changed_at"]] = ["placed", pd.NaT]
    return orders


def _wave(orders, *, status, size=150, seed=1):
    """`size` more orders, placed in the five weeks before WAVE, all turn `status` on WAVE."""
    rng = np.random.default_rng(seed)
    placed_day = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    pool = orders.index[((placed_day >= WAVE - pd.Timedelta(days=40)) & (placed_day < WAVE - pd.Timedelta(days=5))
                         & (orders["status"] == "placed")).to_numpy()]
    hit = rng.choice(pool, size=size, replace=False)
    orders = orders.copy()
    orders.loc[hit, "status"] = status
    orders.loc[hit, "status_changed_at"] = pd.Timestamp(WAVE, tz="UTC") + pd.Timedelta(hours=12)
    return orders


@pytest.mark.parametrize(("status", "metric"), [("refunded", "refunds"), ("cancelled", "cancellations")])
def test_a_wave_of_refunds_of_older_orders_alerts_on_the_day_they_were_issued(status, metric):
    """The outside analyst's shop: 150 refunds issued on one day for orders of the five weeks before were counted
    on those orders' days (about 4 more a day for a month: nothing flagged) - the wave was invisible."""
    orders = _orders(status=status)
    rate = "refund_rate" if status == "refunded" else "cancel_rate"
    clean = detect(daily_metrics_frame(orders=orders), start=WAVE - pd.Timedelta(days=60))
    assert not [a for a in clean if a.metric in (metric, rate)]
    alerts = detect(daily_metrics_frame(orders=_wave(orders, status=status)), start=WAVE - pd.Timedelta(days=60))
    up = [a for a in alerts if a.metric == metric and a.direction == "up" and a.segment == "shop"]
    assert [a.date for a in up] == [WAVE]
    assert up[0].actual >= 150
    assert any(a.metric == rate and a.date == WAVE and a.direction == "up" for a in alerts)
    # The days whose orders were refunded are not flagged.
    assert {a.date for a in alerts if a.metric in (metric, rate)} == {WAVE}


def test_refunds_dated_by_their_moment_are_rated_against_a_usual_day_of_orders_not_that_days_orders():
    """A refund issued today is of an order of the weeks before: a day of few orders (a fifth of the usual) would
    make today's refunds a share three times as high of today's orders - a "refund_rate up" for an orders drop."""
    orders = _orders(rate=80.0, seed=3)
    placed_day = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    quiet = pd.Timestamp("2024-06-12")
    rng = np.random.default_rng(4)
    drop = (placed_day == quiet).to_numpy() & (rng.random(len(orders)) < 0.8)
    orders = orders[~drop]
    alerts = detect(daily_metrics_frame(orders=orders), start=quiet - pd.Timedelta(days=30))
    assert any(a.metric == "orders" and a.date == quiet and a.direction == "down" for a in alerts)
    assert not [a for a in alerts if a.metric in ("refund_rate", "refunds")]


def test_an_order_refunded_without_a_moment_or_with_one_before_it_was_placed_counts_on_its_own_day():
    orders = pd.DataFrame({
        "order_id": [1, 2, 3, 4], "customer_id": [1, 2, 3, 4], "total": 10.0, "item_count": 1.0,
        "placed_at": pd.to_datetime(["2024-03-01T10:00", "2024-03-01T11:00", "2024-03-02T09:00", "2024-03-02T10:00"],
                                    utc=True),
        "status": ["refunded", "refunded", "refunded", "placed"],
        "status_changed_at": pd.to_datetime([None, "2024-02-27T10:00", "2024-03-04T09:00", None], utc=True)})
    m = daily_metrics_frame(orders=orders, until=pd.Timestamp("2024-03-05"))
    refunds = m[(m["metric"] == "refunds") & (m["segment"] == "shop")].set_index("day")["value"]
    assert refunds.to_dict() == {pd.Timestamp("2024-03-01"): 2.0, pd.Timestamp("2024-03-02"): 0.0,
                                 pd.Timestamp("2024-03-03"): 0.0, pd.Timestamp("2024-03-04"): 1.0,
                                 pd.Timestamp("2024-03-05"): 0.0}
    # Revenue stays on the order's day, refunded orders left out as before.
    revenue = m[(m["metric"] == "revenue") & (m["segment"] == "shop")].set_index("day")["value"]
    assert revenue[pd.Timestamp("2024-03-02")] == 10.0 and revenue[pd.Timestamp("2024-03-01")] == 0.0


def test_a_wave_many_times_a_usual_days_orders_does_not_make_the_weeks_after_it_a_drop():
    """The analyst's shop: 154 refunds against 8 orders a day raised the expected refund_rate from 0.32 to 0.93 for
    the four weeks after the wave, and each ordinary week was "refund_rate down"."""
    from forecasts.ml.anomalies import pooled_share

    volume = np.full(60, 8.0)
    shares = np.full(60, 0.3)
    shares[40] = 154 / 8
    expected = pooled_share(shares, volume)
    assert abs(expected[39] - 0.3) < 0.01
    assert expected[41:60].max() < 0.33  # the wave's day counts as a share of 1 at most


def test_refunds_issued_after_the_last_orders_day_count_on_their_days_while_the_order_monitors_end_with_the_orders():
    """Statuses updated after the orders came (a re-import, the API): a wave of 150 refunds issued three days after
    the last order's day was dropped - the monitors' days ended with the orders - and nothing was flagged."""
    orders = _orders()  # 2024-01-01 .. 2024-07-18
    last = orders["placed_at"].max().tz_convert(None).normalize()
    wave_day = last + pd.Timedelta(days=3)
    placed_day = orders["placed_at"].dt.tz_convert(None).dt.normalize()
    pool = orders.index[((placed_day >= last - pd.Timedelta(days=30)) & (orders["status"] == "placed")).to_numpy()]
    hit = np.random.default_rng(5).choice(pool, size=150, replace=False)
    orders.loc[hit, ["status", "status_changed_at"]] = ["refunded", pd.Timestamp(wave_day, tz="UTC")
                                                        + pd.Timedelta(hours=12)]
    views = pd.DataFrame({"customer_id": 1, "type": "view", "occurred_at": pd.date_range(
        "2024-01-01T10:00", last + pd.Timedelta(hours=20), freq="h", tz="UTC")})
    m = daily_metrics_frame(orders=orders, events=views)
    shop = m[m["segment"] == "shop"]
    assert shop.loc[shop["metric"] == "refunds", "day"].max() == wave_day
    assert shop.loc[(shop["metric"] == "refunds") & (shop["day"] == wave_day), "value"].item() == 150
    # Orders, revenue, new customers and the events end with their data: the days after are unknown, not an outage.
    assert {metric: g["day"].max() for metric, g in shop.groupby("metric") if metric not in (
        "refunds", "refund_rate")} == dict.fromkeys(["orders", "revenue", "aov", "new_customers", "events_view"], last)
    alerts = detect(m, start=last - pd.Timedelta(days=10))
    assert [(a.metric, a.date, a.direction) for a in alerts if a.date > last] == [
        ("refund_rate", wave_day, "up"), ("refunds", wave_day, "up")]
