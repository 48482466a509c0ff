"""Benchmark: build every top-20 list and similar-product list of a big shop and write them to PostgreSQL.

    .venv/bin/python bench/recommendations.py [--customers 200000] [--products 20000] [--interactions 5000000]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench), creating and migrating the
database when needed. Loads a synthetic shop "bench-recs" (category preferences, co-purchases, re-buy cycles,
views before buys; `recommendations.ml.synthetic`) with COPY, then times the whole
`recommendations_build` service call (read + fit weights + fit + lists + write). Prints the stages' figures,
then one JSON line: {"customers", "products", "interactions", "build_seconds", "peak_rss_mb"}.
The bench shop's rows are deleted at the end unless --keep is given.
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")

from bench import common  # noqa: E402

SLUG = "bench-recs"
# interactions per customer of `synthetic_shop` at orders_per_customer=2.5, views_per_purchase=0.8,
# consumer_share=0.3 (measured: 5.6M for 200k customers); used to aim at --interactions
PER_CUSTOMER_AT_2_5 = 28.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)






def id_map(table: str, shop_id: int):
    """external_id -> database id of one shop's rows, as a pandas Series."""
    from ecomsight.db import read_frame

    frame = read_frame(f"SELECT external_id, id FROM {table} WHERE shop_id = %s", [shop_id],
                       columns=["external_id", "id"], dtypes={"external_id": "str", "id": "int64"})
    return frame.set_index("external_id")["id"]


def shop_load(shop, synthetic) -> dict[str, int]:
    """COPY the synthetic shop into categories, products, customers, orders, order lines and events."""
    import numpy as np
    import pandas as pd
    from django.db import connection, transaction

    from ecomsight.db import bulk_insert_frame

    now = pd.Timestamp.now(tz="UTC")
    products, customers, inter = synthetic.products, synthetic.customers, synthetic.interactions
    with transaction.atomic():
        paths = np.unique(products["category"].astype(str))
        bulk_insert_frame("catalog_category", pd.DataFrame({"shop_id": shop.pk, "name": paths, "path": paths,
                                                            "parent_id": None, "allow_rebuy": None}))
        category_ids = id_map_by_path(shop.pk)
        bulk_insert_frame("catalog_product", pd.DataFrame({
            "shop_id": shop.pk, "external_id": "P" + products["product_id"].astype(str),
            "title": products["title"], "description": products["description"],
            "category_id": products["category"].map(category_ids).to_numpy(), "brand": products["brand"],
            "price": None, "active": True, "is_stub": False, "created_at": now,
        }))
        bulk_insert_frame("behavior_customer", pd.DataFrame({
            "shop_id": shop.pk, "external_id": "C" + customers["customer_id"].astype(str), "email": "", "name": "",
            "country": "", "signup_at": None, "attributes": "{}", "is_stub": False, "created_at": now,
        }))
    product_db = id_map("catalog_product", shop.pk)
    customer_db = id_map("behavior_customer", shop.pk)
    product_of = product_db.reindex("P" + inter["product_id"].astype(str)).to_numpy()
    customer_of = customer_db.reindex("C" + inter["customer_id"].astype(str)).to_numpy()

    purchase = (inter["kind"] == "purchase").to_numpy()
    lines = pd.DataFrame({"order": inter["order_id"].to_numpy()[purchase].astype(np.int64),
                          "customer_id": customer_of[purchase], "product_id": product_of[purchase],
                          "placed_at": inter["ts"].to_numpy()[purchase]})
    orders = lines.groupby("order", sort=False).agg(customer_id=("customer_id", "first"),
                                                     placed_at=("placed_at", "min"), n=("product_id", "size"))
    with transaction.atomic():
        bulk_insert_frame("behavior_order", pd.DataFrame({
            "shop_id": shop.pk, "external_id": "O" + orders.index.astype(str), "customer_id": orders["customer_id"],
            "placed_at": orders["placed_at"], "total": None, "currency": "EUR", "status": "placed",
            "item_count": orders["n"], "offer_code": "",
        }))
    order_db = id_map("behavior_order", shop.pk)
    with transaction.atomic():
        bulk_insert_frame("behavior_orderline", pd.DataFrame({
            "shop_id": shop.pk, "order_id": order_db.reindex("O" + lines["order"].astype(str)).to_numpy(),
            "product_id": lines["product_id"], "quantity": 1, "unit_price": None,
        }))
        # events: COPY into a scratch table and let PostgreSQL mint the idempotency UUIDs (unique per shop)
        views = ~purchase
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE bench_events (customer_id bigint, product_id bigint,"
                           " occurred_at timestamptz) ON COMMIT DROP")
        bulk_insert_frame("bench_events", pd.DataFrame({
            "customer_id": customer_of[views], "product_id": product_of[views],
            "occurred_at": inter["ts"].to_numpy()[views]}))
        common.event_partitions_for(inter["ts"].to_numpy()[views])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO behavior_event (shop_id, customer_id, type, product_id, occurred_at, session_id,"
                " properties, idempotency_key) SELECT %s, customer_id, 'view', product_id, occurred_at, '', NULL,"
                " gen_random_uuid() FROM bench_events", [shop.pk])
    with connection.cursor() as cursor:
        for table in ("behavior_customer", "catalog_product", "behavior_order", "behavior_orderline",
                      "behavior_event", "recommendations_recommendation", "recommendations_similarproduct"):
            cursor.execute(f"ANALYZE {table}")
    return {"orders": len(orders), "order_lines": int(purchase.sum()), "events": int(views.sum())}


