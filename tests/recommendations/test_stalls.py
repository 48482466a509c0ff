"""The stall sweep (recommendations/services/stalls.py): scoring runs and recommendation builds whose queued tasks
were lost are resumed; one still moving is left alone; one that never moves is failed after its resumes, its job
naming the parts that never finished. Real PostgreSQL and Redis: the tasks eager where that is enough, sent to the
real broker (no worker takes them: lost again) where the cap is tested."""

import datetime as dt
import json
import threading
import time
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.test import TestCase
from django.utils import timezone
from kombu.exceptions import ChannelError

from accounts.jobs import job_create
from accounts.models import Job
from ecomsight.celery import app as celery_app
from predictions.models import CustomerScore, ScoringRun
from predictions.services.scoring import scoring_chunk_run, scoring_run_create, scoring_run_execute, scoring_run_fail
from recommendations.models import Recommendation, RecommenderVersion
from recommendations.services import recommendations_build, recommendations_partition_run, recommender_config, stalls
from recommendations.services.stalls import runs_stalled_resume
from recommendations.tasks import recommendations_build_task, runs_stalled_resume_task

pytestmark = pytest.mark.django_db

STALL = 1800  # seconds; each test ages the job's progress past it


def _purge() -> None:
    """The ml queue emptied: its messages lost (no worker took them)."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("ml")


@pytest.fixture(autouse=True)
def _ml_queue_empty():
    """Nothing left on this Redis db's ml queue by another test: the sweep waits while it holds messages."""
    _purge()
    yield
    _purge()


@contextmanager
def _no_worker():
    """Tasks sent to the real Redis broker (this test's db), where no worker takes them: lost from the run's side
    once purged (`_purge`). Yields a function counting the messages queued on the ml queue."""
    eager = celery_app.conf.task_always_eager

    def queued() -> int:
        with celery_app.connection_for_write() as conn:
            try:
                return conn.default_channel.queue_declare(queue="ml", passive=True).message_count
            except ChannelError:  # Redis drops an empty queue's list: none queued
                return 0

    celery_app.conf.task_always_eager = False
    try:
        yield queued
    finally:
        celery_app.conf.task_always_eager = eager


