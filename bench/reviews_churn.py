"""What the review features add to the churn model: the same model trained with and without them, judged on a
time-based split of a simulated shop that has reviews.

The simulator writes the shop's history (customers, products, orders, lines, events, reviews) up to its end date
and the orders of the 90 days after it; everything is imported with the real importer, `analyze_reviews` gives
the reviews their sentiment, and then, for each side, `predictions.ml.pipeline` trains as of the end date (its
stacked training cutoffs and validation cutoff all lie before it; the validation picks the threshold, nothing is
tuned on the test) and the model is judged on what happened in the 90 days after the end date (the test). The
"without" side is the same training with the reviews left out of the frames (the four review features are then
empty for everyone). A paired bootstrap over the test customers gives the uncertainty of the differences.

The sentiment model is learned from the stars of every review (before and after the training cutoffs, none after
the test cutoff); the features read only reviews written before each cutoff.

    .venv/bin/python bench/reviews_churn.py [--customers 10000] [--days 730] [--seed 1] [--algorithm lgbm]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

KINDS = ("customers", "products", "orders", "order_lines", "events", "reviews")
COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
HORIZON = 90
BOOTSTRAP = 300


def log(message: str) -> None:
    _log(message, prefix="reviews-churn")


def side(frames, config, cutoff, algorithm: str):
    """Train as of `cutoff` (validation before it), predict the test customers; (probabilities, y, threshold)."""
    from predictions.ml.labels import build_labels
    from predictions.ml.pipeline import build_model_input, default_model_factories, train, truncate_frames

    factories = default_model_factories("churn", HORIZON, config.seed)
    past = truncate_frames(frames, cutoff)
    result = train(past, config, model_factories={algorithm: factories[algorithm]})
    if algorithm not in result.models:
        raise SystemExit(f"{algorithm} was not trained: {result.errors or result.sufficiency.messages}")
    current = build_model_input(past, cutoff=cutoff, horizon_days=None, task="churn", config=config)
    y = build_labels(frames, cutoff=cutoff, horizon_days=HORIZON, task="churn", customer_ids=current.customer_ids)
    return result.models[algorithm].predict_proba(current), y, result.metrics[algorithm]["threshold"], current


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--algorithm", default="lgbm")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    database_ensure()
    import django

    django.setup()
    import numpy as np
    import pandas as pd
    from django.core.management import call_command
    from sklearn.metrics import average_precision_score, roc_auc_score

    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import SimulationConfig, simulate
    from predictions.ml.metrics import evaluate
    from predictions.ml.pipeline import TrainConfig
    from predictions.selectors.frames import shop_frames
    from reviews.services import reviews_analyze

    call_command("migrate", interactive=False, verbosity=0)
    end = dt.date(2026, 6, 30)
    slug = "bench-reviews-churn"
    shop_drop(slug)
    shop = Shop.objects.create(slug=slug, name=slug)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days, seed=args.seed,
                                  end_date=end, future_days=HORIZON), out)
        for kind in KINDS:
            data_import(shop=shop, kind=kind, path=out / f"{kind}.csv")
        data_import(shop=shop, kind="orders", path=out / "future_orders.csv")
        data_import(shop=shop, kind="order_lines", path=out / "future_order_lines.csv")
    log(f"simulated and imported in {time.perf_counter() - started:.0f} s")
    analysis = reviews_analyze(shop=shop).analysis
    log(f"analyze_reviews: {analysis.reviews:,} reviews ({analysis.method}); {analysis.statement}")

    frames = shop_frames(shop_id=shop.pk)
    cutoff = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    config = TrainConfig(task="churn", horizon_days=HORIZON, as_of=cutoff, algorithms=(args.algorithm,),
                         lookback_days=shop.churn_lookback_days, seed=args.seed)
    sides = {}
    for name, these in (("with_reviews", frames), ("without_reviews", dataclasses.replace(frames, reviews=None))):
        started = time.perf_counter()
        p, y, threshold, current = side(these, config, cutoff, args.algorithm)
        sides[name] = {"p": p, "y": y, "metrics": evaluate(y, p, threshold=threshold), "X": current.X,
                       "seconds": round(time.perf_counter() - started, 1)}
        log(f"{name}: trained and tested in {sides[name]['seconds']} s")
    y = sides["with_reviews"]["y"]
    assert np.array_equal(y, sides["without_reviews"]["y"])
    with_p, without_p = sides["with_reviews"]["p"], sides["without_reviews"]["p"]
    # Paired bootstrap over the test customers: the differences' spread.
    rng = np.random.default_rng(args.seed)
    deltas = {"roc_auc": [], "pr_auc": []}
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(y), len(y))
        if y[rows].min() == y[rows].max():
            continue
        deltas["roc_auc"].append(roc_auc_score(y[rows], with_p[rows]) - roc_auc_score(y[rows], without_p[rows]))
        deltas["pr_auc"].append(average_precision_score(y[rows], with_p[rows])
                                - average_precision_score(y[rows], without_p[rows]))
    # Who the features can speak about: test customers with a negative review in the 90 days before the cutoff.
    features = sides["with_reviews"]["X"]
    recent = features["negative_reviews_90d"].to_numpy() > 0 if "negative_reviews_90d" in features else None
    print(f"\nchurn at {HORIZON} days, {args.algorithm}, test cutoff {end}: {len(y):,} active customers, "
          f"churn rate {y.mean():.3f}")
    print(f"{'side':<17}" + "".join(f"{c:>16}" for c in COLUMNS))
    for name in ("with_reviews", "without_reviews"):
        m = sides[name]["metrics"]
        print(f"{name:<17}" + "".join(f"{m[c]:>16.4f}" if m[c] is not None else f"{'-':>16}" for c in COLUMNS))
    summary = {}
    for metric, values in deltas.items():
        values = np.asarray(values)
        point = sides["with_reviews"]["metrics"][metric] - sides["without_reviews"]["metrics"][metric]
        low, high = np.percentile(values, [2.5, 97.5])
        summary[metric] = {"delta": round(float(point), 4), "ci95": [round(float(low), 4), round(float(high), 4)]}
        print(f"Δ {metric}: {point:+.4f} (95 % bootstrap interval {low:+.4f} to {high:+.4f})")
    coverage = None
    if recent is not None:
        coverage = {"customers": int(recent.sum()), "churn_rate": round(float(y[recent].mean()), 4)
                    if recent.any() else None, "others_churn_rate": round(float(y[~recent].mean()), 4)}
        print(f"test customers with a negative review in the 90 days before: {coverage['customers']:,} "
              f"(churn rate {coverage['churn_rate']}, others {coverage['others_churn_rate']})")
    if not args.keep:
        shop_drop(slug)
    print(json.dumps({
        "customers": args.customers, "days": args.days, "seed": args.seed, "algorithm": args.algorithm,
        "horizon_days": HORIZON, "test_cutoff": end.isoformat(), "test_customers": int(len(y)),
        "churn_rate": round(float(y.mean()), 4), "reviews": analysis.reviews, "sentiment_method": analysis.method,
        "with_reviews": {c: sides["with_reviews"]["metrics"][c] for c in COLUMNS},
        "without_reviews": {c: sides["without_reviews"]["metrics"][c] for c in COLUMNS},
        "difference": summary, "recent_negative_review": coverage,
    }, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
