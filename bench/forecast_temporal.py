"""Weekly and daily forecasts made to agree (forecasts.ml.reconcile.days_to_weeks): which way, and what it costs.

    .venv/bin/python bench/forecast_temporal.py [--customers 5000] [--seed 1] [--skip-sim] [--skip-real]
        [--validation N]

The stored forecast (forecast_run_create) picks a champion per frequency, then scales each week of the days to the
weekly champion's forecast of that week. Three ways of telling the weeks were candidates: the days summed, the
weekly champion, and the mean of the two ("reconciled": the structural-scaling reconciliation of temporal
hierarchies, Athanasopoulos et al. 2017). On bench/forecast.py's two data sets (the real CD shop, cutoff
1998-03-31; the simulator, its last 13 weeks) and two measures (orders, revenue): train to the cutoff, champion of
each frequency chosen on validation windows before it, scored on the 91 days after it — each way's weekly MAE and
error of the 91-day total, and the daily MAE of the days alone, scaled to the weekly champion, and reconciled.
Ends with one JSON line.

`--validation N` judges the same on N earlier 13-week windows that end by the cutoff (origins 13 weeks before it
and every 4 weeks further back, each with at least 26 weeks of history), so the choice can rest on data before the
test: per data set and measure, the mean week MAE and mean absolute total error of each way over those windows.
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
from forecasts.ml.reconcile import days_to_weeks  # noqa: E402
from forecasts.ml.selection import forecast_champion  # noqa: E402
from forecasts.ml.series import facts_frame, future_actuals, panel_from_facts  # noqa: E402

WEEKS = 13


def _weeks(weeks: np.ndarray, actual_weekly: np.ndarray) -> dict:
    return {"week_mae": round(float(np.abs(weeks - actual_weekly).mean()), 3),
            "total_error_pct": round(float(100 * (weeks.sum() - actual_weekly.sum()) / actual_weekly.sum()), 2)}


def _run(name: str, orders: pd.DataFrame, cutoff: pd.Timestamp, measure: str, *, quiet: bool = False) -> dict:
    facts = facts_frame(orders=orders, level="shop")
    facts = facts[facts["day"] <= cutoff + pd.Timedelta(days=WEEKS * 7)]
    past = facts[facts["day"] <= cutoff]
    started = time.perf_counter()
    fitted = {}
    for freq, h in (("week", WEEKS), ("day", WEEKS * 7)):
        panel = panel_from_facts(past, measure=measure, freq=freq, cutoff=cutoff)
        fitted[freq] = (panel, forecast_champion(panel=panel, facts=past, shop_facts=past, h=h))
    (day_panel, day), (_week_panel, week) = fitted["day"], fitted["week"]
    actual = future_actuals(facts, panel=day_panel, h=WEEKS * 7)[0]
    actual_weekly = actual.reshape(-1, 7).sum(axis=1)
    days_alone, weeks_alone = day.champion.mean[0], week.champion.mean[0]
    days_summed = days_alone.reshape(-1, 7).sum(axis=1)
    weeks_both = (days_summed + weeks_alone) / 2
    days_both = days_alone * np.repeat(weeks_both / np.maximum(days_summed, 1e-9), 7)
    days_scaled = days_to_weeks(day.champion, week.champion).mean[0]
    out = {"day_champion": day.selection.champion, "week_champion": week.selection.champion,
           "weeks": {"days_summed": _weeks(days_summed, actual_weekly),
                     "week_champion": _weeks(weeks_alone, actual_weekly),
                     "reconciled": _weeks(weeks_both, actual_weekly)},
           "day_mae": {key: round(float(np.abs(d - actual).mean()), 3) for key, d in
                       (("day_champion", days_alone), ("scaled_to_weeks", days_scaled),
                        ("reconciled", days_both))},
           "seconds": round(time.perf_counter() - started, 1)}
    if quiet:
        return out
    print(f"\n{name}, {measure}: cutoff {cutoff.date()}, 91 days; champions: day {out['day_champion']}, "
          f"week {out['week_champion']}")
    print("| weeks told by | week MAE | 91-day total error % |")
    print("|---|---|---|")
    for key, s in out["weeks"].items():
        print(f"| {key} | {s['week_mae']:.3f} | {s['total_error_pct']:+.2f} |")
    print("day MAE: " + ", ".join(f"{key} {v:.3f}" for key, v in out["day_mae"].items()))
    return out


def _validation(name: str, orders: pd.DataFrame, cutoff: pd.Timestamp, n: int) -> dict:
    first = orders["placed_at"].min().tz_localize(None).normalize()
    origins = [cutoff - pd.Timedelta(weeks=WEEKS + 4 * i) for i in range(n)]
    origins = [o for o in origins if (o - first).days >= 26 * 7]
    out: dict = {"origins": [o.date().isoformat() for o in origins]}
    for measure in ("orders", "revenue"):
        runs = [_run(name, orders, o, measure, quiet=True) for o in origins]
        ways = runs[0]["weeks"].keys()
        out[measure] = {way: {"week_mae": round(float(np.mean([r["weeks"][way]["week_mae"] for r in runs])), 3),
                              "abs_total_error_pct": round(float(np.mean(
                                  [abs(r["weeks"][way]["total_error_pct"]) for r in runs])), 2),
                              "wins": sum(r["weeks"][way]["week_mae"] == min(x["week_mae"] for x in r["weeks"].values())
                                          for r in runs)}
                        for way in ways}
        out[measure]["day_mae"] = {way: round(float(np.mean([r["day_mae"][way] for r in runs])), 3)
                                   for way in runs[0]["day_mae"]}
        print(f"\n{name}, {measure}: validation over {len(origins)} windows before the cutoff "
              f"({out['origins'][-1]} .. {out['origins'][0]})")
        print("| weeks told by | mean week MAE | mean abs total error % | windows won |")
        print("|---|---|---|---|")
        for way in ways:
            s = out[measure][way]
            print(f"| {way} | {s['week_mae']:.3f} | {s['abs_total_error_pct']:.2f} | {s['wins']} |")
        print("mean day MAE: " + ", ".join(f"{k} {v:.3f}" for k, v in out[measure]["day_mae"].items()))
    return out


def main() -> None:
    parser = data_parser(__doc__.split("\n")[0])
    parser.add_argument("--validation", type=int, default=0, metavar="N")
    args = parser.parse_args()
    report: dict = {"bench": "forecast_temporal"}
    sets = []
    if not args.skip_real:
        orders = cd_orders()
        if orders is not None:
            sets.append(("cdnow_a", "CD shop (cdnow_a)", orders, pd.Timestamp("1998-03-31")))
    if not args.skip_sim:
        log(f"simulating {args.customers} customers over {args.days} days", prefix="forecast_temporal")
        orders, end = simulated_orders(args.customers, args.products, args.days, args.seed)
        sets.append(("simulated", f"simulated shop ({args.customers} customers)", orders, end))
    for key, name, orders, cutoff in sets:
        if "total" not in orders.columns:
            continue
        report[key] = {measure: _run(name, orders, cutoff, measure) for measure in ("orders", "revenue")}
        if args.validation:
            report[key]["validation"] = _validation(name, orders, cutoff, args.validation)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
