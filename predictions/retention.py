"""Old files go: uploads and rejected-rows reports (IMPORT_DIR) and export files (EXPORT_DIR) older than
FILE_RETENTION_DAYS are removed every night (`files_expire_task`) or by `manage.py expire_files`.

The database keeps every import's and export's record; only the files go. Files still in use (an import
pending or running, an export being written) stay whatever their age."""

from __future__ import annotations

import time

from django.conf import settings

from behavior.services import import_files_expire
from ecomsight.errors import UserError

from .services.exports import export_files_expire


def files_expire(*, days: int | None = None, dry_run: bool = False, now: float | None = None) -> dict:
    """Remove the files older than `days` (default FILE_RETENTION_DAYS; 0 keeps everything) and say what
    went: {"days", "dry_run", "import_files", "export_files", "bytes"}."""
    days = settings.FILE_RETENTION_DAYS if days is None else days
    if days < 0:
        raise UserError("--days must be 0 (keep every file) or more.", field="days")
    result = {"days": days, "dry_run": dry_run, "import_files": 0, "export_files": 0, "bytes": 0}
    if days == 0:
        return result
    before = (time.time() if now is None else now) - days * 86_400
    imports = import_files_expire(before=before, dry_run=dry_run)
    exports = export_files_expire(before=before, dry_run=dry_run)
    result.update(import_files=imports.files, export_files=exports.files, bytes=imports.bytes + exports.bytes)
    return result
