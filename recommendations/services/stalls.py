"""The sweep of stalled runs: scoring runs and recommendation builds whose queued tasks were lost are resumed.

A queued Celery task can be lost for good: kombu's Redis transport takes a message off the queue (BRPOP) before it
records it as unacknowledged (a second round trip), so a worker killed between the two loses it — no visibility
timeout brings it back (docs/status/issue-23-session7-stall.md) — and a broker restarted without persistence loses
every queued one. A run missing one chunk would stay RUNNING for ever, a build BUILDING for ever.

Every RUN_STALL_SWEEP_SECONDS (beat, the default queue) `runs_stalled_resume` finds, in one query per kind, the
scoring runs RUNNING and the builds BUILDING whose job's progress (`Job.progress_at`: every chunk, partition and
statistics step moves it, and so does a resume) is older than RUN_STALL_SECONDS, and for each:

- a scoring run that a newer succeeded run of its shop supersedes is failed (resuming it would be wasted work);
- after RUN_STALL_MAX_RESUMES resumes in a row with no chunk or partition finished in between, it is failed, its
  job saying which parts never finished;
- otherwise it is resumed: its missing chunks (`scoring_run_resume`) or partitions (`recommendations_build_resume`)
  queued again. Both are idempotent, so a resume of a run that was only slow costs at most a duplicate task that
  returns at once. A build whose statistics pass (its first task) stopped has nothing to queue: it is failed once
  its resumes are spent, and the next build starts over.

The resumes in a row are counted in the run's `summary["stall"]` / the build's `metrics["stall"]` (with the parts
done at the last resume: more done since starts the count again, and the resume's time, `at`, which counts as
progress too: a run or build without a job is not resumed every sweep), written under the row's lock as the chunks
and partitions write theirs, in the same transaction as the resume (status, job); the copies are queued once it
commits. Under that lock the job's progress is read again (a chunk that committed while the sweep waited for the
lock moved it: the run is left alone), and only a run still RUNNING / a build still BUILDING is resumed.

A task waiting in a backed-up queue looks like a lost one (at night every shop's chunks and partitions queue on
`ml`). So the sweep neither resumes nor fails anything while the queues those tasks are routed to
(CELERY_TASK_ROUTES) still hold messages: a lost message can only be told apart once they have drained. A broker
that cannot be read skips the sweep too (logged); the next one tries again.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, Greatest
from django.utils import timezone
from kombu.exceptions import ChannelError

from predictions.models import ScoringRun
from predictions.services.scoring import scoring_run_fail, scoring_run_missing, scoring_run_resume

from ..models import RecommenderVersion
from .build import recommendations_build_fail, recommendations_build_missing, recommendations_build_resume

logger = logging.getLogger("ecomsight.stalls")


@dataclass(frozen=True)
class StallSweep:
    """What one sweep did: the ids of the runs and builds resumed and failed."""

    scoring_resumed: list[int] = field(default_factory=list)
    scoring_failed: list[int] = field(default_factory=list)
    builds_resumed: list[int] = field(default_factory=list)
    builds_failed: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"scoring_resumed": self.scoring_resumed, "scoring_failed": self.scoring_failed,
                "builds_resumed": self.builds_resumed, "builds_failed": self.builds_failed}


def runs_stalled_resume(*, stall_seconds: int | None = None, max_resumes: int | None = None) -> StallSweep:
    """Resume the scoring runs and recommendation builds whose progress has not moved for `stall_seconds`
    (RUN_STALL_SECONDS), or fail those resumed `max_resumes` times in a row (RUN_STALL_MAX_RESUMES) already
    (module doc). Cheap when nothing is stalled: one query per kind, no broker round trip."""
    stall_seconds = settings.RUN_STALL_SECONDS if stall_seconds is None else stall_seconds
    max_resumes = settings.RUN_STALL_MAX_RESUMES if max_resumes is None else max_resumes
    cutoff = timezone.now() - dt.timedelta(seconds=stall_seconds)
    sweep = StallSweep()
    run_ids = _stalled(ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING), "summary", cutoff)
    version_ids = _stalled(RecommenderVersion.objects.filter(status=RecommenderVersion.Status.BUILDING), "metrics",
                           cutoff)
    if not run_ids and not version_ids:
        return sweep
    queues = _work_queues()
    waiting = _queued(queues)
    if waiting is None or waiting > 0:
        logger.warning("stall sweep: %d scoring run(s) and %d build(s) without progress left as they are: %s",
                       len(run_ids), len(version_ids),
                       "the broker could not be read" if waiting is None else
                       f"{waiting} task(s) still waiting on {', '.join(sorted(queues))} (a lost one can only be told "
                       f"apart once they have drained)")
        return sweep
    for ids, stalled, resumed, failed in (
        (run_ids, _scoring_run_stalled, sweep.scoring_resumed, sweep.scoring_failed),
        (version_ids, _build_stalled, sweep.builds_resumed, sweep.builds_failed),
    ):
        for pk in ids:
            outcome = stalled(pk, cutoff=cutoff, max_resumes=max_resumes)
            if outcome == "resumed":
                resumed.append(pk)
            elif outcome == "failed":
                failed.append(pk)
    if any(sweep.to_dict().values()):
        logger.warning("stall sweep: %s", sweep.to_dict())
    return sweep


def _work_queues() -> set[str]:
    """The queues the chunks and partitions are routed to (CELERY_TASK_ROUTES; `ml`)."""
    from ecomsight.celery import app

    queues = set()
    for name in ("predictions.tasks.scoring_chunk_task", "recommendations.tasks.recommendations_partition_task"):
        routed = [route["queue"] for pattern, route in settings.CELERY_TASK_ROUTES.items()
                  if fnmatch.fnmatchcase(name, pattern)]
        queues.add(routed[0] if routed else app.conf.task_default_queue)
    return queues


def _queued(queues: set[str]) -> int | None:
    """The messages waiting on `queues` (a queue never declared, or emptied, holds none); None if the broker
    cannot be read."""
    from ecomsight.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            total = 0
            for queue in sorted(queues):
                try:
                    total += conn.default_channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:  # not declared (Redis drops an empty queue's list): nothing waiting
                    pass
            return total
    except Exception:  # noqa: BLE001 - any broker failure: this sweep does nothing, the next one tries again
        logger.exception("stall sweep: the broker could not be read")
        return None


def _moved(mark: str) -> Greatest:
    """When a run's (or a build's) progress last moved: its job's progress time (else when the job started, else when
    the row was made), or its last resume (the stall mark's `at`, in its JSON field `mark`), whichever is later."""
    return Greatest(Coalesce(F("job__progress_at"), F("job__started_at"), F("created_at")),
                    Cast(KT(f"{mark}__stall__at"), DateTimeField()))


def _stalled(rows: QuerySet, mark: str, cutoff: dt.datetime) -> list[int]:
    return list(rows.alias(moved=_moved(mark)).filter(moved__lt=cutoff).order_by("pk").values_list("pk", flat=True))


def _still_stalled(rows: QuerySet, pk: int, mark: str, cutoff: dt.datetime) -> bool:
    """Read again in a new statement, once the row is locked: a chunk or partition that committed while the sweep
    waited for the lock has moved its job's progress (the locking statement itself still saw the job's old row)."""
    return rows.filter(pk=pk).alias(moved=_moved(mark)).filter(moved__lt=cutoff).exists()


def _resumes_in_a_row(state: dict, done: int) -> int:
    """The resumes in a row so far: those recorded, unless parts finished since the last one (progress)."""
    return int(state.get("resumes", 0)) if state.get("done") == done else 0


def _parts(indexes: list[int]) -> str:
    return ", ".join(str(i) for i in indexes)


def _scoring_run_stalled(run_id: int, *, cutoff: dt.datetime, max_resumes: int) -> str | None:
    with transaction.atomic():
        # The run's row locked as a chunk locks it to record itself done: the two never overwrite each other's
        # summary, a run that its last chunk finished meanwhile is not touched (its status is read again under the
        # lock), and a chunk recorded meanwhile counts as progress (more done than at the last resume).
        run = ScoringRun.objects.select_for_update().filter(pk=run_id, status=ScoringRun.Status.RUNNING).first()
        if run is None or not _still_stalled(ScoringRun.objects.all(), run_id, "summary", cutoff):
            return None
        newer = (ScoringRun.objects.filter(Q(as_of__gt=run.as_of) | Q(as_of=run.as_of, pk__gt=run.pk),
                                           shop_id=run.shop_id, status=ScoringRun.Status.SUCCEEDED)
                 .order_by("-as_of", "-pk").first())  # one that ranks above it as the shop's current run
        missing = scoring_run_missing(run)
        done = run.chunks_total - len(missing)
        resumes = _resumes_in_a_row(run.summary.get("stall", {}), done)
        # Failed under the lock: a last chunk finishing the run now cannot be overwritten by the failure.
        if newer is not None:
            scoring_run_fail(run_id=run_id, error=f"stalled, and superseded by scoring run {newer.pk}: not resumed")
            return "failed"
        if resumes >= max_resumes:
            scoring_run_fail(run_id=run_id, error=f"stalled: chunks {_parts(missing)} never finished after "
                                                  f"{resumes} resume{'s' if resumes != 1 else ''}")
            return "failed"
        # The resume and its mark in one transaction (the copies queued once it commits): an overlapping sweep or a
        # crash in between cannot count a resume that never happened. Only a run still RUNNING is resumed.
        if scoring_run_resume(run_id=run_id, enqueue=True, running_only=True).status != ScoringRun.Status.RUNNING:
            return None
        run.summary = {**run.summary, "stall": {"resumes": resumes + 1, "done": done,
                                                "at": timezone.now().isoformat()}}
        run.save(update_fields=["summary"])
    logger.warning("scoring run %d stalled: resuming chunks %s (resume %d of %d)", run_id, _parts(missing),
                   resumes + 1, max_resumes)
    return "resumed"


def _build_stalled(version_id: int, *, cutoff: dt.datetime, max_resumes: int) -> str | None:
    with transaction.atomic():
        # Locked as a partition locks it to record itself done (services/build.py).
        version = (RecommenderVersion.objects.select_for_update()
                   .filter(pk=version_id, status=RecommenderVersion.Status.BUILDING).first())
        if version is None or not _still_stalled(RecommenderVersion.objects.all(), version_id, "metrics", cutoff):
            return None
        missing = recommendations_build_missing(version)
        done = -1 if missing is None else len(version.params["partitions"]) - len(missing)
        resumes = _resumes_in_a_row(version.metrics.get("stall", {}), done)
        if resumes >= max_resumes:
            plural = "s" if resumes != 1 else ""
            error = (f"stalled: its statistics pass never finished (no progress after {resumes} resume{plural})"
                     if missing is None else
                     f"stalled: partitions {_parts(missing)} never finished after {resumes} resume{plural}")
            recommendations_build_fail(version_id=version_id, error=error)
            return "failed"
        # One transaction, as for a scoring run; a build whose statistics pass never planned its partitions has
        # nothing to queue: the mark alone is the resume (its `at` counts as progress).
        if recommendations_build_resume(version_id=version_id, enqueue=True).status != \
                RecommenderVersion.Status.BUILDING:
            return None
        version.metrics = {**version.metrics, "stall": {"resumes": resumes + 1, "done": done,
                                                        "at": timezone.now().isoformat()}}
        version.save(update_fields=["metrics"])
    logger.warning("recommender build %d stalled: resuming partitions %s (resume %d of %d)", version_id,
                   "(none planned yet)" if missing is None else _parts(missing), resumes + 1, max_resumes)
    return "resumed"
