"""Event retention: each shop says how long raw events are kept (Shop.event_retention_days; None, the default,
keeps them for ever); the nightly housekeeping deletes older ones in batches, so no single statement holds
locks on millions of rows or bloats the WAL at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import AuditLog, Shop
from behavior.models import Event

logger = logging.getLogger("ecomsight.retention")

BATCH = 10_000


@dataclass(frozen=True)
class RetentionResult:
    shop: str
    retention_days: int | None
    deleted: int
    batches: int


def events_retention_apply(*, shop: Shop, batch_size: int = BATCH, now=None) -> RetentionResult:
    """Delete `shop`'s events that occurred more than `shop.event_retention_days` ago, `batch_size` at a time
    (each batch its own transaction). Says how many (log line and an audit row when any went)."""
    days = shop.event_retention_days
    if not days:
        return RetentionResult(shop=shop.slug, retention_days=None, deleted=0, batches=0)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = batches = 0
    while True:
        with transaction.atomic():
            ids = list(Event.objects.filter(shop=shop, occurred_at__lt=cutoff).values_list("pk", flat=True)
                       [:batch_size])
            if not ids:
                break
            count, _ = Event.objects.filter(pk__in=ids).delete()
        deleted += count
        batches += 1
    if deleted:
        AuditLog.objects.create(shop=shop, action="events.retention", target=f"{days} days",
                                details={"deleted": deleted, "before": cutoff.isoformat(), "batches": batches})
    logger.info("retention %s: %d events older than %d days deleted in %d batches", shop.slug, deleted, days,
                batches)
    return RetentionResult(shop=shop.slug, retention_days=days, deleted=deleted, batches=batches)
