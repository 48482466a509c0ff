"""A shop's alert webhook: new alerts POSTed as signed JSON through the deliveries app's sender (the same
signature headers as segment deliveries: `X-EcomSight-Timestamp`, `X-EcomSight-Signature: sha256=<HMAC-SHA256
of "<timestamp>.<body>">`), retried by Celery after DELIVERY_RETRY_BACKOFF_SECONDS × 2^(attempt − 1), at most
DELIVERY_MAX_ATTEMPTS tries; a refusal (4xx other than 408/425/429) is final.

Body: {"shop": slug, "alerts": [{"id", "metric", "segment", "date", "end", "direction", "expected", "actual",
"score", "url"}]} — `date` is the alert's first day, as in `detect_anomalies`."""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Shop
from catalog.fetch import FetchError
from deliveries.services import AttemptOutcome, address_check, retry_countdown, webhook_post

from ..models import Alert, AlertWebhook


@transaction.atomic
def alert_webhook_set(*, shop: Shop, user: AbstractBaseUser, url: str) -> AlertWebhook:
    """Send the shop's new alerts to `url` (https, a reachable public address: the deliveries' check). A new
    webhook gets a random signing secret; changing the address keeps it. Audited "alerts.webhook.set"."""
    url = (url or "").strip()
    address_check(url, field="url")
    hook = AlertWebhook.objects.filter(shop=shop).first()
    if hook is None:
        hook = AlertWebhook.objects.create(shop=shop, url=url, secret=secrets.token_hex(32), created_by=user)
    else:
        hook.url = url
        hook.save(update_fields=["url"])
    AuditLog.objects.create(shop=shop, user=user, action="alerts.webhook.set", target=url, details={})
    return hook


@transaction.atomic
def alert_webhook_remove(*, shop: Shop, user: AbstractBaseUser) -> None:
    """Stop sending alerts to a webhook (audited "alerts.webhook.remove")."""
    hook = AlertWebhook.objects.filter(shop=shop).first()
    if hook is not None:
        AuditLog.objects.create(shop=shop, user=user, action="alerts.webhook.remove", target=hook.url, details={})
        hook.delete()


def alert_webhook_enqueue(*, shop: Shop, alerts: list[Alert]) -> bool:
    """After the commit, send these alerts to the shop's webhook (if it has one). Returns whether one is sent."""
    if not alerts or not AlertWebhook.objects.filter(shop=shop).exists():
        return False
    from ..tasks import alert_webhook_task  # tasks import the services

    shop_id, ids = shop.pk, [a.pk for a in alerts]
    transaction.on_commit(lambda: alert_webhook_task.delay(shop_id, ids), robust=True)
    return True


def alert_webhook_body(*, shop: Shop, alerts: list[Alert]) -> bytes:
    page = reverse("forecasts:alerts")
    items = [{"id": a.pk, "metric": a.metric, "segment": a.segment, "date": a.start.isoformat(),
              "end": a.end.isoformat(), "direction": a.direction, "expected": round(a.expected, 3),
              "actual": round(a.actual, 3), "score": round(a.score, 2), "url": page} for a in alerts]
    return json.dumps({"shop": shop.slug, "alerts": items}, separators=(",", ":")).encode()


def alert_webhook_send(*, shop_id: int, alert_ids: list[int], attempt: int) -> AttemptOutcome:
    """Try once to POST the alerts to the shop's webhook; keep the outcome on the webhook row. A removed webhook
    or alerts gone since: nothing to send."""
    hook = AlertWebhook.objects.select_related("shop").filter(shop_id=shop_id).first()
    alerts = list(Alert.objects.filter(shop_id=shop_id, pk__in=alert_ids).order_by("start", "metric", "segment"))
    if hook is None or not alerts:
        return AttemptOutcome(ok=False)
    try:
        status = webhook_post(url=hook.url, secret=hook.secret,
                              body=alert_webhook_body(shop=hook.shop, alerts=alerts))
    except FetchError as exc:
        retry_in = retry_countdown(attempt=attempt) if exc.retry and attempt < settings.DELIVERY_MAX_ATTEMPTS else None
        AlertWebhook.objects.filter(pk=hook.pk).update(last_status=exc.status, last_error=str(exc)[:1000])
        if retry_in is None:
            AuditLog.objects.create(shop=hook.shop, user=None, action="alerts.webhook.failed", target=hook.url,
                                    details={"alerts": len(alerts), "attempts": attempt, "error": str(exc)[:500]})
        return AttemptOutcome(ok=False, retry_in=retry_in)
    AlertWebhook.objects.filter(pk=hook.pk).update(last_status=status, last_error="", last_sent_at=timezone.now())
    return AttemptOutcome(ok=True)
