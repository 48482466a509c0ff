"""Scheduled delivery of a segment to a campaign tool: a webhook (JSON batches, signed) or an S3-compatible
bucket (a CSV file, through boto3).

Who is sent is decided exactly as a segment export decides it — `export_create` records a SegmentExport and its
"segment.export" audit entry — so the same rules hold: customers who refused marketing are never members,
customers flagged out of campaign files stay out, an erased customer no longer exists. A webhook batch sent
later than that (a retry) checks consent again (`consent_refused_ids`) and reads the rows at sending time, so
a customer who refused or was erased in between is not sent either.

Webhook batches: POST of a JSON body
    {"delivery": id, "run": id, "segment": name, "preset": key, "batch": n, "batches": total,
     "customers": [{<the preset's column name>: value, ...}, ...]}
with the headers `X-EcomSight-Timestamp` (Unix seconds) and `X-EcomSight-Signature: sha256=<hex>`, the
HMAC-SHA256 under the delivery's secret of "<timestamp>.<body>" (a receiver recomputes it, compares in constant
time and refuses old timestamps). A batch that fails (connection, timeout, 408/425/429/5xx) is tried again by
Celery's retry after DELIVERY_RETRY_BACKOFF_SECONDS × 2^(attempt − 1), at most DELIVERY_MAX_ATTEMPTS tries;
another 4xx is final. Every try is logged (DeliveryAttempt), the shop reads the log on the delivery's page.

S3: the export's CSV (the same file as a download, in the preset's columns) is written to EXPORT_DIR and
uploaded as "<prefix><segment>-<yyyymmdd-hhmm>-<run id>.csv", retried the same way.

Both targets connect to the address checked when sending, not to whatever the name resolves to next (DNS
rebinding: a name checked as public when the delivery is saved can point inside our network by the time it is
sent). The webhook's POST goes through catalog.fetch's checked connection. boto3 would resolve the endpoint's name
itself, so each upload resolves and checks it once (`catalog.fetch.address_pin`) and botocore's `before-send`
event hands every request of the upload (signed by botocore as usual, for the endpoint's name) to a connection
to that address, with the name as Host header and TLS name (`_pinned_send`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import boto3
import boto3.exceptions
import botocore.awsrequest
import botocore.config
import botocore.exceptions
import urllib3
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import AuditLog, Shop
from accounts.permissions import can_view_personal_data
from catalog.fetch import FetchError, FetchPolicy, PinnedAddress, address_pin, checked_post, pinned_pool, url_check
from ecomsight.errors import UserError
from predictions.models import ScoringRun, Segment
from predictions.selectors.segments import consent_refused_ids
from predictions.services.export_presets import PRESETS, file_format, preset_get
from predictions.services.exports import export_stream, record_chunks
from predictions.services.segments import ExportPlan, export_create

from .models import Delivery, DeliveryAttempt, DeliveryRun

SIGNATURE_HEADER = "X-EcomSight-Signature"
TIMESTAMP_HEADER = "X-EcomSight-Timestamp"


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The value of the signature header: "sha256=" + hex HMAC-SHA256(secret, "<timestamp>.<body>")."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def retry_countdown(*, attempt: int) -> int:
    """Seconds to wait after failed try number `attempt` (1, 2, …): exponential back-off."""
    return settings.DELIVERY_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)


def _policy() -> FetchPolicy:
    return FetchPolicy(attempts=1, allow_private=settings.DELIVERY_ALLOW_PRIVATE,
                       # Read on the form and in the delivery's log: the setting (DELIVERY_ALLOW_PRIVATE) is named in
                       # the README only.
                       user_agent="EcomSight-delivery/1.0", private_hint="an administrator can allow private addresses")


def address_check(url: str, *, field: str) -> None:
    """Refuse an address the worker may not reach (a private network, the cloud metadata service) unless
    DELIVERY_ALLOW_PRIVATE: the same check as when it sends (catalog.fetch). Also used for alert webhooks."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError("Give an http:// or https:// address.", field=field)
    if parts.scheme != "https" and not settings.DELIVERY_ALLOW_PRIVATE:
        raise UserError("Use an https:// address: customer data goes over the internet.", field=field)
    try:
        url_check(url, policy=_policy())
    except FetchError as exc:
        raise UserError(f"This address cannot be used: {str(exc).removeprefix('refused: ')}.", field=field) from None