def id_map_by_path(shop_id: int) -> dict[str, int]:
    from catalog.models import Category

    return dict(Category.objects.filter(shop_id=shop_id).values_list("path", "id"))


def synthetic_generate(customers: int, products: int, interactions: int, seed: int):
    """A synthetic shop close to the requested size (interactions trimmed by a random sample when over)."""
    import numpy as np

    from recommendations.ml.synthetic import SyntheticShop, synthetic_shop

    orders = max(0.2, 2.5 * interactions / (PER_CUSTOMER_AT_2_5 * customers))
    shop = synthetic_shop(n_customers=customers, n_products=products, n_categories=max(8, products // 400),
                          orders_per_customer=orders, consumer_share=0.3, views_per_purchase=0.8, seed=seed)
    inter = shop.interactions
    if len(inter) > interactions * 1.02:
        keep = np.random.default_rng(seed).random(len(inter)) < interactions / len(inter)
        inter = inter[keep].reset_index(drop=True)
    return SyntheticShop(inter, shop.products, shop.customers)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its (forked) workers, MB (Linux ru_maxrss is in KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench shop's rows (default: delete them)")
    args = parser.parse_args()

    common.database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from accounts.models import Shop
    from recommendations.services import recommendations_build

    common.shop_drop(SLUG)
    shop = Shop.objects.create(slug=SLUG, name="Bench recommendations")

    started = time.perf_counter()
    synthetic = synthetic_generate(args.customers, args.products, args.interactions, args.seed)
    log(f"generated {len(synthetic.interactions):,} interactions in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    counts = shop_load(shop, synthetic)
    log(f"loaded {counts} in {time.perf_counter() - started:.1f}s")
    del synthetic

    clock = time.perf_counter()

    def progress(message: str) -> None:
        log(f"  {time.perf_counter() - clock:7.1f}s  {message}")

    outcome = recommendations_build(shop=shop, k=20, progress=progress)
    build_seconds = time.perf_counter() - clock
    log("stages (s): " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in outcome.timings.items()))
    log(f"wrote {outcome.recommendations:,} recommendations and {outcome.similar:,} similar products;"
        f" weights {outcome.version.weights}")
    peak = peak_rss_mb()
    if not args.keep:
        started = time.perf_counter()
        common.shop_drop(SLUG)
        log(f"deleted the bench shop's rows in {time.perf_counter() - started:.1f}s")
    print(json.dumps({"customers": outcome.customers, "products": outcome.products,
                      "interactions": outcome.interactions, "build_seconds": round(build_seconds, 1),
                      "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main()
