"""A shop's current scoring run (its latest succeeded one), kept in each process for the API's lists.

The at-risk list and segment members read the current run on every page: a query of its own before the
page's (a PostgreSQL round trip, about a tenth of the at-risk call). Each process keeps the answer per
shop while a shared generation in the cache (Redis) is unchanged; saving a succeeded ScoringRun,
writing a run's status or deleting a run replaces the generation (see `scoring_runs_changed`), so a run
that succeeds is listed on the next call in the process that finished it and within API_SYNC_SECONDS in
every other (the generation is read at ecomsight.api.shared's syncs, not on every call). Writes that
bypass the signals (QuerySet.update, raw SQL) call `scoring_runs_changed()` themselves; anything else
waits out CURRENT_RUN_SECONDS. Without Redis as the cache (LocMem in the demo) or with Redis down, every
call reads the database."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db.models.signals import post_delete, post_save

from ecomsight.api import shared
from ecomsight.api.rediscache import generation_publish, redis_client

from .models import ScoringRun

GENERATION_KEY = "scoring-runs:generation"
CURRENT_RUN_SECONDS = 30.0
_MAX_SHOPS = 10_000

# shop id -> (generation, time.monotonic() when read, the run or None)
_kept: dict[int, tuple[str | None, float, ScoringRun | None]] = {}


def current_run_kept(*, shop_id: int, read: Callable[[], ScoringRun | None]) -> ScoringRun | None:
    """`read()` (the shop's current run from the database), or the answer this process kept for the shop
    while nothing changed a scoring run since. The run returned may be shared between calls: read it only."""
    if redis_client() is None:  # the generation is synced through Redis only (ecomsight.api.shared)
        return read()
    generation = shared.generation(GENERATION_KEY)
    if generation is shared.UNAVAILABLE:  # the cache is down: the database answers
        return read()
    clock = time.monotonic()
    kept = _kept.get(shop_id)
    if kept is not None and kept[0] == generation and clock - kept[1] <= CURRENT_RUN_SECONDS:
        return kept[2]
    # The generation was read before the database: a run committed after our read replaces it again.
    run = read()
    if len(_kept) >= _MAX_SHOPS:
        _kept.clear()
    _kept[shop_id] = (generation, clock, run)
    return run


def scoring_runs_changed(**kwargs) -> None:
    """Forget every kept current run: in this process now; in every other, within API_SYNC_SECONDS of the
    bump, made now and again when the current transaction commits (so no process keeps the state from
    before the commit)."""
    _kept.clear()
    generation_publish(GENERATION_KEY, what="a scoring run change")


def _run_saved(instance: ScoringRun, created: bool, update_fields=None, **kwargs) -> None:
    # Only what can change which run is current, or the current run itself: a succeeded run saved, or a status
    # written. A running run's progress (each scored chunk saves it) changes no list.
    if instance.status == ScoringRun.Status.SUCCEEDED or (not created and (update_fields is None
                                                                          or "status" in update_fields)):
        scoring_runs_changed()


def connect_signals() -> None:
    """Called from PredictionsConfig.ready(): every process that saves runs (web, Celery workers) bumps."""
    post_save.connect(_run_saved, sender=ScoringRun, dispatch_uid="predictions.current_run.save")
    post_delete.connect(scoring_runs_changed, sender=ScoringRun, dispatch_uid="predictions.current_run.delete")


shared.generation_watch(GENERATION_KEY)
