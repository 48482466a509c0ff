"""The import's check for customer ids spelled two ways (`customer_ids_alike`, run at the end of every import): its
time as the shop's customers and the file's distinct ids grow together. Goal: a few seconds at 200,000 (the
statement was a SubPlan per customer once the file's ids outgrew work_mem: 100,000 ids 1.6 s, 200,000 not done
after five minutes - a reviewer's repro).

A shop holding N customers (`C0000001`…) and a file naming the same N ids, each size once; prints each size's time
and one JSON line {"customer_ids_alike_s": {N: seconds}, "goal_met": ...}.

    .venv/bin/python bench/customer_ids_alike.py [--sizes 10000,100000,200000]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

GOAL_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,200000")
    args = parser.parse_args()
    database_ensure()
    import django

    django.setup()
    from django.db import connection

    from accounts.models import Shop
    from behavior.ingest.services import customer_ids_alike

    seconds = {}
    for n in (int(v) for v in args.sizes.split(",")):
        slug = f"bench-alike-{n}"
        shop_drop(slug)
        shop = Shop.objects.create(slug=slug, name=slug)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO behavior_customer (shop_id, external_id, email, name, country, attributes,"
                           " is_stub, created_at, email_index) SELECT %s, 'C' || lpad(g::text, 7, '0'), '', '', '',"
                           " '{}', false, now(), '' FROM generate_series(1, %s) g", [shop.pk, n])
            cursor.execute("ANALYZE behavior_customer")
        ids = {f"C{i:07d}" for i in range(1, n + 1)}
        started = time.monotonic()
        figures = customer_ids_alike(shop_id=shop.pk, ids=ids)
        seconds[n] = round(time.monotonic() - started, 2)
        _log(f"{n:,} ids: {seconds[n]:.2f} s (groups {figures['customer_ids_leading_zeros']['groups']})",
             prefix="alike")
        shop_drop(slug)
    print(json.dumps({"bench": "customer_ids_alike", "customer_ids_alike_s": seconds,
                      "goal_seconds": GOAL_SECONDS, "goal_met": all(v <= GOAL_SECONDS for v in seconds.values())}))


if __name__ == "__main__":
    main()
