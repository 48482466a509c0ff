"""Celery entry points of deliveries: the nightly beat finds what is due, each run and each batch is a task.
A failed batch or upload is tried again with Celery's retry, after an exponential back-off."""

from celery import shared_task
from django.conf import settings

from .services import AttemptOutcome, deliveries_due, delivery_run_start, s3_upload, webhook_batch_send

# Sending is network work, not model work: the default queue, like export files.


@shared_task(queue="default")
def deliveries_due_task() -> list[int]:
    """Beat (every night after scoring): start every delivery due today."""
    due = deliveries_due()
    for delivery_id in due:
        delivery_run_task.delay(delivery_id)
    return due


@shared_task(queue="default")
def delivery_run_task(delivery_id: int, manual: bool = False) -> int:
    """Decide who is sent (audited), then enqueue the webhook batches or the S3 upload. `manual`: "Send now"."""
    started = delivery_run_start(delivery_id=delivery_id, manual=manual)
    for number, ids in enumerate(started.batches, start=1):
        delivery_batch_task.delay(started.run_id, number, ids)
    if started.upload:
        delivery_upload_task.delay(started.run_id)
    return started.run_id


def _again(task, outcome: AttemptOutcome) -> bool:
    if outcome.retry_in is not None:
        raise task.retry(countdown=outcome.retry_in, max_retries=settings.DELIVERY_MAX_ATTEMPTS - 1)
    return outcome.ok


@shared_task(bind=True, queue="default", max_retries=None)
def delivery_batch_task(self, run_id: int, batch: int, customer_ids: list[int]) -> bool:
    """POST one webhook batch; retried with back-off while it fails in a way worth retrying."""
    return _again(self, webhook_batch_send(run_id=run_id, batch=batch, customer_ids=customer_ids,
                                           attempt=self.request.retries + 1))


@shared_task(bind=True, queue="default", max_retries=None)
def delivery_upload_task(self, run_id: int) -> bool:
    """Upload the run's CSV to its bucket; retried with back-off while it fails in a way worth retrying."""
    return _again(self, s3_upload(run_id=run_id, attempt=self.request.retries + 1))
