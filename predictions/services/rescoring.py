"""Re-scoring on arrival: customers whose orders or events arrive are re-scored by the worker within a minute or
so, instead of keeping the nightly run's score until the next night (issue 18 §1).

1. Record. The behaviour writers (API batches and file imports share `behavior.ingest.postgres.batch_write`)
   send `behavior.signals.customers_changed` inside their transaction with the ids of the customers whose orders
   or events were stored; `customers_changed_record` adds them to RescorePending (one row per customer) in that
   same transaction — nothing is recorded for a batch that rolls back — when the shop has a current run.
2. Debounce. After commit, `rescore_schedule` enqueues one `rescore_changed_task` per shop and window
   (ecomsight.debounce): the first change of a window sets a cache key (Redis SET NX) that lives
   RESCORE_DEBOUNCE_SECONDS (+ a grace period) and enqueues the task with that countdown; every change until the
   task starts only adds rows. A steady stream of changes is re-scored once per window, never starved.
3. Re-score. The task takes the pending customers in chunks of RESCORE_CHUNK_SIZE (each taken by one short
   DELETE … RETURNING, so ingest never waits on a re-scoring) and re-scores each chunk with the nightly chunks'
   code (`scoring.scores_compute`) into the shop's current run: the customers' rows are replaced in place, with
   a new `scored_at` and `history_until` (the end of the day of their newest order or event, at least the run's as_of).
   Deciles are placed against the run's decile boundaries, the at-risk list's copied columns refreshed for these
   customers. Users keep seeing one current run; its headline figures (dashboard) are computed again once the
   task's chunks are written.
   A chunk whose re-scoring fails goes back to the pending rows (for the next change's task); a worker killed
   mid-chunk loses that chunk's ids, which the next night's run scores anyway (`ordered_since_scoring` marks
   them meanwhile).
Running the same customers again replaces their rows again: idempotent.

4. Recommendations. After the chunks, once per task, `predictions.signals.customers_rescored` names every customer
   re-scored; the recommendations app (which predictions may not import) rebuilds their lists in its active
   build (recommendations.services.recommendations_refresh).

5. Jobs page. A task that finds customers pending is a Job (kind `rescore`) with its progress; the next window's
   task counts on in the same row while that row is the shop's newest job and finished under 10 minutes ago."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.jobs import job_create, job_finish, job_progress, job_running
from accounts.models import Job, Shop
from ecomsight.db import bulk_insert
from ecomsight.debounce import debounce_release, debounced_enqueue

from ..models import CustomerScore, RescorePending, ScoringRun
from ..selectors.at_risk import list_columns_copied, scoring_run_current
from ..selectors.frames import shop_frames
from ..signals import customers_rescored
from .at_risk_pages import at_risk_pages_forget
from .interests import customer_interests_compute, customer_interests_replace
from .score_columns import customer_score_deciles_bounds, customer_score_deciles_place, customer_score_list_columns_mark
from .scoring import SCORE_COLUMNS, customers_still_there, run_figures_refresh, scores_compute

logger = logging.getLogger("ecomsight.scoring")
RESCORE_JOB_MERGE = dt.timedelta(minutes=10)
# A row gathers a stream's windows for a day at most, so its start and count still say when and how much.
RESCORE_JOB_SPAN = dt.timedelta(days=1)


def _schedule_key(shop_id: int) -> str:
    return f"rescore:scheduled:{shop_id}"


def customers_changed_record(*, shop_id: int, customer_ids: Iterable[int], **kwargs) -> int:
    """Record customers whose orders or events were just stored (inside the writer's transaction) and schedule
    their re-scoring for after the commit. Nothing to do for a shop without a current run (no score to refresh:
    a first import). Returns how many customers were recorded. Receives behavior.signals.customers_changed."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids or not ScoringRun.objects.filter(shop_id=shop_id, status=ScoringRun.Status.SUCCEEDED).exists():
        return 0
    _pending_add(shop_id=shop_id, customer_ids=ids)
    transaction.on_commit(lambda: rescore_schedule(shop_id=shop_id), robust=True)
    return len(ids)


def _pending_add(*, shop_id: int, customer_ids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO predictions_rescorepending (shop_id, customer_id, changed_at) "
                       "SELECT %s, unnest(%s::bigint[]), now() ON CONFLICT (shop_id, customer_id) DO NOTHING",
                       [shop_id, customer_ids])


def rescore_schedule(*, shop_id: int) -> bool:
    """Enqueue the shop's re-scoring task to run RESCORE_DEBOUNCE_SECONDS from now, unless one is already
    waiting for this window. Returns whether this call enqueued it."""
    from ..tasks import rescore_changed_task

    return debounced_enqueue(key=_schedule_key(shop_id), task=rescore_changed_task, args=(shop_id,),
                             seconds=settings.RESCORE_DEBOUNCE_SECONDS)


def rescore_changed(*, shop_id: int, chunk_size: int | None = None) -> int:
    """Re-score every pending customer of the shop, a chunk at a time. Returns the customers re-scored."""
    debounce_release(key=_schedule_key(shop_id))  # changes from now on schedule the next window's task
    chunk_size = chunk_size or settings.RESCORE_CHUNK_SIZE
    shop = Shop.objects.get(pk=shop_id)
    done = 0
    rescored: list[int] = []
    typical_gaps: dict = {}  # the shop's typical repeat gap by cutoff: once per task, not per chunk
    pending = rescore_pending_count(shop_id=shop_id)
    job = _rescore_job(shop=shop, pending=pending) if pending else None
    try:
        with job_running(job.pk if job else None):
            while ids := _pending_take(shop_id=shop_id, limit=chunk_size):
                try:
                    done += customers_rescore(shop=shop, customer_ids=ids, typical_gaps=typical_gaps)
                except Exception:
                    # Back to pending, without a new task: the next change (or the night's run) takes them; a
                    # chunk that fails every time must not loop once per window.
                    _pending_add(shop_id=shop_id, customer_ids=ids)
                    logger.exception("re-scoring %d customers of shop %d failed; they stay pending", len(ids),
                                     shop_id)
                    raise
                rescored.extend(ids)
                if job is not None:  # None when the pending rows arrived after the count (a stream's next window)
                    job_progress(job_id=job.pk, add=len(ids))
        if job is not None:
            job.refresh_from_db(fields=["progress_done", "progress_total"])
            job_progress(job_id=job.pk, total=max(job.progress_total, job.progress_done))
            job_finish(job_id=job.pk, result={"customers": job.progress_done},
                       message=f"{job.progress_done:,} customer{'s' if job.progress_done != 1 else ''} re-scored "
                               "after new orders or events")
    finally:
        # Once per task, for every chunk scored (the recommender refits on the whole shop whatever the count).
        if rescored:
            try:
                run_figures_refresh(shop=shop)  # the dashboard counts what the list now shows
            except Exception:  # noqa: BLE001 - the scores are written; the figures stay the last ones stored
                logger.exception("the headline figures of shop %d could not be computed again", shop_id)
            customers_rescored.send(sender=rescore_changed, shop_id=shop_id, customer_ids=rescored)
    return done


def _rescore_job(*, shop: Shop, pending: int) -> Job:
    """The Jobs page's row for this re-scoring: a new one, or the last one again when it is the shop's newest job
    and finished within RESCORE_JOB_MERGE (and began within RESCORE_JOB_SPAN): a shop streaming orders through the
    API re-scores every RESCORE_DEBOUNCE_SECONDS, and one row a window would bury the imports and training on the
    page."""
    latest = Job.objects.filter(shop=shop).order_by("-created_at", "-pk").first()
    if (latest is not None and latest.kind == Job.Kind.RESCORE and latest.status == Job.Status.SUCCEEDED
            and latest.finished_at is not None and latest.finished_at > timezone.now() - RESCORE_JOB_MERGE
            and latest.created_at > timezone.now() - RESCORE_JOB_SPAN):
        Job.objects.filter(pk=latest.pk).update(progress_total=F("progress_total") + pending, finished_at=None,
                                                message=f"re-scoring {pending:,} more customers")
        return latest
    return job_create(shop=shop, kind=Job.Kind.RESCORE, message=f"re-scoring {pending:,} customers",
                      params={"customers": pending})


def _pending_take(*, shop_id: int, limit: int) -> list[int]:
    """Take (remove) up to `limit` pending customers of the shop; SKIP LOCKED lets two tasks share the work."""
    with transaction.atomic(), connection.cursor() as cursor:
        # MATERIALIZED: taken once. As `id IN (SELECT … LIMIT …)` PostgreSQL may run the subquery again for each
        # row it deletes, each time finding the next rows (it took every pending row in one "chunk").
        cursor.execute(
            "WITH taken AS MATERIALIZED (SELECT id FROM predictions_rescorepending WHERE shop_id = %s"
            " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)"
            " DELETE FROM predictions_rescorepending p USING taken WHERE p.id = taken.id RETURNING p.customer_id",
            [shop_id, limit])
        return sorted(row[0] for row in cursor.fetchall())


def customers_rescore(*, shop: Shop, customer_ids: Iterable[int],
                      typical_gaps: dict[pd.Timestamp, float | None] | None = None) -> int:
    """Re-score these customers into the shop's current run (their rows replaced in one transaction), as of the
    end of the day of their newest order or event (at least the run's as_of). Returns the customers re-scored
    (0 without a current run). Safe to run again: it replaces the same rows. `typical_gaps`: the shop's typical
    repeat gap by cutoff, shared by the chunks of one re-scoring task (scoring.scores_compute)."""
    run = scoring_run_current(shop=shop)
    ids = sorted({int(i) for i in customer_ids})
    if run is None or not ids:
        return 0
    cutoff = _cutoff(shop_id=shop.pk, customer_ids=ids, at_least=run.as_of)
    frames = shop_frames(shop_id=shop.pk, until=cutoff, customer_ids=ids)
    rows = scores_compute(run=run, frames=frames, cutoff=pd.Timestamp(cutoff), history_until=cutoff,
                          typical_gaps=typical_gaps)
    profile = customer_interests_compute(shop_id=shop.pk, frames=frames, cutoff=pd.Timestamp(cutoff))
    with transaction.atomic():
        # Under the run's lock: two re-scorings of the run (or its last chunk finishing) write one at a time.
        run = ScoringRun.objects.select_for_update().get(pk=run.pk)
        bounds = customer_score_deciles_bounds(run=run)
        rows, profile = customers_still_there(shop_id=shop.pk, rows=rows, profile=profile, customer_ids=ids)
        CustomerScore.objects.filter(scoring_run=run, customer_id__in=ids).delete()
        bulk_insert(CustomerScore._meta.db_table, SCORE_COLUMNS, rows)
        customer_score_deciles_place(run=run, customer_ids=ids, bounds=bounds)
        if list_columns_copied(run):  # the rows carry the list columns; the run's churn count may have changed
            customer_score_list_columns_mark(run=run)
        customer_interests_replace(run=run, profile=profile, customer_ids=ids)
        at_risk_pages_forget(shop_id=shop.pk)  # the API's kept pages show the rows replaced here
    logger.info("re-scored %d customers of %s into run %d as of %s", len(ids), shop.slug, run.pk, cutoff)
    return len(ids)


def _cutoff(*, shop_id: int, customer_ids: list[int], at_least):
    """The end of the day of the customers' newest order or event, or `at_least` when that is later."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST((SELECT MAX(placed_at) FROM behavior_order WHERE shop_id = %(shop)s"
            " AND customer_id = ANY(%(ids)s)), (SELECT MAX(occurred_at) FROM behavior_event"
            " WHERE shop_id = %(shop)s AND customer_id = ANY(%(ids)s)))",
            {"shop": shop_id, "ids": customer_ids})
        newest = cursor.fetchone()[0]
    if newest is None:
        return at_least
    end_of_day = (pd.Timestamp(newest).tz_convert("UTC").normalize() + pd.Timedelta(days=1, seconds=-1))
    return max(at_least, end_of_day.to_pydatetime())


def rescore_pending_count(*, shop_id: int) -> int:
    """How many customers of the shop wait to be re-scored."""
    return RescorePending.objects.filter(shop_id=shop_id).count()

