"""The interest stage's cost inside whole scoring runs, A/B in one process: on a shop bench/scoring.py left behind
(`--keep`), scoring runs alternate with the stage on and off (off: the profile computed as empty, so nothing is
written either), `--pairs` times; prints each run and the medians, then one JSON line.

    .venv/bin/python bench/interests_ab.py [--shop bench-scoring] [--pairs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench import common  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shop", default="bench-scoring")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    import django

    django.setup()
    from accounts.models import Shop
    from predictions.ml.interests import interest_profile
    from predictions.services import scoring
    from predictions.services.interests import customer_interests_compute

    shop = Shop.objects.get(slug=args.shop)

    def without_stage(*, shop_id, frames, cutoff):
        return interest_profile(order_lines=frames.order_lines.iloc[0:0], events=frames.events.iloc[0:0],
                                products=frames.order_lines.iloc[0:0], category_parents={}, cutoff=cutoff)

    times: dict[str, list[float]] = {"on": [], "off": []}
    for i in range(args.pairs):
        for mode in (("on", "off") if i % 2 == 0 else ("off", "on")):
            scoring.customer_interests_compute = customer_interests_compute if mode == "on" else without_stage
            started = time.perf_counter()
            run = scoring.scoring_run_execute(run=scoring.scoring_run_create(shop=shop, enqueue=False))
            seconds = time.perf_counter() - started
            times[mode].append(seconds)
            common.log(f"run {run.pk} stage {mode}: {seconds:.2f} s (load {os.getloadavg()[0]:.1f})",
                       prefix="interests A/B")
    scoring.customer_interests_compute = customer_interests_compute
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(json.dumps({"shop": shop.slug, "score_seconds_stage_on": [round(t, 2) for t in times["on"]],
                      "score_seconds_stage_off": [round(t, 2) for t in times["off"]],
                      "median_on": round(on, 2), "median_off": round(off, 2), "added_share": round(on / off - 1, 3),
                      "load_average": os.getloadavg()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
