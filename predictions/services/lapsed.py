"""The lapsed mark of scores written before it existed (migration 0008), computed again with the one rule.

Migration 0008 gave every existing score `lapsed = false`: a shop's current run read "not lapsed" for everyone (the
at-risk filter, the API, exports, the dashboard's lapsed share) until its next scoring run. The rule
(predictions.ml.reasons.lapsed_mask) reads the customer's features (orders, recency, usual gap, last visit), which
the score rows do not keep, but which are a function of the stored history up to the score's cutoff: this service
builds them again with the scoring's own code (shop_frames, build_features) at each row's cutoff (its
`history_until`, else the run's as_of), in chunks of customers, and sets the mark through `scoring.lapsed_of`, the
path the scoring itself takes; a lapsed medium or high risk's churn row then says first why it lapsed, as the
scoring writes it (reasons.lapsed_first). What it changes is what a scoring run with the same history would have
written.

A run scored with the mark keeps the shop's typical repeat gap in its summary (scoring.TYPICAL_GAP_KEY, written by
the same change as the mark): that is how a run that needs the fill is told from one that does not, and the fill
stores it last, so a fill cut short is done again in full. `manage.py lapsed_fill` runs it for each shop's current
run."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Shop

from ..ml import pipeline
from ..ml.features import FeatureConfig, build_features
from ..ml.reasons import lapsed_first
from ..models import ScoringRun
from ..selectors.at_risk import scoring_run_current
from ..selectors.frames import shop_frames, typical_repeat_gap_days
from .at_risk_pages import at_risk_pages_forget
from .scoring import DEFAULT_CHUNK_SIZE, TYPICAL_GAP_KEY, lapsed_of, run_figures_refresh

logger = logging.getLogger("ecomsight.scoring")


@dataclass(frozen=True)
class LapsedFill:
    run_id: int
    customers: int  # customers of the run whose mark was computed
    lapsed: int  # of them, lapsed
    rows_changed: int  # score rows whose mark changed (both tasks)
    skipped: bool = False  # the run was scored with the mark already: nothing done


def run_marked(run: ScoringRun) -> bool:
    """Whether the run's rows were written with the lapsed mark (or filled since): its summary keeps the typical
    repeat gap the mark is measured against."""
    return TYPICAL_GAP_KEY in (run.summary or {})


def customer_score_lapsed_fill(*, shop: Shop, force: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE,
                               progress: Callable[[str], None] | None = None) -> LapsedFill | None:
    """Compute the lapsed mark of every score row of the shop's current run again with the rule, at each row's
    cutoff, and store it where it differs; then the run's headline figures (the dashboard's lapsed share) and the
    API's kept pages. A run scored with the mark is left alone unless `force`; None without a current run.
    Set-based: one read of the run's customers, then per chunk of `chunk_size` customers the scoring's bulk reads
    and one UPDATE. Idempotent."""
    run = scoring_run_current(shop=shop)
    if run is None:
        return None
    run.shop = shop
    if run_marked(run) and not force:
        return LapsedFill(run_id=run.pk, customers=0, lapsed=0, rows_changed=0, skipped=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(history_until, %s) AS cutoff, customer_id FROM predictions_customerscore"
                       " WHERE scoring_run_id = %s GROUP BY 1, 2 ORDER BY 1, 2", [run.as_of, run.pk])
        pairs = cursor.fetchall()
    by_cutoff: dict[dt.datetime, list[int]] = {}
    for cutoff, customer_id in pairs:
        by_cutoff.setdefault(cutoff, []).append(customer_id)
    gaps: dict[pd.Timestamp, float | None] = {}
    customers = lapsed = changed = 0
    chunks = sum(-(-len(ids) // chunk_size) for ids in by_cutoff.values())
    done = 0
    for cutoff, ids in by_cutoff.items():
        at = pd.Timestamp(cutoff)
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start:start + chunk_size]
            read_at = timezone.now()  # a row re-scored after this read has its own, fresher mark
            frames = shop_frames(shop_id=run.shop_id, until=cutoff, customer_ids=chunk)
            features = build_features(frames, cutoff=at, config=FeatureConfig(),
                                      customer_ids=np.asarray(chunk, dtype=np.int64))
            del frames
            marks = lapsed_of(run=run, X=features.X, cutoff=at, typical_gaps=gaps)
            changed += _chunk_write(run=run, cutoff=cutoff, X=features.X, customer_ids=features.customer_ids,
                                    marks=marks, read_at=read_at)
            customers += len(chunk)
            lapsed += int(marks.sum())
            done += 1
            if progress:
                progress(f"run {run.pk}: chunk {done}/{chunks} ({customers:,} customers)")
    as_of = pd.Timestamp(run.as_of)
    gap = gaps[as_of] if as_of in gaps else typical_repeat_gap_days(shop_id=run.shop_id, until=run.as_of)
    with transaction.atomic():
        locked = ScoringRun.objects.select_for_update().only("summary").get(pk=run.pk)
        # Last, so that a fill cut short is done again; an update, not save(), as the scoring chunks store it.
        ScoringRun.objects.filter(pk=run.pk).update(summary={TYPICAL_GAP_KEY: gap, **locked.summary})
    run_figures_refresh(shop=shop)  # the run's headline figures again: the dashboard's lapsed share
    at_risk_pages_forget(shop_id=run.shop_id)
    logger.info("lapsed marks of run %d filled: %d customers, %d lapsed, %d rows changed", run.pk, customers,
                lapsed, changed)
    return LapsedFill(run_id=run.pk, customers=customers, lapsed=lapsed, rows_changed=changed)


def _chunk_write(*, run: ScoringRun, cutoff: dt.datetime, X: pd.DataFrame, customer_ids: np.ndarray,
                 marks: np.ndarray, read_at: dt.datetime) -> int:
    """Store the marks of these customers' rows in `run` (the rows of features `X`) that still have this cutoff and
    were not scored after `read_at`, when the chunk's data was read (a row re-scored meanwhile has its own fresh
    mark: a newer cutoff, or the same one where the late orders were dated before the run's as_of), and put why a
    lapsed medium or high risk lapsed first among its churn row's reasons, as the scoring does (reasons.lapsed_first);
    under the run's row lock (the re-scoring's). Returns the rows whose mark changed."""
    same_cutoff = " AND COALESCE(s.history_until, %(as_of)s) = %(cutoff)s AND s.scored_at <= %(read_at)s"
    params = {"run": run.pk, "as_of": run.as_of, "cutoff": cutoff, "read_at": read_at}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id FROM predictions_scoringrun WHERE id = %s FOR UPDATE", [run.pk])
        cursor.execute(
            "UPDATE predictions_customerscore s SET lapsed = v.lapsed"
            " FROM unnest(%(ids)s::bigint[], %(marks)s::boolean[]) AS v(customer_id, lapsed)"
            " WHERE s.scoring_run_id = %(run)s AND s.customer_id = v.customer_id AND s.lapsed IS DISTINCT FROM v.lapsed"
            + same_cutoff, {**params, "ids": customer_ids.tolist(), "marks": marks.tolist()})
        changed = cursor.rowcount
        cursor.execute(
            "SELECT s.customer_id, s.reasons FROM predictions_customerscore s WHERE s.scoring_run_id = %(run)s"
            " AND s.task = 'churn' AND s.customer_id = ANY(%(ids)s) AND s.probability >= %(medium)s" + same_cutoff,
            {**params, "ids": customer_ids[marks].tolist(), "medium": pipeline.MEDIUM_RISK})
        kept = {customer: json.loads(r) if isinstance(r, str) else list(r) for customer, r in cursor.fetchall()}
        if kept:
            position = {customer: i for i, customer in enumerate(customer_ids.tolist())}
            reasons: list[list[str]] = [[] for _ in range(len(X))]
            for customer, texts in kept.items():
                reasons[position[customer]] = list(texts)
            lapsed_first(reasons, X, np.array([position[customer] for customer in kept], dtype=np.int64))
            moved = [(customer, json.dumps(reasons[position[customer]])) for customer, texts in kept.items()
                     if reasons[position[customer]] != texts]
            if moved:
                cursor.execute(
                    "UPDATE predictions_customerscore s SET reasons = v.reasons::jsonb"
                    " FROM unnest(%(ids)s::bigint[], %(reasons)s::text[]) AS v(customer_id, reasons)"
                    " WHERE s.scoring_run_id = %(run)s AND s.task = 'churn' AND s.customer_id = v.customer_id"
                    + same_cutoff, {**params, "ids": [c for c, _ in moved], "reasons": [r for _, r in moved]})
    return changed
