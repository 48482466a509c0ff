"""Can any forecast reach the simulator's goal (champion MAE <= 0.85 x the best baseline)? The noise floor per seed.

    .venv/bin/python bench/forecast_feasibility.py [--seeds 1 2 3 4 5] [--customers 5000] [--replicates 100]
        [--oracle-replicates 300]

Same data and split as bench/forecast.py's simulated shop (weekly orders, the 13 weeks after end - 91 days). For
each seed, besides the champion and the five baselines on the realised test (as bench/forecast.py reports them):

- `best_constant`: the best flat forecast chosen in hindsight on the test weeks themselves (their median);
- `oracle`: the simulator's own expected weekly orders given everything it knows at the cutoff - every customer's
  latent state (rate, phase, fading age, re-buy clock) and the join days of the customers still to come (fixed
  by the seed: more than any real forecast can know). Estimated by re-running the simulator's days after the
  cutoff `--oracle-replicates` times with other random streams for those days only (the history up to the cutoff is the
  same bytes), and averaging the weekly counts;
- over a second, independent set of `--replicates` futures: how often the oracle, and the champion, would meet
  0.85 x the best baseline of that future (the baselines' forecasts are fixed: the history does not change), and
  their mean ratio. This is the goal's chance on the seed's history, not on one draw of its noise.

Prints a table and ends with one JSON line. Nothing here is used to choose a model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402
from bench.forecast import simulated_orders  # noqa: E402
from forecasts.ml.models import BASELINES  # noqa: E402
from forecasts.ml.selection import forecast_champion  # noqa: E402
from forecasts.ml.series import facts_frame, future_actuals, panel_from_facts  # noqa: E402

H = 13
GOAL = 0.85


def _futures(config, cut_day: int, replicates: int, offset: int) -> np.ndarray:
    """replicates x H weekly non-cancelled orders after the cutoff, each from its own random streams for the
    days after `cut_day` (the simulator's day index of the cutoff); the days up to it draw as in the data."""
    from behavior.simulator import history
    from behavior.simulator.catalog import _make_catalog
    from behavior.simulator.config import _S_DAY
    from behavior.simulator.grid import _Grid
    from behavior.simulator.people import _make_customers

    grid = _Grid(config)
    people = _make_customers(config, grid, _make_catalog(config, grid))
    original = history._rng
    out = np.zeros((replicates, H))
    try:
        for r in range(replicates):
            def rng(seed, stream, *more, _r=r):
                if stream == _S_DAY and more and more[0] > cut_day:
                    return np.random.default_rng([seed, stream, more[0], 1_000_000 + offset + _r])
                return original(seed, stream, *more)

            history._rng = rng
            run = history._run_days(config, grid, people)
            day = run.o_day[~run.o_cancelled]
            day = day[(day > cut_day) & (day <= cut_day + 7 * H)]
            out[r] = np.bincount((day - cut_day - 1) // 7, minlength=H)[:H]
    finally:
        history._rng = original
    return out


def _realised(config, cut_day: int) -> np.ndarray:
    from behavior.simulator import history
    from behavior.simulator.catalog import _make_catalog
    from behavior.simulator.grid import _Grid
    from behavior.simulator.people import _make_customers

    grid = _Grid(config)
    run = history._run_days(config, grid, _make_customers(config, grid, _make_catalog(config, grid)))
    day = run.o_day[~run.o_cancelled]
    day = day[(day > cut_day) & (day <= cut_day + 7 * H)]
    return np.bincount((day - cut_day - 1) // 7, minlength=H)[:H].astype(float)


def seed_figures(*, customers: int, products: int, days: int, seed: int, replicates: int,
                 oracle_replicates: int) -> dict:
    """The feasibility figures of one simulator seed (see the module's docstring)."""
    from behavior.simulator.config import SimulationConfig
    from behavior.simulator.grid import _Grid

    orders, cutoff = simulated_orders(customers, products, days, seed)
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    past = facts[facts["day"] <= cutoff]
    result = forecast_champion(panel=panel, facts=past, shop_facts=past, h=H)
    actual = future_actuals(facts, panel=panel, h=H)[0]

    config = SimulationConfig(customers=customers, products=products, days=days, seed=seed)
    grid = _Grid(config)
    cut_day = int((np.datetime64(cutoff.date(), "D") - grid.day0).astype(int))
    assert np.array_equal(_realised(config, cut_day), actual), "the simulator's days do not match the bench's bins"
    oracle = _futures(config, cut_day, oracle_replicates, 0).mean(axis=0)
    futures = _futures(config, cut_day, replicates, oracle_replicates)

    def mae(f: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.abs(np.atleast_2d(y) - f).mean(axis=-1)

    base = {b: result.forecasts[b].mean[0] for b in BASELINES if b in result.forecasts}
    champ = result.forecasts[result.selection.champion].mean[0]
    best_name = min(base, key=lambda b: mae(base[b], actual)[0])
    best = float(mae(base[best_name], actual)[0])
    best_per_future = np.min([mae(f, futures) for f in base.values()], axis=0)
    oracle_ratio = mae(oracle, futures) / best_per_future
    champ_ratio = mae(champ, futures) / best_per_future
    constant = float(np.abs(actual - np.median(actual)).mean())
    return {
        "seed": seed,
        "customers": customers,
        "test_mean": round(float(actual.mean()), 1),
        "champion": result.selection.champion,
        "champion_mae": round(float(mae(champ, actual)[0]), 2),
        "best_baseline": best_name,
        "best_baseline_mae": round(best, 2),
        "champion_ratio": round(float(mae(champ, actual)[0]) / best, 3),
        "best_constant_mae": round(constant, 2),
        "best_constant_ratio": round(constant / best, 3),
        "oracle_mae": round(float(mae(oracle, actual)[0]), 2),
        "oracle_ratio": round(float(mae(oracle, actual)[0]) / best, 3),
        "oracle_total_error_pct": round(float((oracle.sum() - actual.sum()) / actual.sum() * 100), 2),
        "poisson_floor_mae": round(float(np.mean(np.sqrt(2 * oracle / np.pi))), 2),
        "oracle_futures": oracle_replicates,
        "futures": replicates,
        "futures_oracle_ratio_mean": round(float(oracle_ratio.mean()), 3),
        "futures_oracle_goal_share": round(float((oracle_ratio <= GOAL).mean()), 3),
        "futures_champion_ratio_mean": round(float(champ_ratio.mean()), 3),
        "futures_champion_goal_share": round(float((champ_ratio <= GOAL).mean()), 3),
        "futures_best_baseline_mae_mean": round(float(best_per_future.mean()), 2),
        "futures_oracle_mae_mean": round(float(mae(oracle, futures).mean()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--days", type=int, default=821)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--oracle-replicates", type=int, default=300)
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        log(f"seed {seed}: {args.customers} customers, {args.oracle_replicates} + {args.replicates} futures",
            prefix="feasibility")
        rows.append(seed_figures(customers=args.customers, products=args.products, days=args.days, seed=seed,
                                 replicates=args.replicates, oracle_replicates=args.oracle_replicates))
    print("| seed | test mean | champion | champion / best baseline | best constant (hindsight) / best "
          "| oracle / best | oracle total % | futures: oracle / best (mean, share <= 0.85) "
          "| futures: champion / best |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['test_mean']} | {r['champion']} | {r['champion_ratio']:.3f} "
              f"({r['champion_mae']} / {r['best_baseline']} {r['best_baseline_mae']}) | {r['best_constant_ratio']:.3f} "
              f"| {r['oracle_ratio']:.3f} ({r['oracle_mae']}) | {r['oracle_total_error_pct']:+.1f} "
              f"| {r['futures_oracle_ratio_mean']:.3f}, {r['futures_oracle_goal_share']:.2f} "
              f"| {r['futures_champion_ratio_mean']:.3f}, {r['futures_champion_goal_share']:.2f} |")
    print(json.dumps({"bench": "forecast_feasibility", "seeds": rows}))


if __name__ == "__main__":
    main()
