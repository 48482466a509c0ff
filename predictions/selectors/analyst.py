"""Reads of the analyst's pages: model versions (per task, the champion, those trained in one run), what the
last training said about the history, the shop's jobs and its latest scoring run."""

from __future__ import annotations

from datetime import timedelta

from django.core.paginator import Page, Paginator
from django.http import Http404

from accounts.models import Job, Shop
from behavior.models import ImportJob
from predictions.models import ModelVersion, ScoringRun

JOBS_RUNNING = (Job.Status.PENDING, Job.Status.RUNNING)


def model_versions_recent(*, shop: Shop, task: str, limit: int) -> list[ModelVersion]:
    """The task's latest model versions, newest first, with their jobs."""
    return list(ModelVersion.objects.filter(shop=shop, task=task).select_related("job")
                .order_by("-created_at")[:limit])


def model_version_champion(*, shop: Shop, task: str, horizon_days: int) -> ModelVersion | None:
    """The champion of the task at this horizon (None when there is none)."""
    return ModelVersion.objects.filter(shop=shop, task=task, horizon_days=horizon_days,
                                       status=ModelVersion.Status.CHAMPION).first()


def model_version_get(*, shop: Shop, version_id: int) -> ModelVersion:
    """The shop's model version, or 404 (another shop's does not exist for this user)."""
    version = ModelVersion.objects.filter(shop=shop, pk=version_id).first()
    if version is None:
        raise Http404("No such model version")
    return version


def model_versions_of_run(*, version: ModelVersion) -> dict[str, ModelVersion]:
    """The versions trained in the same run as `version` (same job, or the same cutoff within minutes), by
    algorithm."""
    qs = ModelVersion.objects.filter(shop_id=version.shop_id, task=version.task, horizon_days=version.horizon_days,
                                     as_of=version.as_of)
    if version.job_id:
        qs = qs.filter(job_id=version.job_id)
    else:
        qs = qs.filter(created_at__range=(version.created_at - timedelta(minutes=5),
                                          version.created_at + timedelta(minutes=5)))
    return {v.algorithm: v for v in qs.order_by("created_at")}


def training_sufficiency(*, shop: Shop) -> dict | None:
    """What the last finished training said about the history (customers, buyers, days, and why not more)."""
    job = (Job.objects.filter(shop=shop, kind=Job.Kind.TRAIN, status=Job.Status.SUCCEEDED)
           .exclude(result={}).only("result", "finished_at").first())
    found = (job.result or {}).get("sufficiency") if job else None
    if not found:
        return None
    return {**found, "finished_at": job.finished_at}


def model_jobs_running(*, shop: Shop) -> bool:
    """Whether a training or scoring job of the shop is waiting or running."""
    return Job.objects.filter(shop=shop, kind__in=[Job.Kind.TRAIN, Job.Kind.SCORE], status__in=JOBS_RUNNING).exists()


def scoring_run_latest(*, shop: Shop) -> ScoringRun | None:
    """The shop's latest scoring run whatever its status (the one a page reports on), not the current one."""
    return ScoringRun.objects.filter(shop=shop).only(
        "as_of", "status", "created_at", "customers_total", "job_id").first()


def jobs_page_get(*, shop: Shop, page: str | int | None, per_page: int) -> Page:
    """One page of the shop's jobs, newest first (every job is on some page), with who started them and the
    import each ran (the Jobs page links an import to its import page)."""
    return Paginator(Job.objects.filter(shop=shop).select_related("created_by", "import_job"),
                     per_page).get_page(page)


def jobs_recent_progress(*, shop: Shop, limit: int) -> list[Job]:
    """The latest `limit` jobs (the Jobs page's first page) with only what a progress poller shows."""
    return list(Job.objects.filter(shop=shop).only("status", "message", "progress_done", "progress_total")[:limit])


def job_get(*, shop: Shop, job_id: int) -> Job:
    """The shop's job with who started it, or 404."""
    job = Job.objects.filter(shop=shop, pk=job_id).select_related("created_by").first()
    if job is None:
        raise Http404("No such job")
    return job


def import_job_of(*, shop: Shop, job: Job) -> ImportJob | None:
    """The import a job ran, if it ran one."""
    return ImportJob.objects.filter(job=job, shop=shop).only("pk", "source_name").first()