@transaction.atomic
def delivery_create(*, shop: Shop, segment: Segment, user: AbstractBaseUser, kind: str, frequency: str = "daily",
                    weekday: int = 0, preset: str = "generic", pseudonymise: bool = True, url: str = "",
                    endpoint_url: str = "", region: str = "", bucket: str = "", prefix: str = "",
                    access_key_id: str = "", secret_access_key: str = "") -> Delivery:
    """Schedule `segment` for delivery (audited "delivery.create"). A user who may not see personal data can
    only schedule pseudonymised deliveries. A webhook gets a new random secret for its signatures."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    if kind not in Delivery.Kind.values:
        raise UserError("Choose a webhook or an S3 bucket.", field="kind")
    if frequency not in Delivery.Frequency.values:
        raise UserError("Choose every day or once a week.", field="frequency")
    if not 0 <= weekday <= 6:
        raise UserError("Choose a day of the week.", field="weekday")
    pseudonymised = bool(pseudonymise) or not can_view_personal_data(user, shop)
    preset = preset_get(preset, pseudonymised=pseudonymised).key
    fields = {}
    if kind == Delivery.Kind.WEBHOOK:
        url = url.strip()
        address_check(url, field="url")
        fields = {"url": url, "secret": secrets.token_hex(32)}
    else:
        if not bucket.strip():
            raise UserError("Give the bucket's name.", field="bucket")
        if not access_key_id.strip() or not secret_access_key:
            raise UserError("Give the access key id and secret the bucket accepts.", field="access_key_id")
        if endpoint_url.strip():
            address_check(endpoint_url.strip(), field="endpoint_url")
        fields = {"endpoint_url": endpoint_url.strip(), "region": region.strip(), "bucket": bucket.strip(),
                  "prefix": prefix.strip().lstrip("/"), "access_key_id": access_key_id.strip(),
                  "secret_access_key": secret_access_key}
    delivery = Delivery.objects.create(shop=shop, segment=segment, kind=kind, frequency=frequency, weekday=weekday,
                                       preset=preset, pseudonymised=pseudonymised, created_by=user, **fields)
    AuditLog.objects.create(shop=shop, user=user, action="delivery.create", target=segment.name,
                            details={"delivery_id": delivery.pk, "kind": kind, "target": delivery.target,
                                     "frequency": frequency, "weekday": weekday, "preset": preset,
                                     "pseudonymised": pseudonymised})
    return delivery


@transaction.atomic
def delivery_delete(*, shop: Shop, delivery: Delivery, user: AbstractBaseUser) -> None:
    """Stop and remove a delivery (audited "delivery.delete"); its log goes with it, the audit entries stay."""
    if delivery.shop_id != shop.pk:
        raise UserError("No such delivery.")
    AuditLog.objects.create(shop=shop, user=user, action="delivery.delete", target=delivery.segment.name,
                            details={"delivery_id": delivery.pk, "kind": delivery.kind, "target": delivery.target})
    delivery.delete()


def deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Ids of the active deliveries to send now: daily ones, and weekly ones on their weekday, that have not
    started a scheduled run yet today (UTC) — so a second beat the same day sends nothing twice. A "Send now"
    earlier the same day does not count: the night's run sends the night's scores."""
    now = (now or timezone.now()).astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    ran_today = DeliveryRun.objects.filter(started_at__gte=midnight, manual=False).values("delivery_id")
    due = Delivery.objects.filter(active=True).exclude(pk__in=ran_today).exclude(
        frequency=Delivery.Frequency.WEEKLY, weekday__in=[d for d in range(7) if d != now.weekday()])
    return sorted(due.values_list("pk", flat=True))


