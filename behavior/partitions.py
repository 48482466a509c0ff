"""Events partitioned by month: behavior_event is a PostgreSQL range-partitioned table on `occurred_at`
(migration 0015 converted it), one partition per calendar month in UTC (`behavior_event_p2024_01` holds
[2024-01-01, 2024-02-01) UTC), plus a DEFAULT partition (`behavior_event_default`) for a month that has none.

Why, and the rules this module keeps:
- **Rows are never lost for want of a partition.** The DEFAULT partition takes any row whose month has no
  partition (an ORM insert, a writer that could not create its month in time). It is meant to stay empty:
  `event_months_ensure` creates a month's partition before rows arrive (the importer and the API's writer call
  it for the months of each batch; the nightly housekeeping creates the coming months), and moves rows the
  DEFAULT partition holds for that month into it.
- **Partition DDL is short and serialised.** A new partition is created as a plain table and then ATTACHed:
  ATTACH takes only SHARE UPDATE EXCLUSIVE on behavior_event (imports and reads go on), but ACCESS EXCLUSIVE on
  the DEFAULT partition, which every read without a time bound also locks. So the lock on the DEFAULT partition
  is asked for with a short `lock_timeout` (PARTITION_LOCK_TIMEOUT): behind a long read the writer gives up
  creating the month at once, its rows go to the DEFAULT partition, and the next ensure (another batch, the
  nightly housekeeping) moves them. Concurrent ensures (two imports meeting a new month) are serialised by a
  transaction-scoped advisory lock; the second finds the month created and does nothing.
- **Bounds are UTC months**, computed the same way in Python and SQL, and the names follow them, so a month's
  partition is found by name (`partition_name`).

Retention (`behavior.retention`) drops the partitions whose every row is past its shop's retention; time-range
reads (`occurred_at >= …`) touch only the partitions of their range (plan-time pruning: the project's queries
send their bounds as literals).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import psycopg
from django.db import OperationalError, connection, transaction

from ecomsight.db import sql_with_values

logger = logging.getLogger("ecomsight.partitions")

PARENT = "behavior_event"
DEFAULT_PARTITION = "behavior_event_default"
# Months created ahead of today by the nightly housekeeping, so that live events (the API) never wait for DDL.
MONTHS_AHEAD = 3
# How long creating a partition waits for the DEFAULT partition's lock before leaving the rows there.
PARTITION_LOCK_TIMEOUT = "2s"
# pg_advisory_xact_lock key for partition DDL on behavior_event (no other advisory lock in the project).
PARTITION_DDL_LOCK = 0x6576_656E_7473  # "events"
_NAME = re.compile(r"^behavior_event_p(\d{4})_(\d{2})$")


@dataclass(frozen=True)
class EnsureResult:
    """What `event_months_ensure` did: partitions created (names), rows moved out of the DEFAULT partition, and
    months left to the DEFAULT partition because its lock was not granted in time."""
    created: tuple[str, ...] = ()
    moved: int = 0
    deferred: tuple[date, ...] = ()


def month_start(moment: datetime | date) -> date:
    """The first day of `moment`'s month, in UTC (a naive datetime is taken as UTC)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return date(moment.year, moment.month, 1)
    return date(moment.year, moment.month, 1)


def month_next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the month in UTC: the partition's bounds."""
    return (datetime(month.year, month.month, 1, tzinfo=UTC),
            datetime(month_next(month).year, month_next(month).month, 1, tzinfo=UTC))


def partition_name(month: date) -> str:
    return f"behavior_event_p{month.year:04d}_{month.month:02d}"


def months_of_iso(moments: Iterable[str]) -> set[date]:
    """The UTC months of canonical ISO datetimes (the importer's `occurred_at` text: UTC, `YYYY-MM-…`)."""
    return {date(int(prefix[:4]), int(prefix[5:7]), 1) for prefix in {moment[:7] for moment in moments}}


def event_partitions(cursor=None) -> dict[date, str]:
    """The month partitions of behavior_event that exist now: month → table name (the DEFAULT one excluded)."""
    def read(cur) -> dict[date, str]:
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = %s::regclass", [PARENT])
        found = {}
        for (name,) in cur.fetchall():
            match = _NAME.match(name)
            if match:
                found[date(int(match[1]), int(match[2]), 1)] = name
        return found

    if cursor is not None:
        return read(cursor)
    with connection.cursor() as cur:
        return read(cur)


