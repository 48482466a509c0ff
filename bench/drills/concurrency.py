"""Drill 15: two CSV uploads, a batch API load and a scoring run at once.

Serves the app with gunicorn, measures the API's p95 on `customers/{id}/scores` while idle, then again
while two `import_data events` processes, a thread posting `events/batch` and a `score` run all work
on the same shop (the two uploads are the same file, the hardest case for de-duplication). Checked: every
job finishes (no deadlock, no error), every event is stored once, and
the API's p95 under that load against idle (goal: within 3×). Ends with one JSON line.

    .venv/bin/python bench/drills/concurrency.py
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("API_THROTTLE_RATE", "100000000/min")
os.environ.setdefault("LOG_LEVEL", "ERROR")

from bench.common import database_ensure, log, shop_drop  # noqa: E402

SLUG = "drill-concurrency"
PORT = 8767


def latencies(token: str, paths: list[str], seconds: float, clients: int = 4) -> list[float]:
    """Request latencies (ms) from `clients` threads on persistent connections for `seconds`."""
    out: list[float] = []
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        i = offset
        while time.monotonic() < stop:
            started = time.perf_counter()
            conn.request("GET", paths[i % len(paths)], headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            out.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, response.status
            i += clients

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


def main() -> int:
    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from accounts.models import Shop
    from accounts.services import user_create_or_update
    from accounts.tokens import api_token_create
    from behavior.models import Event
    from behavior.services import data_import
    from behavior.simulator import SimulationConfig, simulate
    from bench.drills.big_csv import write_file
    from predictions.models import ScoringRun
    from predictions.services.training import model_train

    shop_drop(SLUG)
    shop = Shop.objects.create(slug=SLUG, name="Drill concurrency", horizon_days=60)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        simulate(SimulationConfig(customers=5000, products=300, days=400, seed=2), tmp / "sim")
        for kind in ("customers", "products", "orders", "order_lines", "events"):
            data_import(shop=shop, kind=kind, path=tmp / "sim" / f"{kind}.csv")
        for task in ("purchase", "churn"):
            model_train(shop=shop, task=task, algorithms=["bgnbd", "lgbm"])
        call_command("score", "--shop", SLUG, "--json", stdout=open(os.devnull, "w"))  # noqa: SIM115
        user = user_create_or_update(username="drill-concurrency", role="analyst", password="drill-Pa55word!",
                                     shops=[shop])
        token = api_token_create(user=user, shop=shop, name="drill").plain
        paths = [f"/api/v1/customers/C{i:07d}/scores/" for i in range(1, 200)]
        # The same file uploaded twice at once: the hardest case for de-duplication.
        path = tmp / "upload.csv"
        rows, bad = write_file(path, 25)
        files = [(path, rows - len(bad)), (path, rows - len(bad))]
        before = Event.objects.filter(shop=shop).count()

        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "ecomsight.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
             "--workers", "3", "--worker-class", "gthread", "--threads", "2", "--log-level", "warning"],
            cwd=ROOT, env=os.environ, start_new_session=True)
        try:
            for _ in range(60):
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=2)
                    conn.request("GET", "/api/v1/health/")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.5)
            idle = latencies(token, paths, 10)
            log(f"idle: {len(idle)} requests, p95 {p95(idle):.1f} ms", prefix="concurrency")

            env = {**os.environ}
            jobs = [subprocess.Popen([sys.executable, "manage.py", "import_data", "events", str(path), "--shop",
                                      SLUG], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    for path, _ in files]
            jobs.append(subprocess.Popen([sys.executable, "manage.py", "score", "--shop", SLUG, "--json"], cwd=ROOT,
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
            batch_errors: list[str] = []
            batch_stored = 0

            def batches() -> None:
                nonlocal batch_stored
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
                for b in range(10):
                    items = [{"event_id": f"B{b}-{i}", "customer_id": f"C{(i % 5000) + 1:07d}", "type": "view",
                              "occurred_at": "2026-06-01T10:00:00Z"} for i in range(2000)]
                    conn.request("POST", "/api/v1/events/batch/", body=json.dumps(items),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                    response = conn.getresponse()
                    body = json.loads(response.read())
                    if response.status != 200:
                        batch_errors.append(f"{response.status}: {body}")
                    else:
                        batch_stored += body["stored"]

            poster = threading.Thread(target=batches)
            started = time.monotonic()
            poster.start()
            busy = latencies(token, paths, 15)
            poster.join(300)
            codes = [job.wait(600) for job in jobs]
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(30)
    stored = Event.objects.filter(shop=shop).count() - before
    expected = files[0][1] + 20_000
    run = ScoringRun.objects.filter(shop=shop).order_by("-pk").first()
    result = {"idle_p95_ms": round(p95(idle), 1), "busy_p95_ms": round(p95(busy), 1),
              "ratio": round(p95(busy) / p95(idle), 2), "idle_requests": len(idle), "busy_requests": len(busy),
              "exit_codes": codes, "batch_errors": len(batch_errors), "events_stored": stored,
              "events_expected": expected, "last_scoring_run": run.status if run else None,
              "seconds": round(elapsed, 1)}
    log(str(result), prefix="concurrency")
    shop_drop(SLUG)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
