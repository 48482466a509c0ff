"""What goes after a while.

**Files:** uploads and rejected-rows reports (IMPORT_DIR) and export files (EXPORT_DIR) older than
FILE_RETENTION_DAYS are removed every night (`files_expire_task`) or by `manage.py expire_files`. The database
keeps every import's and export's record; only the files go. Files still in use (an import pending or running, an
export being written) stay whatever their age.

**Score history:** every scoring run writes two rows per customer (about 4 M rows a night for a shop of 2 M
customers), kept for the customer's score history. The scores and interest profiles of runs made more than
SCORE_HISTORY_DAYS ago are deleted every night (`score_history_expire_task`) or by `manage.py
expire_score_history`; the run's record stays with its headline figures (stored first where an older run has none),
so the dashboard's trend keeps its points. A shop's current run is never touched, whatever its age. Rows go in
batches of customer-id ranges, each its own transaction: no statement holds millions of row locks, and a sweep
cut short is finished by the next (a run is marked done only once all its rows are gone)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Shop
from behavior.services import import_files_expire
from ecomsight.errors import UserError

from .models import CustomerInterest, CustomerScore, ScoringRun
from .selectors.at_risk import scoring_runs_succeeded
from .services.exports import export_files_expire
from .services.scoring import run_figures_computed

# Customer ids per delete statement (two rows each in the scores, up to ~10 in the interest profiles).
SCORE_DELETE_CUSTOMERS = 25_000


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


def score_history_expire(*, days: int | None = None, dry_run: bool = False, now: datetime | None = None) -> dict:
    """Delete the scores and interest profiles of scoring runs made more than `days` ago (default
    SCORE_HISTORY_DAYS; 0 keeps everything), except each shop's current run, and say what went:
    {"days", "dry_run", "runs", "scores", "interests"}. Runs still pending or running are left alone."""
    days = settings.SCORE_HISTORY_DAYS if days is None else days
    if days < 0:
        raise UserError("--days must be 0 (keep every score) or more.", field="days")
    result = {"days": days, "dry_run": dry_run, "runs": 0, "scores": 0, "interests": 0}
    if days == 0:
        return result
    before = (now or timezone.now()) - timedelta(days=days)
    current = [pk for shop in Shop.objects.all()
               if (pk := scoring_runs_succeeded(shop=shop).values_list("pk", flat=True).first()) is not None]
    runs = (ScoringRun.objects.filter(created_at__lt=before,
                                      status__in=[ScoringRun.Status.SUCCEEDED, ScoringRun.Status.FAILED])
            .exclude(pk__in=current).exclude(summary__has_key="scores_expired_at").order_by("pk"))
    for run in runs:
        scores, interests = _run_scores_expire(run, dry_run=dry_run)
        result["runs"] += 1
        result["scores"] += scores
        result["interests"] += interests
    return result


def _run_scores_expire(run: ScoringRun, *, dry_run: bool) -> tuple[int, int]:
    """Delete (or count) one run's scores and interest rows, then mark the run: (scores, interests)."""
    tables = (CustomerScore._meta.db_table, CustomerInterest._meta.db_table)
    if dry_run:
        with connection.cursor() as cursor:
            counts = []
            for table in tables:
                cursor.execute(f"SELECT count(*) FROM {table} WHERE scoring_run_id = %s", [run.pk])
                counts.append(cursor.fetchone()[0])
        return counts[0], counts[1]
    if run.status == ScoringRun.Status.SUCCEEDED and not (run.summary or {}).get("figures"):
        run.summary = {**(run.summary or {}), "figures": run_figures_computed(run)}
        run.save(update_fields=["summary"])
    deleted = [_rows_delete(table, run_id=run.pk) for table in tables]
    # Marked once every row is gone (a sweep cut short leaves the run unmarked: the next one finishes it). A failed
    # run forgets its finished chunks too: resumed, it would score them all again.
    summary = {**(run.summary or {}), "scores_expired_at": timezone.now().isoformat()}
    if run.status == ScoringRun.Status.FAILED:
        summary["done"] = []
        run.chunks_done = 0
    run.summary = summary
    run.save(update_fields=["summary", "chunks_done"])
    return deleted[0], deleted[1]


def _rows_delete(table: str, *, run_id: int) -> int:
    """Delete a run's rows of `table` by ranges of SCORE_DELETE_CUSTOMERS customer ids, one transaction each (each
    range read through the table's index on (run, customer)); return how many went."""
    deleted = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(customer_id), max(customer_id) FROM {table} WHERE scoring_run_id = %s", [run_id])
        low, high = cursor.fetchone()
        for start in range(low, high + 1, SCORE_DELETE_CUSTOMERS) if low is not None else ():
            with transaction.atomic():
                cursor.execute(f"DELETE FROM {table} WHERE scoring_run_id = %s AND customer_id >= %s"
                               " AND customer_id < %s", [run_id, start, start + SCORE_DELETE_CUSTOMERS])
                deleted += cursor.rowcount
    return deleted
