"""Forecasting benchmark: every forecaster side by side, one split, on the simulator and on the real CD shop.

    .venv/bin/python bench/forecast.py [--customers 5000] [--days 730] [--seed 1] [--skip-sim] [--skip-real]

For each data set, weekly orders at the shop level: train on the data up to the cutoff, choose the champion on
rolling-origin validation windows before it, score every model on the 13 weeks after it. The real shop is
`../shared/data/cdnow_a/orders.csv` (cutoff 1998-03-31, skipped with a message when absent); the simulated one is
generated here (the test is the last 13 weeks of its window, see `simulated_orders`). Goal: champion MAE <= 0.85 x
the best of naive, seasonal naive, AutoETS, AutoARIMA and AutoTheta, and the 13-week total within 5 %.
Prints a table per data set and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402
from forecasts.ml.models import BASELINES  # noqa: E402
from forecasts.ml.selection import backtest  # noqa: E402
from forecasts.ml.series import facts_frame, panel_from_facts  # noqa: E402

CD_PATH = ROOT.parent / "shared" / "data" / "cdnow_a" / "orders.csv"


def _run(name: str, orders: pd.DataFrame, cutoff: pd.Timestamp, *, h: int = 13, freq: str = "week",
         measure: str = "orders") -> dict:
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure=measure, freq=freq, cutoff=cutoff)
    started = time.perf_counter()
    result = backtest(panel=panel, facts_all=facts, shop_facts=facts, h=h)
    seconds = time.perf_counter() - started
    best_name = min(BASELINES, key=lambda m: result.test[m].mae if m in result.test else np.inf)
    best = result.test[best_name].mae
    champ = result.test[result.champion]
    print(f"\n{name}: {measure} per {freq}, cutoff {cutoff.date()}, {h} bins; {panel.values.shape[1]} bins of history;"
          f" validation origins {[o.date().isoformat() for o in result.selection.origins]}; {seconds:.1f}s")
    print("| model | test MAE | MASE | total error % | 80 % coverage | validation MASE |")
    print("|---|---|---|---|---|---|")
    for model, m in result.test.items():
        v = result.selection.validation.get(model)
        mark = " (champion)" if model == result.champion else ""
        cov = "-" if m.coverage_80 is None else f"{m.coverage_80:.2f}"
        print(f"| {model}{mark} | {m.mae:.1f} | {m.mase:.3f} | {m.total_error_pct:+.1f} | {cov} | "
              f"{'-' if v is None else f'{v.mase:.3f}'} |")
    ratio = champ.mae / best if best else float("nan")
    goal_mae = bool(ratio <= 0.85)
    goal_total = bool(abs(champ.total_error_pct) <= 5)
    print(f"champion {result.champion}: MAE {champ.mae:.1f} = {ratio:.2f} x best baseline ({best_name} {best:.1f}); "
          f"total {champ.total_error_pct:+.1f} %; goals: MAE {'met' if goal_mae else 'NOT met'}, "
          f"total {'met' if goal_total else 'NOT met'}")
    return {
        "champion": result.champion,
        "champion_mae": round(champ.mae, 2),
        "champion_total_error_pct": round(champ.total_error_pct, 2),
        "best_baseline": best_name,
        "best_baseline_mae": round(best, 2),
        "mae_ratio": round(ratio, 3),
        "goal_mae_met": goal_mae,
        "goal_total_met": goal_total,
        "mae": {m: round(v.mae, 2) for m, v in result.test.items()},
        "total_error_pct": {m: round(v.total_error_pct, 2) for m, v in result.test.items()},
        "coverage_80": {m: (None if v.coverage_80 is None else round(v.coverage_80, 3))
                        for m, v in result.test.items()},
        "seconds": round(seconds, 1),
    }


def cd_orders() -> pd.DataFrame | None:
    if not CD_PATH.exists():
        log(f"{CD_PATH} not found: the real CD shop is skipped", prefix="forecast")
        return None
    df = pd.read_csv(CD_PATH, dtype={"customer_id": str})
    df["order_id"] = np.arange(len(df))
    df["status"] = "placed"
    df["placed_at"] = pd.to_datetime(df["placed_at"], utc=True)
    return df


def simulated_orders(customers: int, products: int, days: int, seed: int) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The simulated window's orders and the cutoff 91 days before its end: the test is the window's last 13
    weeks. (The simulator's `future_days` add no new customers - every customer joins within the window - a break
    no real shop has, which would judge every model on the simulator's edge rather than on forecasting.)"""
    from behavior.simulator import SimulationConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        config = SimulationConfig(customers=customers, products=products, days=days, seed=seed)
        simulate(config, Path(tmp))
        orders = pd.read_csv(Path(tmp) / "orders.csv", dtype={"customer_id": str, "order_id": str})
    orders["placed_at"] = pd.to_datetime(orders["placed_at"], utc=True, format="ISO8601")
    return orders, pd.Timestamp(config.end_date) - pd.Timedelta(days=91)


def data_parser(description: str) -> argparse.ArgumentParser:
    """The options choosing the two data sets (the simulator's size and seed, either one skipped)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=821)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    return parser


def main() -> None:
    args = data_parser(__doc__.split("\n")[0]).parse_args()
    report: dict = {"bench": "forecast"}
    if not args.skip_real:
        orders = cd_orders()
        report["cdnow_a"] = None if orders is None else _run("CD shop (cdnow_a)", orders, pd.Timestamp("1998-03-31"))
    if not args.skip_sim:
        log(f"simulating {args.customers} customers over {args.days} days", prefix="forecast")
        orders, end = simulated_orders(args.customers, args.products, args.days, args.seed)
        report["simulated"] = _run(f"simulated shop ({args.customers} customers, seed {args.seed})", orders, end)
        report["simulated"]["customers"] = args.customers
    print(json.dumps(report))


if __name__ == "__main__":
    main()
