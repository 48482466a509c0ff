"""Batch scoring with the champions, in customer chunks.

A scoring run splits the shop's customers into id ranges; each chunk is one Celery task (so more
workers finish sooner) that reads its customers' history in bulk, scores both tasks, computes their
interest profile (category and brand affinities: services/interests.py), and replaces its rows in one
transaction — a chunk that runs twice overwrites, never duplicates. The last chunk
to finish computes the deciles over the whole run (set-based UPDATEs in score_columns.py) and marks the run done.

Each chunk writes its rows already in the deciles a sample of the shop's customers places them in
(`_decile_lows_provisional`), so that the exact deciles the last chunk computes rewrite only the few rows near a
decile's edge (about 6 % of them): writing nine in ten rows a second time was the longest part of the run that no
second worker shares (at 200,000 customers 30-43 s in one process; the sample costs 3-7 s once per worker;
docs/status/issue-23-session10.md)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from accounts.jobs import job_create, job_fail, job_finish, job_progress, job_resumed
from accounts.models import Job, Shop
from behavior.models import Customer
from ecomsight.db import bulk_insert
from ecomsight.errors import UserError

from ..ml import pipeline
from ..ml.base import ModelInput
from ..ml.bgnbd import expected_purchases, p_alive, summary_from_features
from ..ml.eventseq import build_event_sequences
from ..ml.features import FeatureConfig, build_features, eligible_customers
from ..ml.reasons import churn_tone, lapsed_first, lapsed_mask, purchase_tone, reason_templates
from ..ml.reconcile import reconcile
from ..models import CustomerScore, ModelVersion, ScoringRun
from ..selectors.at_risk import list_columns_copied, scoring_run_current
from ..selectors.frames import customer_sample_sql, sample_threshold, shop_frames, typical_repeat_gap_days
from .at_risk_pages import at_risk_pages_forget
from .interests import customer_interests_compute, customer_interests_replace
from .registry import model_load
from .score_columns import customer_score_deciles_fill, customer_score_list_columns_mark
from .training import TASKS, resolve_as_of

logger = logging.getLogger("ecomsight.scoring")

DEFAULT_CHUNK_SIZE = 25_000
# Customers scored to place a run's rows in provisional deciles: each decile edge then lands within about 0.7 % of
# the run's customers of the exact one (the standard error of a quantile of 5,000 draws), so the exact deciles move
# a few percent of the rows instead of nine in ten. A fifth to a third of a chunk's work, done by each worker whose
# first chunk starts before the sample is stored (runs of more than one chunk, shops of twice the sample and more).
DECILE_SAMPLE_CUSTOMERS = 5_000
# The run summary's key for the shop's typical repeat gap at the run's as_of (selectors.frames.typical_repeat_gap_days).
TYPICAL_GAP_KEY = "typical_repeat_gap_days"


def champions(*, shop: Shop) -> dict[str, ModelVersion]:
    """The champion of each task at the shop's horizon."""
    found = ModelVersion.objects.filter(shop=shop, horizon_days=shop.horizon_days,
                                        status=ModelVersion.Status.CHAMPION)
    return {v.task: v for v in found}


