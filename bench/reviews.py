"""Review sentiment on real labelled reviews, the way issue 21 judges it.

Reads ../shared/data/reviews_zh_a/reviews.csv (8,745 Chinese reviews labelled positive / negative), shuffles
them with a fixed seed, gives the first half a star rating (positive → 5, negative → 1) and leaves the second
half unrated; imports them with `import_data reviews` (text and rating only, as a shop without customer or
product ids would), runs `analyze_reviews --json`, and compares the unrated half's stored sentiment with the
labels, beside the peer trained in the same run on the same rated reviews (character 1–3-gram TF-IDF +
logistic regression, scikit-learn's defaults). Variants: `half` (all of the first half rated) and `rated_500`
(only the first 500 of it rated; the unrated half is the same).

Accuracy and ROC AUC use the positive probability (≥ 0.5 is positive), as the peer's do; the three-class labels
are reported too (share called neutral, accuracy of the others). Goal: accuracy and ROC AUC each at least 0.025
above the peer's on the `half` variant.

    .venv/bin/python bench/reviews.py [--seed 0] [--variants half,rated_500]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.common import database_ensure, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "reviews_zh_a" / "reviews.csv"
GOAL_MARGIN = 0.025


def log(message: str) -> None:
    _log(message, prefix="reviews")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="half,rated_500")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--keep", action="store_true", help="keep the bench shops afterwards")
    args = parser.parse_args()
    if not Path(args.data).exists():
        print(f"[reviews] {args.data} is absent: nothing to measure (the real data lives in ../shared/data/).",
              file=sys.stderr)
        print(json.dumps({"skipped": "no data"}))
        return 0

    database_ensure()
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)

    with open(args.data, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    order = np.random.RandomState(args.seed).permutation(len(rows))
    rows = [rows[i] for i in order]
    half = len(rows) // 2
    results = {}
    for variant in args.variants.split(","):
        rated = rows[:half] if variant == "half" else rows[:int(variant.split("_")[1])]
        results[variant] = run_variant(variant, rated, rows[half:], keep=args.keep)
    print_table(results)
    document = {"seed": args.seed, "reviews": len(rows), **results}
    if "half" in results:
        h = results["half"]
        document["goal"] = {"margin": GOAL_MARGIN,
                            "accuracy_met": h["model"]["accuracy"] >= h["peer"]["accuracy"] + GOAL_MARGIN,
                            "roc_auc_met": h["model"]["roc_auc"] >= h["peer"]["roc_auc"] + GOAL_MARGIN}
    print(json.dumps(document))
    return 0


def run_variant(variant: str, rated: list[dict], unrated: list[dict], *, keep: bool) -> dict:
    import numpy as np
    from django.core.management import call_command
    from sklearn.metrics import accuracy_score, roc_auc_score

    from behavior.models import Review
    from reviews.ml.sentiment import _peer_scores

    slug = f"bench-reviews-{variant.replace('_', '-')}"
    shop_drop(slug)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reviews.csv"
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["review_id", "rating", "text"])
            for row in rated:
                writer.writerow([row["review_id"], 5 if row["sentiment"] == "positive" else 1, row["text"]])
            for row in unrated:
                writer.writerow([row["review_id"], "", row["text"]])
        log(f"{variant}: importing {len(rated):,} rated and {len(unrated):,} unrated reviews")
        out = StringIO()
        call_command("import_data", "reviews", str(path), "--shop", slug, stdout=out, stderr=StringIO())
        imported = json.loads(out.getvalue().strip().splitlines()[-1])
    started = time.monotonic()
    out = StringIO()
    call_command("analyze_reviews", "--json", "--shop", slug, stdout=out, stderr=StringIO())
    analysis = json.loads(out.getvalue())
    seconds = time.monotonic() - started
    log(f"{variant}: analyze_reviews took {seconds:.0f} s: {analysis['statement']}")
    stored = dict(((e, (s, p)) for e, s, p in Review.objects.filter(shop__slug=slug, rating=None)
                   .values_list("external_id", "sentiment", "positive_probability")))
    y = np.array([row["sentiment"] == "positive" for row in unrated], dtype=int)
    p = np.array([stored[row["review_id"]][1] for row in unrated], dtype=float)
    labels = np.array([stored[row["review_id"]][0] for row in unrated], dtype=object)
    peer = _peer_scores(np.array([r["text"] for r in rated], dtype=object),
                        np.array([r["sentiment"] == "positive" for r in rated], dtype=int),
                        np.array([r["text"] for r in unrated], dtype=object))
    decided = labels != "neutral"
    if not keep:
        shop_drop(slug)
    return {
        "rated": len(rated), "unrated": len(unrated), "imported": imported["inserted"],
        "rejected": imported["rejected"], "seconds": round(seconds, 1),
        "method": analysis["method"], "chosen": analysis["metrics"].get("model"),
        "topic_weight": analysis["metrics"].get("topic_weight"),
        "neighbour_weight": analysis["metrics"].get("neighbour_weight"),
        "cv": analysis["metrics"].get("cv"), "peer_cv": analysis["metrics"].get("peer_cv"),
        "model": {"accuracy": round(float(accuracy_score(y, p >= 0.5)), 4),
                  "roc_auc": round(float(roc_auc_score(y, p)), 4)},
        "peer": {"accuracy": round(float(accuracy_score(y, peer >= 0.5)), 4),
                 "roc_auc": round(float(roc_auc_score(y, peer)), 4)},
        "three_class": {"neutral_share": round(float(1 - decided.mean()), 4),
                        "accuracy_of_decided": round(float(((labels == "positive") == y)[decided].mean()), 4)},
    }


def print_table(results: dict) -> None:
    print(f"{'variant':<10} {'rated':>6} {'model acc':>10} {'peer acc':>9} {'Δ':>7} {'model AUC':>10} {'peer AUC':>9} "
          f"{'Δ':>7} {'neutral':>8} {'acc decided':>12} {'s':>6}")
    for variant, r in results.items():
        m, p = r["model"], r["peer"]
        print(f"{variant:<10} {r['rated']:>6} {m['accuracy']:>10.4f} {p['accuracy']:>9.4f} "
              f"{m['accuracy'] - p['accuracy']:>+7.4f} {m['roc_auc']:>10.4f} {p['roc_auc']:>9.4f} "
              f"{m['roc_auc'] - p['roc_auc']:>+7.4f} {r['three_class']['neutral_share']:>8.3f} "
              f"{r['three_class']['accuracy_of_decided']:>12.4f} {r['seconds']:>6.0f}")


if __name__ == "__main__":
    sys.exit(main())