@dataclass(frozen=True)
class RunStarted:
    """A delivery run decided: its id and, for a webhook, the customer ids of each batch to send; for a bucket,
    `upload`: the file is written, upload it."""

    run_id: int
    batches: list[list[int]]
    upload: bool = False
    # Nothing started: this run is another one, still sending or just started (a double "Send now", a second
    # beat the same night).
    already: bool = False


# A run still "sending" this long after it started lost its worker: it no longer holds back a "Send now".
RUN_STALE = timedelta(hours=1)
# A "Send now" this soon after the delivery's last run started is the same click twice.
SEND_AGAIN_AFTER = timedelta(seconds=60)


def delivery_run_busy(*, delivery: Delivery, manual: bool, now: datetime | None = None) -> DeliveryRun | None:
    """The run that a new one would repeat, or None: for "Send now" a run still sending (started within
    RUN_STALE) or started within SEND_AGAIN_AFTER; for the schedule, a scheduled run started today (UTC)."""
    now = now or timezone.now()
    runs = DeliveryRun.objects.filter(delivery=delivery).order_by("-started_at", "-id")
    if manual:
        return (runs.filter(status=DeliveryRun.Status.RUNNING, started_at__gte=now - RUN_STALE).first()
                or runs.filter(started_at__gte=now - SEND_AGAIN_AFTER).first())
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return runs.filter(manual=False, started_at__gte=midnight).first()


@transaction.atomic
def delivery_run_start(*, delivery_id: int, manual: bool = False) -> RunStarted:
    """Decide who is sent (an export of the segment, recorded and audited as every export is, with the
    delivery named), open a DeliveryRun and cut the customers into batches of DELIVERY_BATCH_SIZE. The
    delivery's row is locked first, so two starts at once (a double click on "Send now", two beats) run one
    after the other and the second finds the first (`delivery_run_busy`) and sends nothing."""
    delivery = Delivery.objects.select_for_update(of=("self",)).select_related(
        "shop", "segment", "created_by").get(pk=delivery_id)
    busy = delivery_run_busy(delivery=delivery, manual=manual)
    if busy is not None:
        return RunStarted(run_id=busy.pk, batches=[], already=True)
    if not delivery.pseudonymised and not (delivery.created_by is not None
                                           and can_view_personal_data(delivery.created_by, delivery.shop)):
        return _run_refused(delivery, manual=manual)
    plan = export_create(shop=delivery.shop, segment=delivery.segment, user=None,
                         pseudonymise=delivery.pseudonymised, preset=delivery.preset,
                         audit={"delivery_id": delivery.pk, "delivery_kind": delivery.kind})
    size = settings.DELIVERY_BATCH_SIZE
    batches = [plan.customer_ids[i:i + size] for i in range(0, len(plan.customer_ids), size)]
    run = DeliveryRun.objects.create(shop=delivery.shop, delivery=delivery, export=plan.export, manual=manual,
                                     scoring_run_id=plan.run.pk if plan.run else None,
                                     batches=len(batches) if delivery.kind == Delivery.Kind.WEBHOOK else 1)
    AuditLog.objects.create(shop=delivery.shop, user=None, action="delivery.run", target=delivery.segment.name,
                            details={"delivery_id": delivery.pk, "run_id": run.pk, "export_id": plan.export.pk,
                                     "kind": delivery.kind, "target": delivery.target,
                                     "customers": len(plan.customer_ids), "batches": run.batches,
                                     "left_out_no_consent": plan.left_out_no_consent})
    if delivery.kind == Delivery.Kind.S3:
        # The CSV is written now, from the customers just decided, and kept in EXPORT_DIR (FILE_RETENTION_DAYS)
        # for the upload and its retries.
        for _ in export_stream(plan=plan):
            pass
        return RunStarted(run_id=run.pk, batches=[], upload=True)
    if not batches:  # an empty segment: nothing to send, done
        DeliveryRun.objects.filter(pk=run.pk).update(status=DeliveryRun.Status.SUCCEEDED, finished_at=timezone.now())
    return RunStarted(run_id=run.pk, batches=batches)