@transaction.atomic
def scoring_run_create(
    *,
    shop: Shop,
    as_of: dt.date | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    user=None,
    enqueue: bool = True,
) -> ScoringRun:
    """Create a run and its chunks; with `enqueue`, one Celery task per chunk after commit."""
    found = champions(shop=shop)
    if not found:
        raise UserError(f"Shop '{shop.slug}' has no champion model at {shop.horizon_days} days yet: "
                        "run `train` first.")
    as_of_ts = resolve_as_of(shop=shop, as_of=as_of)
    count = Customer.objects.filter(shop=shop).count()
    if not count:
        raise UserError(f"Shop '{shop.slug}' has no customers to score.")
    bounds = _chunk_bounds(shop=shop, count=count, chunk_size=chunk_size) if count else []
    job = job_create(shop=shop, kind=Job.Kind.SCORE, user=user, params={"as_of": as_of_ts.date().isoformat()},
                     message=f"scoring {count} customers in {len(bounds)} chunks")
    job_progress(job_id=job.pk, total=len(bounds))
    run = ScoringRun.objects.create(shop=shop, job=job, as_of=as_of_ts.to_pydatetime(),
                                    status=ScoringRun.Status.RUNNING, chunks_total=len(bounds),
                                    customers_total=count, summary={"chunks": bounds, "done": []})
    run.model_versions.set(found.values())
    if enqueue:
        from ..tasks import scoring_chunk_task

        for index in range(len(bounds)):
            transaction.on_commit(lambda i=index: scoring_chunk_task.delay(run.pk, i), robust=True)
    return run


def _chunk_bounds(*, shop: Shop, count: int, chunk_size: int) -> list[list[int]]:
    """[first id, last id] of each chunk, equal-sized by customer count (ids may have gaps)."""
    chunks = max(1, math.ceil(count / chunk_size))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT MIN(id), MAX(id) FROM (SELECT id, NTILE(%s) OVER (ORDER BY id) AS chunk"
            " FROM behavior_customer WHERE shop_id = %s) t GROUP BY chunk ORDER BY chunk",
            [chunks, shop.pk],
        )
        return [[int(lo), int(hi)] for lo, hi in cursor.fetchall()]


def scoring_run_execute(*, run: ScoringRun, progress: Callable[[str], None] | None = None) -> ScoringRun:
    """Run every chunk of a run in this process (the CLI and the in-process default)."""
    for index in range(run.chunks_total):
        scoring_chunk_run(run_id=run.pk, chunk=index)
        if progress:
            progress(f"scored chunk {index + 1}/{run.chunks_total}")
    run.refresh_from_db()
    return run


def scoring_chunk_run(*, run_id: int, chunk: int) -> int:
    """Score one chunk's customers for every task with a champion; replace the chunk's rows. Idempotent: a
    chunk already done is left as it is."""
    run = ScoringRun.objects.select_related("shop").get(pk=run_id)
    if chunk in run.summary.get("done", []):  # a duplicate delivery or a resume's copy: nothing to redo
        return 0
    lo, hi = run.summary["chunks"][chunk]
    _typical_gap_kept(run)
    lows = run.summary.get("decile_lows")
    if lows is None and run.chunks_total > 1 and run.customers_total >= 2 * DECILE_SAMPLE_CUSTOMERS:
        try:
            with transaction.atomic():  # a savepoint where a caller's transaction is open: a failed query stays here
                lows = _decile_lows_provisional(run)
        except Exception:  # only a speed-up: without it the rows are written with decile 10, as before
            logger.exception("scoring run %s: no provisional deciles from a sample", run.pk)
    frames = shop_frames(shop_id=run.shop_id, until=run.as_of, customer_range=(lo, hi))
    rows = scores_compute(run=run, frames=frames, cutoff=pd.Timestamp(run.as_of), decile_lows=lows)
    profile = customer_interests_compute(shop_id=run.shop_id, frames=frames, cutoff=pd.Timestamp(run.as_of))
    del frames
    with transaction.atomic():
        # Checked again under this chunk's lock: another delivery of this chunk (a redelivered task, a resume of a
        # run that was in fact still going) may have finished it while this one scored, and the run may have
        # succeeded since (only once every chunk is done); rewriting then would undo its deciles and copied list
        # columns. Its rows stand. A lock of the chunk, not of the run's row: under the run's row lock, held
        # through the writes, the other workers' chunks waited for each other's writes (with 2 workers at 200,000
        # customers, a backend waited on that lock in 14 of 214 samples). _chunk_done takes the row's lock, last.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"scoring-chunk:{run.pk}:{chunk}"])
        if chunk in ScoringRun.objects.values_list("summary", flat=True).get(pk=run.pk).get("done", []):
            return 0
        rows, profile = customers_still_there(shop_id=run.shop_id, rows=rows, profile=profile, customer_range=(lo, hi))
        CustomerScore.objects.filter(scoring_run_id=run.pk, customer_id__gte=lo, customer_id__lte=hi).delete()
        bulk_insert(CustomerScore._meta.db_table, SCORE_COLUMNS, rows)
        customer_interests_replace(run=run, profile=profile, customer_range=(lo, hi))
        _chunk_done(run_id=run.pk, chunk=chunk)
    return len(rows)


