"""Server time of every marketer and analyst page with 200,000 scored customers.

Seeds a shop with COPY (customers, two orders each with a line, categories, two scoring runs,
10 recommendations per customer, similar products, a few segments), logs in as a marketer and an
analyst with Django's test client and times each page's full server-side handling (view, queries,
template) — the median of 5 requests after one warm-up. Prints each page, then one JSON line
{"<page name>": milliseconds, ...}. Goal (issue 5): every page within 300 ms.

    .venv/bin/python bench/pages.py [--customers 200000] [--keep] [--reuse]

`--keep` leaves the seeded shop in the database; `--reuse` times the pages of a shop kept earlier
without seeding again (it seeds when there is none). The scoring runs carry the headline figures
that the scoring service stores when a run finishes (`ScoringRun.summary["figures"]`), as real runs do.
Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

SLUG = "bench-pages"


def seed(n: int):
    """A shop of `n` scored customers, written with COPY (a minute or so for 200,000)."""
    import numpy as np
    import pandas as pd
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Shop
    from catalog.models import Category
    from ecomsight.crypto import personal_encrypt
    from ecomsight.db import bulk_insert_frame, read_frame
    from predictions.models import ModelVersion, ScoringRun, Segment

    rng = np.random.default_rng(0)
    now = timezone.now()
    shop = Shop.objects.create(slug=SLUG, name="Bench pages", horizon_days=90)
    categories = [Category.objects.create(shop=shop, name=f"Cat {i}", path=f"Cat {i}") for i in range(20)]
    with transaction.atomic():
        bulk_insert_frame("behavior_customer", pd.DataFrame({
            "shop_id": shop.pk, "external_id": [f"C{i:07d}" for i in range(n)],
            # Stored as the app stores them: encrypted (ecomsight.crypto), so pages pay for decrypting.
            "email": [personal_encrypt(f"c{i}@example.com") for i in range(n)], "name": "", "is_stub": False,
            "country": rng.choice(["DE", "FR", "US", "GB", "NL"], n), "attributes": "{}", "created_at": now,
        }))
        customers = read_frame("SELECT id FROM behavior_customer WHERE shop_id = %s ORDER BY id", [shop.pk],
                               columns=["id"])["id"].to_numpy()
        products = 2000
        bulk_insert_frame("catalog_product", pd.DataFrame({
            "shop_id": shop.pk, "external_id": [f"P{i:05d}" for i in range(products)],
            "title": [f"Product {i}" for i in range(products)], "description": "", "brand": "",
            "category_id": [categories[i % 20].pk for i in range(products)], "active": True, "is_stub": False,
            "created_at": now,
        }))
        product_ids = read_frame("SELECT id FROM catalog_product WHERE shop_id = %s ORDER BY id", [shop.pk],
                                 columns=["id"])["id"].to_numpy()
        placed = now - pd.to_timedelta(rng.integers(1, 500, 2 * n), unit="D")
        bulk_insert_frame("behavior_order", pd.DataFrame({
            "shop_id": shop.pk, "external_id": [f"O{i:08d}" for i in range(2 * n)],
            "customer_id": np.repeat(customers, 2), "placed_at": placed, "total": rng.gamma(2, 40, 2 * n).round(2),
            "currency": "EUR", "status": "placed",
        }))
        orders = read_frame("SELECT id FROM behavior_order WHERE shop_id = %s ORDER BY id", [shop.pk],
                            columns=["id"])["id"].to_numpy()
        bulk_insert_frame("behavior_orderline", pd.DataFrame({
            "shop_id": shop.pk, "order_id": orders, "product_id": rng.choice(product_ids, len(orders)),
            "quantity": 1, "unit_price": 20,
        }))
        version = ModelVersion.objects.create(shop=shop, task="churn", algorithm="lgbm", horizon_days=90,
                                              as_of=now.date(), status="champion",
                                              metrics={"captured_top_decile": 0.38, "roc_auc": 0.9})
        for age in (7, 0):
            run = ScoringRun.objects.create(shop=shop, as_of=now - pd.Timedelta(days=age), status="succeeded",
                                            chunks_total=1, chunks_done=1, customers_total=n, finished_at=now)
            p = rng.beta(2, 3, n)
            spend = rng.gamma(2, 100, n)
            band = np.where(p >= 0.6, "high", np.where(p >= 0.3, "medium", "low"))
            for task, prob in (("churn", p), ("purchase", 1 - p)):
                bulk_insert_frame("predictions_customerscore", pd.DataFrame({
                    "shop_id": shop.pk, "scoring_run_id": run.pk, "customer_id": customers,
                    "model_version_id": version.pk, "task": task, "probability": prob, "risk_band": band,
                    "decile": (np.argsort(np.argsort(-prob)) * 10 // n + 1), "spend_12m": spend,
                    "reasons": '["no order for 94 days; usually every 21"]', "expected_orders": 1.2,
                    "p_alive": 0.7, "revenue_at_risk": prob * spend if task == "churn" else None, "scored_at": now,
                }))
        from recommendations.models import RecommenderVersion

        rec_version = RecommenderVersion.objects.create(shop=shop, status="active", k=10)
        k = 10
        bulk_insert_frame("recommendations_recommendation", pd.DataFrame({
            "shop_id": shop.pk, "version_id": rec_version.pk, "customer_id": np.repeat(customers, k),
            "product_id": product_ids[(np.repeat(np.arange(n), k) * 7 + np.tile(np.arange(k), n)) % products],
            "rank": np.tile(np.arange(1, k + 1), n), "score": 1.0, "source": "hybrid",
            "reason": "because you bought Product 1",
        }))
        bulk_insert_frame("recommendations_similarproduct", pd.DataFrame({
            "shop_id": shop.pk, "version_id": rec_version.pk, "product_id": np.repeat(product_ids, 10),
            "similar_id": product_ids[(np.repeat(np.arange(products), 10) + np.tile(np.arange(1, 11), products))
                                      % products],
            "kind": "also_bought", "rank": np.tile(np.arange(1, 11), products), "score": 0.5,
        }))
    segment = Segment.objects.create(shop=shop, name="High risk", filters={"bands": ["high"]})
    return shop, segment, f"C{n // 2:07d}", version


def finish_runs(shop) -> None:
    """What `predictions.services.scoring._finalise` does when a run finishes: copy the list columns onto
    the churn rows, store the headline figures. The fill analyses the tables it reads itself
    (predictions.services.score_columns), so it keeps its plan on the rows just seeded with COPY (it used to run
    first, on no statistics, and one UPDATE planned as a nested loop ran for over 15 minutes). Then VACUUM
    ANALYZE, as autovacuum does after a bulk write (it sets the visibility map that index-only scans rely on)."""
    from django.db import connection

    from predictions.models import ScoringRun
    from predictions.selectors.at_risk import list_columns_copied
    from predictions.selectors.dashboard import churn_histogram, run_figures
    from predictions.services.score_columns import customer_score_list_columns_fill

    for run in ScoringRun.objects.filter(shop=shop):
        if not list_columns_copied(run):
            customer_score_list_columns_fill(run=run)
        f = run_figures(shop=shop, runs=[run])[0]
        run.summary = {**run.summary, "figures": {
            "scored": f.scored, "expected_churners": f.expected_churners, "high_band": f.high_band,
            "revenue_at_risk": f.revenue_at_risk, "expected_buyers": f.expected_buyers,
            "histogram": churn_histogram(run=run),
        }}
        run.save(update_fields=["summary"])
    with connection.cursor() as cursor:
        for table in ("behavior_customer", "behavior_order", "behavior_orderline", "predictions_customerscore",
                      "recommendations_recommendation"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def existing(n: int):
    """The shop a `--keep` run left behind, when it has `n` customers (else None: seed again)."""
    from accounts.models import Shop
    from behavior.models import Customer
    from predictions.models import ModelVersion, Segment

    shop = Shop.objects.filter(slug=SLUG).first()
    if shop is None or Customer.objects.filter(shop=shop).count() != n:
        return None
    return (shop, Segment.objects.get(shop=shop, name="High risk"), f"C{n // 2:07d}",
            ModelVersion.objects.get(shop=shop, task="churn"))


def log(message: str) -> None:
    _log(message, prefix="pages")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="leave the seeded shop in the database")
    parser.add_argument("--reuse", action="store_true", help="time the shop a --keep run left (seed if none)")
    args = parser.parse_args()
    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.services import user_create_or_update

    found = existing(args.customers) if args.reuse else None
    if found is not None:
        shop, segment, customer, version = found
        log(f"reusing the kept shop of {args.customers} scored customers")
    else:
        shop_drop(SLUG)
        started = time.perf_counter()
        shop, segment, customer, version = seed(args.customers)
        log(f"seeded {args.customers} scored customers in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    finish_runs(shop)
    log(f"finished the runs (list columns, figures, vacuum) in {time.perf_counter() - started:.1f}s")
    clients = {}
    for role in ("marketer", "analyst"):
        user_create_or_update(username=f"bench-{role}", role=role, password="bench-Pa55word!", shops=[shop])
        clients[role] = Client()
        assert clients[role].login(username=f"bench-{role}", password="bench-Pa55word!")

    pages = {
        "dashboard": ("marketer", "/"),
        "at_risk": ("marketer", "/customers/"),
        "at_risk_page_200": ("marketer", "/customers/?page=200"),
        "at_risk_high_de": ("marketer", "/customers/?band=high&country=DE"),
        "at_risk_days_90": ("marketer", "/customers/?days_min=90"),
        "at_risk_sort_purchase": ("marketer", "/customers/?sort=purchase"),
        "at_risk_category": ("marketer", "/customers/?category=Cat+3"),
        "customer": ("marketer", f"/customers/{customer}/"),
        "segments": ("marketer", "/segments/"),
        "segment": ("marketer", f"/segments/{segment.pk}/"),
        "imports": ("analyst", "/imports/"),
        "quality": ("analyst", "/quality/"),
        "models": ("analyst", "/models/"),
        "model_version": ("analyst", f"/models/{version.pk}/"),
        "jobs": ("analyst", "/jobs/"),
    }
    result = {}
    for name, (role, url) in pages.items():
        client = clients[role]
        response = client.get(url)
        if response.status_code != 200:
            log(f"{name}: {url} answered {response.status_code}")
            continue
        times = []
        for _ in range(5):
            t = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - t) * 1000)
        result[name] = round(statistics.median(times), 1)
        log(f"{name:<24} {result[name]:>8.1f} ms  {url}")
    # The quality page above is served from the cache after its first view; this is the first view after
    # an import (the report computed afresh), which the cache cannot hide.
    from django.utils import timezone

    from behavior.selectors import quality_report

    times = []
    for _ in range(3):
        t = time.perf_counter()
        quality_report(shop=shop, now=timezone.now())
        times.append((time.perf_counter() - t) * 1000)
    result["quality_report_uncached"] = round(statistics.median(times), 1)
    log(f"{'quality_report_uncached':<24} {result['quality_report_uncached']:>8.1f} ms  (first view after an import)")
    slow = {k: v for k, v in result.items() if v > 300}
    log(f"pages over 300 ms: {slow or 'none'}")
    if not args.keep:
        shop_drop(SLUG)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
