"""Uploads waiting for their column mapping: stored for the user and shop, started as an import, expired.

An uploaded file is written under IMPORT_DIR/<shop>/<uuid>.csv (its own name is only ever shown, never used
as a path) and recorded as a `PendingUpload` keyed by user and shop, so the mapping step survives a new
login. Starting the import hands the file to its ImportJob; the retention sweep (`import_files_expire`)
removes old files and the rows of the uploads whose file it removed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Shop
from behavior.models import ImportJob, PendingUpload
from ecomsight.errors import UserError

from .formats import file_preview
from .services import import_job_create


def upload_message_readable(message: str, *, path: str, name: str) -> str:
    """The import code names the stored file by its path or its file name (`559f7e….csv`, a uuid the server chose);
    people know it by the name they uploaded (`orders.json`)."""
    if not path:
        return message
    message = message.replace(path, f"“{name}”")
    stored = os.path.basename(path)
    return message.replace(stored, f"“{name}”") if stored else message


def pending_upload_create(*, shop: Shop, user, upload, kind: str) -> PendingUpload:
    """Store an uploaded file and read its header and preview. Raises `UserError` (file removed again) when
    the file cannot be imported at all (binary, not UTF-8, no header…), naming it as uploaded."""
    folder = Path(settings.IMPORT_DIR) / shop.slug
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    path = str(folder / f"{token}.csv")
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)
    try:
        preview = file_preview(path)
    except UserError as exc:
        os.remove(path)
        raise UserError(upload_message_readable(exc.message, path=path, name=upload.name), field="file") from None
    return PendingUpload.objects.create(
        token=token, shop=shop, user=user, kind=kind, name=upload.name[:300], path=path, size=upload.size,
        header=list(preview.header), samples=[list(values) for values in preview.samples])


def pending_upload_get(*, shop: Shop, user, token: str) -> PendingUpload | None:
    """The user's upload in this shop still waiting for its mapping (None when started, expired or not theirs)."""
    pending = PendingUpload.objects.filter(token=token, shop=shop, user=user).first()
    if pending is None or not os.path.isfile(pending.path):
        return None
    return pending


def pending_uploads_list(*, shop: Shop, user) -> list[PendingUpload]:
    """The user's uploads in this shop still waiting for their mapping, newest first."""
    return [p for p in PendingUpload.objects.filter(shop=shop, user=user) if os.path.isfile(p.path)]


@transaction.atomic
def pending_upload_start(*, pending: PendingUpload, kind: str, column_map: dict[str, str], create_missing: bool,
                         dry_run: bool) -> ImportJob:
    """Start the import of a pending upload (in a worker, once this transaction commits); the upload stops
    waiting. Raises `UserError` when the mapping does not fit the file."""
    from behavior.services import import_job_enqueue

    # Locked and used up in this transaction: a second click on "Start" cannot start the file twice.
    if not PendingUpload.objects.select_for_update().filter(pk=pending.pk).exists():
        raise UserError("This upload was started already: see Recent imports.")
    import_job = import_job_create(shop=pending.shop, kind=kind, path=pending.path, column_map=column_map,
                                   create_missing=create_missing, dry_run=dry_run, user=pending.user,
                                   source_name=pending.name)
    import_job_enqueue(import_job=import_job)
    pending.delete()
    return import_job