def _typical_gap_kept(run: ScoringRun) -> float | None:
    """The shop's typical repeat gap at the run's as_of (the lapsed mark of single-order customers), kept in the
    run's summary and set on `run`: computed by the first chunks to start, stored by the first to finish it, read
    by every chunk after, so that all of a run's chunks measure against one figure. An aggregate over the shop's
    orders: 1.0 s at 200,000 customers and 1.3 M orders, once per run (not in the request that starts it)."""
    if TYPICAL_GAP_KEY in run.summary:
        return run.summary[TYPICAL_GAP_KEY]
    gap = typical_repeat_gap_days(shop_id=run.shop_id, until=run.as_of)
    with transaction.atomic():
        locked = ScoringRun.objects.select_for_update().only("summary").get(pk=run.pk)
        if TYPICAL_GAP_KEY in locked.summary:
            gap = locked.summary[TYPICAL_GAP_KEY]
        else:  # an update, not save(), as for the provisional deciles
            ScoringRun.objects.filter(pk=run.pk).update(summary={**locked.summary, TYPICAL_GAP_KEY: gap})
    run.summary = {**run.summary, TYPICAL_GAP_KEY: gap}
    return gap


def _decile_lows_provisional(run: ScoringRun) -> dict[str, list[float]]:
    """The lowest probability of each decile per task among a stable sample of the run's customers (about
    DECILE_SAMPLE_CUSTOMERS), kept in the run's summary: the first chunks to start each compute it, the first to
    finish stores it, and every chunk uses the stored one (customers arriving meanwhile could change a later
    sample a little). A run of one chunk has none (its rows are all there is), nor a shop under twice the sample
    (scoring the sample would cost more than rewriting its rows)."""
    share = DECILE_SAMPLE_CUSTOMERS / max(run.customers_total, 1)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM behavior_customer WHERE shop_id = %s AND {customer_sample_sql('id')}",
                       [run.shop_id, sample_threshold(share)])
        ids = [row[0] for row in cursor.fetchall()]
    frames = shop_frames(shop_id=run.shop_id, until=run.as_of, customer_ids=ids)
    rows = scores_compute(run=run, frames=frames, cutoff=pd.Timestamp(run.as_of))
    task_at, p_at = SCORE_COLUMNS.index("task"), SCORE_COLUMNS.index("probability")
    lows = {task: pipeline.decile_lows(np.array([row[p_at] for row in rows if row[task_at] == task]))
            for task in {row[task_at] for row in rows}}
    with transaction.atomic():
        locked = ScoringRun.objects.select_for_update().only("summary").get(pk=run.pk)
        if "decile_lows" in locked.summary:
            return locked.summary["decile_lows"]
        # An update, not save(): saving a run sends the signal that retires the shop's kept at-risk pages.
        ScoringRun.objects.filter(pk=run.pk).update(summary={**locked.summary, "decile_lows": lows})
    return lows


