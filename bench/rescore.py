"""Re-scoring on arrival benchmark (issue 18 §1): how fast changed customers are re-scored, and how long an order
posted through the API takes to show in the customer's score.

Seeds a simulated shop (COPY, as bench/scoring.py), trains LightGBM + BG/NBD for both tasks and scores every
customer (a succeeded run, as the nightly run leaves it). Then:
1. `--changed` customers (10,000) are recorded as changed and re-scored in this process by the task's code
   (`rescore_changed`: chunks of RESCORE_CHUNK_SIZE into the current run) — seconds and customers per second;
2. a real Celery worker is started (queues ml and default, as deployed) and one order is POSTed to
   /api/v1/orders/batch/ for an at-risk customer; the time until that customer's re-scored row can be read
   (its scored_at moves) is the latency a user sees: the debounce window (RESCORE_DEBOUNCE_SECONDS) plus the work.
   The customer's recommendations are rebuilt after their score: the time until their rows are rewritten is
   "post_to_fresh_recommendations_seconds".
The recommendations are built once first (the nightly build); after stage 1's scores, the same customers' lists are
rebuilt in that build (`recommendations_refresh`, what the task does next) and timed on their own:
"recommend_seconds" (with its stages in "recommend_timings"; "rescore_seconds" stays the scores alone).
Prints each stage, then one JSON line {"changed_customers", "rescore_seconds", "customers_per_s",
"post_to_fresh_score_seconds", "recommend_seconds", "recommend_timings", "recommend_build_seconds",
"post_to_fresh_recommendations_seconds"}.

    .venv/bin/python bench/rescore.py [--customers 20000 --changed 10000 --debounce 30]

Uses DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ecomsight_bench) and REDIS_URL / CELERY_BROKER_URL
(the worker's broker). Goal: the score fresh within a minute or two of the POST.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
# The POST must enqueue to the broker for the worker started below (not run the task in this process).
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

from bench import common  # noqa: E402

SLUG = "bench-rescore"


def log(message: str) -> None:
    common.log(message, prefix="rescore bench")


def worker_start(log_path: Path, debounce: int) -> subprocess.Popen:
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "RESCORE_DEBOUNCE_SECONDS": str(debounce)}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", "ml,default", "-c", "1",
         "-n", f"{SLUG}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=ROOT, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--debounce", type=int, default=None, help="RESCORE_DEBOUNCE_SECONDS for the worker "
                        "(default: the setting, 30)")
    parser.add_argument("--keep", action="store_true", help="keep the bench shop's rows afterwards")
    args = parser.parse_args()
    if args.debounce is not None:
        os.environ["RESCORE_DEBOUNCE_SECONDS"] = str(args.debounce)

    common.database_ensure()
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection, transaction
    from rest_framework.test import APIClient

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from accounts.services import user_create_or_update
    from accounts.tokens import api_token_create
    from behavior.simulator import SimulationConfig, simulate
    from bench.scoring import load_shop
    from ecomsight.celery import app as celery_app
    from predictions.models import CustomerScore
    from predictions.services.rescoring import customers_changed_record, rescore_changed
    from predictions.services.scoring import scoring_run_create, scoring_run_execute
    from predictions.services.training import model_train
    from predictions.signals import customers_rescored
    from recommendations.models import Recommendation
    from recommendations.services import customers_rescored_refresh, recommendations_build, recommendations_refresh

    debounce = settings.RESCORE_DEBOUNCE_SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        simulate(SimulationConfig(customers=args.customers, products=args.products, days=args.days, seed=5),
                 Path(tmp))
        common.shop_drop(SLUG)
        shop = Shop.objects.create(slug=SLUG, name="Bench rescore", horizon_days=90)
        counts = load_shop(shop, Path(tmp))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        log(f"simulated and loaded {counts} in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    for task in ("purchase", "churn"):
        model_train(shop=shop, task=task, algorithms=["bgnbd", "lgbm"])
    run = scoring_run_execute(run=scoring_run_create(shop=shop, enqueue=False))
    log(f"trained and scored ({run.status}, {run.scores.count()} rows) in {time.perf_counter() - started:.1f}s")
    build = recommendations_build(shop=shop, k=20)
    log(f"recommendations built ({build.recommendations} rows) in {build.seconds:.1f}s: {build.timings}")

    # 1. --changed customers re-scored by the task's code, in this process.
    changed = list(run.scores.filter(task="purchase").order_by("?").values_list("customer_id", flat=True)
                   [:args.changed])
    cache.set(f"rescore:scheduled:{shop.pk}", 1)  # as if a task were waiting: the record enqueues none here
    with transaction.atomic():
        customers_changed_record(shop_id=shop.pk, customer_ids=changed)
    uid = "recommendations.refresh.rescored"
    customers_rescored.disconnect(dispatch_uid=uid)  # the scores timed alone, then the lists
    try:
        started = time.perf_counter()
        rescored = rescore_changed(shop_id=shop.pk)
        rescore_seconds = time.perf_counter() - started
    finally:
        customers_rescored.connect(customers_rescored_refresh, dispatch_uid=uid)
    log(f"re-scored {rescored} customers in {rescore_seconds:.1f}s ({rescored / rescore_seconds:.0f}/s, chunks of "
        f"{settings.RESCORE_CHUNK_SIZE})")
    refresh = recommendations_refresh(shop_id=shop.pk, customer_ids=changed)
    log(f"rebuilt {refresh.customers} customers' lists ({refresh.recommendations} rows) in {refresh.seconds:.1f}s: "
        f"{refresh.timings}")

    # 2. One order POSTed through the API; a real worker re-scores after the debounce window.
    user = user_create_or_update(username="bench-rescore", role="analyst", password="bench-Pa55word!", shops=[shop])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user, shop=shop, name='bench').plain}")
    target = run.scores.filter(task="churn").select_related("customer").order_by("-probability").first()
    before = target.scored_at
    recs_before = set(Recommendation.objects.filter(customer_id=target.customer_id).values_list("id", flat=True))
    with celery_app.connection_for_write() as conn:
        conn.default_channel.client.delete("ml")  # nothing left over from an earlier run of the bench
    worker_log = Path(tempfile.gettempdir()) / f"{SLUG}-worker.log"
    worker = worker_start(worker_log, debounce)
    try:
        deadline = time.monotonic() + 120
        while not celery_app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not start; see {worker_log}")
        item = {"order_id": "BENCH-RESCORE-1", "customer_id": target.customer.external_id,
                "placed_at": (run.as_of + timedelta(hours=12)).isoformat(), "total": 42.0}
        posted = time.perf_counter()
        response = client.post("/api/v1/orders/batch/", [item], format="json")
        assert response.status_code == 200 and response.json()["stored"] == 1, response.content[:300]
        deadline = time.monotonic() + debounce + 300
        while True:
            row = CustomerScore.objects.filter(scoring_run=run, customer_id=target.customer_id, task="churn").first()
            if row is not None and row.scored_at > before:
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the score was not refreshed in time; see {worker_log}")
            time.sleep(0.2)
        latency = time.perf_counter() - posted
        log(f"POST to fresh score: {latency:.1f}s (debounce {debounce}s); churn probability "
            f"{target.probability:.3f} -> {row.probability:.3f}")
        while True:  # rewritten rows get new ids
            now = set(Recommendation.objects.filter(customer_id=target.customer_id).values_list("id", flat=True))
            if now and not now & recs_before:
                break
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the recommendations were not refreshed in time; see {worker_log}")
            time.sleep(0.2)
        recs_latency = time.perf_counter() - posted
        log(f"POST to fresh recommendations: {recs_latency:.1f}s")
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)

    result = {"changed_customers": rescored, "rescore_seconds": round(rescore_seconds, 2),
              "customers_per_s": round(rescored / rescore_seconds, 1),
              "post_to_fresh_score_seconds": round(latency, 2), "recommend_seconds": round(refresh.seconds, 2),
              "recommend_timings": refresh.timings, "recommend_build_seconds": round(build.seconds, 2),
              "post_to_fresh_recommendations_seconds": round(recs_latency, 2)}
    if not args.keep:
        common.shop_drop(SLUG)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
