"""behavior_event becomes a table partitioned by month of `occurred_at` (PostgreSQL declarative partitioning).

Why: retention drops a month's partition instead of deleting its rows one by one, and time-range reads touch
only the partitions of their range (issue 23, item 4). The runtime side is `behavior.partitions`.

What changes in the database, and what was decided:
- **Primary key (id, occurred_at).** PostgreSQL requires every unique key of a partitioned table to contain
  the partition key. Django keeps `id` as the model's pk (its state is unchanged): ids stay unique because
  they all come from the one identity sequence (moved over with its last value), and every place that looks
  an event up or deletes it by id (admin, the deletion collector, retention) still finds exactly one row.
- **Idempotency key unique per (shop, idempotency_key, occurred_at)** (the constraint keeps its name). An
  event is the same event when its key and its time match: sending it again stores nothing, as before. The
  same event id sent with *another* time is now stored as another event (before, it was dropped as a
  duplicate): a global unique key across partitions does not exist in PostgreSQL, and checking every partition
  for every key would cost the import its speed. Events without an id were keyed by their content, time
  included, so for them nothing changes. The writer's ON CONFLICT target and its probe for stored events
  follow (behavior/ingest/postgres.py).
- **Partitions:** one per month that has rows, plus this month and the next three, plus a DEFAULT partition
  that catches a row whose month has no partition yet (rows are never refused for a missing partition).
  The importer and the API's writer create the months of each batch before writing it; the nightly
  housekeeping creates the coming months and moves any rows the DEFAULT partition holds into their month.
- **How:** the old table is renamed, a partitioned one is made `LIKE` it (same columns, order, identity), its
  partitions created, the rows copied, then the keys and indexes built once over the copied rows (faster than
  maintaining them row by row), and the old table dropped. It holds an ACCESS EXCLUSIVE lock on the events
  for the whole copy: plan downtime for the imports and reads of events (see README, "Events partitioned by
  month", for the measured rate).
- **Reverse:** the same in the other direction (a plain table, primary key (id), unique (shop, key)). It fails
  if the shop has stored the same key at two times since, which only the partitioned table allows.

PostgreSQL only (the project runs only on PostgreSQL).
"""

from datetime import UTC, date, datetime

from django.db import migrations, models

from ecomsight.db import sql_with_values

MONTHS_AHEAD = 3


def _month_next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _swap_out(cursor, suffix: str) -> str:
    """Rename behavior_event (its sequence and its named keys too) out of the way; returns the new name."""
    old = f"behavior_event_{suffix}"
    cursor.execute("LOCK TABLE behavior_event IN ACCESS EXCLUSIVE MODE")
    cursor.execute("SELECT pg_get_serial_sequence('behavior_event', 'id')")
    (sequence,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE behavior_event RENAME TO {old}")
    cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {old}_id_seq")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT behavior_event_pkey TO {old}_pkey")
    cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT event_idempotency_unique_per_shop TO {old}_idempotency")
    cursor.execute("DROP INDEX IF EXISTS event_customer_time")
    cursor.execute("DROP INDEX IF EXISTS event_time_brin")
    return old


def _copy_in(cursor, old: str, *, unique: str, primary: str) -> None:
    """Copy `old`'s rows into the new behavior_event, carry the sequence over, build keys and indexes, drop `old`."""
    cursor.execute(f"SELECT setval(pg_get_serial_sequence('behavior_event', 'id'), last_value, is_called) "
                   f"FROM {old}_id_seq")
    cursor.execute(f"INSERT INTO behavior_event SELECT * FROM {old}")
    cursor.execute(f"ALTER TABLE behavior_event ADD CONSTRAINT behavior_event_pkey PRIMARY KEY ({primary})")
    cursor.execute(f"ALTER TABLE behavior_event ADD CONSTRAINT event_idempotency_unique_per_shop UNIQUE ({unique})")
    cursor.execute("CREATE INDEX event_customer_time ON behavior_event (customer_id, occurred_at)")
    cursor.execute("CREATE INDEX event_time_brin ON behavior_event USING brin (occurred_at)")
    cursor.execute(f"DROP TABLE {old} CASCADE")  # CASCADE: a partitioned one goes with its partitions
    cursor.execute("ANALYZE behavior_event")


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        old = _swap_out(cursor, "unpartitioned")
        cursor.execute(f"CREATE TABLE behavior_event (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY) "
                       "PARTITION BY RANGE (occurred_at)")
        cursor.execute(f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date FROM {old}")
        months = {row[0] for row in cursor.fetchall()}
        month = datetime.now(UTC).date().replace(day=1)
        for _ in range(MONTHS_AHEAD + 1):
            months.add(month)
            month = _month_next(month)
        for month in sorted(months):
            end = _month_next(month)
            cursor.execute(sql_with_values(
                f"CREATE TABLE behavior_event_p{month.year:04d}_{month.month:02d} PARTITION OF behavior_event "
                "FOR VALUES FROM (%s) TO (%s)",
                [datetime(month.year, month.month, 1, tzinfo=UTC), datetime(end.year, end.month, 1, tzinfo=UTC)],
                using=schema_editor.connection))
        cursor.execute("CREATE TABLE behavior_event_default PARTITION OF behavior_event DEFAULT")
        _copy_in(cursor, old, unique="shop_id, idempotency_key, occurred_at", primary="id, occurred_at")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        old = _swap_out(cursor, "partitioned")
        cursor.execute(f"CREATE TABLE behavior_event (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY)")
        _copy_in(cursor, old, unique="shop_id, idempotency_key", primary="id")


class Migration(migrations.Migration):

    dependencies = [
        ('behavior', '0014_review_unscored_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition)],
            state_operations=[
                migrations.RemoveConstraint(model_name='event', name='event_idempotency_unique_per_shop'),
                migrations.AddConstraint(
                    model_name='event',
                    constraint=models.UniqueConstraint(fields=('shop', 'idempotency_key', 'occurred_at'),
                                                       name='event_idempotency_unique_per_shop'),
                ),
            ],
        ),
    ]