def customers_still_there(*, shop_id: int, rows: list[tuple], profile: pd.DataFrame,
                          customer_range: tuple[int, int] | None = None,
                          customer_ids: list[int] | None = None) -> tuple[list[tuple], pd.DataFrame]:
    """The score rows and profile rows of customers that still exist, their customer rows locked (FOR KEY SHARE)
    until the caller's transaction ends. Call inside the transaction that writes them. A customer erased while
    the scores were computed is left out instead of failing the whole run at commit (the scores' foreign key), and
    an erasure arriving now waits for this commit, then removes what was written (issue 16's third replay).
    Locking a chunk of 25,000 customers takes 10-26 ms."""
    query = "SELECT id FROM behavior_customer WHERE shop_id = %s"
    params: list = [shop_id]
    if customer_range is not None:
        query += " AND id BETWEEN %s AND %s"
        params += [customer_range[0], customer_range[1]]
    if customer_ids is not None:
        query += " AND id = ANY(%s)"
        params.append(list(customer_ids))
    with connection.cursor() as cursor:
        # In id order, as an erasure locks its customers (privacy.services.customer_erase): no deadlock between them.
        cursor.execute(query + " ORDER BY id FOR KEY SHARE", params)
        there = {row[0] for row in cursor.fetchall()}
    at = SCORE_COLUMNS.index("customer_id")
    kept = [row for row in rows if row[at] in there]
    if len(kept) == len(rows) and (profile.empty or profile["customer_id"].isin(there).all()):
        return rows, profile
    logger.info("left out %d score rows of customers erased while they were scored", len(rows) - len(kept))
    return kept, profile[profile["customer_id"].isin(there)] if not profile.empty else profile


# The columns of CustomerScore that `scores_compute` gives a value in each row, in its order.
SCORE_COLUMNS = ["shop_id", "scoring_run_id", "customer_id", "model_version_id", "task", "probability", "risk_band",
                 "decile", "reasons", "expected_orders", "p_alive", "spend_12m", "revenue_at_risk", "scored_at",
                 "history_until", "purchase_probability_copy", "last_order_placed_at", "lapsed"]


