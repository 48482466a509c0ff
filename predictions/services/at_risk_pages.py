"""Retiring the at-risk pages the API keeps in the cache (predictions.api.pages) when what they show changes:
called by the re-scoring and the erasure, on every data arrival and whenever a scoring run is saved or deleted
(predictions.apps connects it to behavior's signals and ScoringRun's)."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import transaction

from ..models import ScoringRun
from ..selectors.at_risk_pages import at_risk_pages_generation_key

logger = logging.getLogger(__name__)


def at_risk_pages_forget(*, shop_id: int) -> None:
    """Retire every at-risk page the cache keeps for the shop, now and again when the current transaction commits
    (a page read meanwhile holds the rows before the change): the next call reads its rows from PostgreSQL."""
    _generation_replace(shop_id)
    transaction.on_commit(lambda: _generation_replace(shop_id))


def _generation_replace(shop_id: int) -> None:
    try:
        cache.set(at_risk_pages_generation_key(shop_id), uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001 — the pages expire after AT_RISK_PAGE_CACHE_SECONDS anyway
        logger.warning("cache unavailable: kept at-risk pages of shop %s not retired", shop_id, exc_info=True)


def at_risk_pages_forget_on_change(sender, *, shop_id: int, **kwargs) -> None:
    """Receives behavior.signals.customers_changed (orders or events stored, inside the writer's transaction:
    `ordered_since_scoring` changes) and data_arrived (an import or API batch committed: customers' names,
    emails and countries, reviews, products)."""
    at_risk_pages_forget(shop_id=shop_id)


def at_risk_pages_forget_on_run_change(sender, *, instance, created: bool = False, update_fields=None,
                                      **kwargs) -> None:
    """Receives ScoringRun's post_save and post_delete: a run that succeeds becomes the shop's current run (the
    run a kept first page names), one whose status or date changes or that is deleted may stop being it. A run
    created pending or running is no shop's current run, and a save of other fields (a chunk's progress) changes
    nothing a page shows: nothing to retire. (A queryset update sends no signal: scoring_run_fail retires the
    pages itself.)"""
    if created and instance.status in (ScoringRun.Status.PENDING, ScoringRun.Status.RUNNING):
        return
    if update_fields is not None and not {"status", "as_of"} & set(update_fields):
        return
    at_risk_pages_forget(shop_id=instance.shop_id)
