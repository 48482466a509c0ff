"""What goes after a while.

**Files:** uploads and rejected-rows reports (IMPORT_DIR) and export files (EXPORT_DIR) older than
FILE_RETENTION_DAYS are removed every night (`files_expire_task`) or by `manage.py expire_files`. The database
keeps every import's and export's record; only the files go. Files still in use (an import pending or running, an
export being written) stay whatever their age.

**Score history:** every scoring run writes two rows per customer (about 4 M rows a night for a shop of 2 M
customers), kept for the customer's score history. The scores and interest profiles of runs made more than
SCORE_HISTORY_DAYS ago are deleted every night (`score_history_expire_task`, at most SCORE_SWEEP_SECONDS a night)
or by `manage.py expire_score_history`. Each shop's two newest succeeded runs stay whatever their age (the current
one, and the one before it that a delivery's retries, an export or a list's cursor may still read), and so does
every run's record with its headline figures (stored first where an older run has none), so the dashboard's trend
keeps its points. The offer policy's training frame falls back on the probabilities each assignment logged
(offers.selectors). Rows go in batches of customer-id ranges, each its own transaction: no statement holds
millions of row locks, and a sweep cut short (or a crash) is finished by the next. A run marked for deletion cannot
be resumed (`score --resume`)"""

from __future__ import annotations

import time
from dataclasses import dataclass
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
# The nightly sweep stops starting new deletes after this long (under the task's time limit); the next night goes on.
SCORE_SWEEP_SECONDS = 25 * 60
# The newest succeeded runs of each shop kept whatever their age: the current one, and the one before it, which a
# delivery's retries, an export or a list's cursor started before the current run finished may still read.
SCORE_RUNS_KEPT = 2
MAX_DAYS = 36_500


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


def score_history_expire(*, days: int | None = None, dry_run: bool = False, now: datetime | None = None,
                         seconds: float | None = None) -> dict:
    """Delete the scores and interest profiles of scoring runs made more than `days` ago (default
    SCORE_HISTORY_DAYS; 0 keeps everything), except each shop's SCORE_RUNS_KEPT newest succeeded runs and runs still
    pending or running, and say what went: {"days", "dry_run", "runs", "scores", "interests", "runs_left"}. With
    `seconds`, no delete starts after that long: "runs_left" counts the runs left for the next sweep."""
    days = settings.SCORE_HISTORY_DAYS if days is None else days
    if not 0 <= days <= MAX_DAYS:
        raise UserError(f"--days must be 0 (keep every score) to {MAX_DAYS:,}.", field="days")
    result = {"days": days, "dry_run": dry_run, "runs": 0, "scores": 0, "interests": 0, "runs_left": 0}
    if days == 0:
        return result
    deadline = None if seconds is None else time.monotonic() + seconds
    runs = list(ScoringRun.objects.filter(created_at__lt=(now or timezone.now()) - timedelta(days=days),
                                          status__in=_EXPIRABLE)
                .exclude(pk__in=_runs_kept(Shop.objects.all())).exclude(summary__has_key="scores_deleted_at")
                .order_by("pk").values_list("pk", flat=True))
    for i, run_id in enumerate(runs):
        if deadline is not None and time.monotonic() > deadline:
            result["runs_left"] = len(runs) - i
            break
        expired = _run_scores_count(run_id) if dry_run else _run_scores_expire(run_id, deadline=deadline)
        if expired is None:
            continue  # resumed, running again or now among the newest since the list was read
        result["scores"] += expired.scores
        result["interests"] += expired.interests
        if not expired.finished:
            result["runs_left"] = len(runs) - i
            break
        result["runs"] += 1
    return result


_EXPIRABLE = [ScoringRun.Status.SUCCEEDED, ScoringRun.Status.FAILED]
_TABLES = (CustomerScore._meta.db_table, CustomerInterest._meta.db_table)


@dataclass(frozen=True)
class RunExpired:
    scores: int
    interests: int
    finished: bool  # every row of the run is gone (else the deadline came first)


def _runs_kept(shops) -> list[int]:
    return [pk for shop in shops
            for pk in scoring_runs_succeeded(shop=shop).values_list("pk", flat=True)[:SCORE_RUNS_KEPT]]


def _run_scores_count(run_id: int) -> RunExpired:
    with connection.cursor() as cursor:
        counts = []
        for table in _TABLES:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE scoring_run_id = %s", [run_id])
            counts.append(cursor.fetchone()[0])
    return RunExpired(scores=counts[0], interests=counts[1], finished=True)


def _run_scores_expire(run_id: int, *, deadline: float | None) -> RunExpired | None:
    """Mark one run expired (under its lock, checked again: still finished, still not among its shop's newest), its
    figures stored first where it has none; then delete its rows; None when it is no longer to expire. Once marked,
    `score --resume` refuses the run (predictions.services.scoring.scoring_run_resume), so no chunk writes rows the
    deletes would miss; "scores_deleted_at" is set only when every row is gone (a sweep cut short, or a crash,
    leaves the run to the next sweep)."""
    with transaction.atomic():
        run = ScoringRun.objects.select_for_update().filter(pk=run_id, status__in=_EXPIRABLE).first()
        if run is None or run.pk in _runs_kept([run.shop]):
            return None
        if "scores_expired_at" not in run.summary:
            if run.status == ScoringRun.Status.SUCCEEDED and not run.summary.get("figures"):
                run.summary = {**run.summary, "figures": run_figures_computed(run)}
            run.summary = {**run.summary, "scores_expired_at": timezone.now().isoformat()}
            run.save(update_fields=["summary"])
    scores, done_scores = _rows_delete(_TABLES[0], run_id=run_id, deadline=deadline)
    interests, done_interests = (_rows_delete(_TABLES[1], run_id=run_id, deadline=deadline) if done_scores
                                 else (0, False))
    finished = done_scores and done_interests
    if finished:
        with transaction.atomic():
            run = ScoringRun.objects.select_for_update().get(pk=run_id)
            run.summary = {**run.summary, "scores_deleted_at": timezone.now().isoformat()}
            run.save(update_fields=["summary"])
    return RunExpired(scores=scores, interests=interests, finished=finished)


def _rows_delete(table: str, *, run_id: int, deadline: float | None) -> tuple[int, bool]:
    """Delete a run's rows of `table` by ranges of SCORE_DELETE_CUSTOMERS customer ids, one transaction each (each
    range read through the table's index on (run, customer)): (rows deleted, whether every range was done)."""
    deleted = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(customer_id), max(customer_id) FROM {table} WHERE scoring_run_id = %s", [run_id])
        low, high = cursor.fetchone()
        for start in range(low, high + 1, SCORE_DELETE_CUSTOMERS) if low is not None else ():
            if deadline is not None and time.monotonic() > deadline:
                return deleted, False
            with transaction.atomic():
                cursor.execute(f"DELETE FROM {table} WHERE scoring_run_id = %s AND customer_id >= %s"
                               " AND customer_id < %s", [run_id, start, start + SCORE_DELETE_CUSTOMERS])
                deleted += cursor.rowcount
    return deleted, True
