"""Simulator presets beside the real shops they mimic: the same shape figures (behavior/simulator/shape.py) for
each preset's simulated shop and for the real datasets in ../shared/data (instacart_a, cdnow_a; skipped with a
message when absent), side by side, with each preset's documented ranges. No database.

    .venv/bin/python bench/presets.py [--data ../shared/data] [--scale 1.0] [--seed 1]

`--scale` multiplies each preset's default number of customers (products and days stay the preset's).
Prints the table, then one JSON line {"presets": {name: {"shape", "in_range", "seconds"}}, "real": {...}}.
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

from behavior.simulator import PRESETS, preset_config, shop_shape, simulate  # noqa: E402
from bench.common import log as _log  # noqa: E402

FIGURES = ("customers", "orders_per_customer", "one_time_share", "one_time_share_first_half", "median_gap_days",
           "gap_1_4_weeks_share", "mean_basket", "repeat_share", "new_item_share", "refund_share", "seasonal_peak")
# which real shop each preset is matched to (fashion has none here)
MATCH = {"grocery": "instacart_a", "media": "cdnow_a", "fashion": None}


def log(message: str) -> None:
    _log(message, prefix="presets")


def real_shapes(data: Path) -> dict:
    out = {}
    if (data / "instacart_a").is_dir():
        orders = pd.read_csv(data / "instacart_a" / "orders.csv", dtype=str)
        lines = pd.read_csv(data / "instacart_a" / "order_lines.csv", dtype=str)
        out["instacart_a"] = shop_shape(orders, lines).to_dict()
    if (data / "cdnow_a").is_dir():
        orders = pd.read_csv(data / "cdnow_a" / "orders.csv", dtype=str)
        out["cdnow_a"] = shop_shape(orders).to_dict()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    report: dict = {"presets": {}, "real": {}}
    for name, preset in PRESETS.items():
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            config = preset_config(name, customers=max(50, round(preset.customers * args.scale)), seed=args.seed)
            simulate(config, Path(tmp))
            shape = shop_shape(pd.read_csv(Path(tmp) / "orders.csv", dtype=str),
                               pd.read_csv(Path(tmp) / "order_lines.csv", dtype=str)).to_dict()
            seconds = round(time.perf_counter() - started, 1)
        in_range = {k: shape[k] is not None and lo <= shape[k] <= hi for k, (lo, hi) in preset.ranges.items()}
        report["presets"][name] = {"shape": shape, "in_range": in_range, "seconds": seconds,
                                   "customers_simulated": config.customers, "products": config.products,
                                   "days": config.days}
        log(f"{name}: simulated and measured in {seconds}s")
    data = Path(args.data)
    if (data / "instacart_a").is_dir() or (data / "cdnow_a").is_dir():
        report["real"] = real_shapes(data)
    else:
        print(f"No real shop data at {data}: the real columns are skipped (see /work/shared/data/README.md).")

    columns = []
    for name in PRESETS:
        columns.append((name, report["presets"][name]["shape"]))
        real = MATCH[name]
        if real and real in report["real"]:
            columns.append((real, report["real"][real]))
    print(f"{'figure':<28}" + "".join(f"{title:>14}" for title, _ in columns))
    for figure in FIGURES:
        cells = []
        for _, shape in columns:
            value = shape.get(figure)
            cells.append(f"{'-':>14}" if value is None else f"{value:>14.3f}" if isinstance(value, float)
                         else f"{value:>14}")
        print(f"{figure:<28}" + "".join(cells))
    print("\ndocumented ranges (presets.py) and whether the simulated shop falls in them:")
    for name, preset in PRESETS.items():
        shape, ok = report["presets"][name]["shape"], report["presets"][name]["in_range"]
        print(f"  {name:<8} " + "; ".join(f"{k} {shape[k]} in [{lo}, {hi}]: {'yes' if ok[k] else 'NO'}"
                                         for k, (lo, hi) in preset.ranges.items()))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
