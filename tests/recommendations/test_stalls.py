"""The stall sweep (recommendations/services/stalls.py): scoring runs and recommendation builds whose queued tasks
were lost are resumed; one still moving is left alone; one that never moves is failed after its resumes, its job
naming the parts that never finished. Real PostgreSQL and Redis: the tasks eager where that is enough, sent to the
real broker (no worker takes them: lost again) where the cap is tested."""

import datetime as dt
import json
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from accounts.jobs import job_create
from accounts.models import Job
from ecomsight.celery import app as celery_app
from predictions.models import CustomerScore, ScoringRun
from predictions.services.scoring import scoring_chunk_run, scoring_run_create, scoring_run_execute
from predictions.services.training import model_train
from recommendations.models import Recommendation, RecommenderVersion
from recommendations.services import recommendations_partition_run
from recommendations.services.stalls import runs_stalled_resume
from recommendations.tasks import recommendations_build_task, runs_stalled_resume_task

pytestmark = pytest.mark.django_db

STALL = 1800  # seconds; each test ages the job's progress past it


@pytest.fixture
def trained_shop(simulated_shop):
    for task in ("purchase", "churn"):
        model_train(shop=simulated_shop, task=task, horizon_days=60, algorithms=["bgnbd", "lgbm"])
    simulated_shop.horizon_days = 60
    simulated_shop.save()
    return simulated_shop


@contextmanager
def _no_worker():
    """Tasks sent to the real Redis broker (this test's db), where no worker takes them: lost from the run's side.
    Yields a function counting the messages queued on the ml queue; purged before and after."""
    eager = celery_app.conf.task_always_eager

    def queued() -> int:
        with celery_app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue="ml", passive=True).message_count

    def purge() -> None:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("ml")

    purge()
    celery_app.conf.task_always_eager = False
    try:
        yield queued
    finally:
        celery_app.conf.task_always_eager = eager
        purge()


def _age(job_id: int, seconds: int = STALL + 60) -> None:
    """The job's progress last moved `seconds` ago."""
    Job.objects.filter(pk=job_id).update(progress_at=timezone.now() - dt.timedelta(seconds=seconds))


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
    _age(run.job_id)
    sweep = runs_stalled_resume(stall_seconds=STALL, max_resumes=3)
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
    _age(moving.job_id)
    scoring_chunk_run(run_id=moving.pk, chunk=0)  # a chunk finished just now: its progress moved
    sweep = runs_stalled_resume(stall_seconds=STALL, max_resumes=3)
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
        _age(run.job_id)
        assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).scoring_resumed == [run.pk]
        assert queued() == 2  # chunks 1 and 2 queued again (and lost again: no worker)
        assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).scoring_resumed == []  # the resume moved it

        scoring_chunk_run(run_id=run.pk, chunk=1)  # progress: the count starts again
        _age(run.job_id)
        assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).scoring_resumed == [run.pk]
        _age(run.job_id)
        sweep = runs_stalled_resume(stall_seconds=STALL, max_resumes=1)
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
    _age(old.job_id)
    assert runs_stalled_resume(stall_seconds=STALL, max_resumes=3).scoring_failed == [old.pk]
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
    _age(version.job_id)
    sweep = runs_stalled_resume(stall_seconds=STALL, max_resumes=3)
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
        _age(version.job_id)
        assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).builds_resumed == [version.pk]
        assert queued() == 2  # partitions 1 and 2 queued again (and lost again)
        _age(version.job_id)
        assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).builds_failed == [version.pk]
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
    _age(job.pk)
    assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).builds_resumed == [version.pk]
    assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).builds_failed == []  # waits a stall again
    _age(job.pk)
    assert runs_stalled_resume(stall_seconds=STALL, max_resumes=1).builds_failed == [version.pk]
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
