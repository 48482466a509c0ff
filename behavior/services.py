"""Writes of the behavior app: data imports. The import machinery lives in `behavior.ingest`."""

from __future__ import annotations

import os
from collections.abc import Callable

from accounts.models import Shop
from behavior.ingest.currency import ShopCurrency, import_shop_currency
from behavior.ingest.erasure import import_files_scrub
from behavior.ingest.services import (
    DEFAULT_BATCH_SIZE,
    ImportFailed,
    ImportResult,
    import_files_expire,
    import_job_create,
    import_job_run,
    import_jobs_stale_fail,
)
from behavior.ingest.uploads import (
    pending_upload_create,
    pending_upload_get,
    pending_upload_start,
    pending_uploads_list,
    upload_message_readable,
)
from behavior.models import ImportJob

__all__ = ["DEFAULT_BATCH_SIZE", "ImportFailed", "ImportResult", "ShopCurrency", "data_import",
           "import_files_expire", "import_files_scrub", "import_shop_currency",
           "import_job_create", "import_job_run", "import_job_enqueue", "import_jobs_stale_fail",
           "pending_upload_create", "pending_upload_get", "pending_upload_start", "pending_uploads_list",
           "upload_message_readable"]


def data_import(*, shop: Shop, kind: str, path: str | os.PathLike, column_map: dict[str, str] | None = None,
                create_missing: bool = True, dry_run: bool = False, batch_size: int = DEFAULT_BATCH_SIZE,
                user=None, progress: Callable[[ImportJob], None] | None = None,
                currency: str | None = None) -> ImportResult:
    """Import one CSV file of `kind` into `shop` now (the command's path): create the ImportJob and run it.
    `currency`: the shop's currency chosen by the caller (--currency; see import_job_run)."""
    job = import_job_create(shop=shop, kind=kind, path=path, column_map=column_map, create_missing=create_missing,
                            dry_run=dry_run, user=user)
    return import_job_run(import_job_id=job.pk, batch_size=batch_size, progress=progress, currency=currency)


def import_job_enqueue(*, import_job: ImportJob) -> None:
    """Run the import in a Celery worker once the caller's transaction commits (the upload page's path)."""
    from django.db import transaction

    from behavior.tasks import data_import_task

    transaction.on_commit(lambda: data_import_task.delay(import_job.pk), robust=True)
