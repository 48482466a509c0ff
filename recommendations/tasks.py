"""Celery entry points for recommendations, and the nightly run (score, then recommend) for every shop."""

import logging

from celery import shared_task

from accounts.models import Shop
from ecomsight.errors import UserError
from predictions.services.scoring import scoring_run_create

from .services import (
    recommendations_build,
    recommendations_partition_run,
    recommendations_refresh,
    recommendations_statistics_run,
    recommendations_step_fail,
)
from .services.stalls import runs_stalled_resume

logger = logging.getLogger("ecomsight.nightly")


@shared_task(soft_time_limit=3600, time_limit=3900)
def recommendations_build_task(shop_id: int, k: int, job_id: int | None) -> dict:
    """The build's plan and validation fit, and its statistics pass or the task that runs it beside; its
    partitions go to the workers (recommendations_partition_task)."""
    return recommendations_build(shop=Shop.objects.get(pk=shop_id), k=k, job_id=job_id, enqueue=True).to_dict()


@shared_task(soft_time_limit=3600, time_limit=3900)
def recommendations_statistics_task(version_id: int) -> None:
    """A build's statistics pass on a worker of its own, beside its validation fit (shops too big for TIFU-KNN's
    neighbours); the second of the two to finish queues the partitions."""
    try:
        recommendations_statistics_run(version_id=version_id)
    except Exception as exc:
        recommendations_step_fail(version_id=version_id, index=None, exc=exc)
        raise


@shared_task(soft_time_limit=3600, time_limit=3900)
def recommendations_partition_task(version_id: int, index: int) -> int:
    """One partition of a build: its customers' lists; the last one activates the build. Safe to run twice."""
    try:
        return recommendations_partition_run(version_id=version_id, index=index)
    except Exception as exc:
        recommendations_step_fail(version_id=version_id, index=index, exc=exc)
        raise


@shared_task(soft_time_limit=3600, time_limit=3900)
def recommendations_refresh_task(shop_id: int, customer_ids: list[int]) -> dict:
    """Fresh lists for customers just re-scored (see recommendations_refresh): a task of its own, so the
    scores are current at once and a slow refit (it reads the whole shop) never holds the re-scoring up."""
    outcome = recommendations_refresh(shop_id=shop_id, customer_ids=customer_ids)
    return {"version_id": outcome.version_id, "customers": outcome.customers, "seconds": round(outcome.seconds, 2)}


# The default queue: the sweep must run when the ml workers are busy, or gone.
@shared_task(queue="default", soft_time_limit=300, time_limit=360)
def runs_stalled_resume_task() -> dict:
    """Every RUN_STALL_SWEEP_SECONDS (beat): scoring runs and recommendation builds whose progress stopped for
    RUN_STALL_SECONDS resumed, or failed after RUN_STALL_MAX_RESUMES resumes (services/stalls.py)."""
    return runs_stalled_resume().to_dict()


@shared_task
def nightly_run() -> None:
    """Every shop: a scoring run with its champions (chunks go to the workers), then fresh recommendations."""
    for shop in Shop.objects.all():
        try:
            scoring_run_create(shop=shop, enqueue=True)
        except UserError as exc:  # no champion yet, no customers: nothing to score tonight
            logger.info("nightly scoring skipped for %s: %s", shop.slug, exc.message)
        recommendations_build_task.delay(shop.pk, 20, None)