def _run_refused(delivery: Delivery, *, manual: bool) -> RunStarted:
    """A delivery of emails and names whose creator may no longer see them in the shop (removed, demoted, or
    deleted) sends nothing: as their API tokens stop, so does the feed they chose. The run is logged as failed
    and audited; an admin of the shop schedules it again (or a pseudonymised one)."""
    creator = delivery.created_by.get_username() if delivery.created_by is not None else "a deleted user"
    error = (f"Not sent: this delivery carries email addresses and names, and its creator ({creator}) may no "
             "longer see them in this shop. An admin can schedule it again, or a pseudonymised one.")
    run = DeliveryRun.objects.create(shop=delivery.shop, delivery=delivery, status=DeliveryRun.Status.FAILED,
                                     error=error, finished_at=timezone.now(), manual=manual)
    AuditLog.objects.create(shop=delivery.shop, user=None, action="delivery.refused", target=delivery.segment.name,
                            details={"delivery_id": delivery.pk, "run_id": run.pk, "kind": delivery.kind,
                                     "target": delivery.target, "created_by": creator})
    return RunStarted(run_id=run.pk, batches=[])


def _plan(run: DeliveryRun, customer_ids: list[int]) -> ExportPlan:
    scoring_run = ScoringRun.objects.filter(pk=run.scoring_run_id, shop_id=run.shop_id).first()
    return ExportPlan(export=run.export, run=scoring_run, customer_ids=customer_ids,
                      pseudonymised=run.export.pseudonymised)


def webhook_body(*, run: DeliveryRun, batch: int, customer_ids: list[int]) -> tuple[bytes, int]:
    """The JSON body of one batch and how many customers it holds: their rows read now, in the preset's column
    names, without those who refused marketing since (or were erased: they have no rows). Offers are drawn and
    logged as for any export; a retry within 24 hours gets the same ones (offers_assign reuses them)."""
    delivery, export = run.delivery, run.export
    refused = consent_refused_ids(shop=run.shop, customer_ids=customer_ids)
    ids = [c for c in customer_ids if c not in refused]
    preset = preset_get(export.preset, pseudonymised=export.pseudonymised)
    names = dict(preset.columns)
    fields = preset.fields(pseudonymised=export.pseudonymised)
    customers = [{names[f]: preset.value(f, record[f]) for f in fields}
                 for _, records in record_chunks(_plan(run, ids)) for record in records]
    body = json.dumps({"delivery": delivery.pk, "run": run.pk, "segment": delivery.segment.name,
                       "preset": preset.key, "batch": batch, "batches": run.batches, "customers": customers},
                      separators=(",", ":"), default=str).encode()
    return body, len(customers)


@dataclass(frozen=True)
class AttemptOutcome:
    """One try: sent or not, and if not whether another try follows, after how many seconds."""

    ok: bool
    retry_in: int | None = None


def webhook_post(*, url: str, secret: str, body: bytes) -> int:
    """POST a JSON `body` to `url` once, signed (TIMESTAMP_HEADER, SIGNATURE_HEADER under `secret`), through the
    SSRF-checked client; returns the status. FetchError when it fails (`.retry`: worth another try). The segment
    batches here and the forecasts app's alert webhook both send through it."""
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: signature(secret=secret, timestamp=timestamp, body=body)}
    return checked_post(url, body=body, headers=headers, policy=_policy())