def scores_compute(*, run: ScoringRun, frames, cutoff: pd.Timestamp, history_until: dt.datetime | None = None,
                   decile_lows: dict[str, list[float]] | None = None,
                   typical_gaps: dict[pd.Timestamp, float | None] | None = None) -> list[tuple]:
    """Score the customers of `frames` as of `cutoff` with the run's models, for every task with a champion: one
    row per customer and task (SCORE_COLUMNS). `history_until`: the rows' value of that column (None: the run's
    as_of). The nightly chunks and the re-scoring of changed customers both score through here. Each row's decile
    is placed against its task's `decile_lows` (pipeline.decile_place), 10 without them, until the run's deciles
    are set (score_columns). For a customer scored by both tasks (an active one) the chance of leaving and the
    chance of buying add up to 1: both models' views of the one event, reconciled (ml/reconcile.py).
    `typical_gaps`: the shop's typical repeat gap by cutoff, filled and read by the chunks of one re-scoring task
    (`_typical_gap`).

    Churn rows carry the at-risk list's columns (the customer's purchase probability, their last order that was
    not cancelled up to `cutoff`) as written here, in the same COPY: copying them afterwards with one UPDATE of
    the whole run (`score_columns.customer_score_list_columns_fill`, which now serves rows written some other
    way) rewrote every churn row once more, in one process after the last chunk: over 50 s at 1,000,000
    customers."""
    shop = run.shop
    versions = {v.task: v for v in run.model_versions.all()}
    config = FeatureConfig()
    ids = eligible_customers(frames, cutoff=cutoff, task="purchase", lookback_days=shop.churn_lookback_days)
    features = build_features(frames, cutoff=cutoff, config=config, customer_ids=ids)
    value = _value(features.X, versions=versions, horizon_days=shop.horizon_days)
    now = timezone.now()
    last_orders = _last_orders(frames.orders, cutoff=cutoff)
    lapsed = lapsed_of(run=run, X=features.X, cutoff=cutoff, typical_gaps=typical_gaps)
    scored: dict[str, dict] = {}  # task -> version, data, p (probabilities), paths, keep (of features' rows)
    for task in TASKS:
        version = versions.get(task)
        if version is None:
            continue
        if task == "churn":
            keep = np.isin(features.customer_ids, eligible_customers(
                frames, cutoff=cutoff, task="churn", lookback_days=shop.churn_lookback_days))
        else:
            keep = np.ones(len(features.customer_ids), dtype=bool)
        if not keep.any():
            continue
        model = model_load(version=version)
        events = None
        if version.algorithm in pipeline.EVENT_ALGORITHMS:  # the event-level model reads each customer's steps
            events = build_event_sequences(frames, cutoff=cutoff, customer_ids=features.customer_ids[keep],
                                           steps=model.steps)
        data = ModelInput(customer_ids=features.customer_ids[keep], X=features.X[keep].reset_index(drop=True),
                          sequences=features.sequences[keep], events=events)
        explainer = _explainer(version)
        if explainer is model:  # the champion is the LightGBM model that explains: one pass through its trees
            p, paths = model.predict_with_paths(data)
        else:
            p = model.predict_proba(data)
            paths = explainer.path_contributions(data) if explainer is not None else None
        scored[task] = {"version": version, "data": data, "p": np.asarray(p, dtype=np.float64), "paths": paths,
                        "keep": keep}
    if "churn" in scored and "purchase" in scored:
        # An active customer's chances of leaving and of buying are complements: one figure from both models
        # (ml/reconcile.py, measured in bench/coherence.py). Purchase rows are every feature row, in order.
        active = scored["churn"]["keep"]
        scored["churn"]["p"], buy = reconcile(churn=scored["churn"]["p"], purchase=scored["purchase"]["p"][active])
        scored["purchase"]["p"][active] = buy
    purchase_of: dict[int, float] = {}
    if "purchase" in scored:
        purchase_of = dict(zip(scored["purchase"]["data"].customer_ids.tolist(), scored["purchase"]["p"].tolist(),
                               strict=True))
    rows: list[tuple] = []
    for task, item in scored.items():
        version, data, p, paths, keep = item["version"], item["data"], item["p"], item["paths"], item["keep"]
        bands = pipeline.risk_bands(p)
        task_lows = (decile_lows or {}).get(task)
        placed = pipeline.decile_place(p, task_lows).tolist() if task_lows else [10] * len(p)
        reasons = _reasons(paths, data=data, probability=p, task=task, currency=shop.currency)
        task_value = value[keep]
        task_lapsed = lapsed[keep]
        if task == "churn":  # a lapsed medium or high risk says first why it lapsed
            lapsed_first(reasons, data.X, np.flatnonzero(task_lapsed & (p >= pipeline.MEDIUM_RISK)))
        at_risk = p * task_value[:, 2] if task == "churn" else np.full(len(p), np.nan)
        for i, customer_id in enumerate(data.customer_ids.tolist()):
            copied = (purchase_of.get(customer_id), last_orders.get(customer_id)) if task == "churn" else (None, None)
            rows.append((
                shop.pk, run.pk, customer_id, version.pk, task, float(p[i]), bands[i], placed[i],
                json.dumps(reasons[i]), task_value[i, 0], task_value[i, 1], task_value[i, 2], at_risk[i], now,
                history_until, *copied, bool(task_lapsed[i]),
            ))
    return rows


def lapsed_of(*, run: ScoringRun, X: pd.DataFrame, cutoff: pd.Timestamp,
              typical_gaps: dict[pd.Timestamp, float | None] | None = None) -> np.ndarray:
    """Which customers (rows of the feature frame `X`, built as of `cutoff`) had already lapsed: the rule
    (reasons.lapsed_mask) with the shop's horizon, churn lookback and typical repeat gap at `cutoff`. What
    `scores_compute` writes, and what `lapsed.customer_score_lapsed_fill` computes again for rows written before
    the mark."""
    return lapsed_mask(X, typical_gap_days=_typical_gap(run, cutoff=cutoff, kept=typical_gaps),
                       horizon_days=run.shop.horizon_days, lookback_days=run.shop.churn_lookback_days)


