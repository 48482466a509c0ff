"""Model quality on a simulated shop, measured the way issues 3 and 4 judge it.

Simulates a shop (default 20,000 customers, 2,000 products, 2 years, 90 days of future), imports it
with the real importer (`import_data`'s service) including what happened after the data ends, then:
- `backtest --truth` for purchase at 30 and 90 days and churn at 90 days: every algorithm beside the
  simulator's oracle (its true probabilities), with the champion validation chose;
- `evaluate_recommendations --k 10` on the history up to the end of the data (the future orders
  are not loaded into that shop).
Prints the tables, then one JSON line {"backtests": {...}, "recommendations": {...}}.

    .venv/bin/python bench/quality.py [--customers 20000 --products 2000 --days 730 --algorithms ...]
                                      [--preset grocery|fashion|media] [--tasks purchase_30,churn_90|none]

`--preset` simulates a shop shaped like a real one (behavior/simulator/presets.py): its sizes are the
defaults then, and --customers / --products / --days still override them. `--tasks none` skips the backtests.

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench).
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

KINDS = ("customers", "products", "orders", "order_lines", "events")
COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")


def log(message: str) -> None:
    _log(message, prefix="quality")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=None, help="default 20000, or the preset's")
    parser.add_argument("--products", type=int, default=None, help="default 2000, or the preset's")
    parser.add_argument("--days", type=int, default=None, help="default 730, or the preset's")
    parser.add_argument("--preset", default=None, help="grocery, fashion or media (simulate_shop --preset)")
    parser.add_argument("--peers", action="store_true",
                        help="purchase backtests: also the real-shop bench's peers (bench/real_shops.py: logistic "
                             "regression and LightGBM on RFM, Pareto/NBD, BG/NBD, recency) on the same customers")
    parser.add_argument("--tasks", default="purchase_30,purchase_90,churn_90",
                        help="backtests to run, TASK_HORIZON comma-separated; none: only recommendations")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--algorithms", default="recency,rfm_logreg,bgnbd,lgbm,lstm,ensemble")
    parser.add_argument("--keep", action="store_true", help="keep the two bench shops afterwards")
    parser.add_argument("--totals-only", action="store_true",
                        help="import only customers and orders (no lines, no events, no products), like a shop "
                             "that exports only order totals; recommendations are skipped")
    args = parser.parse_args()

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import preset_config, simulate
    from predictions.services.backtesting import model_backtest
    from recommendations.services import recommendations_evaluate

    end = dt.date(2026, 6, 30)
    report: dict = {"backtests": {}, "recommendations": None, "preset": args.preset}
    tasks = [] if args.tasks == "none" else [(t.rsplit("_", 1)[0], int(t.rsplit("_", 1)[1]))
                                             for t in args.tasks.split(",")]
    if args.preset is None:
        sizes = dict(customers=args.customers or 20_000, products=args.products or 2_000, days=args.days or 730)
    else:
        sizes = dict(customers=args.customers, products=args.products, days=args.days)
    config = preset_config(args.preset, seed=args.seed, end_date=end, future_days=90, **sizes)
    report["simulated"] = {"customers": config.customers, "products": config.products, "days": config.days}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        simulate(config, out)
        log(f"simulated {args.preset or 'the default shop'} ({report['simulated']}) in "
            f"{time.perf_counter() - started:.1f}s")
        shops = {}
        kinds = ("customers", "orders") if args.totals_only else KINDS
        plan = (("bench-quality", True),) if args.totals_only else (("bench-quality", True),
                                                                    ("bench-quality-history", False))
        for slug, future in plan:
            shop_drop(slug)
            shop = Shop.objects.create(slug=slug, name=slug)
            started = time.perf_counter()
            for kind in kinds:
                data_import(shop=shop, kind=kind, path=out / f"{kind}.csv")
            if future:
                data_import(shop=shop, kind="orders", path=out / "future_orders.csv")
                if not args.totals_only:
                    data_import(shop=shop, kind="order_lines", path=out / "future_order_lines.csv")
            log(f"imported {slug} in {time.perf_counter() - started:.1f}s")
            shops[slug] = shop

        for task, horizon in tasks:
            started = time.perf_counter()
            result = model_backtest(shop=shops["bench-quality"], task=task, cutoff=end, horizon_days=horizon,
                                    truth_path=str(out / "truth.csv"), algorithms=args.algorithms, progress=log)
            key = f"{task}_{horizon}"
            report["backtests"][key] = {
                "customers": result["customers"], "base_rate": result["base_rate"], "champion": result["champion"],
                "algorithms": {name: {c: m[c] for c in COLUMNS} for name, m in result["algorithms"].items()},
                "errors": result["errors"], "seconds": round(time.perf_counter() - started, 1),
            }
            print(f"\n{task} at {horizon} days: {result['customers']} customers, base rate "
                  f"{result['base_rate']:.3f}, champion {result['champion']}")
            print(f"{'algorithm':<12}" + "".join(f"{c:>16}" for c in COLUMNS))
            for name, m in result["algorithms"].items():
                print(f"{name:<12}" + "".join(f"{m[c]:>16.4f}" if m[c] is not None else f"{'-':>16}"
                                              for c in COLUMNS))
            oracle = result["algorithms"].get("oracle", {}).get("roc_auc")
            champion = result["algorithms"].get(result["champion"] or "", {}).get("roc_auc")
            if oracle and champion:
                print(f"champion / oracle ROC AUC: {champion / oracle:.3f}")
                report["backtests"][key]["champion_vs_oracle"] = round(champion / oracle, 4)
            if args.peers and task == "purchase":
                from bench.real_shops import prediction_peers
                from predictions.selectors.frames import shop_frames

                shop = shops["bench-quality"]
                peers = prediction_peers(shop_frames(shop_id=shop.pk), cutoff=end, horizon=horizon,
                                         lookback_days=shop.churn_lookback_days)
                report["backtests"][key]["peers"] = peers
                for name, m in peers.items():
                    print(f"{'peer ' + name:<22}{m['roc_auc']:>10.4f}{m['pr_auc']:>10.4f}")
                best = result["algorithms"].get(result["champion"] or "", {})
                if best.get("roc_auc") is not None:
                    gap = {"roc_auc": round(best["roc_auc"] - max(m["roc_auc"] for m in peers.values()), 4),
                           "pr_auc": round(best["pr_auc"] - max(m["pr_auc"] for m in peers.values()), 4)}
                    report["backtests"][key]["champion_minus_best_peer"] = gap
                    print(f"champion minus best peer: ROC AUC {gap['roc_auc']:+.4f}, PR AUC {gap['pr_auc']:+.4f}")

        if not args.totals_only:
            started = time.perf_counter()
            rec = recommendations_evaluate(shop=shops["bench-quality-history"], k=10, data_report=True)
            rec["seconds"] = round(time.perf_counter() - started, 1)
            report["recommendations"] = rec
            print(f"\nrecommendations, K=10: {rec['customers']} customers (last order held out)")
            print(f"{'recommender':<12}{'hit_rate':>10}{'recall':>10}{'ndcg':>10}{'coverage':>10}{'pop_bias':>10}")
            for name, m in rec.items():
                if isinstance(m, dict) and "ndcg" in m:
                    print(f"{name:<12}{m['hit_rate']:>10.4f}{m['recall']:>10.4f}{m['ndcg']:>10.4f}"
                          f"{m['coverage']:>10.3f}{m['popularity_bias']:>10.1f}")
            print(f"hybrid chosen on validation: {rec.get('hybrid_choice')}; data report: {rec.get('data_report')}")
        if not args.keep:
            for slug in shops:
                shop_drop(slug)
    print(json.dumps(report, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
