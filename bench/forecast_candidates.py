"""Would a combination of the validated models do better? Validation and test side by side, for the record.

    .venv/bin/python bench/forecast_candidates.py [--skip-sim] [--skip-real]

On the same data and split as bench/forecast.py (weekly orders at the shop level), for every model and for the
mean and median of the top-k distinct models by validation MASE (k = 2..5; forecasts identical on every window
count once): the validation MASE on the origins `selection.validation_origins` gives (what a champion is chosen
on), and the test MAE and 13-week total error after the cutoff (only reported, never used to choose). Also the
window a year before the test (same season), where a year of history precedes it. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.forecast import cd_orders, simulated_orders  # noqa: E402
from forecasts.ml.models import Forecast, ForecastInput, run_models  # noqa: E402
from forecasts.ml.selection import DEFAULT_MODELS, score, validation_origins  # noqa: E402
from forecasts.ml.series import facts_frame, future_actuals, panel_from_facts  # noqa: E402


def _windows(orders: pd.DataFrame, cutoff: pd.Timestamp, h: int = 13) -> dict[str, dict]:
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    n = panel.values.shape[1]
    origins = {f"validation_{i}": o for i, o in enumerate(validation_origins(n, h=h, freq="week", windows=2))}
    if n - 52 >= 52:
        origins["year_before_test"] = n - 52
    origins["test"] = n
    out = {}
    for label, o in origins.items():
        hist = panel.until(o)
        end = hist.ends[-1]
        inp = ForecastInput(panel=hist, facts=facts[facts["day"] <= end], shop_facts=facts[facts["day"] <= end], h=h)
        forecasts, _ = run_models(inp, list(DEFAULT_MODELS))
        actual = panel.values[:, o: o + h] if o < n else future_actuals(facts, panel=panel, h=h)
        out[label] = {"end": end.date().isoformat(), "actual": actual, "history": hist.values,
                      "means": {m: f.mean[:, : actual.shape[1]] for m, f in forecasts.items()}}
    return out


def _metrics(mean: np.ndarray, w: dict) -> dict:
    m = score(Forecast(mean=mean), w["actual"], w["history"])
    return {"mase": round(m.mase, 3), "mae": round(m.mae, 2), "total_error_pct": round(m.total_error_pct, 2)}


def candidates(orders: pd.DataFrame, cutoff: pd.Timestamp) -> dict:
    windows = _windows(orders, cutoff)
    val = [k for k in windows if k.startswith("validation_")]
    models = list(windows["test"]["means"])
    vmase = {m: float(np.mean([_metrics(windows[v]["means"][m], windows[v])["mase"] for v in val])) for m in models}
    distinct: list[str] = []
    for m in sorted(models, key=lambda m: (vmase[m], m)):
        if m != "ensemble" and not any(all(np.allclose(windows[v]["means"][m], windows[v]["means"][d]) for v in val)
                                       for d in distinct):
            distinct.append(m)
    rows = {m: {w: _metrics(windows[w]["means"][m], windows[w]) for w in windows} for m in models}
    for k in range(2, 6):
        for agg, fn in (("mean", np.mean), ("median", np.median)):
            top = distinct[:k]
            rows[f"top{k}_{agg}"] = {w: {**_metrics(fn([windows[w]["means"][m] for m in top], axis=0), windows[w]),
                                         "members": top} for w in windows}
    for r in rows.values():
        r["validation_mase"] = round(float(np.mean([r[v]["mase"] for v in val])), 3)
    best = min(rows, key=lambda n: (rows[n]["validation_mase"], n))
    print(f"validation windows end {[windows[v]['end'] for v in val]}; chosen on validation: {best} "
          f"(test MAE {rows[best]['test']['mae']}, total {rows[best]['test']['total_error_pct']:+.1f} %)")
    for name, r in sorted(rows.items(), key=lambda kv: kv[1]["validation_mase"]):
        extra = f" | year before test MASE {r['year_before_test']['mase']}" if "year_before_test" in r else ""
        print(f"  {name:<14} validation MASE {r['validation_mase']:.3f} | test MAE {r['test']['mae']:.1f}, "
              f"total {r['test']['total_error_pct']:+.1f} %{extra}")
    return {"chosen_on_validation": best, "windows": {w: windows[w]["end"] for w in windows}, "candidates": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    report: dict = {"bench": "forecast_candidates"}
    if not args.skip_real and (orders := cd_orders()) is not None:
        print("CD shop (cdnow_a), cutoff 1998-03-31")
        report["cdnow_a"] = candidates(orders, pd.Timestamp("1998-03-31"))
    if not args.skip_sim:
        orders, cutoff = simulated_orders(5000, 200, 821, 1)
        print(f"simulated shop (5000 customers, seed 1), cutoff {cutoff.date()}")
        report["simulated"] = candidates(orders, cutoff)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
