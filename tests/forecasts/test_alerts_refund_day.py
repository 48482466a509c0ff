"""The shop's anomaly check counts refunds on the day they were issued (the orders' stored status_changed_at): an
outside analyst's refund wave - 150 refunds on one day, of orders placed the five weeks before - was invisible,
counted on the orders' days."""

import datetime as dt
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from behavior.models import Customer, Order
from forecasts.services.alerts import anomalies_check_window, anomalies_detect

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


SPIKE = dt.date(2024, 7, 16)


def _history_with_spike(shop):
    """The history above (orders 2024-01-01 .. 2024-07-18, the last day still running) with the orders of SPIKE
    worth 400 each instead of 20: revenue and the average order up that day."""
    _history(shop, wave=False)
    Order.objects.filter(shop=shop, placed_at__date=SPIKE).update(total=400)


def _order_changed(shop, *, status, at):
    order = Order.objects.filter(shop=shop, status="placed", placed_at__date=dt.date(2024, 7, 1)).first()
    order.status, order.status_changed_at = status, at
    order.save(update_fields=["status", "status_changed_at"])


@pytest.mark.parametrize("status,at", [
    (None, None),
    ("refunded", dt.datetime(2024, 7, 20, 12, tzinfo=dt.UTC)),  # two days after the last order
    ("refunded", dt.datetime(2024, 8, 7, 12, tzinfo=dt.UTC)),  # twenty days after
    ("cancelled", dt.datetime(2024, 8, 7, 12, tzinfo=dt.UTC)),
    ("placed", dt.datetime(2024, 8, 7, 12, tzinfo=dt.UTC)),  # a change back to placed is no refund
    ("refunded", dt.datetime(2099, 1, 1, tzinfo=dt.UTC)),  # a moment in the future (a wrong clock)
], ids=["none", "refund+2d", "refund+20d", "cancel+20d", "placed+20d", "refund-in-2099"])
def test_one_late_refund_does_not_move_the_check_window_past_a_revenue_spike_of_the_orders_last_week(shop, status,
                                                                                                      at):
    """One refund dated 20 days after the last order moved the whole default window to 2024-07-31..08-06: the order
    and revenue monitors end with the orders, so none of their days were judged and the 07-16 spike went unreported
    (so did a refund dated in 2099, or an order whose status went back to placed)."""
    _history_with_spike(shop)
    if status:
        _order_changed(shop, status=status, at=at)
    found, window = anomalies_check_window(shop=shop)
    assert (window.start.date(), window.end.date()) == (dt.date(2024, 7, 11), dt.date(2024, 7, 17))
    assert [(a.metric, a.segment, a.date.date(), a.direction) for a in found] == [
        ("aov", "shop", SPIKE, "up"), ("revenue", "shop", SPIKE, "up")]


@pytest.mark.parametrize("complete_days_only", [False, True], ids=["command", "worker"])
def test_a_refund_wave_twenty_days_after_the_last_order_is_judged_as_well_as_the_orders_last_week(shop,
                                                                                                  complete_days_only):
    """The later refund days are judged in addition to the orders' window, not instead of it: the 07-16 revenue
    spike and the wave of 150 refunds issued on 08-07 are both reported (by the command and the worker's check of a
    shop that is not live)."""
    _history_with_spike(shop)
    wave_day = dt.date(2024, 8, 7)
    recent = list(Order.objects.filter(shop=shop, status="placed", placed_at__date__gte=dt.date(2024, 6, 16),
                                       placed_at__date__lt=SPIKE))
    for k in np.random.default_rng(3).choice(len(recent), size=150, replace=False):
        recent[k].status, recent[k].status_changed_at = "refunded", dt.datetime(2024, 8, 7, 12, tzinfo=dt.UTC)
    # The update's last change: the next day at 15:00 (that day still running).
    recent[0].status, recent[0].status_changed_at = "refunded", dt.datetime(2024, 8, 8, 15, tzinfo=dt.UTC)
    Order.objects.bulk_update(recent, ["status", "status_changed_at"])
    found, window = anomalies_check_window(shop=shop, complete_days_only=complete_days_only)
    assert [(a.metric, a.segment, a.date.date(), a.direction) for a in found] == [
        ("aov", "shop", SPIKE, "up"), ("revenue", "shop", SPIKE, "up"),
        ("refund_rate", "shop", wave_day, "up"), ("refunds", "shop", wave_day, "up")]
    assert (window.start.date(), window.end.date(), window.status_end.date()) == (
        dt.date(2024, 7, 11), dt.date(2024, 7, 17), wave_day)


def test_detect_anomalies_names_the_later_days_it_judged_refunds_on_when_it_finds_nothing(shop):
    """The command said "No anomalies from 2024-07-31 to 2024-08-06" for a history ending 2024-07-18: days none of
    whose orders it holds. It names the orders' week, and the later day refunds were judged to."""
    _history(shop, wave=False)
    _order_changed(shop, status="refunded", at=dt.datetime(2024, 8, 7, 12, tzinfo=dt.UTC))
    out = StringIO()
    call_command("detect_anomalies", "--shop", shop.slug, stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == ("No anomalies from 2024-07-11 to 2024-07-17 (refunds and cancellations dated "
                                      "later: to 2024-08-06).")
