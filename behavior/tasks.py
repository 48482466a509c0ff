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
