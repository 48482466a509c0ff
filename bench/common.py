"""What the bench scripts share: the benchmark database, dropping a bench shop, event partitions for bulk loads,
memory, logging."""

from __future__ import annotations

import os
import resource
import sys


def log(message: str, *, prefix: str = "bench") -> None:
    """Progress for people on stderr; stdout keeps the one JSON line."""
    print(f"[{prefix}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process or its largest child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def database_ensure() -> None:
    """Create the database DATABASE_URL names if it does not exist yet."""
    import psycopg

    base, _, name = os.environ["DATABASE_URL"].rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def shop_drop(slug: str) -> None:
    """Delete a bench shop and everything it owns with one DELETE per table (Django's cascade would load
    millions of rows into memory). Django's foreign keys are deferred to commit, so the order is free."""
    from django.db import connection, transaction

    from accounts.models import Shop

    shop = Shop.objects.filter(slug=slug).first()
    if shop is None:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM predictions_scoringrun_model_versions WHERE scoringrun_id IN "
                       "(SELECT id FROM predictions_scoringrun WHERE shop_id = %s)", [shop.pk])
        cursor.execute("SELECT table_name FROM information_schema.columns WHERE column_name = 'shop_id' "
                       "AND table_schema = current_schema() AND table_name <> 'accounts_shop'")
        for (table,) in cursor.fetchall():
            cursor.execute(f'DELETE FROM "{table}" WHERE shop_id = %s', [shop.pk])
        cursor.execute("DELETE FROM accounts_shop WHERE id = %s", [shop.pk])


def event_partitions_for(moments) -> None:
    """Make behavior_event's month partitions for these times (anything pandas reads as datetimes) before
    COPYing events straight into the table: the importer does it for its batches, a load that bypasses it must,
    or its rows all land in the DEFAULT partition (kept, but never pruned; behavior.partitions)."""
    from datetime import date

    import pandas as pd

    from behavior.partitions import event_months_ensure

    stamps = pd.to_datetime(pd.Series(moments), utc=True, format="ISO8601")
    codes = (stamps.dt.year * 100 + stamps.dt.month).dropna().unique()
    event_months_ensure(months=[date(int(code) // 100, int(code) % 100, 1) for code in codes])