def _typical_gap(run: ScoringRun, *, cutoff: pd.Timestamp,
                 kept: dict[pd.Timestamp, float | None] | None = None) -> float | None:
    """The shop's typical repeat gap at `cutoff`: the run's kept one (`_typical_gap_kept`) at its as_of; computed over
    the whole shop at any other cutoff (a re-scoring after new orders), so a chunk, a re-scoring and a whole run
    agree. `kept` (by cutoff): computed once per re-scoring task, not once per chunk (an aggregate over all the shop's
    orders: about 1 s a chunk at 1.3 M orders); its chunks' cutoffs are the end of a day, mostly the same one."""
    if cutoff == pd.Timestamp(run.as_of) and TYPICAL_GAP_KEY in (run.summary or {}):
        return run.summary[TYPICAL_GAP_KEY]
    if kept is not None and cutoff in kept:
        return kept[cutoff]
    gap = typical_repeat_gap_days(shop_id=run.shop_id, until=cutoff.to_pydatetime())
    if kept is not None:
        kept[cutoff] = gap
    return gap


def _last_orders(orders: pd.DataFrame, *, cutoff: pd.Timestamp) -> dict[int, dt.datetime]:
    """Each customer's last order that was not cancelled, up to `cutoff` (what the at-risk list shows)."""
    kept = orders[(orders["status"] != "cancelled") & (orders["placed_at"] <= cutoff)]
    last = kept.groupby("customer_id")["placed_at"].max()
    return {int(customer): moment.to_pydatetime() for customer, moment in last.items()}


def _value(X: pd.DataFrame, *, versions: dict[str, ModelVersion], horizon_days: int) -> np.ndarray:
    """[expected orders, P(alive), 12-month spend] per customer; BG/NBD from the purchase run's bgnbd model."""
    spend = np.nan_to_num(X["spend_365d"].to_numpy(dtype=np.float64), nan=0.0)
    out = np.column_stack([np.full(len(X), np.nan), np.full(len(X), np.nan), spend])
    bgnbd = _sibling(versions=versions, algorithm="bgnbd")
    if bgnbd is not None and len(X):
        params = model_load(version=bgnbd).params
        x, t_x, T = summary_from_features(X)
        out[:, 0] = expected_purchases(params, horizon_days, x, t_x, T)
        out[:, 1] = p_alive(params, x, t_x, T)
    return out


def _sibling(*, versions: dict[str, ModelVersion], algorithm: str, task: str | None = None) -> ModelVersion | None:
    """A model of `algorithm` trained in the same run as a champion (same job), for reasons and value."""
    for t in ([task] if task else ["purchase", "churn"]):
        champion = versions.get(t)
        if champion is None:
            continue
        if champion.algorithm == algorithm:
            return champion
        sibling = ModelVersion.objects.filter(shop_id=champion.shop_id, task=t, algorithm=algorithm,
                                              horizon_days=champion.horizon_days, job_id=champion.job_id,
                                              as_of=champion.as_of).order_by("-created_at").first()
        if sibling is not None:
            return sibling
    return None


def _explainer(version: ModelVersion):
    """The LightGBM model trained in the champion's run (the champion itself when it is one), whose path
    attribution gives the reasons; None without one."""
    lgbm = _sibling(versions={version.task: version}, algorithm="lgbm", task=version.task)
    return model_load(version=lgbm) if lgbm is not None else None


