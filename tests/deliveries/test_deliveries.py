"""Scheduled delivery of a segment: signed JSON batches to a webhook (a real HTTP server on loopback, in a
thread), retries with back-off and a log, a CSV file in an S3-compatible bucket (moto's HTTP server), audit,
and the same consent and erasure rules as every export."""

import csv
import hashlib
import hmac
import io
import json
import os
import re
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto.server import ThreadedMotoServer

from accounts.models import AuditLog
from behavior.models import Customer
from deliveries.models import Delivery, DeliveryAttempt, DeliveryRun
from deliveries.services import deliveries_due, delivery_create, delivery_run_start, retry_countdown
from deliveries.tasks import deliveries_due_task, delivery_batch_task, delivery_run_task
from ecomsight.errors import UserError
from offers.models import Assignment, Offer
from privacy.services import customer_erase
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST (headers, body) and answers from `statuses`
    (then 200)."""

    def __init__(self, statuses=()):
        self.requests, self.statuses = [], list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/ecomsight"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def payloads(self):
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture(autouse=True)
def eager_retries():
    """Tasks run in process (test settings); let Celery's retry run the next try at once, as apply() does when
    errors do not propagate (with propagation on, an eager retry is raised to the caller instead)."""
    from ecomsight.celery import app

    old = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = old


@pytest.fixture
def setup(shop, settings, tmp_path):
    settings.DELIVERY_ALLOW_PRIVATE = True  # the receiver is on loopback
    settings.DELIVERY_BATCH_SIZE = 2
    settings.DELIVERY_RETRY_BACKOFF_SECONDS = 30
    settings.DELIVERY_MAX_ATTEMPTS = 3
    settings.EXPORT_DIR = tmp_path / "exports"
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": f"C{i}", "p": 0.9 - i / 100, "buy": 0.3, "spend": 100}
                                             for i in range(6)])
    Customer.objects.filter(pk=customers["C5"].pk).update(marketing_consent=False)  # refused: never a member
    segment = SegmentFactory(shop=shop, name="Win-back", filters={"churn_min": 50})
    return {"segment": segment, "customers": customers, "admin": UserFactory(role="admin", shops=[shop])}


def webhook(shop, setup, url, **options):
    return delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="webhook", url=url,
                           **{"preset": "braze", "pseudonymise": False, **options})


def test_webhook_gets_signed_json_batches_in_the_presets_columns_without_refusals(shop, setup):
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url)
        delivery_run_task.delay(delivery.pk)
    payloads = receiver.payloads()
    assert [p["batch"] for p in payloads] == [1, 2, 3] and {p["batches"] for p in payloads} == {3}
    sent = [c for p in payloads for c in p["customers"]]
    assert [c["external_id"] for c in sent] == ["C0", "C1", "C2", "C3", "C4"]  # C5 refused marketing
    assert sent[0]["email"] == "C0@example.com" and sent[0]["churn_probability"] == 0.9
    assert set(sent[0]) >= {"external_id", "email", "first_name", "rec_1_product_id", "rec_1_url", "offer_id"}
    for headers, body in receiver.requests:  # what a receiver checks
        expected = hmac.new(delivery.secret.encode(), headers["X-EcomSight-Timestamp"].encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        assert headers["X-EcomSight-Signature"] == f"sha256={expected}"
        assert headers["Content-Type"] == "application/json"
    run = DeliveryRun.objects.get()
    assert (run.status, run.rows, run.batches_sent) == ("succeeded", 5, 3)
    audit = AuditLog.objects.filter(shop=shop)
    assert audit.get(action="segment.export").details["delivery_id"] == delivery.pk
    assert audit.get(action="delivery.run").details["customers"] == 5
    assert audit.filter(action="delivery.create").exists()


def test_a_pseudonymised_delivery_sends_no_email_or_name(shop, setup):
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url, preset="klaviyo", pseudonymise=True)
        delivery_run_task.delay(delivery.pk)
    first = receiver.payloads()[0]["customers"][0]
    assert first["External ID"] == "C0" and first["Pseudonym"].startswith("anon-")
    assert not [k for k in first if "mail" in k.lower() or "name" in k.lower()]


def test_a_failing_batch_is_retried_with_exponential_back_off_and_logged(shop, setup):
    with Receiver(statuses=[503, 502]) as receiver:  # the first batch fails twice, then goes through
        delivery = webhook(shop, setup, receiver.url)
        delivery_run_task.delay(delivery.pk)
    tries = list(DeliveryAttempt.objects.filter(batch=1).values_list("attempt", "ok", "status_code",
                                                                     "retry_in_seconds"))
    assert tries == [(1, False, 503, 30), (2, False, 502, 60), (3, True, 200, None)]
    assert [retry_countdown(attempt=n) for n in (1, 2, 3)] == [30, 60, 120]
    assert DeliveryRun.objects.get().status == "succeeded"
    assert len(receiver.requests) == 5  # 3 tries of batch 1, then batches 2 and 3


def test_a_retried_batch_sends_the_offers_its_first_try_drew_and_logs_them_once(shop, setup):
    Offer.objects.create(shop=shop, external_id="d10", kind="discount_pct", value=10)
    with Receiver(statuses=[503]) as receiver:
        delivery = webhook(shop, setup, receiver.url)
        delivery_run_task.delay(delivery.pk)
    first_try, retry = receiver.payloads()[:2]
    assert first_try["batch"] == retry["batch"] == 1 and first_try["customers"] == retry["customers"]
    assert Assignment.objects.filter(shop=shop, channel="export").count() == 5  # one per customer sent
    assert {c["offer_id"] for p in receiver.payloads() for c in p["customers"]} <= {"d10", ""}  # "": no offer


def test_a_batch_refused_for_good_fails_the_run_and_is_audited(shop, client, setup):
    with Receiver(statuses=[410]) as receiver:  # 410 Gone: not worth trying again
        delivery = webhook(shop, setup, receiver.url)
        delivery_run_task.delay(delivery.pk)
    run = DeliveryRun.objects.get()
    assert (run.status, run.batches_sent, run.batches_failed) == ("failed", 2, 1) and "HTTP 410" in run.error
    assert list(DeliveryAttempt.objects.filter(batch=1).values_list("attempt", "retry_in_seconds")) == [(1, None)]
    assert AuditLog.objects.get(action="delivery.failed").details["batch"] == 1
    client.force_login(setup["admin"])
    page = client.get(f"/deliveries/{delivery.pk}/").content.decode()
    assert "HTTP 410 — given up" in page and "Failed" in page


def test_retries_give_up_after_the_last_attempt(shop, setup):
    with Receiver(statuses=[500, 500, 500]) as receiver:
        delivery = webhook(shop, setup, receiver.url)
        delivery_run_task.delay(delivery.pk)
    tries = list(DeliveryAttempt.objects.filter(batch=1).values_list("attempt", "retry_in_seconds"))
    assert tries == [(1, 30), (2, 60), (3, None)]
    assert DeliveryRun.objects.get().status == "failed"


def test_customers_who_refuse_or_are_erased_before_their_batch_is_sent_are_not_sent(shop, setup):
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url)
        started = delivery_run_start(delivery_id=delivery.pk)  # decided: C0..C4
        Customer.objects.filter(pk=setup["customers"]["C1"].pk).update(marketing_consent=False)
        customer_erase(shop=shop, external_ids=["C3"])
        for number, ids in enumerate(started.batches, start=1):
            delivery_batch_task.delay(started.run_id, number, ids)
    sent = [c["external_id"] for p in receiver.payloads() for c in p["customers"]]
    assert sent == ["C0", "C2", "C4"]
    assert DeliveryRun.objects.get().rows == 3


def test_loopback_and_private_addresses_are_refused_unless_allowed(shop, setup, settings):
    settings.DELIVERY_ALLOW_PRIVATE = False
    for url in ("http://127.0.0.1:9/x", "https://169.254.169.254/latest", "https://10.0.0.5/hook"):
        with pytest.raises(UserError):
            webhook(shop, setup, url)
    assert not Delivery.objects.exists()


def test_a_private_address_on_the_form_is_refused_in_words_not_by_the_settings_name(shop, setup, client, settings):
    settings.DELIVERY_ALLOW_PRIVATE = False
    client.force_login(setup["admin"])
    response = client.post("/deliveries/", {"segment": setup["segment"].pk, "kind": "webhook", "frequency": "daily",
                                            "preset": "braze", "url": "https://10.0.0.5/hook"}, follow=True)
    html = response.content.decode()
    assert "is on a private network (10.0.0.5); an administrator can allow private addresses" in html
    assert "DELIVERY_ALLOW_PRIVATE" not in html and "refused:" not in html
    assert not Delivery.objects.exists()


def test_the_form_without_javascript_sends_both_kinds_of_fields_and_only_the_chosen_one_counts(shop, setup, client):
    client.force_login(setup["admin"])
    html = client.get("/deliveries/").content.decode()
    assert 'data-kind="webhook"' in html and 'data-kind="s3"' in html and "js/delivery_kind.js" in html
    client.post("/deliveries/", {"segment": setup["segment"].pk, "kind": "s3", "frequency": "daily",
                                 "preset": "braze", "url": "https://hooks.example/x", "bucket": "campaigns",
                                 "access_key_id": "k", "secret_access_key": "s"})
    delivery = Delivery.objects.get()
    assert (delivery.kind, delivery.bucket, delivery.url) == ("s3", "campaigns", "")


def test_deliveries_due_daily_weekly_and_never_twice_a_day(shop, setup):
    monday = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
    daily = webhook(shop, setup, "http://127.0.0.1:9/x")
    weekly_monday = webhook(shop, setup, "http://127.0.0.1:9/y", frequency="weekly", weekday=0)
    webhook(shop, setup, "http://127.0.0.1:9/z", frequency="weekly", weekday=3)
    assert deliveries_due(now=monday) == [daily.pk, weekly_monday.pk]
    DeliveryRun.objects.create(shop=shop, delivery=daily)
    DeliveryRun.objects.filter(delivery=daily).update(started_at=monday - timedelta(hours=1))
    assert deliveries_due(now=monday) == [weekly_monday.pk]  # the daily one already ran today
    assert deliveries_due(now=monday + timedelta(days=1)) == [daily.pk]


def test_the_nightly_beat_sends_what_is_due(shop, setup, settings):
    assert settings.CELERY_BEAT_SCHEDULE["nightly-deliveries"]["task"] == "deliveries.tasks.deliveries_due_task"
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url)
        assert deliveries_due_task.delay().get() == [delivery.pk]
        assert deliveries_due_task.delay().get() == []  # the same night again: nothing twice
    assert len(receiver.requests) == 3


# ---- S3-compatible bucket: moto in server mode, a real HTTP S3 endpoint on loopback ----------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test-key",
                          aws_secret_access_key="test-secret")
    client.create_bucket(Bucket="campaigns")
    yield endpoint, client
    server.stop()


def test_s3_delivery_puts_the_csv_in_the_bucket(shop, setup, s3_server, client):
    endpoint, s3 = s3_server
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=endpoint, bucket="campaigns", prefix="ecomsight", preset="klaviyo",
                               pseudonymise=False, access_key_id="test-key", secret_access_key="test-secret")
    assert Delivery.objects.get().secret_access_key == "test-secret"  # read back decrypted (stored encrypted)
    delivery_run_task.delay(delivery.pk)
    run = DeliveryRun.objects.get()
    assert run.status == "succeeded" and run.location.startswith("ecomsight/win-back-")
    body = s3.get_object(Bucket="campaigns", Key=run.location)["Body"].read().decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["External ID"] for r in rows] == ["C0", "C1", "C2", "C3", "C4"] and rows[0]["Email"] == "C0@example.com"
    assert AuditLog.objects.get(action="delivery.run").details["kind"] == "s3"
    client.force_login(setup["admin"])
    assert run.location in client.get(f"/deliveries/{delivery.pk}/").content.decode()


def test_s3_delivery_of_the_spreadsheet_preset_uploads_its_utf16_file_as_such(shop, setup, s3_server):
    endpoint, s3 = s3_server
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=endpoint, bucket="campaigns", preset="spreadsheet", pseudonymise=False,
                               access_key_id="test-key", secret_access_key="test-secret")
    delivery_run_task.delay(delivery.pk)
    run = DeliveryRun.objects.get()
    stored = s3.get_object(Bucket="campaigns", Key=run.location)
    assert run.status == "succeeded" and stored["ContentType"] == "text/csv; charset=utf-16"
    body = stored["Body"].read()
    assert body.startswith(b"\xff\xfe") and body == open(run.export.file_path, "rb").read()
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-16")), delimiter="\t"))
    assert [r["Customer ID"] for r in rows] == ["C0", "C1", "C2", "C3", "C4"]


def test_s3_delivery_to_a_missing_bucket_is_logged_and_not_retried(shop, setup, s3_server):
    endpoint, _ = s3_server
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=endpoint, bucket="no-such-bucket", access_key_id="k",
                               secret_access_key="s")
    delivery_run_task.delay(delivery.pk)
    tries = list(DeliveryAttempt.objects.values_list("attempt", "ok", "status_code", "retry_in_seconds"))
    assert tries == [(1, False, 404, None)]  # a missing bucket is final: not tried again
    run = DeliveryRun.objects.get()
    assert run.status == "failed"
    error = DeliveryAttempt.objects.get().error  # the log names the file, not where the server keeps it
    assert "no-such-bucket" in error and run.export.file_path not in error
    assert os.path.basename(run.export.file_path) in error


def test_s3_delivery_to_a_server_that_is_down_is_retried(shop, setup):
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=f"http://127.0.0.1:{_free_port()}", bucket="campaigns",
                               access_key_id="k", secret_access_key="s")
    delivery_run_task.delay(delivery.pk)
    tries = list(DeliveryAttempt.objects.values_list("attempt", "ok", "retry_in_seconds"))
    assert tries == [(1, False, 30), (2, False, 60), (3, False, None)]
    assert "Could not connect" in DeliveryAttempt.objects.first().error


class FakeDns:
    """Answers for one made-up host name (DNS lies outside the project): `answers` in turn, then "no such name";
    every other name resolves as usual. Records the module that looked the name up, each time."""

    def __init__(self, monkeypatch, name: str, answers: list[str]):
        self.name, self.answers, self.callers = name, list(answers), []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host != name:
                return real(host, port, *args, **kwargs)
            self.callers.append(sys._getframe(1).f_globals["__name__"])
            if not self.answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.answers.pop(0), port))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_s3_endpoint_that_resolves_inside_at_send_time_is_refused_without_connecting(
        shop, setup, s3_server, settings, monkeypatch):
    # DNS rebinding: public when the delivery is saved, loopback (our network) when it is sent.
    endpoint, s3 = s3_server
    port = endpoint.rsplit(":", 1)[1]
    settings.DELIVERY_ALLOW_PRIVATE = False
    dns = FakeDns(monkeypatch, "objectstore", ["93.184.215.14", "127.0.0.1", "127.0.0.1"])
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=f"https://objectstore:{port}", bucket="campaigns", prefix="rebound",
                               access_key_id="k", secret_access_key="s")
    delivery_run_task.delay(delivery.pk)
    tries = list(DeliveryAttempt.objects.values_list("attempt", "ok", "retry_in_seconds"))
    assert tries == [(1, False, None)]  # refused for good, not tried again
    error = DeliveryAttempt.objects.get().error
    assert "refused" in error and "127.0.0.1" in error and "on a private network" in error
    assert "DELIVERY_ALLOW_PRIVATE" not in error  # the log speaks to the people reading it, not to the server's
    assert DeliveryRun.objects.get().status == "failed"
    assert s3.list_objects_v2(Bucket="campaigns", Prefix="rebound").get("KeyCount") == 0  # (moto's store is shared)
    assert dns.callers == ["catalog.fetch", "catalog.fetch"]  # checked when saved and when sent, nothing else


def test_s3_upload_goes_to_the_address_checked_when_sending(shop, setup, s3_server, monkeypatch):
    # The name is resolved once at send time; boto3 must not resolve it again (the second answer is "no such name",
    # and would be any address an attacker likes). Host header and signature stay the endpoint's name.
    endpoint, s3 = s3_server
    port = endpoint.rsplit(":", 1)[1]
    dns = FakeDns(monkeypatch, "objectstore", ["127.0.0.1", "127.0.0.1"])  # saved, sent
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=setup["admin"], kind="s3",
                               endpoint_url=f"http://objectstore:{port}", bucket="campaigns", prefix="pinned",
                               access_key_id="test-key", secret_access_key="test-secret")
    delivery_run_task.delay(delivery.pk)
    run = DeliveryRun.objects.get()
    assert run.status == "succeeded", list(DeliveryAttempt.objects.values_list("error", flat=True))
    body = s3.get_object(Bucket="campaigns", Key=run.location)["Body"].read().decode()
    assert [r["customer_id"] for r in csv.DictReader(io.StringIO(body))] == ["C0", "C1", "C2", "C3", "C4"]
    # Looked up by our check when saved and when sent; never by boto3 / urllib3 (which would get another answer).
    assert dns.callers == ["catalog.fetch", "catalog.fetch"]


# ---- the pages -------------------------------------------------------------------------------------------

def test_scheduling_from_the_page_and_reading_the_log(shop, setup, client, django_capture_on_commit_callbacks):
    client.force_login(setup["admin"])
    with Receiver() as receiver:
        response = client.post("/deliveries/", {
            "segment": setup["segment"].pk, "kind": "webhook", "frequency": "weekly", "weekday": 4,
            "preset": "braze", "url": receiver.url})
        delivery = Delivery.objects.get()
        assert response.status_code == 302 and (delivery.frequency, delivery.weekday) == ("weekly", 4)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/deliveries/{delivery.pk}/send/")
    assert len(receiver.requests) == 3
    page = client.get(f"/deliveries/{delivery.pk}/").content.decode()
    assert "Delivered" in page and delivery.secret in page
    listing = client.get("/deliveries/").content.decode()
    assert "Win-back" in listing and "Every Friday" in listing


def test_a_marketer_without_personal_data_only_schedules_pseudonymised_deliveries(shop, setup):
    marketer = UserFactory(role="marketer", shops=[shop])
    delivery = delivery_create(shop=shop, segment=setup["segment"], user=marketer, kind="webhook",
                               url="http://127.0.0.1:9/x", pseudonymise=False)
    assert delivery.pseudonymised


@pytest.mark.parametrize("role, offered", [
    ("marketer", ["generic", "spreadsheet", "klaviyo", "braze"]),  # may not see emails: Mailchimp would only refuse
    ("admin", ["generic", "spreadsheet", "klaviyo", "mailchimp", "braze"]),
])
def test_the_form_offers_mailchimp_only_to_a_role_that_may_see_emails(shop, setup, client, role, offered):
    client.force_login(UserFactory(role=role, shops=[shop]))
    html = client.get("/deliveries/").content.decode()
    select = re.search(r'<select name="preset"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)"', select) == offered
    assert ("Mailchimp is not offered" in html) == (role == "marketer")


def test_a_marketer_posting_mailchimp_anyway_is_refused_with_the_reason(shop, setup, client):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    response = client.post("/deliveries/", {"segment": setup["segment"].pk, "kind": "webhook", "frequency": "daily",
                                            "preset": "mailchimp", "url": "http://127.0.0.1:9/x"}, follow=True)
    assert "needs email addresses" in response.content.decode()
    assert not Delivery.objects.exists()


def test_another_shops_user_can_neither_read_nor_send_nor_remove_a_delivery(shop, other_shop, setup, client):
    delivery = webhook(shop, setup, "http://127.0.0.1:9/x")
    client.force_login(UserFactory(role="admin", shops=[other_shop]))
    assert client.get(f"/deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"/deliveries/{delivery.pk}/send/").status_code == 404
    assert client.post(f"/deliveries/{delivery.pk}/delete/").status_code == 404
    assert Delivery.objects.filter(pk=delivery.pk).exists() and not DeliveryRun.objects.exists()


@pytest.mark.parametrize("change", ["removed", "demoted", "deleted"])
def test_a_delivery_with_email_and_name_stops_when_its_creator_may_no_longer_see_them(shop, setup, change):
    # Second replay of issue 16: an admin scheduled a delivery of emails and names to an address of their own,
    # was removed from the shop, and the nightly run went on sending them there.
    from accounts.services import membership_remove, membership_set

    admin = setup["admin"]
    pseudonymised = webhook(shop, setup, "http://127.0.0.1:9/x", pseudonymise=True)
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url)
        if change == "removed":
            membership_remove(shop=shop, user=admin)
        elif change == "demoted":
            membership_set(shop=shop, user=admin, role="marketer")
        else:
            admin.delete()
        delivery_run_task.delay(delivery.pk)
    assert receiver.requests == []
    run = DeliveryRun.objects.get(delivery=delivery)
    assert run.status == "failed" and run.export is None
    assert "may no longer see" in run.error
    assert AuditLog.objects.filter(shop=shop, action="delivery.refused", details__delivery_id=delivery.pk).exists()
    # A pseudonymised delivery carries no personal data: it goes on whoever created it.
    assert delivery_run_start(delivery_id=pseudonymised.pk).batches


# ---- an outside review (a CRM manager): sending twice, a test send, segments under a delivery -------------

def test_send_now_twice_sends_once_and_leaves_the_nights_run_due(shop, setup, client,
                                                                django_capture_on_commit_callbacks):
    client.force_login(setup["admin"])
    with Receiver() as receiver:
        delivery = webhook(shop, setup, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/deliveries/{delivery.pk}/send/")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/deliveries/{delivery.pk}/send/", follow=True)
        assert "Not sent again: a run of this delivery started at" in response.content.decode()
        # Two workers starting it at once: the second finds the first and sends nothing.
        again = delivery_run_start(delivery_id=delivery.pk, manual=True)
        assert again.already and again.batches == []
    assert len(receiver.requests) == 3 and DeliveryRun.objects.count() == 1
    assert DeliveryRun.objects.get().manual
    assert deliveries_due() == [delivery.pk]  # the test send does not stand for tonight's scheduled run
    scheduled = delivery_run_start(delivery_id=delivery.pk)
    assert not scheduled.already and scheduled.batches
    assert delivery_run_start(delivery_id=delivery.pk).already  # a second beat the same night: nothing


def test_a_segment_sent_by_a_delivery_cannot_be_deleted_nor_widened_by_whoever_may_not_see_its_emails(
        shop, setup, client):
    from predictions.filters import AtRiskFilter
    from predictions.models import Segment
    from predictions.services.segments import segment_delete, segment_filters_update

    delivery = webhook(shop, setup, "http://127.0.0.1:9/x")  # emails and names, by the admin
    with pytest.raises(UserError, match="is sent by 1 scheduled delivery"):
        segment_delete(shop=shop, segment=setup["segment"], user=setup["admin"])
    built_on = SegmentFactory(shop=shop, name="Win-back DE", filters={"segment": setup["segment"].pk})
    marketer = UserFactory(role="marketer", shops=[shop])
    widen = AtRiskFilter.from_dict({"churn_min": 0})
    with pytest.raises(UserError, match="feeds a delivery of email addresses and names"):
        segment_filters_update(shop=shop, segment=setup["segment"], user=marketer, flt=widen)
    Segment.objects.filter(pk=setup["segment"].pk).update(filters={})  # (the test's own set-up of the next case)
    delivery.segment = built_on
    delivery.save()
    with pytest.raises(UserError, match="feeds a delivery"):  # the segment a delivered one is built on
        segment_filters_update(shop=shop, segment=setup["segment"], user=marketer, flt=widen)
    segment_filters_update(shop=shop, segment=setup["segment"], user=setup["admin"], flt=widen)
    client.force_login(setup["admin"])
    page = client.post(f"/segments/{built_on.pk}/delete/", follow=True).content.decode()
    assert "is sent by 1 scheduled delivery" in page and Segment.objects.filter(pk=built_on.pk).exists()


def test_the_dashboard_says_when_a_deliverys_last_run_failed(shop, setup, client):
    """An outside review: a failed delivery showed only on its own page."""
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    delivery = webhook(shop, setup, "http://127.0.0.1:9/x")
    DeliveryRun.objects.create(shop=shop, delivery=delivery, status="failed", error="batch 1: HTTP 400")
    page = client.get("/").content.decode()
    assert "A delivery failed: “Win-back” to http://127.0.0.1:9/x" in page and "batch 1: HTTP 400" in page
    assert f"/deliveries/{delivery.pk}/" in page
    DeliveryRun.objects.create(shop=shop, delivery=delivery, status="succeeded")  # sent again since
    assert "A delivery failed" not in client.get("/").content.decode()
