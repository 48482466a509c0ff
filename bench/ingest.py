"""Benchmark: import an events CSV with `import_data` and compare with a raw COPY of the same file.

    .venv/bin/python bench/ingest.py [--rows 2000000] [--batch-size 200000]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench), creating and
migrating the database when needed. Ends with one JSON line:
{"rows", "import_rows_per_s", "copy_rows_per_s", "ratio", "copy_same_indexes_rows_per_s",
"ratio_same_indexes"}. Also prints the re-import rate (every row a duplicate) and the load average before
and after, since other jobs on a shared machine skew the figures.

Two ceilings for the import:
- `copy_rows_per_s`: the file COPYed as it is into a bare, unlogged table of text columns (no keys, no
  indexes) — no import can come near it, since it neither resolves ids nor maintains any index;
- `copy_same_indexes_rows_per_s`: the very rows the import stored (resolved ids, idempotency keys),
  dumped after the import and COPYed into a fresh table made `LIKE behavior_event INCLUDING ALL` (the
  same columns, primary key, unique key per shop and indexes, logged like it; partitioned by month like
  it, its partitions made beforehand): what PostgreSQL itself needs to store and index these rows, the fair
  ceiling the issue asks for. The goal is an import at least half as fast as that.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")

from bench import common  # noqa: E402

TYPES = ["view"] * 70 + ["add_to_cart"] * 12 + ["remove_from_cart"] * 4 + ["wishlist"] * 4 + ["search"] * 6 + \
    ["login"] * 4




def events_file_write(path: Path, rows: int, *, customers: int = 50_000, products: int = 5_000) -> None:
    """A realistic events file: event ids, ~50k customers, 5k products, sessions, some JSON properties."""
    rng = random.Random(7)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("event_id,customer_id,type,product_id,occurred_at,session_id,properties\n")
        chunk = []
        for i in range(rows):
            kind = rng.choice(TYPES)
            product = f"P{rng.randrange(products)}" if kind not in ("search", "login") else ""
            moment = start + timedelta(seconds=rng.randrange(540 * 86400))
            properties = '"{""q"": ""shoes""}"' if kind == "search" else ""
            chunk.append(f"ev-{i},C{rng.randrange(customers)},{kind},{product},"
                         f"{moment:%Y-%m-%dT%H:%M:%S},s{i // 8},{properties}\n")
            if len(chunk) == 100_000:
                handle.writelines(chunk)
                chunk = []
        handle.writelines(chunk)


def copy_raw(path: Path) -> float:
    """Seconds for a plain COPY of the file into a bare typed table (no keys, no indexes)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_events_raw")
        cursor.execute("CREATE UNLOGGED TABLE bench_events_raw (event_id text, customer_id text, type text, "
                       "product_id text, occurred_at timestamptz, session_id text, properties jsonb)")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy("COPY bench_events_raw FROM STDIN (FORMAT csv, HEADER)") as copy, open(path, "rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_events_raw")
    return seconds


def copy_same_indexes(shop_id: int, folder: Path) -> float:
    """Seconds to COPY the rows the import stored for `shop_id` into a fresh table with the events table's
    columns, keys and indexes (the dump is written before the clock starts)."""
    from django.db import connection, transaction

    dump = folder / "stored-events.copy"
    columns = "shop_id, customer_id, type, product_id, occurred_at, session_id, properties, idempotency_key"
    with connection.cursor() as cursor, open(dump, "wb") as out:
        with cursor.copy(f"COPY (SELECT {columns} FROM behavior_event WHERE shop_id = {int(shop_id)}) "
                         "TO STDOUT") as copy:
            for block in copy:
                out.write(block)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_events_indexed CASCADE")
        cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = 'behavior_event'::regclass")
        if cursor.fetchone()[0]:  # partitioned by month (migration 0015): the same partitions, made beforehand
            cursor.execute("CREATE TABLE bench_events_indexed (LIKE behavior_event INCLUDING ALL) "
                           "PARTITION BY RANGE (occurred_at)")
            cursor.execute("SELECT pg_get_expr(c.relpartbound, c.oid), c.relname FROM pg_inherits i "
                           "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'behavior_event'::regclass")
            for bound, name in cursor.fetchall():
                cursor.execute(f"CREATE TABLE bench_{name} PARTITION OF bench_events_indexed {bound}")
        else:
            cursor.execute("CREATE TABLE bench_events_indexed (LIKE behavior_event INCLUDING ALL)")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.copy(f"COPY bench_events_indexed ({columns}) FROM STDIN") as copy, open(dump, "rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_events_indexed CASCADE")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=None, help="rows per batch (default: import_data's)")
    parser.add_argument("--keep", action="store_true", help="keep the imported rows (default: delete the shop)")
    args = parser.parse_args()

    common.database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Shop
    from behavior.services import DEFAULT_BATCH_SIZE, data_import

    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; batch size {batch_size:,}",
          file=sys.stderr)

    Shop.objects.filter(slug="bench").delete()
    shop = Shop.objects.create(slug="bench", name="Bench")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.csv"
        started = time.perf_counter()
        events_file_write(path, args.rows)
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f}s", file=sys.stderr)

        def progress(job):
            print(f"  {job.rows_read:,} rows, {job.rows_read / max(job.seconds or 0, 1e-6):,.0f} rows/s",
                  file=sys.stderr)

        result = data_import(shop=shop, kind="events", path=path, batch_size=batch_size, progress=progress)
        import_seconds = result.seconds
        assert result.rejected == 0 and result.inserted == args.rows, result
        print(f"import_data: {result.rows:,} rows in {import_seconds:.1f}s "
              f"({result.stubs:,} stand-ins created)", file=sys.stderr)
        again = data_import(shop=shop, kind="events", path=path, batch_size=batch_size)
        assert again.inserted == 0 and again.duplicates == args.rows, again
        print(f"re-import (all duplicates): {again.seconds:.1f}s = {args.rows / again.seconds:,.0f} rows/s",
              file=sys.stderr)
        copy_seconds = copy_raw(path)
        print(f"raw COPY: {copy_seconds:.1f}s", file=sys.stderr)
        indexed_seconds = copy_same_indexes(shop.pk, Path(folder))
        print(f"COPY of the stored rows into a table with the events table's keys and indexes: "
              f"{indexed_seconds:.1f}s", file=sys.stderr)
    if not args.keep:
        shop.delete()
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", file=sys.stderr)
    import_rate = args.rows / import_seconds
    copy_rate = args.rows / copy_seconds
    indexed_rate = args.rows / indexed_seconds
    print(f"import {import_rate:,.0f} rows/s, raw COPY {copy_rate:,.0f} rows/s (ratio {import_rate / copy_rate:.2f}), "
          f"COPY with the same indexes {indexed_rate:,.0f} rows/s (ratio {import_rate / indexed_rate:.2f})",
          file=sys.stderr)
    print(json.dumps({"rows": args.rows, "import_rows_per_s": round(import_rate), "copy_rows_per_s": round(copy_rate),
                      "ratio": round(import_rate / copy_rate, 3), "copy_same_indexes_rows_per_s": round(indexed_rate),
                      "ratio_same_indexes": round(import_rate / indexed_rate, 3)}))


if __name__ == "__main__":
    main()