def webhook_batch_send(*, run_id: int, batch: int, customer_ids: list[int], attempt: int) -> AttemptOutcome:
    """Try once to POST batch `batch` of the run, signed; log the try, and close the run once every batch is
    sent or given up."""
    run = DeliveryRun.objects.select_related("delivery__segment", "export", "shop").get(pk=run_id)
    body, rows = webhook_body(run=run, batch=batch, customer_ids=customer_ids)
    try:
        status = webhook_post(url=run.delivery.url, secret=run.delivery.secret, body=body)
    except FetchError as exc:
        return _attempt_failed(run=run, batch=batch, attempt=attempt, error=str(exc), retry=exc.retry,
                               status_code=exc.status)
    DeliveryAttempt.objects.create(run=run, batch=batch, attempt=attempt, ok=True, status_code=status, rows=rows)
    DeliveryRun.objects.filter(pk=run.pk).update(batches_sent=F("batches_sent") + 1, rows=F("rows") + rows)
    _run_close_if_done(run.pk)
    return AttemptOutcome(ok=True)


def _attempt_failed(*, run: DeliveryRun, batch: int, attempt: int, error: str, retry: bool,
                    status_code: int | None = None) -> AttemptOutcome:
    retry_in = retry_countdown(attempt=attempt) if retry and attempt < settings.DELIVERY_MAX_ATTEMPTS else None
    DeliveryAttempt.objects.create(run=run, batch=batch, attempt=attempt, ok=False, status_code=status_code,
                                   error=error[:1000], retry_in_seconds=retry_in)
    if retry_in is None:  # given up: the batch is failed, the run fails once every batch has ended
        DeliveryRun.objects.filter(pk=run.pk).update(batches_failed=F("batches_failed") + 1,
                                                     error=f"batch {batch}: {error}"[:2000])
        AuditLog.objects.create(shop=run.shop, user=None, action="delivery.failed",
                                target=run.delivery.segment.name,
                                details={"delivery_id": run.delivery_id, "run_id": run.pk, "batch": batch,
                                         "attempts": attempt, "error": error[:500]})
        _run_close_if_done(run.pk)
    return AttemptOutcome(ok=False, retry_in=retry_in)


def _run_close_if_done(run_id: int) -> None:
    DeliveryRun.objects.filter(pk=run_id, batches_failed=0, batches_sent__gte=F("batches")).update(
        status=DeliveryRun.Status.SUCCEEDED, finished_at=timezone.now())
    DeliveryRun.objects.filter(pk=run_id, batches_failed__gt=0).filter(
        batches_sent__lt=F("batches")).filter(batches=F("batches_sent") + F("batches_failed")).update(
        status=DeliveryRun.Status.FAILED, finished_at=timezone.now())


def s3_client(delivery: Delivery):
    """A boto3 S3 client for the delivery's bucket (one try per call: our retry is Celery's, logged), whose
    requests all go to the endpoint's address as resolved and checked now (FetchError if it may not be reached)."""
    client = boto3.client(
        "s3", endpoint_url=delivery.endpoint_url or None, region_name=delivery.region or "us-east-1",
        aws_access_key_id=delivery.access_key_id, aws_secret_access_key=delivery.secret_access_key,
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                                      read_timeout=60, s3={"addressing_style": "path"}))
    policy = _policy()
    pin = address_pin(client.meta.endpoint_url, policy=policy)
    pool = pinned_pool(pin, policy)

    def send(request, **kwargs):
        return _pinned_send(request, pin=pin, pool=pool)

    client.meta.events.register("before-send.s3", send)
    return client


