"""Alerts that late data corrects (a new user, demo shop): just after midnight the worker's check stored "Orders ·
Whole shop · Below the expected: 0 against 30" for the day before; then that day's orders were uploaded, and the
next check stored only other alerts: the 0-orders alert stayed open and the rise the data now showed was never
stored (get_or_create on the alert's first day kept whatever an earlier check had said)."""

import datetime as dt

import pytest
from django.core import mail

from behavior.models import Order
from forecasts.models import Alert, MonitorMute
from forecasts.services.alerts import alert_acknowledge, anomalies_detect_and_alert
from tests.accounts.factories import UserFactory
from tests.forecasts.test_alerts_after_import import _orders, _store

pytestmark = pytest.mark.django_db


def _live_shop_missing_yesterday(shop):
    """60 days of about 30 orders a day to the day before yesterday (noon); yesterday's orders not uploaded yet."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - dt.timedelta(days=1)
    _store(shop, _orders(shop, start=yesterday - dt.timedelta(days=60) + dt.timedelta(hours=12), days=60))
    return yesterday


def _late_orders(shop, day, count):
    _store(shop, [(f"late-{i}", f"c{i % 200}", day + dt.timedelta(hours=8, minutes=i), 40.0) for i in range(count)])


def _shop_alerts(shop, metric):
    return list(Alert.objects.filter(shop=shop, metric=metric, segment="shop").order_by("pk")
                .values_list("direction", "start", "status", "actual"))


def test_orders_that_arrive_late_withdraw_the_outage_alert_and_store_the_rise(client, shop):
    yesterday = _live_shop_missing_yesterday(shop)
    UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    # An alert of a day outside the window the check judges, and one of a muted monitor inside it: not touched.
    old = Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="down", expected=30, actual=2,
                               score=-7, start=(yesterday - dt.timedelta(days=30)).date(),
                               end=(yesterday - dt.timedelta(days=30)).date())
    MonitorMute.objects.create(shop=shop, metric="aov", segment="")
    muted = Alert.objects.create(shop=shop, metric="aov", segment="shop", direction="up", expected=40, actual=90,
                                 score=6, start=(yesterday - dt.timedelta(days=2)).date(),
                                 end=(yesterday - dt.timedelta(days=2)).date())

    anomalies_detect_and_alert(shop=shop)  # just after midnight: nothing for yesterday
    assert _shop_alerts(shop, "orders")[1:] == [("down", yesterday.date(), "open", 0.0)]
    down = Alert.objects.get(shop=shop, metric="orders", segment="shop", start=yesterday.date())
    assert down.notified_at is not None and len(mail.outbox) == 1
    alert_acknowledge(shop=shop, alert_id=down.pk)  # a user saw it

    _late_orders(shop, yesterday, 74)  # then the day's 74 orders are uploaded
    anomalies_detect_and_alert(shop=shop)

    down.refresh_from_db()
    assert (down.status, down.actual, down.notified_at is not None) == ("withdrawn", 0.0, True)  # kept, not deleted
    assert down.withdrawn_at is not None
    for metric in ("orders", "revenue"):
        assert [(d, s) for d, day, s, _ in _shop_alerts(shop, metric) if day == yesterday.date()] == [
            ("down", "withdrawn"), ("up", "open")], metric
    up = Alert.objects.get(shop=shop, metric="orders", segment="shop", start=yesterday.date(), direction="up")
    assert up.actual == 74 and up.notified_at is not None
    news, withdrawn = mail.outbox[1].body.split("Withdrawn, emailed before (later data no longer shows them):")
    assert len(mail.outbox) == 2 and "withdrawn for" in mail.outbox[1].subject
    assert f"- Orders, Whole shop, {yesterday.day} {yesterday:%b %Y}: above the expected: 74 against" in news
    assert (f"- Orders, Whole shop, {yesterday.day} {yesterday:%b %Y}: below the expected: 0 against" in withdrawn
            and "(withdrawn: later data for that day showed no drop)" in withdrawn)
    old.refresh_from_db()
    muted.refresh_from_db()
    assert old.status == "open" and muted.status == "open"

    # The page says why, and lists it after the open and acknowledged alerts.
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    page = client.get("/alerts/").content.decode()
    assert "later data for that day showed no drop" in page
    assert page.index("Above the expected: 74") < page.index("later data for that day showed no drop")
    # A withdrawn alert offers no Acknowledge, and acknowledging it anyway leaves it withdrawn.
    alert_acknowledge(shop=shop, alert_id=down.pk)
    down.refresh_from_db()
    assert down.status == "withdrawn"

    anomalies_detect_and_alert(shop=shop)  # the next check changes nothing and sends nothing
    assert len(mail.outbox) == 2


def test_a_drop_that_late_data_makes_smaller_is_updated_quietly_and_stays_acknowledged(shop):
    yesterday = _live_shop_missing_yesterday(shop)
    UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    anomalies_detect_and_alert(shop=shop)
    down = Alert.objects.get(shop=shop, metric="orders", segment="shop", start=yesterday.date())
    alert_acknowledge(shop=shop, alert_id=down.pk)
    _late_orders(shop, yesterday, 3)  # a few of the day's orders arrive: still an outage
    anomalies_detect_and_alert(shop=shop)
    down.refresh_from_db()
    assert (down.direction, down.status, down.actual) == ("down", "acknowledged", 3.0)
    assert _shop_alerts(shop, "orders") == [("down", yesterday.date(), "acknowledged", 3.0)]
    assert len(mail.outbox) == 1  # not news again


def test_an_alert_whose_days_data_did_not_change_is_not_withdrawn_when_the_yardstick_moves(shop):
    """A day judged against the nightly forecast's band is judged against the baseline once the next forecast's
    cutoff passes it: an alert only the band raised is not found again, though no data changed. Withdrawing it
    "because later data for that day showed no rise" would be untrue (a helper's reading of the reconciliation)."""
    yesterday = _live_shop_missing_yesterday(shop)
    _late_orders(shop, yesterday, 30)  # yesterday complete: nothing to find
    day = (yesterday - dt.timedelta(days=2)).date()
    count = Order.objects.filter(shop=shop, placed_at__date=day).count()
    stood = Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="up", expected=count / 3,
                                 actual=count, score=6, start=day, end=day)  # as a forecast band had judged it
    moved = Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="up", expected=count / 3,
                                 actual=count - 10, score=6, start=day - dt.timedelta(days=1),
                                 end=day - dt.timedelta(days=1))  # its day's value has changed since
    anomalies_detect_and_alert(shop=shop)
    stood.refresh_from_db()
    moved.refresh_from_db()
    assert (stood.status, stood.withdrawn_at) == ("open", None)
    assert moved.status == "withdrawn"


