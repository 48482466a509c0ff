"""Alerts after each import, not only nightly: a finished orders/events file import or an API batch schedules
one anomaly check per debounce window (the re-scoring's mechanism, ecomsight.debounce); new alerts are emailed
and sent to the shop's webhook as signed JSON (the deliveries app's sender), retried with its back-off; a day
still running is never judged."""

import csv
import datetime as dt
import hashlib
import hmac
import json
import uuid

import numpy as np
import pytest
from django.core import mail
from django.core.cache import cache

from accounts.models import AuditLog
from accounts.tokens import api_token_create
from behavior.models import Customer, Order
from behavior.services import data_import
from ecomsight.celery import app as celery_app
from forecasts.models import Alert, AlertWebhook
from forecasts.selectors import ForecastError
from forecasts.services.alerts import anomalies_detect
from forecasts.services.webhooks import alert_webhook_set
from forecasts.tasks import alert_webhook_task
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.deliveries.test_deliveries import Receiver

pytestmark = pytest.mark.django_db
START = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)


def _orders(shop, *, start, days, quiet=(), seed=0):
    """Poisson daily orders (about 30 a day) from `start` for `days` days; none on the `quiet` day numbers."""
    rng = np.random.default_rng(seed)
    customers = list(Customer.objects.filter(shop=shop)) or Customer.objects.bulk_create(
        [Customer(shop=shop, external_id=f"c{i}") for i in range(200)])
    rows = []
    for d in range(days):
        if d in quiet:
            continue
        for _ in range(rng.poisson(30)):
            rows.append((f"o{seed}-{len(rows)}", customers[int(rng.integers(0, 200))].external_id,
                         start + dt.timedelta(days=d), round(float(rng.gamma(2, 20)), 2)))
    return rows


def _store(shop, rows):
    ids = dict(Customer.objects.filter(shop=shop).values_list("external_id", "id"))
    Order.objects.bulk_create([Order(shop=shop, external_id=o, customer_id=ids[c], placed_at=at, total=t,
                                     status="placed") for o, c, at, t in rows])


@pytest.fixture
def hook_settings(settings):
    settings.DELIVERY_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.DELIVERY_RETRY_BACKOFF_SECONDS = 30
    settings.DELIVERY_MAX_ATTEMPTS = 3
    return settings


@pytest.fixture
def eager_retries():
    """Let Celery's eager retry run the next try at once (as the deliveries tests do)."""
    old = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = old


