"""Drill 13: Redis restarted in the middle of a scoring run; PostgreSQL stopped (immediate) in the
middle of an import. Run by hand on a machine where nothing else needs those services for a minute:
it really restarts them (with the commands `.ci/run` uses).

1. A real Celery worker scores a simulated shop in small chunks; Redis is shut down (no persistence,
   as on the development machines: the queued chunks are lost) and started again. The worker
   reconnects; `score --resume RUN` re-queues the lost chunks. Checked: every customer scored exactly
   once, the run marked succeeded.
2. `import_data events` of a big file; once a batch has committed, PostgreSQL is stopped with
   `-m immediate`. Checked: the committed batches are there after the restart, and re-running the
   same import finishes with every good row stored once.
Ends with one JSON line {"redis_restart": {...}, "postgres_stop": {...}}.

    .venv/bin/python bench/drills/outages.py
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomsight.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
               "--appendonly", "no"]
PG_VERSION = os.path.basename(sorted(glob.glob("/etc/postgresql/*"))[-1]) if glob.glob("/etc/postgresql/*") else "15"


def log(message: str) -> None:
    print(f"[outages] {message}", file=sys.stderr, flush=True)


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the service is coming back
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


def redis_restart_drill() -> dict:
    from django.db import connection
    from django.db.models import Count

    from accounts.models import Shop
    from behavior.services import data_import
    from behavior.simulator import SimulationConfig, simulate
    from bench.common import shop_drop
    from ecomsight.celery import app as celery_app
    from predictions.models import CustomerScore, ScoringRun
    from predictions.services.scoring import scoring_run_create, scoring_run_resume
    from predictions.services.training import model_train

    shop_drop("drill-redis")
    shop = Shop.objects.create(slug="drill-redis", name="Drill Redis", horizon_days=60)
    with tempfile.TemporaryDirectory() as tmp:
        simulate(SimulationConfig(customers=3000, products=200, days=400, seed=4), Path(tmp))
        for kind in ("customers", "products", "orders", "order_lines", "events"):
            data_import(shop=shop, kind=kind, path=Path(tmp) / f"{kind}.csv")
    for task in ("purchase", "churn"):
        model_train(shop=shop, task=task, algorithms=["bgnbd", "lgbm"])
    celery_app.conf.task_always_eager = False
    from ecomsight.embedded import database_url

    db = connection.settings_dict
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false",
           "DATABASE_URL": database_url(db)}
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", "ml,default",
                               "-c", "1", "-l", "warning", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run = scoring_run_create(shop=shop, chunk_size=100, enqueue=True)  # 30 chunks
        wait(lambda: ScoringRun.objects.get(pk=run.pk).chunks_done >= 3, 120, "the first chunks")
        log("shutting Redis down")
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "shutdown", "nosave"], check=False)
        time.sleep(2)
        subprocess.run(REDIS_START, check=True)
        wait(lambda: subprocess.run(["redis-cli", "ping"], capture_output=True).returncode == 0, 30, "Redis")
        done_at_restart = ScoringRun.objects.get(pk=run.pk).chunks_done
        log(f"Redis is back; {done_at_restart} of {run.chunks_total} chunks were done")
        time.sleep(5)  # whatever the worker held when Redis went away finishes or fails by now
        scoring_run_resume(run_id=run.pk, enqueue=True)  # `manage.py score --resume RUN --background`
        wait(lambda: ScoringRun.objects.get(pk=run.pk).status == "succeeded", 300, "the resumed run")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
    scores = CustomerScore.objects.filter(scoring_run_id=run.pk)
    duplicates = scores.values("customer_id", "task").annotate(n=Count("id")).filter(n__gt=1).count()
    result = {"chunks": run.chunks_total, "done_when_redis_restarted": done_at_restart,
              "purchase_scores": scores.filter(task="purchase").count(), "customers": shop.customers.count(),
              "duplicates": duplicates, "status": ScoringRun.objects.get(pk=run.pk).status}
    shop_drop("drill-redis")
    return result


def postgres_stop_drill() -> dict:
    from django.db import connection

    from accounts.models import Shop
    from behavior.models import Event, ImportJob
    from bench.common import shop_drop
    from bench.drills.big_csv import write_file

    shop_drop("drill-postgres")
    shop = Shop.objects.create(slug="drill-postgres", name="Drill PostgreSQL")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        rows, bad = write_file(path, 60)
        command = [sys.executable, "manage.py", "import_data", "events", str(path), "--shop", shop.slug,
                   "--batch-size", "50000"]
        importer = subprocess.Popen(command, cwd=ROOT, env=os.environ, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        wait(lambda: ImportJob.objects.filter(shop=shop, rows_committed__gt=0).exists(), 300, "a committed batch")
        job = ImportJob.objects.get(shop=shop)
        committed_seen = job.rows_committed
        connection.close()
        log(f"stopping PostgreSQL (immediate) after {committed_seen} rows committed")
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "stop", "-m",
                        "immediate"], check=True)
        importer.wait(120)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", "start"], check=True)
        wait(lambda: subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode == 0, 60, "PostgreSQL")
        time.sleep(1)
        stored_after_crash = Event.objects.filter(shop=shop).count()
        job.refresh_from_db()
        log(f"after the restart: {stored_after_crash} events stored, job says {job.rows_committed} committed")
        rerun = subprocess.run(command, cwd=ROOT, env=os.environ, capture_output=True, text=True, check=True)
        result_line = json.loads(rerun.stdout.strip().splitlines()[-1])
    stored = Event.objects.filter(shop=shop).count()
    result = {"rows": rows, "bad_rows": len(bad), "committed_before_stop": committed_seen,
              "stored_after_restart": stored_after_crash, "job_rows_committed": job.rows_committed,
              "stored_after_rerun": stored, "expected": rows - len(bad),
              "rerun_inserted": result_line["inserted"], "rerun_duplicates": result_line["duplicates"]}
    shop_drop("drill-postgres")
    return result


def main() -> int:
    from bench.common import database_ensure

    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    report = {"redis_restart": redis_restart_drill()}
    log(f"redis: {report['redis_restart']}")
    report["postgres_stop"] = postgres_stop_drill()
    log(f"postgres: {report['postgres_stop']}")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
