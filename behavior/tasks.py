"""Celery tasks of the behavior app: thin wrappers around services."""

from celery import shared_task

from behavior.ingest.services import import_job_run
from ecomsight.errors import UserError


@shared_task(name="behavior.data_import")
def data_import_task(import_job_id: int) -> dict:
    """Run a recorded import. Errors people can fix are kept on the ImportJob row, not re-raised."""
    try:
        return import_job_run(import_job_id=import_job_id).as_json()
    except UserError as exc:
        return {"import_job_id": import_job_id, "status": "failed", "error": exc.message}


@shared_task(name="behavior.nightly_housekeeping")
def nightly_housekeeping_task() -> dict:
    """Imports whose process is gone are marked failed; the coming months' event partitions are created (and rows
    that landed in the DEFAULT partition moved to their month); each shop's events past its retention go (whole
    month partitions dropped, the rest deleted in batches). Returns what it did (per shop, how many events went)."""
    from behavior.ingest.services import import_jobs_stale_fail
    from behavior.partitions import event_partitions_maintain
    from behavior.retention import events_retention_run

    stale = import_jobs_stale_fail()
    event_partitions_maintain()
    return {"stale_imports_failed": stale, "events_deleted": events_retention_run()}
