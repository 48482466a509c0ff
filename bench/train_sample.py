"""Training on a sample: how a model's quality changes with the share of customers training reads.

A shop larger than TRAIN_SAMPLE_CUSTOMERS trains on a stable sample of its customers (predictions/selectors/
frames.py, `customer_sample_sql`) so training memory stops growing with the shop. This bench shows what that
costs: for each share it trains on the sample as of a past cutoff (the frames the service would read) and
judges the champion on EVERY customer's real outcome in (cutoff, cutoff + H] — the same test set for every share.

- cdnow_a (../shared/data, skipped when absent): purchase in the 91 days after 1998-03-31.
- a simulated shop (--customers, default 10,000): churn in the 90 days after its cutoff.

    .venv/bin/python bench/train_sample.py [--shares 1,0.5,0.25,0.1] [--customers 10000] [--data ../shared/data]

Prints a table per shop, then one JSON line: {"<shop>_<task>_<horizon>": {"<share>": {"customers_trained",
"champion", "roc_auc", "pr_auc", "train_seconds"}}}. Uses DATABASE_URL (default .../ecomsight_bench).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, log, shop_drop  # noqa: E402

ALGORITHMS = ("recency", "rfm_logreg", "bgnbd", "lgbm")


def by_share(shop, *, task: str, cutoff: dt.date, horizon: int, shares: list[float]) -> dict:
    """Train on each share's sample as of `cutoff`, judge on every customer; one row per share."""
    from predictions.ml import pipeline
    from predictions.ml.metrics import evaluate
    from predictions.selectors.frames import shop_frames

    cutoff_ts = pd.Timestamp(cutoff, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    config = pipeline.TrainConfig(task=task, horizon_days=horizon, as_of=cutoff_ts, algorithms=ALGORITHMS,
                                  lookback_days=shop.churn_lookback_days)
    everyone = shop_frames(shop_id=shop.pk)
    past = pipeline.truncate_frames(everyone, cutoff_ts)
    test = pipeline.build_model_input(past, cutoff=cutoff_ts, horizon_days=None, task=task, config=config)
    y = pipeline.build_labels(everyone, cutoff=cutoff_ts, horizon_days=horizon, task=task,
                              customer_ids=test.customer_ids)
    rows = {}
    for share in shares:
        started = time.perf_counter()
        sample = shop_frames(shop_id=shop.pk, until=cutoff_ts.to_pydatetime(), sample_share=share)
        result = pipeline.train(pipeline.truncate_frames(sample, cutoff_ts), config,
                                model_factories=pipeline.default_model_factories(task, horizon, config.seed))
        seconds = round(time.perf_counter() - started, 1)
        champion = result.models[result.champion]
        metrics = evaluate(y, champion.predict_proba(test))
        rows[f"{share:g}"] = {"customers_trained": int(len(sample.customers)), "champion": result.champion,
                              "roc_auc": round(metrics["roc_auc"], 4), "pr_auc": round(metrics["pr_auc"], 4),
                              "train_seconds": seconds}
        log(f"{shop.slug} share {share:g}: {rows[f'{share:g}']}", prefix="sample")
    print(f"\n{shop.slug}: {task} in the {horizon} days after {cutoff}, judged on all {len(y):,} customers "
          f"(base rate {float(y.mean()):.3f})")
    print(f"{'share':>7}{'trained on':>12}{'champion':>12}{'ROC AUC':>9}{'PR AUC':>9}{'seconds':>9}")
    for share, r in rows.items():
        print(f"{share:>7}{r['customers_trained']:>12,}{r['champion']:>12}{r['roc_auc']:>9.4f}{r['pr_auc']:>9.4f}"
              f"{r['train_seconds']:>9}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--shares", default="1,0.5,0.25,0.1")
    parser.add_argument("--customers", type=int, default=10_000, help="simulated shop's customers (0: skip it)")
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",")]

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import SimulationConfig, simulate

    report: dict = {}
    data = Path(args.data)
    if (data / "cdnow_a" / "orders.csv").is_file():
        shop_drop("bench-sample-cdnow")
        shop = Shop.objects.create(slug="bench-sample-cdnow", name="bench-sample-cdnow")
        data_import(shop=shop, kind="orders", path=data / "cdnow_a" / "orders.csv")
        report["cdnow_purchase_91"] = by_share(shop, task="purchase", cutoff=dt.date(1998, 3, 31), horizon=91,
                                               shares=shares)
        shop_drop("bench-sample-cdnow")
    else:
        log(f"no cdnow_a under {data}: that part is skipped", prefix="sample")
    if args.customers:
        end = dt.date(2026, 6, 30)
        shop_drop("bench-sample-sim")
        shop = Shop.objects.create(slug="bench-sample-sim", name="bench-sample-sim")
        with tempfile.TemporaryDirectory() as out:
            simulate(SimulationConfig(customers=args.customers, products=200, days=540, seed=11, end_date=end),
                     Path(out))
            for kind in ("customers", "products", "orders", "order_lines", "events"):
                data_import(shop=shop, kind=kind, path=Path(out) / f"{kind}.csv")
        report["simulated_churn_90"] = by_share(shop, task="churn", cutoff=end - dt.timedelta(days=90),
                                                horizon=90, shares=shares)
        shop_drop("bench-sample-sim")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
