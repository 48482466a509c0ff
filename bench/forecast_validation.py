"""The validation evidence behind the forecasting choices: every model at many rolling origins before the cutoff.

    .venv/bin/python bench/forecast_validation.py [--step 2] [--customers 5000] [--skip-sim] [--skip-real]
        [--orders PATH --cutoff DATE]

Same data and split as bench/forecast.py (weekly orders at the shop level). Origins run from the cutoff - 13 weeks
back to 30 weeks of history (LightGBM's minimum), every `--step` weeks; at each, every model is fitted on the
history up to the origin and scored on the 13 weeks after it - all of them before the cutoff. Reported:

1. the champion that each set of origins would choose (lowest mean validation MASE, as selection.py does): the two
   origins selection.py uses, the origins with a year of history before them, and all of them;
2. the customer model's variants on the same origins: with the denoised yearly seasonal index (today's), without
   it (the previous version), with the raw index, and with Pareto/NBD instead of BG/NBD; and the mean of LightGBM
   and the customer model (the two that see the season; `ensemble` since session 22, which was AutoETS, AutoTheta
   and customer before);
3. validation-weighted combinations (weights 1 / validation MSE, Bates & Granger), scored nested: at each origin
   the weights come only from windows that ended before it, so their score is out of sample like a model's;
4. selection rules judged before the cutoff: at each validation origin taken as a pseudo-cutoff, the champion that
   selection.py's two windows, or windows every 2 / 4 weeks over the year before, would pick, scored on the window
   after it (still before the real cutoff);
5. the test window's figures for the same candidates (reported, never used to choose), and what no forecast
   made before the cutoff can beat: the test's own mean and least-squares line in hindsight, and the Poisson floor
   sqrt(2 m / pi) - the expected absolute error of a forecast that knows the exact weekly mean m.

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402
from bench.forecast import cd_orders, simulated_orders  # noqa: E402
from forecasts.ml.models import (  # noqa: E402
    BASELINES,
    PARETO_NBD,
    Forecast,
    ForecastInput,
    customer_forecast,
    run_models,
    yearly_index,
)
from forecasts.ml.selection import (  # noqa: E402
    DEFAULT_MODELS,
    PREFERRED_TRAIN_BINS,
    score,
    validation_origins,
)
from forecasts.ml.series import facts_frame, future_actuals, panel_from_facts  # noqa: E402

H = 13
MIN_HISTORY = 30


def _raw_index(inp: ForecastInput) -> Forecast:
    flat = customer_forecast(inp, yearly=False)
    index = yearly_index(inp.panel, inp.h, denoise=False)
    return flat if index is None else Forecast(mean=flat.mean * index[None, :])


VARIANTS = {
    "customer_flat": lambda inp: customer_forecast(inp, yearly=False),
    "customer_raw_index": _raw_index,
    "customer_pareto": lambda inp: customer_forecast(inp, counting=PARETO_NBD),
}
COMBINED = ("naive", "auto_ets", "auto_theta", "croston", "lightgbm", "customer")


def _spread(origin: int, step: int, min_history: int) -> list[int]:
    """Origins of full windows ending by `origin`, every `step` weeks over the year before it."""
    return [o for o in range(origin - H, origin - H - 52, -step) if o >= min_history]


# Rules that choose validation origins for a cutoff at `o` bins: selection.py's, and spreads over the year.
RULES = {
    "two_latest_year_of_history": lambda o: validation_origins(o, h=H, freq="week", windows=2),
    "every_2_weeks_last_year": lambda o: _spread(o, 2, MIN_HISTORY),
    "every_4_weeks_last_year_prefer_a_year": lambda o: (_spread(o, 4, PREFERRED_TRAIN_BINS["week"])
                                                         or _spread(o, 4, MIN_HISTORY)),
}


def _forecasts(orders: pd.DataFrame, cutoff: pd.Timestamp, step: int) -> dict:
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    n = panel.values.shape[1]
    full = np.concatenate([panel.values, future_actuals(facts, panel=panel, h=H)], axis=1)
    selected = validation_origins(n, h=H, freq="week", windows=2)
    origins = [*sorted({*range(n - H, MIN_HISTORY - 1, -step), *selected}, reverse=True), n]
    out = {}
    for origin in origins:
        hist = panel.until(origin)
        end = hist.ends[-1]
        past = facts[facts["day"] <= end]
        inp = ForecastInput(panel=hist, facts=past, shop_facts=past, h=H)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            forecasts, _ = run_models(inp, list(DEFAULT_MODELS))
            for name, run in VARIANTS.items():
                try:
                    forecasts[name] = run(inp)
                except Exception as error:  # noqa: BLE001 - a variant that cannot run is reported as missing
                    log(f"{name} at {end.date()}: {error}", prefix="forecast_validation")
        if "lightgbm" in forecasts and "customer" in forecasts:
            forecasts["mean_lightgbm_customer"] = Forecast(mean=(forecasts["lightgbm"].mean
                                                                 + forecasts["customer"].mean) / 2)
        out[origin] = {"end": end, "history": hist.values, "actual": full[:, origin: origin + H],
                       "means": {m: f.mean for m, f in forecasts.items()}}
    return {"n": n, "windows": out, "validation_origins": selected}


def _metrics(mean: np.ndarray, w: dict) -> dict:
    m = score(Forecast(mean=mean), w["actual"], w["history"])
    return {"mae": m.mae, "mase": m.mase, "total": m.total_error_pct}


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def _nested_combination(data: dict, origins: list[int], members: tuple[str, ...], top: int | None) -> dict:
    """Inverse-MSE weights from the windows that ended by each origin (none: the origin is skipped)."""
    w_all = data["windows"]
    before = [o for o in w_all if o < data["n"]]
    scores, weights = [], {}
    for origin in [*origins, data["n"]]:
        seen = [o for o in before if o + H <= origin]
        usable = [m for m in members if all(m in w_all[o]["means"] for o in [*seen, origin])]
        if not seen or not usable:
            continue
        mse = {m: float(np.mean([np.mean((w_all[o]["means"][m] - w_all[o]["actual"]) ** 2) for o in seen]))
               for m in usable}
        keep = sorted(mse, key=mse.get)[:top] if top else list(mse)
        inv = {m: 1 / mse[m] for m in keep}
        weights = {m: v / sum(inv.values()) for m, v in inv.items()}
        mean = sum(weights[m] * w_all[origin]["means"][m] for m in weights)
        row = {"origin": origin, **_metrics(mean, w_all[origin])}
        scores.append(row)
    val = [r for r in scores if r["origin"] != data["n"]]
    test = next((r for r in scores if r["origin"] == data["n"]), None)
    # The single models on exactly the origins the combination was scored on.
    single = {m: float(np.mean([_metrics(w_all[r["origin"]]["means"][m], w_all[r["origin"]])["mae"] for r in val]))
              for m in members if val and all(m in w_all[r["origin"]]["means"] for r in val)}
    best = min(single, key=single.get) if single else None
    return {"validation_origins": len(val), "validation_mae": round(_mean(val, "mae"), 2) if val else None,
            "best_single_same_origins": None if best is None else {"model": best, "mae": round(single[best], 2)},
            "test_mae": None if test is None else round(test["mae"], 2),
            "test_total_error_pct": None if test is None else round(test["total"], 2),
            "weights_at_cutoff": {m: round(v, 3) for m, v in weights.items()}}


def _rules(data: dict) -> dict:
    """Each rule judged before the cutoff: at every pseudo-cutoff o (a validation origin), the rule picks the
    champion (lowest mean MASE, as selection.py) from windows that end by o, and that champion is scored on the
    window after o - still before the real cutoff. Also the champion each rule picks at the real cutoff."""
    w_all, n = data["windows"], data["n"]
    mase = {(o, m): _metrics(w["means"][m], w)["mase"] for o, w in w_all.items() for m in w["means"]}

    def champion(origins: list[int]) -> str | None:
        if not origins or any(o not in w_all for o in origins):
            return None
        scored = {m: float(np.mean([mase[(o, m)] for o in origins])) for m in DEFAULT_MODELS
                  if all((o, m) in mase for o in origins)}
        return min(scored, key=lambda m: (scored[m], m)) if scored else None

    out = {}
    for rule, origins_for in RULES.items():
        picks = []
        for o in sorted(x for x in w_all if x < n):
            champ = champion(origins_for(o))
            if champ is None or champ not in w_all[o]["means"]:
                continue
            w = w_all[o]
            best = min(_metrics(w["means"][b], w)["mae"] for b in BASELINES)
            picks.append({"origin": o, "champion": champ, "mae": _metrics(w["means"][champ], w)["mae"],
                          "ratio": _metrics(w["means"][champ], w)["mae"] / best})
        final = champion(origins_for(n))
        out[rule] = {
            "pseudo_cutoffs": len(picks),
            "mean_mae": round(_mean(picks, "mae"), 2) if picks else None,
            "mean_ratio_to_best_baseline": round(_mean(picks, "ratio"), 3) if picks else None,
            "champions": dict(Counter(p["champion"] for p in picks)),
            "at_cutoff": final,
        }
        print(f"rule {rule}: over {len(picks)} pseudo-cutoffs before the real one, its champion's mean MAE "
              f"{out[rule]['mean_mae']} ({out[rule]['mean_ratio_to_best_baseline']} x the best baseline there); "
              f"picks {out[rule]['champions']}; at the cutoff it picks {final}")
    return out


def evaluate(name: str, orders: pd.DataFrame, cutoff: pd.Timestamp, step: int) -> dict:
    started = time.perf_counter()
    data = _forecasts(orders, cutoff, step)
    n, w_all = data["n"], data["windows"]
    val_all = [o for o in w_all if o < n]
    sets = {
        "selection_py": [o for o in data["validation_origins"] if o in w_all],
        "year_of_history": [o for o in val_all if o >= PREFERRED_TRAIN_BINS["week"]],
        "all": val_all,
    }
    test = w_all[n]
    candidates = sorted({m for o in w_all for m in w_all[o]["means"]})
    report: dict = {"origins": {k: [w_all[o]["end"].date().isoformat() for o in v] for k, v in sets.items()},
                    "validation": {}, "champion": {}, "test": {}}
    print(f"\n{name}: cutoff {cutoff.date()}, {n} weeks of history, {len(val_all)} validation origins "
          f"(every {step} weeks), test = the 13 weeks after the cutoff")
    print("| model | " + " | ".join(f"val MAE ({k}, {len(v)})" for k, v in sets.items()) +
          " | val total % (year) | test MAE | test total % |")
    print("|---|" + "---|" * (len(sets) + 3))
    for m in candidates:
        row = {}
        for label, origins in sets.items():
            have = [o for o in origins if m in w_all[o]["means"]]
            if origins and len(have) == len(origins):
                rows = [_metrics(w_all[o]["means"][m], w_all[o]) for o in origins]
                row[label] = {"mae": round(_mean(rows, "mae"), 2), "mase": round(_mean(rows, "mase"), 3),
                              "total_error_pct": round(_mean(rows, "total"), 2)}
        report["validation"][m] = row
        if m in test["means"]:
            t = _metrics(test["means"][m], test)
            report["test"][m] = {"mae": round(t["mae"], 2), "total_error_pct": round(t["total"], 2)}
        cells = [f"{row[k]['mae']:.1f}" if k in row else "-" for k in sets]
        year = row.get("year_of_history", {}).get("total_error_pct")
        tt = report["test"].get(m, {})
        test_cells = [f"{tt['mae']:.1f}", f"{tt['total_error_pct']:+.1f}"] if tt else ["-", "-"]
        print(f"| {m} | " + " | ".join(cells) + f" | {'-' if year is None else f'{year:+.1f}'} | "
              + " | ".join(test_cells) + " |")
    for label in sets:
        scored = {m: r[label]["mase"] for m, r in report["validation"].items() if label in r and m in DEFAULT_MODELS}
        if scored:
            champ = min(scored, key=lambda m: (scored[m], m))
            report["champion"][label] = {"model": champ, "validation_mase": scored[champ], **report["test"][champ]}
            print(f"champion on {label} origins: {champ} (validation MASE {scored[champ]:.3f}) -> test MAE "
                  f"{report['test'][champ]['mae']:.1f}, total {report['test'][champ]['total_error_pct']:+.1f} %")
    report["combinations"] = {}
    for origin_set in ("year_of_history", "all"):
        for label, top in (("inverse_mse_all", None), ("inverse_mse_top2", 2), ("inverse_mse_top3", 3)):
            combo = _nested_combination(data, sets[origin_set], COMBINED, top)
            report["combinations"][f"{label}_on_{origin_set}"] = combo
            print(f"{label} (nested, {origin_set} origins): validation MAE {combo['validation_mae']} over "
                  f"{combo['validation_origins']} origins (best single there: {combo['best_single_same_origins']}); "
                  f"test MAE {combo['test_mae']}, total {combo['test_total_error_pct']} %; weights at the cutoff "
                  f"{combo['weights_at_cutoff']}")
    report["selection_rules"] = _rules(data)
    actual = test["actual"][0]
    line = np.polyval(np.polyfit(np.arange(H), actual, 1), np.arange(H))
    report["hindsight_test"] = {
        "flat_at_test_mean_mae": round(float(np.abs(actual - actual.mean()).mean()), 2),
        "test_least_squares_line_mae": round(float(np.abs(actual - line).mean()), 2),
        "poisson_floor_mae": round(float(np.sqrt(2 * actual.mean() / np.pi)), 2),
    }
    best = min(BASELINES, key=lambda m: report["test"][m]["mae"])
    bounds = report["hindsight_test"]
    bounds["goal_mae"] = round(0.85 * report["test"][best]["mae"], 2)
    print(f"in hindsight on the test: flat at its mean {bounds['flat_at_test_mean_mae']}, its own least-squares line "
          f"{bounds['test_least_squares_line_mae']}, Poisson floor {bounds['poisson_floor_mae']}; "
          f"goal 0.85 x {best} = {bounds['goal_mae']}")
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=2)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--orders", type=Path, help="also an orders CSV of another shop (customer_id, placed_at)")
    parser.add_argument("--cutoff", help="its cutoff (YYYY-MM-DD)")
    args = parser.parse_args()
    report: dict = {"bench": "forecast_validation", "step_weeks": args.step}
    if not args.skip_real and (orders := cd_orders()) is not None:
        report["cdnow_a"] = evaluate("CD shop (cdnow_a)", orders, pd.Timestamp("1998-03-31"), args.step)
    if not args.skip_sim:
        orders, cutoff = simulated_orders(args.customers, args.products, 821, 1)
        report["simulated"] = evaluate(f"simulated shop ({args.customers} customers, seed 1)", orders, cutoff,
                                       args.step)
        report["simulated"]["customers"] = args.customers
    if args.orders:
        orders = pd.read_csv(args.orders, dtype={"customer_id": str, "order_id": str})
        orders["placed_at"] = pd.to_datetime(orders["placed_at"], utc=True, format="ISO8601")
        if "status" not in orders:
            orders["status"] = "placed"
        report[args.orders.parent.name] = evaluate(str(args.orders), orders, pd.Timestamp(args.cutoff), args.step)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
