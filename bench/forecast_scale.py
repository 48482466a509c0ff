"""Forecasting every series of a big shop: the shop, every category and every product, weekly units, 13 weeks.

    .venv/bin/python bench/forecast_scale.py [--customers 200000] [--products 20000] [--days 730] [--data DIR]

Simulates the shop (or reads the simulator's files from --data), then for each level chooses the champion on a
validation window before the cutoff (91 days before the window's end: the test is the window's last 13 weeks; the
simulator's future days add no new customers, a break no real shop has) and forecasts the 13 weeks after it, with the
models that level runs in `forecast` (forecasts.ml.selection.LEVEL_MODELS; the product level: naive, seasonal
naive, Croston, ADIDA, the global LightGBM and the customer-based model). Measures wall time, peak memory and the
champions' test accuracy against the best baseline of the same run.

Goal (set here): every series of a 200,000-customer, 20,000-product shop forecast in under 10 minutes of wall time
on the 2-core machine with under 4 GB peak memory, and at every level the champion's test MASE no worse than the
best baseline's. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log, peak_rss_mb  # noqa: E402
from forecasts.ml.models import BASELINES  # noqa: E402
from forecasts.ml.selection import backtest  # noqa: E402
from forecasts.ml.series import facts_frame, panel_from_facts  # noqa: E402

PRODUCT_MODELS = ("naive", "seasonal_naive", "croston", "adida", "lightgbm", "customer")
CATEGORY_MODELS = ("naive", "seasonal_naive", "auto_ets", "auto_theta", "croston", "adida", "lightgbm", "customer",
                   "ensemble")
SHOP_MODELS = (*BASELINES, "croston", "adida", "lightgbm", "customer", "ensemble")


def load(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    read = {"dtype": {"customer_id": str, "order_id": str, "product_id": str}}
    orders = pd.read_csv(directory / "orders.csv", usecols=["order_id", "customer_id", "placed_at", "total",
                                                            "item_count", "status"], **read)
    orders["placed_at"] = pd.to_datetime(orders["placed_at"], utc=True, format="ISO8601")
    lines = pd.read_csv(directory / "order_lines.csv", usecols=["order_id", "product_id", "quantity", "unit_price"],
                        **read)
    products = pd.read_csv(directory / "products.csv", usecols=["product_id", "category"], dtype=str)
    categories = {name: float(i) for i, name in enumerate(sorted(products["category"].dropna().unique()))}
    products["category_id"] = products["category"].map(categories)
    pid = {p: i for i, p in enumerate(products["product_id"])}
    lines = lines.merge(products[["product_id", "category_id"]], on="product_id", how="left")
    lines["product_id"] = lines["product_id"].map(pid).fillna(-1).astype("int64")
    return orders, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--data", help="a directory of the simulator's files")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.data:
        orders, lines = load(Path(args.data))
    else:
        from behavior.simulator import SimulationConfig, simulate

        with tempfile.TemporaryDirectory() as tmp:
            log(f"simulating {args.customers} customers, {args.products} products, {args.days} days",
                prefix="forecast-scale")
            simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days,
                                      seed=args.seed), Path(tmp))
            orders, lines = load(Path(tmp))
    simulate_s = time.perf_counter() - started
    last = pd.to_datetime(orders["placed_at"]).dt.tz_convert(None).dt.normalize().max()
    cutoff = last - pd.Timedelta(days=91)
    log(f"{len(orders)} orders, {len(lines)} lines; cutoff {cutoff.date()}", prefix="forecast-scale")
    report: dict = {"bench": "forecast_scale", "customers": args.customers, "products": args.products,
                    "orders": len(orders), "order_lines": len(lines), "load_or_simulate_s": round(simulate_s, 1),
                    "levels": {}}
    t_all = time.perf_counter()
    t0 = time.perf_counter()
    shop_facts = facts_frame(orders=orders, level="shop", order_lines=lines)
    facts = {"shop": shop_facts,
             "category": facts_frame(orders=orders, level="category", order_lines=lines),
             "product": facts_frame(orders=orders, level="product", order_lines=lines, top_products=10**9)}
    facts_s = time.perf_counter() - t0
    series_total = 0
    all_met = True
    print("| level | series | seconds | champion | champion test MASE | best baseline | its MASE |")
    print("|---|---|---|---|---|---|---|")
    for level, models in (("shop", SHOP_MODELS), ("category", CATEGORY_MODELS), ("product", PRODUCT_MODELS)):
        t0 = time.perf_counter()
        panel = panel_from_facts(facts[level], measure="units", freq="week", cutoff=cutoff)
        result = backtest(panel=panel, facts_all=facts[level], shop_facts=shop_facts, h=13, models=models, windows=1)
        seconds = time.perf_counter() - t0
        series_total += len(panel.keys)
        base = {m: v for m, v in result.test.items() if m in BASELINES}
        best = min(base, key=lambda m: base[m].mase)
        champ = result.test[result.champion]
        met = champ.mase <= base[best].mase + 1e-9
        all_met &= met
        report["levels"][level] = {
            "series": len(panel.keys), "seconds": round(seconds, 1), "champion": result.champion,
            "champion_mase": round(champ.mase, 4), "best_baseline": best,
            "best_baseline_mase": round(base[best].mase, 4),
            "champion_total_error_pct": round(champ.total_error_pct, 2),
            "mase": {m: round(v.mase, 4) for m, v in result.test.items()},
            "skipped": result.selection.skipped,
        }
        print(f"| {level} | {len(panel.keys)} | {seconds:.1f} | {result.champion} | {champ.mase:.3f} | {best} | "
              f"{base[best].mase:.3f} |")
        log(f"{level}: {len(panel.keys)} series in {seconds:.1f}s; peak {peak_rss_mb():.0f} MB",
            prefix="forecast-scale")
    forecast_s = time.perf_counter() - t_all
    report.update({"series": series_total, "facts_s": round(facts_s, 1), "forecast_s": round(forecast_s, 1),
                   "peak_rss_mb": round(peak_rss_mb(), 0)})
    report["goal_time_met"] = bool(forecast_s < 600)
    report["goal_memory_met"] = bool(peak_rss_mb() < 4096)
    report["goal_accuracy_met"] = bool(all_met)
    print(f"{series_total} series forecast in {forecast_s:.0f}s (facts {facts_s:.0f}s), peak {peak_rss_mb():.0f} MB")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
