"""Scoring benchmark: a simulated shop of 200,000 customers and about 5 million events.

Times, each as a user would run it: reading the shop and building every customer's features,
training LightGBM and the LSTM (`train` service: features for every training cutoff + fit +
calibration + registry), and scoring every customer with both champions including the write to the
database (`score`). Prints each stage and the peak memory, then one JSON line:
{"customers", "events", "features_seconds", "train_lgbm_seconds", "train_lstm_seconds",
 "score_seconds", "peak_rss_mb"}.

    .venv/bin/python bench/scoring.py [--customers 200000 --products 20000 --days 365]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench), created and migrated
if missing. The data is loaded with COPY (this measures scoring, not the importer: see bench/ingest.py).
Goals on a 2-core machine: score all customers in <= 120 s, LightGBM <= 60 s, LSTM <= 10 min,
peak memory <= 6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench import common  # noqa: E402


def log(message: str) -> None:
    common.log(message, prefix="scoring bench")


def load_shop(shop, out: Path) -> dict:
    """COPY the simulator's CSV files into the shop's tables (ids mapped to the database's)."""
    import numpy as np
    import pandas as pd
    from django.db import transaction
    from django.utils import timezone

    from ecomsight.db import bulk_insert_frame, read_frame

    now = timezone.now()

    def ids(table: str) -> dict:
        frame = read_frame(f"SELECT external_id, id FROM {table} WHERE shop_id = %s", [shop.pk],
                           columns=["external_id", "id"], dtypes={"external_id": "str"})
        return dict(zip(frame["external_id"], frame["id"], strict=True))

    with transaction.atomic():
        customers = pd.read_csv(out / "customers.csv", dtype=str, keep_default_na=False)
        bulk_insert_frame("behavior_customer", pd.DataFrame({
            "shop_id": shop.pk, "external_id": customers["customer_id"], "email": customers["email"],
            "name": customers["name"], "country": customers["country"],
            "signup_at": customers["signup_at"].replace("", None), "attributes": "{}", "is_stub": False,
            "created_at": now,
        }))
        customer_ids = ids("behavior_customer")
        products = pd.read_csv(out / "products.csv", dtype=str, keep_default_na=False)
        bulk_insert_frame("catalog_product", pd.DataFrame({
            "shop_id": shop.pk, "external_id": products["product_id"], "title": products["title"],
            "description": products["description"], "brand": products["brand"],
            "price": products["price"].replace("", None), "active": products["active"] == "true",
            "is_stub": False, "created_at": now,
        }))
        product_ids = ids("catalog_product")
        orders = pd.read_csv(out / "orders.csv", dtype=str, keep_default_na=False)
        bulk_insert_frame("behavior_order", pd.DataFrame({
            "shop_id": shop.pk, "external_id": orders["order_id"],
            "customer_id": orders["customer_id"].map(customer_ids), "placed_at": orders["placed_at"],
            "total": orders["total"].replace("", None), "currency": orders["currency"],
            "status": orders["status"], "item_count": orders["item_count"].replace("", None), "offer_code": "",
        }))
        order_ids = ids("behavior_order")
        lines = pd.read_csv(out / "order_lines.csv", dtype=str, keep_default_na=False)
        lines = lines.drop_duplicates(["order_id", "product_id"])
        bulk_insert_frame("behavior_orderline", pd.DataFrame({
            "shop_id": shop.pk, "order_id": lines["order_id"].map(order_ids),
            "product_id": lines["product_id"].map(product_ids), "quantity": lines["quantity"],
            "unit_price": lines["unit_price"].replace("", None),
        }))
        events = 0
        for chunk in pd.read_csv(out / "events.csv", dtype=str, keep_default_na=False, chunksize=1_000_000):
            keys = [f"{i:032x}" for i in range(events, events + len(chunk))]
            events += len(chunk)
            common.event_partitions_for(chunk["occurred_at"])
            bulk_insert_frame("behavior_event", pd.DataFrame({
                "shop_id": shop.pk, "customer_id": chunk["customer_id"].map(customer_ids),
                "type": chunk["type"], "product_id": chunk["product_id"].map(product_ids).astype("Int64"),
                "occurred_at": chunk["occurred_at"], "session_id": chunk["session_id"],
                "properties": chunk["properties"].replace("", None), "idempotency_key": keys,
            }))
    return {"customers": len(customers), "products": len(products), "orders": len(orders),
            "order_lines": len(lines), "events": int(events), "max_customer": int(np.max(list(customer_ids.values())))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the bench shop's rows afterwards")
    args = parser.parse_args()

    common.database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from django.db import connection

    from accounts.models import Shop
    from behavior.simulator import SimulationConfig, simulate
    from predictions.ml.features import FeatureConfig, build_features
    from predictions.selectors.frames import shop_frames
    from predictions.services.scoring import scoring_run_create, scoring_run_execute
    from predictions.services.training import model_train, resolve_as_of

    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        log(f"simulating {args.customers} customers, {args.products} products, {args.days} days")
        simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days,
                                  seed=args.seed), Path(tmp))
        log(f"simulated in {time.perf_counter() - started:.1f}s")
        common.shop_drop("bench-scoring")
        shop = Shop.objects.create(slug="bench-scoring", name="Bench scoring", horizon_days=90)
        started = time.perf_counter()
        counts = load_shop(shop, Path(tmp))
        with connection.cursor() as cursor:
            # What autovacuum does within minutes of a bulk load: statistics, and the visibility map that lets a
            # chunk read its customers' events and orders from the covering indexes alone (migration 0016).
            cursor.execute("VACUUM (ANALYZE)")
        log(f"loaded {counts} in {time.perf_counter() - started:.1f}s")

    as_of = resolve_as_of(shop=shop, as_of=None)
    started = time.perf_counter()
    frames = shop_frames(shop_id=shop.pk, until=as_of.to_pydatetime())
    read_seconds = time.perf_counter() - started
    features = build_features(frames, cutoff=as_of, config=FeatureConfig())
    figures["features_seconds"] = round(time.perf_counter() - started, 2)
    log(f"features: read {read_seconds:.1f}s, {len(features.customer_ids)} customers x "
        f"{features.X.shape[1]} features + sequences in {figures['features_seconds']}s total")
    del features

    for algorithm in ("lgbm", "lstm"):
        started = time.perf_counter()
        outcomes = [model_train(shop=shop, task=task, algorithms=[algorithm], frames=frames)
                    for task in ("purchase", "churn")]
        seconds = (time.perf_counter() - started) / 2
        figures[f"train_{algorithm}_seconds"] = round(seconds, 2)
        for outcome in outcomes:
            m = outcome.versions[0].metrics
            log(f"{algorithm} {outcome.task}: {outcome.train_rows} training rows, validation ROC AUC "
                f"{m.get('roc_auc'):.3f}, PR AUC {m.get('pr_auc'):.3f}")
        log(f"train {algorithm}: {seconds:.1f}s per task (features of every cutoff + fit + calibration + save)")
    del frames

    started = time.perf_counter()
    run = scoring_run_execute(run=scoring_run_create(shop=shop, enqueue=False), progress=log)
    figures["score_seconds"] = round(time.perf_counter() - started, 2)
    log(f"scored {run.scores.count()} rows for {run.customers_total} customers in {figures['score_seconds']}s "
        f"({run.status})")

    result = {"customers": counts["customers"], "events": counts["events"], **figures,
              "peak_rss_mb": round(common.peak_rss_mb(), 1)}
    if not args.keep:
        common.shop_drop(shop.slug)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