def _sweep(**kwargs):
    """One sweep; the copies it queues once its transaction commits are sent (run here where tasks are eager)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return runs_stalled_resume(stall_seconds=STALL, **kwargs)


def _age(row, seconds: int = STALL + 60) -> None:
    """The row's progress last moved `seconds` ago: its job's progress, its last resume (the stall mark's `at`) and
    its creation."""
    then = timezone.now() - dt.timedelta(seconds=seconds)
    row.refresh_from_db()
    if row.job_id:
        Job.objects.filter(pk=row.job_id).update(progress_at=then)
    mark = "summary" if isinstance(row, ScoringRun) else "metrics"
    data = getattr(row, mark)
    if "stall" in data:
        data = {**data, "stall": {**data["stall"], "at": then.isoformat()}}
    type(row).objects.filter(pk=row.pk).update(created_at=then, **{mark: data})


def _run_lost(shop, django_capture_on_commit_callbacks, *, chunks_run: int = 1) -> ScoringRun:
    """A run of 3 chunks whose queued tasks the broker lost, `chunks_run` of them run before the loss."""
    with django_capture_on_commit_callbacks(execute=False):  # never delivered
        run = scoring_run_create(shop=shop, chunk_size=200, enqueue=True)
    assert run.chunks_total == 3
    for chunk in range(chunks_run):
        scoring_chunk_run(run_id=run.pk, chunk=chunk)
    run.refresh_from_db()
    return run


def test_a_run_whose_queued_chunks_were_lost_is_resumed_by_the_sweep(trained_shop,
                                                                     django_capture_on_commit_callbacks):
    # catches: a lost chunk leaving the run RUNNING for ever, a resume re-running chunks already done (duplicates)
    run = _run_lost(trained_shop, django_capture_on_commit_callbacks)
    _age(run)
    sweep = _sweep(max_resumes=3)
    assert sweep.scoring_resumed == [run.pk] and not sweep.scoring_failed
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.SUCCEEDED and run.summary["stall"]["resumes"] == 1
    assert Job.objects.get(pk=run.job_id).status == Job.Status.SUCCEEDED
    scores = CustomerScore.objects.filter(scoring_run=run, task="purchase")
    assert scores.count() == trained_shop.customers.count()
    assert not scores.values("customer").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_run_still_moving_is_left_alone(trained_shop, django_capture_on_commit_callbacks):
    # catches: the sweep resuming every run it finds RUNNING, or reading a progress time the chunks do not move
    fresh = _run_lost(trained_shop, django_capture_on_commit_callbacks, chunks_run=0)  # created just now
    moving = _run_lost(trained_shop, django_capture_on_commit_callbacks, chunks_run=0)
    _age(moving)
    scoring_chunk_run(run_id=moving.pk, chunk=0)  # a chunk finished just now: its progress moved
    sweep = _sweep(max_resumes=3)
    assert not sweep.scoring_resumed and not sweep.scoring_failed
    for run, done in ((fresh, 0), (moving, 1)):
        run.refresh_from_db()
        assert run.status == ScoringRun.Status.RUNNING and run.chunks_done == done and "stall" not in run.summary


def test_a_run_whose_chunks_never_finish_is_failed_after_its_resumes_in_a_row(
        trained_shop, django_capture_on_commit_callbacks):
    # catches: a run resumed for ever, a cap counted over the run's whole life (a long run losing a chunk now and
    # then is failed though it moves), an error that does not say what never finished
    run = _run_lost(trained_shop, django_capture_on_commit_callbacks)
    with _no_worker() as queued:
        _age(run)
        assert _sweep(max_resumes=1).scoring_resumed == [run.pk]
        assert queued() == 2  # chunks 1 and 2 queued again (and lost again: no worker)
        _purge()
        assert _sweep(max_resumes=1).scoring_resumed == []  # the resume moved it

        scoring_chunk_run(run_id=run.pk, chunk=1)  # progress: the count starts again
        _age(run)
        assert _sweep(max_resumes=1).scoring_resumed == [run.pk]
        _purge()
        _age(run)
        sweep = _sweep(max_resumes=1)
    assert sweep.scoring_failed == [run.pk] and not sweep.scoring_resumed
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert run.status == ScoringRun.Status.FAILED and job.status == Job.Status.FAILED
    assert job.error == "stalled: chunks 2 never finished after 1 resume"


def test_a_stalled_run_that_a_newer_run_superseded_is_failed_not_resumed(trained_shop,
                                                                         django_capture_on_commit_callbacks):
    # catches: a day-old run re-scored for nothing after the next night's run succeeded
    old = _run_lost(trained_shop, django_capture_on_commit_callbacks)
    newer = scoring_run_execute(run=scoring_run_create(shop=trained_shop, chunk_size=300, enqueue=False))
    _age(old)
    assert _sweep(max_resumes=3).scoring_failed == [old.pk]
    old.refresh_from_db()
    assert old.status == ScoringRun.Status.FAILED and old.chunks_done == 1
    assert Job.objects.get(pk=old.job_id).error == f"stalled, and superseded by scoring run {newer.pk}: not resumed"


def _build_lost(shop, settings, django_capture_on_commit_callbacks, *, partitions_run: int = 1) -> RecommenderVersion:
    """A build of 3 partitions whose queued partition tasks the broker lost, `partitions_run` of them run first."""
    settings.RECOMMEND_PARTITION_CUSTOMERS = 250  # 600 customers: 3 partitions
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # never delivered
        recommendations_build_task.delay(shop.pk, 10, None)
    assert len(callbacks) == 3
    version = RecommenderVersion.objects.filter(shop=shop).latest("created_at")
    for index in range(partitions_run):
        recommendations_partition_run(version_id=version.pk, index=index)
    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.BUILDING
    return version


def test_a_build_whose_queued_partitions_were_lost_is_resumed_by_the_sweep(simulated_shop, settings,
                                                                           django_capture_on_commit_callbacks):
    # catches: a build BUILDING for ever, the resume listing partitions already done again
    version = _build_lost(simulated_shop, settings, django_capture_on_commit_callbacks)
    _age(version)
    sweep = _sweep(max_resumes=3)
    assert sweep.builds_resumed == [version.pk] and not sweep.builds_failed
    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.ACTIVE and version.metrics["done"] == [0, 1, 2]
    assert version.metrics["stall"]["resumes"] == 1
    assert Job.objects.get(pk=version.job_id).status == Job.Status.SUCCEEDED
    rows = Recommendation.objects.filter(version=version)
    assert rows.values("customer").distinct().count() == simulated_shop.customers.count()
    assert not rows.values("customer", "rank").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_build_whose_partitions_never_finish_is_failed_naming_them(simulated_shop, settings,
                                                                    django_capture_on_commit_callbacks):
    # catches: a build resumed for ever, a failed build's rows left behind, an error without the partitions
    version = _build_lost(simulated_shop, settings, django_capture_on_commit_callbacks)
    with _no_worker() as queued:
        _age(version)
        assert _sweep(max_resumes=1).builds_resumed == [version.pk]
        assert queued() == 2  # partitions 1 and 2 queued again (and lost again)
        _purge()
        _age(version)
        assert _sweep(max_resumes=1).builds_failed == [version.pk]
    version.refresh_from_db()
    job = Job.objects.get(pk=version.job_id)
    assert version.status == RecommenderVersion.Status.FAILED and job.status == Job.Status.FAILED
    assert job.error == "stalled: partitions 1, 2 never finished after 1 resume"
    assert not Recommendation.objects.filter(version=version).exists()


def test_a_build_whose_statistics_pass_stopped_is_failed_after_its_resumes(shop):
    # catches: a build whose first task died before planning its partitions left BUILDING for ever, or failed at
    # once (its statistics pass may only be slow)
    job = job_create(shop=shop, kind=Job.Kind.RECOMMEND)
    version = RecommenderVersion.objects.create(shop=shop, job=job)  # BUILDING, no partitions planned
    _age(version)
    assert _sweep(max_resumes=1).builds_resumed == [version.pk]
    assert _sweep(max_resumes=1).builds_failed == []  # waits a stall again
    _age(version)
    assert _sweep(max_resumes=1).builds_failed == [version.pk]
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "stalled: its statistics pass never finished (no progress after 1 resume)"
    with pytest.raises(CommandError, match="only a build still building"):
        call_command("build_recommendations", "--shop", shop.slug, "--resume", str(version.pk))


def test_build_recommendations_resume_lists_the_missing_partitions_here(simulated_shop, settings,
                                                                       django_capture_on_commit_callbacks, capsys):
    # catches: an operator without a way to finish a build by hand, the command re-listing partitions done
    version = _build_lost(simulated_shop, settings, django_capture_on_commit_callbacks, partitions_run=2)
    call_command("build_recommendations", "--shop", simulated_shop.slug, "--resume", str(version.pk), "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "active" and report["resumed_partitions"] == [2] and report["done"] == [0, 1, 2]
    assert Recommendation.objects.filter(version=version).values("customer").distinct().count() == \
        simulated_shop.customers.count()


def test_the_sweep_is_scheduled_on_the_default_queue_and_cheap_when_nothing_stalled(shop,
                                                                                    django_assert_max_num_queries):
    # catches: a sweep that is never scheduled, or queued behind the ml work it is meant to rescue
    entry = django_settings.CELERY_BEAT_SCHEDULE["stalled-runs"]
    assert entry["task"] == runs_stalled_resume_task.name
    assert entry["schedule"] == django_settings.RUN_STALL_SWEEP_SECONDS
    assert runs_stalled_resume_task.queue == "default"
    with django_assert_max_num_queries(2):  # one query per kind
        assert runs_stalled_resume_task.delay().get() == {"scoring_resumed": [], "scoring_failed": [],
                                                          "builds_resumed": [], "builds_failed": []}


# Review fixes (docs/status/issue-23-session7-stall.md): each test below failed before its fix.

def _run_running(shop, *, job: bool = True, as_of: dt.datetime | None = None, chunks: int = 3) -> ScoringRun:
    """A scoring run RUNNING with `chunks` chunks, none done (rows only: the tests below never run a chunk)."""
    return ScoringRun.objects.create(
        shop=shop, job=job_create(shop=shop, kind=Job.Kind.SCORE) if job else None, status=ScoringRun.Status.RUNNING,
        as_of=as_of or timezone.now(), chunks_total=chunks,
        summary={"chunks": [[i * 10, i * 10 + 9] for i in range(chunks)], "done": []})


def test_nothing_is_resumed_or_failed_while_the_ml_queue_still_has_tasks_waiting(shop):
    # catches: a build failed (its rows deleted) or a run resumed (the backlog grown) while its tasks only wait
    # behind other shops' work on ml at night
    run = _run_running(shop)
    _age(run)
    with _no_worker() as queued:
        celery_app.send_task("predictions.tasks.scoring_chunk_task", args=[0, 0])  # another run's chunk, waiting
        assert queued() == 1
        assert _sweep(max_resumes=0).to_dict() == {"scoring_resumed": [], "scoring_failed": [],
                                                   "builds_resumed": [], "builds_failed": []}
        assert _sweep(max_resumes=1).to_dict()["scoring_resumed"] == []
        assert queued() == 1  # nothing queued again
        run.refresh_from_db()
        assert run.status == ScoringRun.Status.RUNNING and "stall" not in run.summary
        _purge()  # drained: now a missing chunk is lost, not waiting
        assert _sweep(max_resumes=1).scoring_resumed == [run.pk]
        assert queued() == 3


def test_a_broker_that_cannot_be_read_leaves_every_run_as_it_is(shop):
    # catches: a sweep resuming or failing runs when it cannot know whether their tasks are still waiting
    run = _run_running(shop)
    _age(run)
    write_url = celery_app.conf.get("broker_write_url")
    celery_app.conf.broker_write_url = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        sweep = _sweep(max_resumes=0)
    finally:
        celery_app.conf.broker_write_url = write_url
    assert not sweep.scoring_resumed and not sweep.scoring_failed
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.RUNNING and "stall" not in run.summary


def _lock_waiters() -> int:
    """The sessions waiting for a lock this one holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                       " AND pg_backend_pid() = ANY(pg_blocking_pids(pid))")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_sweep_that_waited_for_a_chunks_commit_does_not_resume_the_run_it_moved(shop):
    # catches: the re-check under the lock reading the job's progress from before the wait (a run that just moved
    # resumed, its resume counted)
    run = _run_running(shop)
    _age(run)
    outcome: dict = {}

    def sweep() -> None:
        try:
            outcome["sweep"] = runs_stalled_resume(stall_seconds=STALL, max_resumes=3)
        finally:
            connection.close()

    with _no_worker() as queued:
        thread = threading.Thread(target=sweep)
        with transaction.atomic():  # a chunk recording itself done: the run's row locked, its job's progress moved
            ScoringRun.objects.select_for_update().get(pk=run.pk)
            Job.objects.filter(pk=run.job_id).update(progress_at=timezone.now())
            thread.start()
            deadline = time.monotonic() + 30
            while not _lock_waiters() and time.monotonic() < deadline:  # the sweep waits for the run's lock
                time.sleep(0.05)
            assert _lock_waiters(), "the sweep never waited for the run's lock"
        thread.join(30)
        assert queued() == 0
    assert outcome["sweep"].scoring_resumed == [] and outcome["sweep"].scoring_failed == []
    run.refresh_from_db()
    assert "stall" not in run.summary


