"""Interest profile benchmark, on a shop that bench/scoring.py left behind (`--keep`): the stage's cost inside a
scoring chunk and the at-risk filters `category` + `category_min` and `brand` + `brand_min` against the list without
them.

    .venv/bin/python bench/interests.py [--shop bench-scoring] [--categories 10x5] [--score]

The scoring bench loads products without categories; `--categories 10x5` gives this bench shop's products a tree of
10 top categories with 5 below each (each product in a random leaf, seed fixed) when it has none, so the category
half of the profile is measured too. Then, on the shop's current scoring run: the interest stage for every
customer (read the catalogue, compute, write: what each chunk adds), timed alone; with `--score` a whole scoring
run as well; and the at-risk page (count + first page) unfiltered, with "bought in" a top category, and with an
interest of at least 20 % in a top and in a leaf category, with "bought" the commonest brand and with an interest of
at least 20 % in it (median of 5). One JSON line at the end.
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

from bench import common  # noqa: E402


def log(message: str) -> None:
    common.log(message, prefix="interests bench")


def categories_add(shop, shape: str) -> int:
    """A tree of tops x subs categories, every product of the shop in a random leaf (only when it has none)."""
    import numpy as np
    from django.db import connection, transaction

    from catalog.models import Category

    if Category.objects.filter(shop=shop).exists():
        return 0
    tops, subs = (int(x) for x in shape.split("x"))
    with transaction.atomic():
        leaves = []
        for t in range(tops):
            top = Category.objects.create(shop=shop, name=f"Top {t}", path=f"Top {t}")
            leaves += [Category.objects.create(shop=shop, name=f"Sub {s}", path=f"Top {t} > Sub {s}", parent=top).pk
                       for s in range(subs)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM catalog_product WHERE shop_id = %s ORDER BY id", [shop.pk])
            products = [row[0] for row in cursor.fetchall()]
            picks = np.random.default_rng(5).choice(leaves, size=len(products))
            cursor.execute("UPDATE catalog_product p SET category_id = v.c FROM unnest(%s::bigint[], %s::bigint[])"
                           " AS v(id, c) WHERE p.id = v.id", [products, [int(x) for x in picks]])
        cursor_analyze()
    return len(products)


def cursor_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product")
        cursor.execute("ANALYZE predictions_customerinterest")


def median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shop", default="bench-scoring")
    parser.add_argument("--categories", default="10x5", help="tops x subs to add when the shop has none ('' none)")
    parser.add_argument("--score", action="store_true", help="also time a whole scoring run")
    parser.add_argument("--pages-only", action="store_true", help="time the at-risk pages only (rows as they are)")
    args = parser.parse_args()

    import django

    django.setup()
    from accounts.models import Shop
    from predictions.models import CustomerInterest
    from predictions.selectors.at_risk import scoring_run_current
    from predictions.services.scoring import scoring_run_create, scoring_run_execute

    shop = Shop.objects.get(slug=args.shop)
    figures: dict = {}
    if args.categories:
        figures["products_categorised"] = categories_add(shop, args.categories)
    if args.score:
        started = time.perf_counter()
        run = scoring_run_execute(run=scoring_run_create(shop=shop, enqueue=False))
        figures["score_seconds"] = round(time.perf_counter() - started, 2)
        log(f"scoring run {run.pk}: {figures['score_seconds']} s ({run.status})")
    run = scoring_run_current(shop=shop)
    if not args.pages_only:
        stage(shop, run, figures)
    pages(shop, figures)
    figures["interest_rows_in_run"] = CustomerInterest.objects.filter(scoring_run=run).count()
    print(json.dumps({"shop": shop.slug, "run": run.pk, **figures, "load_average": os.getloadavg()[0]}))
    return 0


def stage(shop, run, figures: dict) -> None:
    """The interest stage of a chunk holding every customer: catalogue read, compute, write (the frames' read is
    shared with the scores and timed apart)."""
    import pandas as pd
    from django.db import transaction

    from predictions.selectors.frames import shop_frames
    from predictions.services.interests import customer_interests_compute, customer_interests_replace

    cutoff = pd.Timestamp(run.as_of)
    started = time.perf_counter()
    frames = shop_frames(shop_id=shop.pk, until=run.as_of)
    figures["read_frames_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    profile = customer_interests_compute(shop_id=shop.pk, frames=frames, cutoff=cutoff)
    figures["interest_compute_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    with transaction.atomic():
        written = customer_interests_replace(run=run, profile=profile, customer_range=(0, 2**62))
    figures["interest_write_seconds"] = round(time.perf_counter() - started, 2)
    cursor_analyze()
    figures["interest_rows"] = written
    figures["customers_profiled"] = int(profile["customer_id"].nunique()) if written else 0
    log(f"profile: {written} rows for {figures['customers_profiled']} customers; compute "
        f"{figures['interest_compute_seconds']} s, write {figures['interest_write_seconds']} s "
        f"(frames read {figures['read_frames_seconds']} s, shared with the scores)")


def pages(shop, figures: dict) -> None:
    """The at-risk page (count + first page), median of 5, unfiltered and with each category filter."""
    from catalog.models import Category
    from predictions.filters import AtRiskFilter
    from predictions.selectors.at_risk import at_risk_page

    top = Category.objects.filter(shop=shop, parent__isnull=True).order_by("path").first()
    leaf = Category.objects.filter(shop=shop, parent__isnull=False).order_by("path").first()
    filters = {"unfiltered": {}}
    if top is not None:
        filters |= {"bought_in_top": {"category": top.pk}, "interest_top_20": {"category": top.pk, "category_min": 20},
                    "interest_leaf_20": {"category": leaf.pk, "category_min": 20}}
    from django.db.models import Count

    from catalog.models import Product

    brand = (Product.objects.filter(shop=shop).exclude(brand="").values("brand").annotate(n=Count("id"))
             .order_by("-n", "brand").values_list("brand", flat=True).first())
    if brand:
        filters |= {"bought_brand": {"brand": brand}, "interest_brand_20": {"brand": brand, "brand_min": 20}}
    for name, query in filters.items():
        flt = AtRiskFilter.from_query(query)
        page = at_risk_page(shop=shop, flt=flt)
        figures[f"page_{name}_ms"] = median_ms(lambda flt=flt: at_risk_page(shop=shop, flt=flt))
        figures[f"page_{name}_total"] = page.total
        log(f"at-risk page {name}: {page.total} match, {figures[f'page_{name}_ms']} ms (count + first page)")


if __name__ == "__main__":
    sys.exit(main())
