"""Anomaly benchmark: faults injected into a real and a simulated history, found or missed, and false alarms.

    .venv/bin/python bench/anomalies.py [--customers 3000] [--days 540] [--seed 2] [--trials 6]

Faults, each injected alone into a fresh copy at `--trials` random days of the last 6 months:
- outage: no orders (and no events) for 3 days           -> expect `orders` down
- spike: 5x the day's orders (each order repeated)       -> expect `orders` up
- refund burst: 40 % of two days' orders refunded        -> expect `refunds` or `refund_rate` up
- feed stops: no `view` events from that day on          -> expect `events_view` down (simulator only: the CD
  shop has no events)
A fault is found when an alert of that metric and direction on the shop starts within a day of the fault's first
day; the delay is the alert's first day minus the fault's (0 = flagged on the first faulty day, once that day's data
is in). False alarms: alert groups on the clean history over its last 6 months, per 30 days. Goals: every fault
found within a day, at most one false alarm a month. Ends with one JSON line.
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
from forecasts.ml.anomalies import daily_metrics_frame, detect  # noqa: E402

CD_PATH = ROOT.parent / "shared" / "data" / "cdnow_a" / "orders.csv"
EXPECT = {"outage": ({"orders"}, "down"), "spike": ({"orders"}, "up"),
          "refund_burst": ({"refunds", "refund_rate"}, "up"), "feed_stops": ({"events_view"}, "down")}
EVAL_DAYS = 182


def inject(kind: str, orders: pd.DataFrame, events: pd.DataFrame | None, day: pd.Timestamp,
           rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    o_day = pd.to_datetime(orders["placed_at"], utc=True).dt.tz_convert(None).dt.normalize()
    e_day = None if events is None else pd.to_datetime(events["occurred_at"], utc=True).dt.tz_convert(None) \
        .dt.normalize()
    if kind == "outage":
        span = (o_day >= day) & (o_day < day + pd.Timedelta(days=3))
        orders = orders[~span]
        if events is not None:
            events = events[~((e_day >= day) & (e_day < day + pd.Timedelta(days=3)))]
    elif kind == "spike":
        that = orders[o_day == day]
        copies = [that.assign(order_id=that["order_id"].astype(str) + f"-x{k}") for k in range(4)]
        orders = pd.concat([orders, *copies], ignore_index=True)
    elif kind == "refund_burst":
        orders = orders.copy()
        span = ((o_day >= day) & (o_day < day + pd.Timedelta(days=2)) & (orders["status"] == "placed")).to_numpy()
        hit = span & (rng.random(len(orders)) < 0.4)
        orders.loc[hit, "status"] = "refunded"
    elif kind == "feed_stops":
        events = events[~((e_day >= day) & (events["type"] == "view"))]
    return orders, events


def evaluate(name: str, orders: pd.DataFrame, events: pd.DataFrame | None, *, trials: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    last = pd.to_datetime(orders["placed_at"], utc=True).dt.tz_convert(None).dt.normalize().max()
    start = last - pd.Timedelta(days=EVAL_DAYS - 1)
    t0 = time.perf_counter()
    clean = detect(daily_metrics_frame(orders=orders, events=events), start=start)
    groups = {a.group for a in clean}
    false_per_month = len(groups) / (EVAL_DAYS / 30)
    log(f"{name}: {len(clean)} alerts in {len(groups)} groups on the clean last {EVAL_DAYS} days "
        f"({time.perf_counter() - t0:.1f}s)", prefix="anomalies")
    kinds = [k for k in EXPECT if k != "feed_stops" or events is not None]
    result: dict = {"false_alarms_per_month": round(false_per_month, 2),
                    "clean_alerts": [f"{a.metric}/{a.segment} {a.date.date()} {a.direction} "
                                     f"{a.actual:.1f} vs {a.expected:.1f}" for a in clean], "faults": {}}
    for kind in kinds:
        found, delays = 0, []
        for _ in range(trials):
            day = start + pd.Timedelta(days=int(rng.integers(0, EVAL_DAYS - 10)))
            o, e = inject(kind, orders, events, day, rng)
            alerts = detect(daily_metrics_frame(orders=o, events=e), start=day - pd.Timedelta(days=1),
                            end=day + pd.Timedelta(days=3))
            metrics, direction = EXPECT[kind]
            hits = [a for a in alerts if a.metric in metrics and a.direction == direction and a.segment == "shop"
                    and day - pd.Timedelta(days=1) <= a.date <= day + pd.Timedelta(days=1)]
            if hits:
                found += 1
                delays.append(min((a.date - day).days for a in hits))
        result["faults"][kind] = {"found": found, "trials": trials,
                                  "mean_delay_days": None if not delays else round(float(np.mean(delays)), 2),
                                  "max_delay_days": None if not delays else int(max(delays))}
        log(f"{name}: {kind} found {found}/{trials}, delays {delays}", prefix="anomalies")
    all_found = all(f["found"] == f["trials"] for f in result["faults"].values())
    result["goal_all_found_within_a_day"] = bool(all_found)
    result["goal_false_alarms_met"] = bool(false_per_month <= 1.0)
    print(f"\n{name}: false alarms {false_per_month:.2f} a month (last {EVAL_DAYS} days, clean)")
    print("| fault | found | mean delay (days) | max delay |")
    print("|---|---|---|---|")
    for kind, f in result["faults"].items():
        print(f"| {kind} | {f['found']}/{f['trials']} | {f['mean_delay_days']} | {f['max_delay_days']} |")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=540)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    report: dict = {"bench": "anomalies"}
    if CD_PATH.exists():
        cd = pd.read_csv(CD_PATH, dtype={"customer_id": str})
        cd["order_id"] = np.arange(len(cd)).astype(str)
        cd["status"] = "placed"
        report["cdnow_a"] = evaluate("CD shop (cdnow_a)", cd, None, trials=args.trials, seed=args.seed)
    else:
        log(f"{CD_PATH} not found: the real CD shop is skipped", prefix="anomalies")
    from behavior.simulator import SimulationConfig, simulate

    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days, seed=args.seed),
                 Path(tmp))
        orders = pd.read_csv(Path(tmp) / "orders.csv", dtype={"customer_id": str, "order_id": str})
        events = pd.read_csv(Path(tmp) / "events.csv", usecols=["customer_id", "type", "occurred_at"],
                             dtype={"customer_id": str})
    log(f"simulated: {len(orders)} orders, {len(events)} events", prefix="anomalies")
    report["simulated"] = evaluate(f"simulated shop ({args.customers} customers)", orders, events,
                                   trials=args.trials, seed=args.seed)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
