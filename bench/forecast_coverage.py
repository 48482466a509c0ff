"""Forecast bands: how often the champion's 80 % and 95 % bands hold the weeks after the cutoff.

    .venv/bin/python bench/forecast_coverage.py [--customers 5000] [--days 821] [--seed 1] [--skip-sim] [--skip-real]

Weekly orders at the shop level, 13 weeks after each of several cutoffs (the bench's own and the two or three before
it, 13 weeks apart), on three data sets: the real CD shop (`../shared/data/cdnow_a/orders.csv`), the simulator (as
bench/forecast.py), and a synthetic fast-growing shop (new customers arriving at a rate that doubles every quarter,
from 3 orders a day to about 180: the outside analyst's shape, whose 80 % bands held a quarter of its weeks). Per data
set: the champion at each cutoff, the share of test weeks inside its 80 % and 95 % bands (pooled over the cutoffs;
goal about 0.8 and 0.95) and the bands' mean width relative to the actual weekly orders. Ends with one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402
from bench.forecast import cd_orders, data_parser, simulated_orders  # noqa: E402
from forecasts.ml.selection import forecast_champion  # noqa: E402
from forecasts.ml.series import facts_frame, future_actuals, panel_from_facts  # noqa: E402

H = 13


def growing_orders(*, days: int = 540, start_rate: float = 3.0, doubling_days: int = 91, seed: int = 5
                   ) -> tuple[pd.DataFrame, pd.Timestamp]:
    """A shop whose new customers arrive at a rate doubling every `doubling_days`; each buys every 30 days on
    average (gamma-distributed rates) and leaves after 10 purchases on average. Its orders, and the last day."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2023-01-01")
    rows = []
    customer = 0
    for d in range(days):
        for _ in range(rng.poisson(start_rate / 3 * 2 ** (d / doubling_days))):
            lam = rng.gamma(3.0, 1 / 90)
            t = d + rng.uniform(0, 1)
            while t < days:
                rows.append((customer, t))
                if rng.random() < 0.1:
                    break
                t += rng.exponential(1 / lam)
            customer += 1
    frame = pd.DataFrame(rows, columns=["customer_id", "t"])
    orders = pd.DataFrame({
        "order_id": np.arange(len(frame)), "customer_id": frame["customer_id"].astype(str),
        "placed_at": pd.to_datetime(first, utc=True) + pd.to_timedelta(frame["t"] * 86400, unit="s"),
        "total": 20.0, "item_count": 1.0, "status": "placed"})
    return orders, first + pd.Timedelta(days=days - 1)


def coverage(name: str, orders: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> dict:
    facts = facts_frame(orders=orders, level="shop")
    inside80, inside95, width80, picks = [], [], [], []
    started = time.perf_counter()
    for cutoff in cutoffs:
        panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
        past = facts[facts["day"] <= cutoff]
        result = forecast_champion(panel=panel, facts=past, shop_facts=past, h=H)
        actual = future_actuals(facts, panel=panel, h=H)[0]
        f = result.champion
        inside80 += list((actual >= f.lo80[0] - 1e-9) & (actual <= f.hi80[0] + 1e-9))
        inside95 += list((actual >= f.lo95[0] - 1e-9) & (actual <= f.hi95[0] + 1e-9))
        width80.append(float(np.mean(f.hi80[0] - f.lo80[0]) / max(actual.mean(), 1e-9)))
        cov = float(np.mean((actual >= f.lo80[0]) & (actual <= f.hi80[0])))
        picks.append(result.selection.champion)
        print(f"{name}, cutoff {cutoff.date()}: champion {result.selection.champion}, 80 % coverage {cov:.2f}, "
              f"width {width80[-1]:.2f} x the actual weekly mean")
    out = {"champions": picks, "coverage_80": round(float(np.mean(inside80)), 3),
           "coverage_95": round(float(np.mean(inside95)), 3), "width_80": round(float(np.mean(width80)), 3),
           "weeks": len(inside80), "seconds": round(time.perf_counter() - started, 1)}
    print(f"{name}: {out}")
    return out


def main() -> None:
    args = data_parser(__doc__.split("\n")[0]).parse_args()
    report: dict = {"bench": "forecast_coverage"}
    if not args.skip_real:
        orders = cd_orders()
        if orders is not None:
            report["cdnow_a"] = coverage("CD shop", orders, [pd.Timestamp("1998-03-31"), pd.Timestamp("1997-12-30")])
    if not args.skip_sim:
        log(f"simulating {args.customers} customers over {args.days} days", prefix="coverage")
        orders, cutoff = simulated_orders(args.customers, args.products, args.days, args.seed)
        report["simulated"] = coverage("simulated shop", orders, [cutoff - pd.Timedelta(weeks=13 * k)
                                                                  for k in range(3)])
    orders, last = growing_orders()
    report["growing"] = coverage("growing shop", orders, [last - pd.Timedelta(weeks=13 * k) for k in range(1, 4)])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
