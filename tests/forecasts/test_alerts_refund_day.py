"""The shop's anomaly check counts refunds on the day they were issued (the orders' stored status_changed_at): an
outside analyst's refund wave - 150 refunds on one day, of orders placed the five weeks before - was invisible,
counted on the orders' days."""

import datetime as dt

import numpy as np
import pytest

from behavior.models import Customer, Order
from forecasts.services.alerts import anomalies_detect

pytestmark = pytest.mark.django_db
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
WAVE = dt.date(2024, 6, 14)


def _history(shop, *, days=200, seed=0, wave=True):
    """About 30 orders a day; a fifth refunded 5-40 days later; with `wave`, 150 more orders of the five weeks
    before WAVE refunded on WAVE."""
    rng = np.random.default_rng(seed)
    customers = Customer.objects.bulk_create([Customer(shop=shop, external_id=f"c{i}") for i in range(500)])
    end = START + dt.timedelta(days=days)
    orders = []
    for d in range(days):
        for _ in range(rng.poisson(30)):
            placed = START + dt.timedelta(days=d, seconds=int(rng.integers(8 * 3600, 20 * 3600)))
            refunded = placed + dt.timedelta(days=int(rng.integers(5, 41)))
            refund = rng.random() < 0.2 and refunded < end
            orders.append(Order(shop=shop, external_id=f"o{len(orders)}", customer=customers[int(rng.integers(500))],
                                placed_at=placed, total=20, status="refunded" if refund else "placed",
                                status_changed_at=refunded if refund else None))
    if wave:
        wave_at = dt.datetime.combine(WAVE, dt.time(12), tzinfo=dt.UTC)
        pool = [o for o in orders if o.status == "placed" and dt.timedelta(days=5) < wave_at - o.placed_at
                < dt.timedelta(days=40)]
        for k in rng.choice(len(pool), size=150, replace=False):
            pool[k].status, pool[k].status_changed_at = "refunded", wave_at
    Order.objects.bulk_create(orders)


@pytest.mark.parametrize("wave", [True, False])
def test_a_refund_wave_of_older_orders_alerts_on_the_day_the_refunds_were_issued(shop, wave):
    _history(shop, wave=wave)
    alerts = anomalies_detect(shop=shop, start=WAVE - dt.timedelta(days=45), end=WAVE + dt.timedelta(days=10))
    refunds = [(a.metric, a.date.date(), a.direction) for a in alerts if a.metric in ("refunds", "refund_rate")]
    assert refunds == ([("refund_rate", WAVE, "up"), ("refunds", WAVE, "up")] if wave else [])


def test_refunds_issued_after_the_last_orders_day_are_judged_and_the_order_monitors_stop_with_the_orders(shop):
    """A history imported, its statuses updated days later: 150 refunds issued on 2024-07-21, after the last order
    (2024-07-18), were never counted - the check's days ended with the orders - and the default check saw nothing."""
    _history(shop, wave=False)  # orders 2024-01-01 .. 2024-07-18
    last = Order.objects.filter(shop=shop).order_by("-placed_at").first().placed_at
    assert last.date() == dt.date(2024, 7, 18)
    wave_at = dt.datetime(2024, 7, 21, 12, tzinfo=dt.UTC)
    recent = list(Order.objects.filter(shop=shop, status="placed", placed_at__gte=last - dt.timedelta(days=30)))
    for k in np.random.default_rng(3).choice(len(recent), size=150, replace=False):
        recent[k].status, recent[k].status_changed_at = "refunded", wave_at
    # The update's last change: the next day at 15:00 (that day still running, as an export of that afternoon's).
    recent[0].status, recent[0].status_changed_at = "refunded", dt.datetime(2024, 7, 22, 15, tzinfo=dt.UTC)
    Order.objects.bulk_update(recent, ["status", "status_changed_at"])
    alerts = anomalies_detect(shop=shop)
    assert [(a.metric, a.date.date(), a.direction) for a in alerts] == [
        ("refund_rate", dt.date(2024, 7, 21), "up"), ("refunds", dt.date(2024, 7, 21), "up")]
