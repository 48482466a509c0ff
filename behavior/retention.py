"""Event retention: each shop says how long raw events are kept (Shop.event_retention_days; None or 0, the
default, keeps them for ever). Nightly (`events_retention_run`, from the housekeeping task):

1. **Whole months are dropped.** behavior_event is partitioned by month (behavior.partitions). A month's
   partition whose every event belongs to a shop whose retention has passed the month's end is dropped: one
   statement instead of millions of deletes, no dead rows, no WAL for each row. A partition holding any event
   of a shop that keeps events for ever, or whose cutoff falls inside or before the month, stays.
2. **What is left is deleted in batches**, shop by shop, so no single statement holds locks on millions of rows
   or bloats the WAL at once. Every statement carries `occurred_at < cutoff`, so it touches only the
   partitions before the cutoff (plan-time pruning).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from accounts.models import AuditLog, Shop
from behavior.models import Event
from behavior.partitions import event_partitions, month_bounds

logger = logging.getLogger("ecomsight.retention")

BATCH = 10_000
# DROP TABLE of a partition locks behavior_event (ACCESS EXCLUSIVE): past this wait for the readers of events, the
# month is left to the batched DELETE (and the next night).
DROP_LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class RetentionResult:
    shop: str
    retention_days: int | None
    deleted: int
    batches: int


@dataclass(frozen=True)
class PartitionsExpired:
    """Month partitions dropped by retention, and how many events each shop lost with them."""
    partitions: tuple[str, ...]
    deleted: dict[str, int]


def events_retention_run(*, now: datetime | None = None) -> dict[str, int]:
    """The nightly retention: expired month partitions dropped, then each shop's remaining expired events deleted
    in batches. Returns, per shop with a retention, how many events went (both ways together)."""
    now = now or timezone.now()
    expired = event_partitions_expire(now=now)
    return {shop.slug: expired.deleted.get(shop.slug, 0) + events_retention_apply(shop=shop, now=now).deleted
            for shop in Shop.objects.exclude(event_retention_days=None)}


def event_partitions_expire(*, now: datetime | None = None) -> PartitionsExpired:
    """Drop each month partition whose events are all past their shop's retention (an audit row per shop that
    lost events with it). A partition that is empty is dropped only when some shop's retention reaches past it
    (so that nothing is dropped while no shop has a retention)."""
    now = now or timezone.now()
    dropped: list[str] = []
    deleted: Counter[str] = Counter()
    for month, name in sorted(event_partitions().items()):
        _, end = month_bounds(month)
        if end > now:
            break
        counts = _partition_drop_if_expired(name=name, end=end, now=now)
        if counts is None:
            continue
        dropped.append(name)
        shops = {shop.pk: shop for shop in Shop.objects.filter(pk__in=counts)}
        for shop_id, count in counts.items():
            shop = shops.get(shop_id)
            if shop is None:  # events of a deleted shop (no FK constraint): nobody to tell
                continue
            deleted[shop.slug] += count
            AuditLog.objects.create(shop=shop, action="events.retention", target=f"{shop.event_retention_days} days",
                                    details={"deleted": count, "partition": name, "before": end.isoformat()})
    if dropped:
        logger.info("retention: partitions %s dropped (%s)", ", ".join(dropped),
                    ", ".join(f"{slug}: {count}" for slug, count in sorted(deleted.items())))
    return PartitionsExpired(partitions=tuple(dropped), deleted=dict(deleted))


def _partition_drop_if_expired(*, name: str, end: datetime, now: datetime) -> dict[int, int] | None:
    """Drop partition `name` (events before `end`) when all its events are expired; returns events per shop id
    that went with it, or None when it stays."""
    # A shop's events here are all expired when the shop has a retention and its cutoff (now - days) is at or
    # after the month's end.
    keeps = ("(s.event_retention_days IS NULL OR s.event_retention_days = 0 "
             "OR %(now)s - make_interval(days => s.event_retention_days) < %(end)s)")
    with transaction.atomic(), connection.cursor() as cursor:
        # behavior_event is locked (the lock DROP needs anyway, taken first as every writer takes it first) before
        # the partition is checked: an import still writing that month (a backfill of a shop that keeps its events)
        # waits, so no row can arrive between the checks and the DROP. ONLY: not every partition.
        if not _under_lock_timeout(cursor, "LOCK TABLE ONLY behavior_event IN ACCESS EXCLUSIVE MODE", name):
            return None
        # One index probe per shop (the unique key leads with shop_id), not a scan of the partition.
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM accounts_shop s WHERE {keeps} "
                       f"AND EXISTS (SELECT 1 FROM {name} e WHERE e.shop_id = s.id))", {"now": now, "end": end})
        if cursor.fetchone()[0]:
            return None
        cursor.execute(f"SELECT shop_id, count(*) FROM {name} GROUP BY shop_id")
        counts = dict(cursor.fetchall())
        if not counts:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM accounts_shop s WHERE NOT {keeps})",
                           {"now": now, "end": end})
            if not cursor.fetchone()[0]:
                return None
        if not _under_lock_timeout(cursor, f"DROP TABLE {name}", name):
            return None
    return counts


def _under_lock_timeout(cursor, statement: str, name: str) -> bool:
    """Run `statement` waiting at most DROP_LOCK_TIMEOUT for its locks (a savepoint: a timeout undoes this step
    only; locks taken are kept until the transaction ends); False when it timed out."""
    cursor.execute("SELECT current_setting('lock_timeout')")
    before = cursor.fetchone()[0]
    try:
        with transaction.atomic():
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [DROP_LOCK_TIMEOUT])
            cursor.execute(statement)
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
    except OperationalError as exc:
        if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
            raise
        logger.warning("retention: %s not dropped (it stayed locked for %s); its expired events are deleted in "
                       "batches instead", name, DROP_LOCK_TIMEOUT)
        return False
    return True


def events_retention_apply(*, shop: Shop, batch_size: int = BATCH, now=None) -> RetentionResult:
    """Delete `shop`'s events that occurred more than `shop.event_retention_days` ago, `batch_size` at a time
    (each batch its own transaction). Says how many (log line and an audit row when any went).

    Each statement is bounded by the cutoff, so it reads and deletes in the partitions before it only."""
    days = shop.event_retention_days
    if not days:
        return RetentionResult(shop=shop.slug, retention_days=None, deleted=0, batches=0)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = Event.objects.filter(shop=shop, occurred_at__lt=cutoff)
    deleted = batches = 0
    while True:
        with transaction.atomic():
            ids = list(expired.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            count, _ = expired.filter(pk__in=ids).delete()
        deleted += count
        batches += 1
    if deleted:
        AuditLog.objects.create(shop=shop, action="events.retention", target=f"{days} days",
                                details={"deleted": deleted, "before": cutoff.isoformat(), "batches": batches})
    logger.info("retention %s: %d events older than %d days deleted in %d batches", shop.slug, deleted, days,
                batches)
    return RetentionResult(shop=shop.slug, retention_days=days, deleted=deleted, batches=batches)
