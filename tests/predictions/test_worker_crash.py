"""A real Celery worker against Redis is SIGKILLed in the middle of a scoring run — first a pool child,
then the worker's main process. A new worker finishes the run: every customer scored exactly once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count

from ecomsight.celery import app as celery_app
from ecomsight.embedded import database_url
from predictions.models import CustomerScore, ScoringRun
from predictions.services.scoring import scoring_run_create
from predictions.services.training import model_train

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "ml"


def _start_worker(tmp_path: Path, name: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ecomsight.settings.test",
        "DATABASE_URL": database_url(db),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        # Unacknowledged tasks of a killed worker come back after this many seconds.
        "CELERY_VISIBILITY_TIMEOUT": "5",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        # The first worker sweeps every second; killed mid-sweep, it leaves the sweep's lock behind, and the
        # second worker could not sweep before the lock expires (300 s by default: CI once timed out so).
        "CELERY_UNACKED_MUTEX_EXPIRE": "3",
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", f"{QUEUE},default", "-c", "1",
         "--pool", "prefork", "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "info"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _pool_child(worker: subprocess.Popen) -> int | None:
    out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def _chunks_done(run_id: int) -> int:
    return ScoringRun.objects.get(pk=run_id).chunks_done


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_scoring_survives_sigkilled_pool_child_and_worker(simulated_shop, tmp_path):
    simulated_shop.horizon_days = 60
    simulated_shop.save()
    for task in ("purchase", "churn"):
        model_train(shop=simulated_shop, task=task, horizon_days=60, algorithms=["bgnbd", "lgbm"])
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # this test enqueues for real, to Redis
    with celery_app.connection_for_write() as conn:
        for queue in (QUEUE, "default"):
            conn.default_channel.queue_purge(queue) if _queue_exists(conn, queue) else None

    first = _start_worker(tmp_path, "first")
    second = None
    try:
        run = scoring_run_create(shop=simulated_shop, chunk_size=40, enqueue=True)  # ~15 small chunks
        assert run.chunks_total >= 10
        _wait(lambda: _chunks_done(run.pk) >= 2, 90, "the first chunks")
        child = _wait(lambda: _pool_child(first), 10, "a pool child")
        os.kill(child, signal.SIGKILL)
        done_after_child = _chunks_done(run.pk)
        _wait(lambda: _chunks_done(run.pk) >= done_after_child + 2, 60, "progress after the pool child died")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert _chunks_done(run.pk) < run.chunks_total, "the run finished before the worker was killed"

        second = _start_worker(tmp_path, "second")
        _wait(lambda: ScoringRun.objects.get(pk=run.pk).status == ScoringRun.Status.SUCCEEDED, 120,
              "the run to complete on the new worker")
    finally:
        celery_app.conf.task_always_eager = eager
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)

    scores = CustomerScore.objects.filter(scoring_run_id=run.pk)
    assert scores.filter(task="purchase").count() == simulated_shop.customers.count()
    assert not scores.values("customer_id", "task").annotate(n=Count("id")).filter(n__gt=1).exists()
    run.refresh_from_db()
    assert run.chunks_done == run.chunks_total


def _queue_exists(conn, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:  # noqa: BLE001 - a queue that was never declared has nothing to purge
        return False