def test_an_outage_whose_first_day_gets_its_orders_late_starts_a_day_later_quietly(shop):
    yesterday = _live_shop_missing_yesterday(shop)
    first = yesterday - dt.timedelta(days=2)
    Order.objects.filter(shop=shop, placed_at__gte=first).delete()  # three days missing
    UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    anomalies_detect_and_alert(shop=shop)
    outage = Alert.objects.get(shop=shop, metric="orders", segment="shop")
    assert (outage.start, outage.end) == (first.date(), yesterday.date())
    alert_acknowledge(shop=shop, alert_id=outage.pk)
    _late_orders(shop, first, 30)  # the first day's orders arrive
    anomalies_detect_and_alert(shop=shop)
    outage.refresh_from_db()
    assert (outage.start, outage.end, outage.status) == ((first + dt.timedelta(days=1)).date(), yesterday.date(),
                                                         "acknowledged")
    assert _shop_alerts(shop, "orders") == [("down", outage.start, "acknowledged", 0.0)]
    assert len(mail.outbox) == 1  # the same outage: no news


def test_alerts_page_lists_open_then_acknowledged_then_withdrawn_newest_first(client, shop):
    """The page sorted by status alphabetically: acknowledged alerts rose above the open ones."""
    def alert(day, status, metric):
        return Alert.objects.create(shop=shop, metric=metric, segment="shop", direction="down", expected=30,
                                    actual=0, score=-8, start=dt.date(2026, 12, day), end=dt.date(2026, 12, day),
                                    status=status)

    alert(7, "acknowledged", "refunds")
    alert(3, "open", "orders")
    alert(6, "open", "revenue")
    alert(5, "withdrawn", "cancellations")
    alert(2, "acknowledged", "new_customers")
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/alerts/").content.decode()
    order = sorted(["Revenue", "Orders", "Refunds", "New customers", "Cancellations"],
                   key=lambda w: page.index(f'data-label="Metric">{w}<'))
    assert order == ["Revenue", "Orders", "Refunds", "New customers", "Cancellations"]


def test_the_alerts_series_link_says_which_day_was_alerted_and_its_value_past_the_charts_history(client, shop):
    """The link to "the series around the alert" opened the forecast page, whose history ends at the forecast's
    cutoff (6 Dec): the alerted day (7 Dec) and its value were nowhere on it."""
    from forecasts.models import ForecastRun
    from tests.accounts.factories import ShopFactory

    ForecastRun.objects.create(shop=shop, cutoff=dt.date(2026, 12, 6), horizon_days=30, status="done")
    alert = Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="down", expected=30, actual=0,
                                 score=-9, start=dt.date(2026, 12, 7), end=dt.date(2026, 12, 7))
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    alerts_page = client.get("/alerts/").content.decode()
    link = f"/forecasts/?level=shop&amp;measure=orders&amp;freq=day&amp;alert={alert.pk}"
    assert f'href="{link}"' in alerts_page
    page = client.get(link.replace("&amp;", "&")).content.decode()
    assert "The alert you came from:</strong> Orders, Whole shop, 7 Dec 2026: below the expected: 0 against 30" in page
    assert "The chart's history ends on 6 Dec 2026" in page
    other = Alert.objects.create(shop=ShopFactory(), metric="orders", segment="shop", direction="down", expected=30,
                                 actual=0, score=-9, start=dt.date(2026, 12, 7), end=dt.date(2026, 12, 7))
    assert "The alert you came from" not in client.get(f"/forecasts/?alert={other.pk}").content.decode()
    for odd in ("%C2%B2", "99999999999999999999"):  # '²' is a digit to str.isdigit, not to int(); past a bigint
        response = client.get(f"/forecasts/?alert={odd}")
        assert response.status_code == 200 and "The alert you came from" not in response.content.decode()


def test_detect_anomalies_save_says_what_became_of_the_stored_alerts(shop):
    """A reviewer: `detect_anomalies --save` withdrew and updated alerts without a word."""
    from io import StringIO

    from django.core.management import call_command

    yesterday = _live_shop_missing_yesterday(shop)
    anomalies_detect_and_alert(shop=shop)  # yesterday's 0 orders: a drop, stored
    _late_orders(shop, yesterday, 30)  # then its orders arrive, an ordinary day
    err = StringIO()
    day = yesterday.date().isoformat()
    call_command("detect_anomalies", "--shop", shop.slug, "--from", day, "--to", day, "--save", "--json",
                 stdout=StringIO(), stderr=err)
    assert "saved: 0 new alert(s), 0 updated, 2 withdrawn" in err.getvalue()  # orders and revenue
    assert {s for _, _, s, _ in _shop_alerts(shop, "orders")} == {"withdrawn"}
