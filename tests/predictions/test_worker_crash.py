"""A real Celery worker against Redis is SIGKILLed in the middle of a scoring run — first a pool child,
then the worker's main process — and one of the run's queued chunks is lost on top (a worker killed between taking
it off Redis and recording it unacknowledged loses it for good: docs/status/issue-23-session7-stall.md). A new worker
with the beat schedule (the stall sweep every second, a run silent for 10 s resumed) finishes the run: every customer
scored exactly once, and the run records the sweep's resume."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


def _start_worker(tmp_path: Path, name: str, beat: bool = False) -> subprocess.Popen:
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
        # The stall sweep (beat, embedded with -B) every second; a run silent for 10 s is resumed. The resumes
        # in a row are not capped here: on a loaded machine a chunk may take longer than 10 s (a resume of a run
        # that is only slow queues copies of its missing chunks, which return at once once done).
        "RUN_STALL_SWEEP_SECONDS": "1",
        "RUN_STALL_SECONDS": "10",
        "RUN_STALL_MAX_RESUMES": "1000",
    }
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    beat_args = ["-B", "-s", str(tmp_path / f"{name}-beat-schedule")] if beat else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ecomsight", "worker", "-Q", f"{QUEUE},default", "-c", "1",
         "--pool", "prefork", "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "info",
         *beat_args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _wait(predicate, timeout: float, what: str | Callable[[], str]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


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
        lost = _lose_a_queued_chunk()

        second = _start_worker(tmp_path, "second", beat=True)
        _wait(lambda: ScoringRun.objects.get(pk=run.pk).status == ScoringRun.Status.SUCCEEDED, 120,
              lambda: f"the run to complete on the new worker (chunk {lost} lost): {_diagnosis(run.pk, tmp_path)}")
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
    assert lost in run.summary["done"] and run.summary["stall"]["resumes"] >= 1  # the sweep brought it back


def _lose_a_queued_chunk() -> int:
    """Take one of the run's queued chunks off Redis and drop it — never acknowledged, never recorded as
    unacknowledged: what a worker killed right after its BRPOP does (no visibility timeout brings it back)."""
    with celery_app.connection_for_write() as conn:
        message = conn.default_channel.basic_get(QUEUE, no_ack=True)
    assert message is not None, "no chunk left in the queue to lose"
    args, _kwargs, _embed = message.decode()
    return args[1]


def _diagnosis(run_id: int, tmp_path: Path) -> str:
    run = ScoringRun.objects.select_related("job").get(pk=run_id)
    missing = [i for i in range(run.chunks_total) if i not in run.summary.get("done", [])]
    with celery_app.connection_for_write() as conn:
        queued = conn.default_channel.queue_declare(queue=QUEUE, passive=True).message_count
    logs = {name: (tmp_path / f"{name}.log").read_text()[-1500:] for name in ("first", "second")
            if (tmp_path / f"{name}.log").exists()}
    return (f"missing chunks {missing}, stall {run.summary.get('stall')}, job {run.job.status if run.job else None}"
            f" {run.job.message if run.job else ''!r}, {queued} message(s) queued; log tails: {logs}")


def _queue_exists(conn, queue: str) -> bool:
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
        return True
    except Exception:  # noqa: BLE001 - a queue that was never declared has nothing to purge
        return False