def _reasons(paths: np.ndarray | None, *, data: ModelInput, probability: np.ndarray, task: str,
             currency: str = "") -> list[list[str]]:
    """Top 3 reasons in plain words, from the per-feature contributions (`paths`: `_explainer`'s path attribution,
    fast enough for every customer, see `path_contributions`). A low score is explained by what lowers it, a medium
    or high one by what raises it, and never by a text that reads the other way (reasons.churn_tone: "fewer orders
    than the 90 days before" is no reason for a low risk).

    Without `paths` (no LightGBM in the champion's run: a short history's BG/NBD or Pareto/NBD champion, which no
    labelled window could train anything else beside) the contributions are rules on the order history
    (reasons.order_history_contributions): every row of such a shop had no reason at all (an outside review). A
    medium or high row the attribution leaves without a reason gets one from its own features
    (reasons.fallback_contributions)."""
    from ..ml.explain import reason_directions, top_reasons
    from ..ml.reasons import FALLBACK_ORDER, fallback_contributions, order_history_contributions

    if paths is None:
        paths = order_history_contributions(data.X) * (1.0 if task == "churn" else -1.0)
    templates = reason_templates(currency=currency)
    tone = churn_tone if task == "churn" else purchase_tone
    directions = reason_directions(probability, low_below=pipeline.MEDIUM_RISK)
    reasons = top_reasons(paths, data.X, templates=templates, k=3, direction=directions, tone=tone)
    # A medium or high score always says why: where the attribution gave nothing that reads that way (a LightGBM
    # beside a label-free champion pushing the risk down), the customer's own features do.
    bare = np.flatnonzero((directions > 0) & np.array([not r for r in reasons], dtype=bool))
    if bare.size:
        X = data.X.iloc[bare].reset_index(drop=True)
        filled = top_reasons(fallback_contributions(X, leaving=task == "churn"), X, templates=templates,
                             k=len(FALLBACK_ORDER), direction=directions[bare], tone=tone)
        for i, texts in zip(bare.tolist(), filled, strict=True):
            # What reads as the heading's way first ("fewer orders than the 90 days before"), plain facts ("2 orders
            # so far") after: a high-churn shop's rows read "2 orders so far" as their main reason.
            reasons[i] = sorted(texts, key=lambda text: -tone(text))[:3]
    return reasons


def _chunk_done(*, run_id: int, chunk: int) -> None:
    """Record a finished chunk (once, whatever the retries); the last one finalises the run."""
    run = ScoringRun.objects.select_for_update().get(pk=run_id)
    done = set(run.summary.get("done", []))
    if chunk in done:
        return
    done.add(chunk)
    run.summary = {**run.summary, "done": sorted(done)}
    run.chunks_done = len(done)
    run.save(update_fields=["summary", "chunks_done"])
    if run.job_id:
        job_progress(job_id=run.job_id, done=len(done), message=f"scored {len(done)} of {run.chunks_total} chunks")
    if len(done) >= run.chunks_total:
        _finalise(run)


def _finalise(run: ScoringRun) -> None:
    """Deciles over the whole run (1 = most likely), the run's headline figures, status succeeded."""
    customer_score_deciles_fill(run=run)
    # The churn rows carry the purchase probability and last order (written by each chunk, see scores_compute):
    # record it, with the run's churn row count, so that the at-risk list sorts and filters on them from an index.
    customer_score_list_columns_mark(run=run)
    # The run's headline figures, computed once here so the dashboard never re-aggregates the scores.
    summary = {**run.summary, "figures": run_figures_computed(run)}
    run.summary = summary
    run.status = ScoringRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["summary", "status", "finished_at"])
    if run.job_id:
        job_finish(job_id=run.job_id, result={"scoring_run": run.pk, **summary["figures"]},
                   message="scoring finished")


def run_figures_computed(run: ScoringRun) -> dict:
    """The run's headline figures from its scores, as the run's summary keeps them ("figures": what the dashboard's
    trend and histogram read): stored when the run finishes, refreshed when customers of it are re-scored or erased
    (`run_figures_refresh`), and stored before score-history retention deletes its scores (predictions.retention)."""
    from ..selectors.dashboard import churn_histogram, run_figures

    figures = run_figures(shop=run.shop, runs=[run], use_stored=False)[0]
    return {"scored": figures.scored, "expected_churners": figures.expected_churners,
            "high_band": figures.high_band, "revenue_at_risk": figures.revenue_at_risk,
            "revenue_at_risk_lapsed": figures.revenue_at_risk_lapsed,
            "expected_buyers": figures.expected_buyers, "histogram": churn_histogram(run=run, use_stored=False)}