def test_a_run_that_a_chunk_failed_meanwhile_is_not_set_running_again(shop, monkeypatch):
    # catches: the sweep's resume setting a FAILED run RUNNING again and clearing its job's error
    run = _run_running(shop)
    _age(run)
    real = stalls.scoring_run_resume

    def chunk_fails_first(**kwargs):  # a chunk fails the run just before the resume reaches it
        scoring_run_fail(run_id=run.pk, error="chunk 0: MemoryError")
        return real(**kwargs)

    monkeypatch.setattr(stalls, "scoring_run_resume", chunk_fails_first)
    with _no_worker() as queued:
        sweep = _sweep(max_resumes=3)
        assert queued() == 0
    assert not sweep.scoring_resumed
    run.refresh_from_db()
    job = Job.objects.get(pk=run.job_id)
    assert run.status == ScoringRun.Status.FAILED and "stall" not in run.summary
    assert job.status == Job.Status.FAILED and job.error == "chunk 0: MemoryError"


def test_a_run_without_a_job_is_not_resumed_every_sweep(shop):
    # catches: a run whose job was deleted (FK set null) resumed at every sweep and failed after 3 though healthy
    run = _run_running(shop, job=False)
    _age(run)
    with _no_worker():
        assert _sweep(max_resumes=1).scoring_resumed == [run.pk]
        _purge()
        sweep = _sweep(max_resumes=1)  # its resume just now is progress: it waits a stall again
        assert not sweep.scoring_resumed and not sweep.scoring_failed
        _purge()
        _age(run)
        assert _sweep(max_resumes=1).scoring_failed == [run.pk]
    run.refresh_from_db()
    assert run.status == ScoringRun.Status.FAILED


