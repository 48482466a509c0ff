"""Background job rows: created by the service that enqueues work, updated by the worker that runs it.

Pages and the API poll `Job` for status and progress; nothing waits on the work itself."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import F
from django.utils import timezone

from ecomsight.errors import UserError

from .models import Job, Shop

logger = logging.getLogger("ecomsight.jobs")


def job_create(*, shop: Shop, kind: str, params: dict | None = None, user=None, message: str = "") -> Job:
    return Job.objects.create(shop=shop, kind=kind, params=params or {}, created_by=user, message=message)


def job_progress(*, job_id: int, done: int | None = None, total: int | None = None, add: int = 0,
                 message: str | None = None) -> None:
    """Record progress (and its time, `progress_at`). `add` increments atomically (chunks finishing on several
    workers at once)."""
    fields: dict = {}
    if done is not None:
        fields["progress_done"] = done
    if add:
        fields["progress_done"] = F("progress_done") + add
    if total is not None:
        fields["progress_total"] = total
    if message is not None:
        fields["message"] = message[:500]
    if fields:
        Job.objects.filter(pk=job_id).update(**fields, progress_at=timezone.now())


def job_finish(*, job_id: int, result: dict | None = None, message: str = "") -> None:
    Job.objects.filter(pk=job_id).update(status=Job.Status.SUCCEEDED, finished_at=timezone.now(),
                                         result=result or {}, message=message[:500])


def job_fail(*, job_id: int, error: str) -> None:
    Job.objects.filter(pk=job_id).update(status=Job.Status.FAILED, finished_at=timezone.now(), error=error)


def job_resumed(*, job_id: int, message: str) -> None:
    """A stalled run's job running again (its lost parts queued anew): error and end cleared; the resume counts as
    progress, so the stall sweep waits RUN_STALL_SECONDS again before the next one."""
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, error="", finished_at=None,
                                         progress_at=timezone.now(), message=message[:500])


@contextmanager
def job_running(job_id: int | None) -> Iterator[None]:
    """Mark a job running for the duration of a block; a failure marks it failed with a readable error
    (the user's message for a UserError, the exception's last line otherwise; the traceback goes to the log,
    never to the page) and re-raises."""
    if job_id is None:
        yield
        return
    now = timezone.now()
    Job.objects.filter(pk=job_id).update(status=Job.Status.RUNNING, started_at=now, progress_at=now)
    try:
        yield
    except UserError as exc:
        job_fail(job_id=job_id, error=exc.message)
        raise
    except BaseException as exc:
        logger.error("job %s failed\n%s", job_id, traceback.format_exc())
        job_fail(job_id=job_id, error=f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__)
        raise
