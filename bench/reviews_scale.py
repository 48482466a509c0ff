"""Scoring 1,000,000 reviews: import_data reviews, then analyze_reviews (train, cross-validate, score every review,
find aspects, write them back), timed, with peak memory; then every review scored again with the saved model
alone (`reviews_score_new`, what reviews arriving later get: chunks read from the database, scored on
`--workers` processes, written back in bulk), timed, with its CPU seconds (this process and its scoring
processes) and the rate per CPU second, which holds whatever else the machine runs.

The reviews are synthetic (the simulator's phrase bank, English and German, with a Chinese share built from
the tests' phrases; 20 % rated, stars following the phrases' side, 5 % of the stars flipped as noise), so the
script needs no data. Goal (set for issue 21, on the shared 2-core development machine): analyze_reviews on
1,000,000 reviews finishes in at most 20 minutes with a peak resident memory of at most 6 GB. The process's
CPU seconds are printed too: on a machine shared with other jobs they say what the work itself costs.

    .venv/bin/python bench/reviews_scale.py [--reviews 1000000] [--rated-share 0.2] [--workers 0]

Goal of the saved-model scoring (set for issue 21, session 3): 1,000,000 reviews in at most 20 minutes on this
2-core machine with its cores free. On a shared machine the wall time says little; the rate per CPU second
does, so the JSON gives both the measured wall time and the time projected for 1,000,000 reviews on free cores
(1,000,000 / (rate per CPU second × workers)), and says which one the verdict rests on.

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")

from bench.common import database_ensure, peak_rss_mb, shop_drop  # noqa: E402
from bench.common import log as _log  # noqa: E402

GOAL_SECONDS = 20 * 60
GOAL_RSS_MB = 6 * 1024
GOAL_SCORE_SECONDS = 20 * 60
ZH = {"good": ["质量很好", "物流很快", "包装完好", "性价比高", "服务态度很好", "非常满意", "值得购买"],
      "bad": ["质量太差", "物流太慢", "包装破损", "客服态度差", "不给退款", "尺码偏小", "很失望"]}


def log(message: str) -> None:
    _log(message, prefix="reviews-scale")


def write_reviews(path: Path, n: int, rated_share: float, seed: int) -> None:
    """n synthetic reviews in the import format (customer, product, rating, text, created_at, language)."""
    import numpy as np

    from behavior.simulator.reviews import _PHRASES

    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "customer_id", "product_id", "rating", "text", "created_at", "language"])
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            good = rng.random(m) < 0.6
            language = rng.choice(["en", "de", "zh"], size=m, p=[0.6, 0.2, 0.2])
            rated = rng.random(m) < rated_share
            noisy = rng.random(m) < 0.05
            stars = np.where(good ^ noisy, rng.integers(4, 6, m), rng.integers(1, 3, m))
            days = rng.integers(0, 730, m)
            rows = []
            for k in range(m):
                side = "good" if good[k] else "bad"
                if language[k] == "zh":
                    picks = rng.choice(ZH[side], size=rng.integers(1, 4), replace=False)
                    text = "，".join(picks) + "。"
                else:
                    bank = _PHRASES[language[k]][side]
                    aspects = rng.choice(list(bank), size=rng.integers(1, 3), replace=False)
                    text = ", ".join(bank[a][rng.integers(len(bank[a]))] for a in aspects)
                    closes = _PHRASES[language[k]][f"{side}_close"]
                    text = f"{text}. {closes[rng.integers(len(closes))]} #{rng.integers(1000)}"
                i = start + k
                rows.append([f"R{i:08d}", f"C{rng.integers(n // 4):07d}", f"P{rng.integers(5000):05d}",
                             str(stars[k]) if rated[k] else "", text,
                             f"{np.datetime64('2024-07-01') + np.timedelta64(int(days[k]), 'D')}", language[k]])
            writer.writerows(rows)


def _score_goal(scored: int, seconds: float, per_cpu_second: float, workers: int) -> dict:
    projected = 1_000_000 / (per_cpu_second * workers)
    measured = scored >= 1_000_000
    return {"seconds": GOAL_SCORE_SECONDS, "projected_1m_free_cores_seconds": round(projected),
            "verdict_from": "measured" if measured else "projected",
            "met": (seconds if measured else projected) <= GOAL_SCORE_SECONDS}


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (the scoring processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--rated-share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="scoring processes (0: one per core)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Shop
    from behavior.models import Review
    from behavior.services import data_import
    from reviews.ml.sentiment import SentimentConfig
    from reviews.services import reviews_analyze, reviews_score_new

    call_command("migrate", interactive=False, verbosity=0)
    slug = "bench-reviews-scale"
    shop_drop(slug)
    shop = Shop.objects.create(slug=slug, name="Bench reviews scale")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reviews.csv"
        started = time.monotonic()
        write_reviews(path, args.reviews, args.rated_share, args.seed)
        log(f"wrote {args.reviews:,} reviews in {time.monotonic() - started:.0f} s")
        imported = data_import(shop=shop, kind="reviews", path=path)
        log(f"import_data reviews: {imported.inserted:,} stored, {imported.rejected} rejected in "
            f"{imported.seconds:.0f} s ({imported.rows / max(imported.seconds, 1e-9):,.0f} rows/s)")
    config = SentimentConfig(workers=args.workers)
    workers = config.workers or os.cpu_count()
    started, cpu_started = time.monotonic(), _cpu()
    outcome = reviews_analyze(shop=shop, config=config)
    seconds, cpu = time.monotonic() - started, _cpu() - cpu_started
    rss = peak_rss_mb()
    metrics = outcome.analysis.metrics
    log(f"analyze_reviews: {outcome.reviews:,} reviews in {seconds:.0f} s "
        f"({outcome.reviews / seconds:,.0f} reviews/s), peak RSS {rss:,.0f} MB; {outcome.analysis.statement}")
    print(f"{'reviews':>10} {'import s':>9} {'analyze s':>10} {'reviews/s':>10} {'peak MB':>8} {'cv acc':>7} "
          f"{'cv AUC':>7}")
    print(f"{outcome.reviews:>10,} {imported.seconds:>9.0f} {seconds:>10.0f} {outcome.reviews / seconds:>10,.0f} "
          f"{rss:>8,.0f} {metrics.get('cv', {}).get('accuracy', float('nan')):>7.3f} "
          f"{metrics.get('cv', {}).get('roc_auc', float('nan')):>7.3f}")
    # Every review unscored again, then scored with the saved model alone (no training).
    Review.objects.filter(shop=shop).update(analyzed_at=None)
    started, cpu_started = time.monotonic(), _cpu()
    scored = reviews_score_new(shop=shop, config=config)
    score_seconds, score_cpu = time.monotonic() - started, _cpu() - cpu_started
    log(f"reviews_score_new: {scored:,} reviews in {score_seconds:.0f} s on {workers} processes "
        f"({scored / score_seconds:,.0f} reviews/s; {score_cpu:.0f} CPU s, {scored / score_cpu:,.0f} reviews per "
        f"CPU second); load average {os.getloadavg()[0]:.1f}")
    print(f"{'scored':>10} {'score s':>9} {'reviews/s':>10} {'CPU s':>8} {'per CPU s':>10} {'workers':>8}")
    print(f"{scored:>10,} {score_seconds:>9.0f} {scored / score_seconds:>10,.0f} {score_cpu:>8.0f} "
          f"{scored / score_cpu:>10,.0f} {workers:>8}")
    if not args.keep:
        shop_drop(slug)
    print(json.dumps({
        "reviews": outcome.reviews, "rated_share": args.rated_share, "import_seconds": imported.seconds,
        "analyze_seconds": round(seconds, 1), "analyze_cpu_seconds": round(cpu, 1),
        "reviews_per_second": round(outcome.reviews / seconds),
        "peak_rss_mb": round(rss), "cv": metrics.get("cv"), "model": metrics.get("model"),
        "seconds_by_stage": metrics.get("seconds"),
        "goal": {"seconds": GOAL_SECONDS, "rss_mb": GOAL_RSS_MB,
                 "met": seconds <= GOAL_SECONDS and rss <= GOAL_RSS_MB},
        "workers": workers, "cpus": os.cpu_count(),
        "score_new": {"reviews": scored, "seconds": round(score_seconds, 1), "cpu_seconds": round(score_cpu, 1),
                      "reviews_per_second": round(scored / score_seconds),
                      "reviews_per_cpu_second": round(scored / score_cpu),
                      "load_average": round(os.getloadavg()[0], 1),
                      "goal": _score_goal(scored, score_seconds, scored / score_cpu, workers)},
        "peak_rss_mb_after_scoring": round(peak_rss_mb()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
