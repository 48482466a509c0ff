"""Celery entry points: thin wrappers that load ids and call one service each."""

from celery import shared_task

from accounts.jobs import job_finish, job_running
from accounts.models import Shop

from .retention import SCORE_SWEEP_SECONDS, files_expire, score_history_expire
from .services.exports import export_file_write
from .services.rescoring import rescore_changed
from .services.scoring import scoring_chunk_run, scoring_run_fail
from .services.training import model_train

# Training may take minutes on a big shop: a longer limit than the default.
TRAIN_SOFT_LIMIT = 2 * 3600


@shared_task(soft_time_limit=TRAIN_SOFT_LIMIT, time_limit=TRAIN_SOFT_LIMIT + 300)
def model_train_task(shop_id: int, task: str, horizon_days: int | None, as_of: str | None,
                     algorithms: list[str] | None, job_id: int | None) -> dict:
    import datetime as dt

    shop = Shop.objects.get(pk=shop_id)
    with job_running(job_id):
        outcome = model_train(shop=shop, task=task, horizon_days=horizon_days,
                              as_of=dt.date.fromisoformat(as_of) if as_of else None,
                              algorithms=algorithms, job_id=job_id)
        if job_id:
            job_finish(job_id=job_id, result=outcome.to_dict(), message="training finished")
    return outcome.to_dict()


@shared_task
def scoring_chunk_task(run_id: int, chunk: int) -> int:
    """One chunk of a scoring run; safe to run twice (it replaces its rows)."""
    try:
        return scoring_chunk_run(run_id=run_id, chunk=chunk)
    except Exception as exc:
        scoring_run_fail(run_id=run_id, error=f"chunk {chunk}: {type(exc).__name__}: {exc}")
        raise


@shared_task
def rescore_changed_task(shop_id: int) -> int:
    """Re-score the shop's customers whose orders or events arrived since their score (enqueued once per debounce
    window by predictions.services.rescoring); safe to run twice."""
    return rescore_changed(shop_id=shop_id)


# Writing an export's file is database reads and a file write, not model work: it goes to the default
# queue (the settings route predictions.tasks.* to "ml"; a task's own queue wins over that route).
@shared_task(queue="default")
def segment_export_task(export_id: int, job_id: int) -> dict:
    """Write a large segment export's CSV file, reporting progress to its job; finish the job with the path."""
    with job_running(job_id):
        written = export_file_write(export_id=export_id, job_id=job_id)
        job_finish(job_id=job_id, result=written.to_dict(),
                   message=f"{written.rows:,} customer{'s' if written.rows != 1 else ''} written")
    return written.to_dict()


@shared_task(queue="default")
def files_expire_task() -> dict:
    """Nightly: remove uploads, reports and export files older than FILE_RETENTION_DAYS."""
    return files_expire()


# Deletes go on for at most SCORE_SWEEP_SECONDS (a backlog of old runs is worked off night after night), under
# limits of its own. Database work, not model work: the default queue, as the files' sweep.
@shared_task(queue="default", soft_time_limit=SCORE_SWEEP_SECONDS + 300, time_limit=SCORE_SWEEP_SECONDS + 600)
def score_history_expire_task() -> dict:
    """Nightly: delete the scores and interest profiles of scoring runs older than SCORE_HISTORY_DAYS (each shop's
    two newest runs stay)."""
    return score_history_expire(seconds=SCORE_SWEEP_SECONDS)
