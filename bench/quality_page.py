"""First load of the Data quality page on a demo-size shop (issue 18 §5: under a second).

Simulates the demo's shop (5,000 customers, 500 products, 548 days, seed 7: what `manage.py demo` builds),
imports it with the real importer, logs in as an analyst and requests the page with the quality cache
emptied each time (a first load: the report is computed, not served from the cache). After one request to another
page (a server that has served something), prints the median of 5 first loads, the very first of them, the
time spent in SQL, the number of queries and the five slowest, then one JSON line
{"quality_first_load_ms": ..., "first_request_ms": ..., "sql_ms": ..., "queries": ..., "customers": ...,
"events": ...}. Goal: under 1,000 ms.

    .venv/bin/python bench/quality_page.py [--customers 5000] [--reuse] [--keep]

`--reuse` times a shop kept earlier (`--keep`) without simulating again.
Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

SLUG = "bench-quality-page"


def log(message: str) -> None:
    _log(message, prefix="quality-page")


def build(customers: int) -> None:
    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import SimulationConfig, simulate

    shop_drop(SLUG)
    shop = Shop.objects.create(slug=SLUG, name="Bench quality page")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        simulate(SimulationConfig(customers=customers, products=max(50, customers // 10), days=548, seed=7,
                                  end_date=dt.date.today() - dt.timedelta(days=1)), out)
        log(f"simulated in {time.perf_counter() - started:.1f}s")
        for kind in ("customers", "products", "orders", "order_lines", "events"):
            data_import(shop=shop, kind=kind, path=out / f"{kind}.csv")
        log(f"imported in {time.perf_counter() - started:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    database_ensure()
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from accounts.models import Shop
    from accounts.services import user_create_or_update
    from behavior.models import Customer, Event
    from behavior.selectors import quality_cache_key

    setup_test_environment()
    call_command("migrate", interactive=False, verbosity=0)
    if not (args.reuse and Shop.objects.filter(slug=SLUG).exists()):
        build(args.customers)
    shop = Shop.objects.get(slug=SLUG)
    user_create_or_update(username="bench-quality-analyst", role="analyst", password="bench-Pa55word!", shops=[shop])
    client = Client()
    assert client.login(username="bench-quality-analyst", password="bench-Pa55word!")

    # A server that has served any page: the process, its templates and its connection are warm.
    assert client.get(reverse("behavior:imports")).status_code == 200
    times, sql, queries = [], [], None
    for _ in range(5):
        cache.delete(quality_cache_key(shop=shop))
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(reverse("behavior:quality"))
            times.append(1000 * (time.perf_counter() - started))
        assert response.status_code == 200, response.status_code
        queries = captured.captured_queries
        sql.append(sum(1000 * float(q["time"]) for q in queries))
    slowest = sorted(queries, key=lambda q: float(q["time"]), reverse=True)[:5]
    for q in slowest:
        print(f"{1000 * float(q['time']):8.1f} ms  {q['sql'][:160]}")
    figures = {"quality_first_load_ms": round(statistics.median(times), 1), "first_request_ms": round(times[0], 1),
               "sql_ms": round(statistics.median(sql), 1), "queries": len(queries),
               "customers": Customer.objects.filter(shop=shop).count(),
               "events": Event.objects.filter(shop=shop).count()}
    print(f"first load: median {figures['quality_first_load_ms']} ms of {[round(t) for t in times]} "
          f"(in SQL: {[round(t) for t in sql]}), {len(queries)} queries")
    if not args.keep:
        shop_drop(SLUG)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
