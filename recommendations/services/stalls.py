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
done at the last resume: more done since starts the count again), written under the row's lock as the chunks and
partitions write theirs.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Job
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
    (module doc). Cheap when nothing is stalled: one query per kind."""
    stall_seconds = settings.RUN_STALL_SECONDS if stall_seconds is None else stall_seconds
    max_resumes = settings.RUN_STALL_MAX_RESUMES if max_resumes is None else max_resumes
    cutoff = timezone.now() - dt.timedelta(seconds=stall_seconds)
    sweep = StallSweep()
    for run_id in _stalled(ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING), cutoff):
        outcome = _scoring_run_stalled(run_id=run_id, cutoff=cutoff, max_resumes=max_resumes)
        if outcome == "resumed":
            sweep.scoring_resumed.append(run_id)
        elif outcome == "failed":
            sweep.scoring_failed.append(run_id)
    for version_id in _stalled(RecommenderVersion.objects.filter(status=RecommenderVersion.Status.BUILDING), cutoff):
        outcome = _build_stalled(version_id=version_id, cutoff=cutoff, max_resumes=max_resumes)
        if outcome == "resumed":
            sweep.builds_resumed.append(version_id)
        elif outcome == "failed":
            sweep.builds_failed.append(version_id)
    if any(sweep.to_dict().values()):
        logger.warning("stall sweep: %s", sweep.to_dict())
    return sweep


def _moved() -> Coalesce:
    """When a run's (or a build's) progress last moved: its job's progress time, else when it started or was made."""
    return Coalesce(F("job__progress_at"), F("job__started_at"), F("created_at"))


def _stalled(rows: QuerySet, cutoff: dt.datetime) -> list[int]:
    return list(rows.alias(moved=_moved()).filter(moved__lt=cutoff).order_by("pk").values_list("pk", flat=True))


def _resumes_in_a_row(state: dict, done: int) -> int:
    """The resumes in a row so far: those recorded, unless parts finished since the last one (progress)."""
    return int(state.get("resumes", 0)) if state.get("done") == done else 0


def _parts(indexes: list[int]) -> str:
    return ", ".join(str(i) for i in indexes)


def _scoring_run_stalled(*, run_id: int, cutoff: dt.datetime, max_resumes: int) -> str | None:
    with transaction.atomic():
        # The run's row locked as a chunk locks it to record itself done: the two never overwrite each other's
        # summary, a run that its last chunk finished meanwhile is not touched (its status is read again under the
        # lock), and a chunk recorded meanwhile counts as progress (more done than at the last resume).
        run = (ScoringRun.objects.select_for_update(of=("self",)).alias(moved=_moved())
               .filter(pk=run_id, status=ScoringRun.Status.RUNNING, moved__lt=cutoff).first())
        if run is None:
            return None
        newer = (ScoringRun.objects.filter(shop_id=run.shop_id, status=ScoringRun.Status.SUCCEEDED,
                                           as_of__gte=run.as_of, pk__gt=run.pk).order_by("-pk").first())
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
        run.summary = {**run.summary, "stall": {"resumes": resumes + 1, "done": done,
                                                "at": timezone.now().isoformat()}}
        run.save(update_fields=["summary"])
    logger.warning("scoring run %d stalled: resuming chunks %s (resume %d of %d)", run_id, _parts(missing),
                   resumes + 1, max_resumes)
    scoring_run_resume(run_id=run_id, enqueue=True)
    return "resumed"


def _build_stalled(*, version_id: int, cutoff: dt.datetime, max_resumes: int) -> str | None:
    with transaction.atomic():
        # Locked as a partition locks it to record itself done (services/build.py).
        version = (RecommenderVersion.objects.select_for_update(of=("self",)).alias(moved=_moved())
                   .filter(pk=version_id, status=RecommenderVersion.Status.BUILDING, moved__lt=cutoff).first())
        if version is None:
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
        version.metrics = {**version.metrics, "stall": {"resumes": resumes + 1, "done": done,
                                                        "at": timezone.now().isoformat()}}
        version.save(update_fields=["metrics"])
    logger.warning("recommender build %d stalled: resuming partitions %s (resume %d of %d)", version_id,
                   "(none planned yet)" if missing is None else _parts(missing), resumes + 1, max_resumes)
    recommendations_build_resume(version_id=version_id, enqueue=True)
    if missing is None and version.job_id:  # nothing to queue: the mark still counts as the resume's progress
        Job.objects.filter(pk=version.job_id).update(progress_at=timezone.now())
    return "resumed"