def event_months_ensure(*, months: Iterable[date], cursor=None) -> EnsureResult:
    """Make sure each of `months` (first days, UTC) has its partition, inside the caller's transaction.

    Cheap when they all exist (one catalogue query, no lock). Otherwise, under the advisory lock, for each month
    still missing: a plain table `LIKE behavior_event`, the DEFAULT partition's rows of that month moved into it,
    ATTACHed. When the locks ATTACH needs are not granted within PARTITION_LOCK_TIMEOUT (a long read holds the
    DEFAULT partition), nothing is created for the remaining months: their rows go to the DEFAULT partition and
    a later ensure moves them. Call it before the batch reads or writes behavior_event, so that the transaction
    holds no lock on the DEFAULT partition that a concurrent ensure would wait for."""
    wanted = {month_start(month) for month in months}
    if not wanted:
        return EnsureResult()
    if cursor is None:
        with connection.cursor() as cur:
            return event_months_ensure(months=wanted, cursor=cur)
    if wanted <= event_partitions(cursor).keys():
        return EnsureResult()
    with transaction.atomic():  # the advisory lock lasts until the caller's transaction ends
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_DDL_LOCK])
        missing = sorted(wanted - event_partitions(cursor).keys())  # another transaction may have made them
        if not missing:
            return EnsureResult()
        created: list[str] = []
        moved = 0
        try:
            with transaction.atomic():  # a savepoint: a lock timeout undoes this step only (and the SET LOCAL)
                cursor.execute("SELECT current_setting('lock_timeout')")
                before = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [PARTITION_LOCK_TIMEOUT])
                # What ATTACH takes, asked for first under the timeout: behavior_event itself (only DDL and
                # retention's DROP conflict), then the DEFAULT partition (every read of it conflicts).
                cursor.execute(f"LOCK TABLE {PARENT} IN SHARE UPDATE EXCLUSIVE MODE")
                cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE")
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [before])
                for month in missing:
                    moved += _partition_create(cursor, month)
                    created.append(partition_name(month))
        except OperationalError as exc:
            if not isinstance(exc.__cause__, psycopg.errors.LockNotAvailable):
                raise
            logger.warning("partitions for %s not created: %s stayed locked for %s; their events go there until "
                           "the next ensure", ", ".join(m.isoformat() for m in missing), DEFAULT_PARTITION,
                           PARTITION_LOCK_TIMEOUT)
            return EnsureResult(deferred=tuple(missing))
    logger.info("event partitions created: %s (%d rows moved from %s)", ", ".join(created), moved,
                DEFAULT_PARTITION)
    return EnsureResult(created=tuple(created), moved=moved)


def _partition_create(cursor, month: date) -> int:
    """Create `month`'s partition (the DEFAULT partition already locked), moving its rows out of the DEFAULT
    partition; returns the rows moved."""
    name = partition_name(month)
    start, end = month_bounds(month)
    # LIKE copies columns, NOT NULLs and defaults (not the identity: rows come through behavior_event, whose
    # identity gives the ids). The CHECK lets ATTACH skip scanning the new table; dropped right after.
    cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
    cursor.execute(sql_with_values(
        f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (occurred_at >= %s AND occurred_at < %s)", [start, end]))
    cursor.execute(f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE occurred_at >= %s AND occurred_at < %s "
                   f"RETURNING *) INSERT INTO {name} SELECT * FROM moved", [start, end])
    moved = cursor.rowcount
    cursor.execute(sql_with_values(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
                                   [start, end]))
    cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")
    return moved


@dataclass(frozen=True)
class MaintainResult:
    created: tuple[str, ...]
    moved: int
    deferred: tuple[date, ...]


def event_partitions_maintain(*, now: datetime | None = None) -> MaintainResult:
    """The nightly step: partitions for this month and the next MONTHS_AHEAD, and for every month the DEFAULT
    partition holds rows of (those rows moved into them)."""
    from django.utils import timezone

    month = month_start(now or timezone.now())
    months = {month}
    for _ in range(MONTHS_AHEAD):
        month = month_next(month)
        months.add(month)
    with transaction.atomic(), connection.cursor() as cursor:
        # The advisory lock first (event_months_ensure takes it again: it stacks), then the read of the DEFAULT
        # partition: a concurrent ensure holding the lock is never waited for while holding a lock it needs.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_DDL_LOCK])
        cursor.execute(f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date "
                       f"FROM {DEFAULT_PARTITION}")
        months.update(row[0] for row in cursor.fetchall())
        result = event_months_ensure(months=months, cursor=cursor)
    return MaintainResult(created=result.created, moved=result.moved, deferred=result.deferred)
