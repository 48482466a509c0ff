"""One customer, one story: do the churn and purchase models agree, and what does reconciling them cost?

For a customer active at T the two tasks ask complementary questions over the same horizon: churn = no order in
(T, T+H], purchase = at least one. The two champions are trained and calibrated separately, so a customer page
showed "56 % chance of leaving" beside "37 % chance of buying". Scoring now shows, for active customers, the mean
of the churn champion's P(leave) and 1 − the purchase champion's P(buy) as the chance of leaving, and its
complement as the chance of buying (predictions/ml/reconcile.py). This bench trains both champions as of a
cutoff (pipeline.backtest, test window unseen) and compares, on the same customers and outcomes:

- active customers, outcome "left": the churn champion, 1 − the purchase champion, and the reconciled mean;
- every customer, outcome "bought": the purchase champion, and the same with active customers' figures
  replaced by the reconciled ones (what the Likely buyers list ranks by);
- how far apart the two champions were: mean |P(leave) + P(buy) − 1| over active customers.

The rule is fixed (no weight is tuned), so the test window stays unseen by any choice.

    .venv/bin/python bench/coherence.py [--data ../shared/data] [--sim-customers 5000] [--algorithms …]

Prints a table per shop, then one JSON line. Uses DATABASE_URL (default postgres://…/ecomsight_bench).
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

METRICS = ("roc_auc", "pr_auc", "brier", "log_loss")


def log(message: str) -> None:
    _log(message, prefix="coherence")


def measure(frames, *, cutoff: dt.date, horizon: int, lookback: int, algorithms: tuple[str, ...]) -> dict:
    """Both champions trained as of `cutoff`, judged on (cutoff, cutoff + horizon]."""
    from predictions.ml import pipeline
    from predictions.ml.labels import build_labels
    from predictions.ml.metrics import evaluate
    from predictions.ml.reconcile import reconcile

    cutoff_ts = pd.Timestamp(cutoff, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    past = pipeline.truncate_frames(frames, cutoff_ts)
    p, champions = {}, {}
    for task in ("purchase", "churn"):
        config = pipeline.TrainConfig(task=task, horizon_days=horizon, as_of=cutoff_ts, algorithms=algorithms,
                                      lookback_days=lookback)
        started = time.perf_counter()
        result = pipeline.backtest(frames, config, cutoff=cutoff_ts)
        champions[task] = result.champion
        current = pipeline.build_model_input(past, cutoff=cutoff_ts, horizon_days=None, task=task, config=config)
        model = result.train_result.models[result.champion]
        p[task] = pd.Series(np.asarray(model.predict_proba(current), dtype=np.float64), index=current.customer_ids)
        log(f"{task}: champion {result.champion} ({time.perf_counter() - started:.1f}s)")
    everyone = p["purchase"].index.to_numpy()
    active = p["churn"].index.to_numpy()
    bought = build_labels(frames, cutoff=cutoff_ts, horizon_days=horizon, task="purchase", customer_ids=everyone)
    left = build_labels(frames, cutoff=cutoff_ts, horizon_days=horizon, task="churn", customer_ids=active)
    churn = p["churn"].to_numpy()
    buy_active = p["purchase"].reindex(active).to_numpy()
    leave, buy = reconcile(churn=churn, purchase=buy_active)
    mixed = p["purchase"].copy()
    mixed.loc[active] = buy

    def row(y, q) -> dict:
        m = evaluate(y, q)
        return {k: m[k] for k in METRICS}

    return {
        "cutoff": cutoff.isoformat(), "horizon_days": horizon, "champions": champions,
        "customers": len(everyone), "active": len(active),
        "gap_mean": float(np.mean(np.abs(churn + buy_active - 1))),
        "gap_over_10_points": float(np.mean(np.abs(churn + buy_active - 1) > 0.10)),
        "active_left": {"churn_champion": row(left, churn), "one_minus_purchase": row(left, 1 - buy_active),
                        "reconciled": row(left, leave)},
        "everyone_bought": {"purchase_champion": row(bought, p["purchase"].to_numpy()),
                            "reconciled": row(bought, mixed.to_numpy())},
    }


def print_table(name: str, r: dict) -> None:
    print(f"\n{name}: cutoff {r['cutoff']} + {r['horizon_days']} d, {r['customers']} customers, {r['active']} "
          f"active; champions {r['champions']}; |P(leave) + P(buy) - 1| mean {r['gap_mean']:.3f}, "
          f"over 0.10 for {r['gap_over_10_points']:.1%}")
    print(f"{'outcome':<18}{'scores':<22}" + "".join(f"{m:>10}" for m in METRICS))
    for outcome, rows in (("left (active)", r["active_left"]), ("bought (everyone)", r["everyone_bought"])):
        for label, m in rows.items():
            print(f"{outcome:<18}{label:<22}" + "".join(f"{m[k]:>10.4f}" for k in METRICS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--sim-customers", type=int, default=5000, help="simulated shop's size (0: skip it)")
    parser.add_argument("--algorithms", default=None, help="as backtest's --algorithms (default: all)")
    args = parser.parse_args()

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import preset_config, simulate
    from predictions.selectors.frames import shop_frames
    from predictions.services.training import parse_algorithms

    algorithms = parse_algorithms(args.algorithms)
    report: dict = {}
    cdnow = Path(args.data) / "cdnow_a" / "orders.csv"
    if cdnow.exists():
        slug = "bench-coherence-cdnow"
        shop_drop(slug)
        shop = Shop.objects.create(slug=slug, name=slug)
        data_import(shop=shop, kind="orders", path=cdnow)
        report["cdnow_91"] = measure(shop_frames(shop_id=shop.pk), cutoff=dt.date(1998, 3, 31), horizon=91,
                                     lookback=shop.churn_lookback_days, algorithms=algorithms)
        print_table("cdnow_a", report["cdnow_91"])
        shop_drop(slug)
    else:
        print(f"No CD shop data at {cdnow}: skipped.")
    if args.sim_customers:
        end = dt.date(2026, 6, 30)
        config = preset_config(None, seed=0, end_date=end, future_days=90, customers=args.sim_customers,
                               products=500, days=730)
        slug = "bench-coherence-sim"
        shop_drop(slug)
        shop = Shop.objects.create(slug=slug, name=slug)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            simulate(config, out)
            for kind in ("customers", "products", "orders", "order_lines", "events", "future_orders"):
                if (out / f"{kind}.csv").exists():
                    data_import(shop=shop, kind="orders" if kind == "future_orders" else kind,
                                path=out / f"{kind}.csv")
        report["simulated_90"] = measure(shop_frames(shop_id=shop.pk), cutoff=end, horizon=90,
                                         lookback=shop.churn_lookback_days, algorithms=algorithms)
        print_table(f"simulated ({args.sim_customers} customers)", report["simulated_90"])
        shop_drop(slug)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