def run_figures_refresh(*, shop: Shop) -> None:
    """Store the current run's headline figures (and the list's count of churn rows) again from its scores, after
    some of its customers were re-scored or erased: the dashboard and the list then count the customers the list
    shows (the dashboard said 685 high-risk beside a list of 684). Two grouped queries over the run's scores and a
    count, under the run's row lock (the re-scoring's and the scoring chunks' lock; call it with no customer
    locked: an erasure calls it after its commit)."""
    run = scoring_run_current(shop=shop)
    if run is None:
        return
    with transaction.atomic():
        run = ScoringRun.objects.select_for_update().get(pk=run.pk)
        if list_columns_copied(run):
            customer_score_list_columns_mark(run=run)
        run.summary = {**run.summary, "figures": run_figures_computed(run)}
        run.save(update_fields=["summary"])


def scoring_run_fail(*, run_id: int, error: str) -> None:
    """A chunk failed: the run and its job say so (re-running the run's chunks can still complete it)."""
    run = ScoringRun.objects.filter(pk=run_id).first()
    if run is None:
        return
    ScoringRun.objects.filter(pk=run_id).update(status=ScoringRun.Status.FAILED)
    at_risk_pages_forget(shop_id=run.shop_id)  # the run may have been the current one (a late chunk failing)
    if run.job_id:
        job_fail(job_id=run.job_id, error=error[:2000])


def scoring_run_missing(run: ScoringRun) -> list[int]:
    """The chunks of a run not done yet."""
    done = set(run.summary.get("done", []))
    return [i for i in range(run.chunks_total) if i not in done]


def scoring_run_resume(*, run_id: int, enqueue: bool = True, running_only: bool = False) -> ScoringRun:
    """Finish a run whose queued chunks were lost (a worker killed between taking a task off Redis and recording it
    unacknowledged, a broker restarted without persistence, a worker machine gone): the chunks not yet done run
    again — to the workers, or here with enqueue=False. Chunks are idempotent, so resuming a run that was in fact
    still going does no harm (a copy of a chunk done meanwhile returns at once). The stall sweep
    (recommendations/services/stalls.py) calls it for runs without progress; `score --resume RUN_ID` too."""
    with transaction.atomic():
        # Under the run's lock, as the last chunk takes it to finish the run: a run finishing now is not set running
        # again, nor its job.
        run = ScoringRun.objects.select_for_update().get(pk=run_id)
        if run.status == ScoringRun.Status.SUCCEEDED or (running_only and run.status != ScoringRun.Status.RUNNING):
            return run  # running_only (the stall sweep): a run a chunk failed meanwhile keeps its failure
        if "scores_expired_at" in run.summary:  # score-history retention (predictions.retention) deletes its rows
            raise UserError(f"Scoring run {run_id} is older than SCORE_HISTORY_DAYS and its scores were deleted: "
                            "it cannot be resumed. Start a new scoring run instead.")
        missing = scoring_run_missing(run)
        ScoringRun.objects.filter(pk=run_id).update(status=ScoringRun.Status.RUNNING)
        if run.job_id:
            job_resumed(job_id=run.job_id, message=f"resumed: {len(missing)} chunk(s) to run again")
        if enqueue:  # once the resume commits (the sweep's transaction, when it calls this)
            from ..tasks import scoring_chunk_task

            transaction.on_commit(lambda: [scoring_chunk_task.delay(run.pk, index) for index in missing])
    if not enqueue:
        for index in missing:
            scoring_chunk_run(run_id=run.pk, chunk=index)
    run.refresh_from_db()
    return run