def _pinned_send(request, *, pin: PinnedAddress, pool: urllib3.HTTPConnectionPool):
    """Send botocore's prepared (signed) request to the pinned address; the response botocore reads instead of
    sending it itself. Connection failures raise botocore's own errors, so they read and retry as before."""
    if not pin.serves(request.url):  # path-style requests all go to the endpoint; anything else is refused
        raise FetchError(f"refused: the upload asked for another host than the checked endpoint ({request.url})")
    parts = urlsplit(request.url)
    # Host as botocore signed it; "Expect: 100-continue" is botocore's own connection's business (not signed).
    headers = {key: value for key, value in request.headers.items() if key.lower() not in ("host", "expect")}
    headers["Host"] = pin.host_header
    encoding = request.headers.get("Transfer-Encoding", b"")
    chunked = (encoding.encode() if isinstance(encoding, str) else encoding).lower() == b"chunked"
    try:
        response = pool.urlopen(request.method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                                body=request.body, headers=headers, retries=False, redirect=False,
                                assert_same_host=False, preload_content=False, decode_content=False,
                                chunked=chunked, enforce_content_length=False)
    except urllib3.exceptions.SSLError as exc:
        raise botocore.exceptions.SSLError(endpoint_url=request.url, error=exc) from exc
    except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError) as exc:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url=request.url, error=exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise botocore.exceptions.ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
    except (urllib3.exceptions.ProtocolError, OSError) as exc:
        raise botocore.exceptions.ConnectionClosedError(endpoint_url=request.url, error=exc) from exc
    answer = botocore.awsrequest.AWSResponse(request.url, response.status, response.headers, response)
    if not request.stream_output:
        answer.content  # read now, as botocore's own session does  # noqa: B018
    return answer


def s3_key(*, run: DeliveryRun) -> str:
    """"<prefix><segment slug>-<yyyymmdd-hhmm>-<run id>.csv"."""
    name = slugify(run.delivery.segment.name) or "segment"
    prefix = run.delivery.prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}{name}-{run.started_at:%Y%m%d-%H%M}-{run.pk}.csv"


def s3_upload(*, run_id: int, attempt: int) -> AttemptOutcome:
    """Try once to put the run's CSV (written by delivery_run_start) in the bucket; the try is logged, a success
    closes the run."""
    run = DeliveryRun.objects.select_related("delivery__segment", "export", "shop").get(pk=run_id)
    export = run.export
    key = s3_key(run=run)
    try:
        client = s3_client(run.delivery)
    except FetchError as exc:  # the endpoint's name now points where we may not go, or does not resolve
        return _attempt_failed(run=run, batch=1, attempt=attempt, error=str(exc), retry=exc.retry,
                               status_code=None)
    try:
        client.upload_file(export.file_path, run.delivery.bucket, key,
                                            ExtraArgs={"ContentType": file_format(export.preset).content_type})
    except FetchError as exc:  # refused by `_pinned_send`
        return _attempt_failed(run=run, batch=1, attempt=attempt, error=str(exc), retry=exc.retry)
    except (boto3.exceptions.Boto3Error, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
            OSError) as exc:
        cause = exc if isinstance(exc, botocore.exceptions.ClientError) else exc.__cause__ or exc.__context__
        code = (cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if isinstance(cause, botocore.exceptions.ClientError) else None)
        final = code is not None and 400 <= code < 500 and code not in (408, 429)  # a refusal, not a hiccup
        # boto3 names the local file it was uploading ("Failed to upload /srv/…/28.csv to bucket/key"): the log the
        # shop reads names the export's file, not where this server keeps it.
        error = f"{type(exc).__name__}: {exc}".replace(export.file_path, os.path.basename(export.file_path))
        return _attempt_failed(run=run, batch=1, attempt=attempt, error=error, retry=not final, status_code=code)
    DeliveryAttempt.objects.create(run=run, batch=1, attempt=attempt, ok=True, status_code=200, rows=export.rows)
    DeliveryRun.objects.filter(pk=run.pk).update(batches_sent=1, rows=export.rows, location=key,
                                                 status=DeliveryRun.Status.SUCCEEDED, finished_at=timezone.now())
    return AttemptOutcome(ok=True)


def preset_label(key: str) -> str:
    preset = PRESETS.get(key)
    return preset.label if preset else key