def test_a_stalled_run_is_superseded_only_by_a_run_ranking_above_it(shop):
    # catches: the newer-as-of run made before it (smaller id) not counted, an older-as-of run made after it counted
    now = timezone.now()
    later = ScoringRun.objects.create(shop=shop, status=ScoringRun.Status.SUCCEEDED, as_of=now)
    stalled = _run_running(shop, as_of=now - dt.timedelta(days=1))
    ScoringRun.objects.create(shop=shop, status=ScoringRun.Status.SUCCEEDED, as_of=now - dt.timedelta(days=2))
    _age(stalled)
    with _no_worker():
        assert _sweep(max_resumes=3).scoring_failed == [stalled.pk]
    assert Job.objects.get(pk=stalled.job_id).error == \
        f"stalled, and superseded by scoring run {later.pk}: not resumed"


def test_a_build_whose_statistics_task_was_lost_is_resumed_by_the_sweep(simulated_shop, settings,
                                                                      django_capture_on_commit_callbacks):
    # catches: a build whose statistics pass (queued beside its fit) the broker lost, left to fail after its
    # resumes though its fit is recorded and the pass can simply run again
    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    config = recommender_config(shop=simulated_shop, als_max_interactions=0, seqrec_max_interactions=0,
                                ranker=False, tifu_neighbours_max_customers=100)  # big enough to run it beside
    with django_capture_on_commit_callbacks(execute=False) as callbacks:  # never delivered
        version = recommendations_build(shop=simulated_shop, k=10, config=config, enqueue=True).version
    assert len(callbacks) == 1 and version.status == RecommenderVersion.Status.BUILDING
    _age(version)
    assert _sweep(max_resumes=1).builds_resumed == [version.pk]
    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.ACTIVE and version.metrics["done"] == [0, 1, 2]
    assert Job.objects.get(pk=version.job_id).status == Job.Status.SUCCEEDED
    assert Recommendation.objects.filter(version=version).values("customer").distinct().count() == \
        simulated_shop.customers.count()