def test_a_finished_orders_import_finds_the_outage_emails_and_sends_the_webhook(
        shop, hook_settings, tmp_path, django_capture_on_commit_callbacks):
    _store(shop, _orders(shop, start=START, days=110))  # the history, already there
    analyst = UserFactory(role="analyst", shops=[shop], email="ana@example.com")
    admin = UserFactory(role="admin", shops=[shop], email="")
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as f:  # the next 10 days, with 3 quiet ones (2024-04-23 .. 25)
        writer = csv.writer(f)
        writer.writerow(["order_id", "customer_id", "placed_at", "total", "status"])
        for o, c, at, t in _orders(shop, start=START + dt.timedelta(days=110), days=10, quiet=(3, 4, 5), seed=1):
            writer.writerow([o, c, at.isoformat(), t, "placed"])
    cache.delete(f"anomalies:scheduled:{shop.pk}")
    with Receiver() as receiver:
        hook = alert_webhook_set(shop=shop, user=admin, url=receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            result = data_import(shop=shop, kind="orders", path=path)
    assert result.inserted > 150
    alert = Alert.objects.get(shop=shop, metric="orders", segment="shop")
    assert (alert.start, alert.direction) == (dt.date(2024, 4, 23), "down") and alert.notified_at is not None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [analyst.email]
    assert "Orders, Whole shop, 23 Apr 2024" in mail.outbox[0].body
    [(headers, body)] = receiver.requests
    expected = hmac.new(hook.secret.encode(), headers["X-EcomSight-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-EcomSight-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    sent = [a for a in payload["alerts"] if a["metric"] == "orders" and a["segment"] == "shop"]
    assert payload["shop"] == shop.slug and sent[0]["date"] == "2024-04-23" and sent[0]["direction"] == "down"
    assert sent[0]["actual"] == 0 and sent[0]["id"] == alert.pk
    hook.refresh_from_db()
    assert hook.last_status == 200 and hook.last_sent_at is not None


def test_a_dry_run_import_checks_nothing(shop, tmp_path, django_capture_on_commit_callbacks):
    _store(shop, _orders(shop, start=START, days=110))
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at,total\nx1,c1,2024-04-20T10:00:00,10\n")
    cache.delete(f"anomalies:scheduled:{shop.pk}")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        data_import(shop=shop, kind="orders", path=path, dry_run=True)
    assert callbacks == [] and not Alert.objects.exists()


def test_api_batches_of_a_window_enqueue_one_check(shop, settings, django_capture_on_commit_callbacks):
    settings.ANOMALY_DEBOUNCE_SECONDS = 300
    api = bearer(api_token_create(user=UserFactory(role="analyst", shops=[shop]), shop=shop, name="t").plain)
    cache.delete(f"anomalies:scheduled:{shop.pk}")
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # enqueue for real, to Redis: count what the batches enqueue
    try:
        with celery_app.connection_for_write() as conn:
            redis = conn.default_channel.client
            redis.delete("ml")
            for i in range(3):
                with django_capture_on_commit_callbacks(execute=True):
                    orders = api.post("/api/v1/orders/batch/", [{"order_id": f"api-{i}", "customer_id": "c1",
                                                                 "placed_at": "2024-04-20T10:00:00Z", "total": 5}],
                                      format="json")
                    events = api.post("/api/v1/events/batch/", [{"event_id": f"ev-{i}", "customer_id": "c1",
                                                                 "type": "view",
                                                                 "occurred_at": "2024-04-20T10:00:00Z"}],
                                      format="json")
                assert orders.json()["stored"] == 1 and events.json()["stored"] == 1
            tasks = [json.loads(m)["headers"]["task"] for m in redis.lrange("ml", 0, -1)]
            redis.delete("ml")
    finally:
        celery_app.conf.task_always_eager = eager
        cache.delete(f"anomalies:scheduled:{shop.pk}")
    assert tasks == ["forecasts.tasks.anomalies_check_task"]  # six batches, one check waiting out the window


def test_a_day_still_running_is_not_judged_after_an_import(shop):
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=30, second=0, microsecond=0)
    rows = _orders(shop, start=today - dt.timedelta(days=60), days=60)
    rows.append(("early-today", "c1", today, 10.0))  # today so far: one order, half an hour in
    _store(shop, rows)
    # The command's default stops before a last day whose data ends before 23:00 (an outside analyst: a file
    # exported on a Wednesday at 10:00 gave six alerts for that morning); asked for, the day is judged.
    assert not [a for a in anomalies_detect(shop=shop) if a.date.date() >= today.date()]
    asked = anomalies_detect(shop=shop, end=today.date())
    assert any(a.metric == "orders" and a.date.date() == today.date() and a.direction == "down" for a in asked)
    after_import = anomalies_detect(shop=shop, complete_days_only=True)
    assert not [a for a in after_import if a.date.date() >= today.date()]


def test_the_last_day_of_orders_dated_without_times_is_judged(shop):
    """An outside analyst: in a file of dates without times every order is at midnight, so its last day read as a
    day still running and was never judged."""
    rows = _orders(shop, start=START.replace(hour=0), days=60)
    last = START.replace(hour=0) + dt.timedelta(days=59)
    _store(shop, [r for r in rows if r[2] < last] + [r for r in rows if r[2] == last][:2])  # 2 orders, not 30
    found = [a for a in anomalies_detect(shop=shop) if (a.metric, a.segment) == ("orders", "shop")]
    assert [(a.direction, a.date.date()) for a in found] == [("down", last.date())]
    # But today is never over, dates or not (a second reader: a file of dates exported at noon had today's three
    # orders so far judged as a drop).
    Order.objects.filter(shop=shop).delete()
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = _orders(shop, start=today - dt.timedelta(days=59), days=60, seed=1)
    _store(shop, [r for r in rows if r[2] < today] + [r for r in rows if r[2] == today][:3])
    assert not [a for a in anomalies_detect(shop=shop) if a.date.date() == today.date()]


def test_orders_that_stop_while_events_arrive_are_alerted_by_the_check_after_an_import(shop):
    """An outside analyst (session 20): a shop whose orders stopped two weeks before the end of its data (events still
    arriving) got "No anomalies." from the command and nothing from the check after its import: the days after
    the last order were not judged at all."""
    from behavior.models import Event

    _store(shop, _orders(shop, start=START, days=60))
    customer = Customer.objects.filter(shop=shop).first()
    last_event = START + dt.timedelta(days=74, hours=11)  # 23:00 on 15 March: a complete day
    Event.objects.bulk_create([Event(shop=shop, customer=customer, type="view", idempotency_key=uuid.UUID(int=h),
                                     occurred_at=START + dt.timedelta(hours=h))
                               for h in range(0, int((last_event - START).total_seconds() // 3600) + 1)])
    judged = [a for a in anomalies_detect(shop=shop) if (a.metric, a.segment) == ("orders", "shop")]
    assert [(a.direction, a.date.date(), a.end.date(), a.actual) for a in judged] == [
        ("down", dt.date(2024, 3, 9), dt.date(2024, 3, 15), 0.0)]
    with pytest.raises(ForecastError, match="--from 2024-03-20 is after the last complete day of the shop's data "
                                            r"\(2024-03-15\)"):
        anomalies_detect(shop=shop, start=dt.date(2024, 3, 20))


def test_a_shop_with_events_and_no_orders_yet_has_its_event_monitors(shop):
    """An outside analyst (session 22): a shop sending its tracking events before any order got "import orders
    first" from detect_anomalies and nothing from the check after its import: a feed that stopped went unseen."""
    from behavior.models import Event

    customer = Customer.objects.create(shop=shop, external_id="visitor")
    midnight, hours = START.replace(hour=0), range(75 * 24)  # to 23:00 on 15 March: a complete day
    Event.objects.bulk_create(  # views until 29 February, carts every other hour to the end
        [Event(shop=shop, customer=customer, type="view", idempotency_key=uuid.UUID(int=h),
               occurred_at=midnight + dt.timedelta(hours=h)) for h in hours if h < 60 * 24]
        + [Event(shop=shop, customer=customer, type="add_to_cart", idempotency_key=uuid.UUID(int=10**6 + h),
                 occurred_at=midnight + dt.timedelta(hours=h)) for h in hours if h % 2 == 1])
    found = anomalies_detect(shop=shop, start=dt.date(2024, 2, 15))
    assert [(a.metric, a.direction, a.date.date(), a.end.date()) for a in found] == [
        ("events_view", "down", dt.date(2024, 3, 1), dt.date(2024, 3, 15))]
    Event.objects.filter(shop=shop).delete()
    with pytest.raises(ForecastError, match="no orders or events yet"):
        anomalies_detect(shop=shop)


def test_the_nightly_run_checks_the_monitors_of_a_shop_whose_forecast_cannot_run(shop):
    """The nightly task ran the anomaly check after the forecast in one try: a shop without orders (events only)
    had its forecast refused and its monitors never checked."""
    from behavior.models import Event
    from forecasts.tasks import nightly_forecasts

    customer = Customer.objects.create(shop=shop, external_id="visitor")
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - dt.timedelta(days=60)
    Event.objects.bulk_create([Event(shop=shop, customer=customer, type="view", idempotency_key=uuid.UUID(int=h),
                                     occurred_at=first + dt.timedelta(hours=h))
                               for h in range(57 * 24)])  # the feed stops three days ago
    nightly_forecasts()
    assert list(Alert.objects.filter(shop=shop).values_list("metric", "direction", "start")) == [
        ("events_view", "down", (today - dt.timedelta(days=3)).date())]


def test_a_live_shop_whose_data_stops_at_two_in_the_morning_is_alerted_by_the_worker(shop):
    """A second reader: with the 23:00 rule alone, a shop whose orders and events stopped at 02:00 three days ago had
    its data's last day taken as still running, and neither that day nor the silent days after it were judged."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stop = today - dt.timedelta(days=3) + dt.timedelta(hours=2)
    rows = [r for r in _orders(shop, start=today - dt.timedelta(days=63), days=60) if r[2] < stop]
    rows.append(("night", "c1", stop - dt.timedelta(minutes=5), 10.0))
    _store(shop, rows)
    found = [a for a in anomalies_detect(shop=shop, complete_days_only=True)
             if (a.metric, a.segment, a.direction) == ("orders", "shop", "down")]
    assert [(a.date.date(), a.end.date()) for a in found] == [
        ((today - dt.timedelta(days=3)).date(), (today - dt.timedelta(days=1)).date())]
    # The command (a file, judged on its own data) stops before the last day it holds no complete day of.
    assert not [a for a in anomalies_detect(shop=shop) if a.metric == "orders" and a.date >= stop.replace(tzinfo=None)]


def _alert(shop):
    return Alert.objects.create(shop=shop, metric="orders", segment="shop", direction="down",
                                start=dt.date(2024, 4, 24), end=dt.date(2024, 4, 26), expected=30, actual=0, score=-9)


def test_a_failing_alert_webhook_is_retried_with_back_off(shop, hook_settings, eager_retries):
    alert = _alert(shop)
    with Receiver(statuses=[503]) as receiver:
        alert_webhook_set(shop=shop, user=UserFactory(role="admin", shops=[shop]), url=receiver.url)
        alert_webhook_task.delay(shop.pk, [alert.pk])
    assert len(receiver.requests) == 2  # one failure, then through
    assert receiver.payloads()[0] == receiver.payloads()[1]
    assert AlertWebhook.objects.get(shop=shop).last_status == 200


def test_an_alert_webhook_refused_for_good_is_not_retried_and_is_audited(shop, hook_settings, eager_retries):
    alert = _alert(shop)
    with Receiver(statuses=[404, 404]) as receiver:
        alert_webhook_set(shop=shop, user=UserFactory(role="admin", shops=[shop]), url=receiver.url)
        alert_webhook_task.delay(shop.pk, [alert.pk])
    assert len(receiver.requests) == 1
    hook = AlertWebhook.objects.get(shop=shop)
    assert hook.last_status == 404 and hook.last_sent_at is None
    assert AuditLog.objects.get(action="alerts.webhook.failed").details["attempts"] == 1


def test_alert_webhook_is_set_by_an_admin_on_the_alerts_page_only(client, shop, settings):
    settings.DELIVERY_ALLOW_PRIVATE = False
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    assert client.post("/alerts/webhook/", {"url": "https://hooks.example.com/a"}).status_code == 403
    assert "Send alerts to a webhook" not in client.get("/alerts/").content.decode()
    client.force_login(UserFactory(role="admin", shops=[shop]))
    client.post("/alerts/webhook/", {"url": "http://127.0.0.1:8000/x"})  # loopback: refused
    assert not AlertWebhook.objects.filter(shop=shop).exists()
    hook = alert_webhook_set(shop=shop, user=None, url="https://93.184.215.14/hooks")  # a public address
    page = client.get("/alerts/").content.decode()
    assert "https://93.184.215.14/hooks" in page and hook.secret in page
    client.post("/alerts/webhook/", {"remove": "1"})
    assert not AlertWebhook.objects.filter(shop=shop).exists()
