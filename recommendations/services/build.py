"""Writes of the recommendations app: build every list and similar-product list, evaluate offline.

The bridge: `selectors.recommender_frames` (three bulk reads) → `ml.build_all` → one transaction that
replaces the shop's lists (COPY on PostgreSQL). Re-running replaces, never duplicates."""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.jobs import job_create, job_finish, job_progress, job_running
from accounts.models import Job, Shop
from catalog.models import Category
from catalog.selectors import visual_neighbours_frame
from ecomsight.db import bulk_insert_frame
from ecomsight.errors import UserError

from .ml.build import BuildResult, build_all, customer_lists, hybrid_fit
from .ml.config import RecommenderConfig
from .ml.evaluate import evaluate_recommenders
from .models import Recommendation, RecommenderVersion, SimilarProduct
from .selectors import recommender_frames, recommender_version_active, similar_products_frame

logger = logging.getLogger("ecomsight.recommendations")


@dataclass(frozen=True)
class BuildOutcome:
    version: RecommenderVersion
    customers: int
    products: int
    interactions: int
    recommendations: int
    similar: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: read, weights, fit, ..., write

    def to_dict(self) -> dict:
        return {"version": self.version.pk, "customers": self.customers, "products": self.products,
                "interactions": self.interactions, "recommendations": self.recommendations,
                "similar": self.similar, "weights": self.version.weights, "seconds": round(self.seconds, 2)}


def recommender_config(*, shop: Shop, **overrides) -> RecommenderConfig:
    """The shop's settings: re-buy allowed globally and per category (Category.allow_rebuy)."""
    by_category = dict(Category.objects.filter(shop=shop, allow_rebuy__isnull=False)
                       .values_list("path", "allow_rebuy"))
    return RecommenderConfig(allow_rebuy=shop.allow_rebuy, rebuy_by_category=by_category, **overrides)


def recommendations_build(
    *, shop: Shop, k: int = 20, user=None, job_id: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildOutcome:
    """Top-k recommendations for every customer and similar products for every product."""
    started = time.perf_counter()
    if job_id is None:
        job_id = job_create(shop=shop, kind=Job.Kind.RECOMMEND, user=user, params={"k": k}).pk

    def say(message: str) -> None:
        if progress:
            progress(message)
        job_progress(job_id=job_id, message=message)

    with job_running(job_id):
        job_progress(job_id=job_id, done=0, total=4)
        say("reading interactions, products and customers")
        clock = time.perf_counter()
        frames = recommender_frames(shop_id=shop.pk)
        timings = {"read": time.perf_counter() - clock}
        config = recommender_config(shop=shop)
        version = RecommenderVersion.objects.create(shop=shop, job_id=job_id, k=k, params=config.to_dict())
        job_progress(job_id=job_id, done=1)
        try:
            result = _build(frames, k=k, config=config, progress=say)
        except BaseException:
            RecommenderVersion.objects.filter(pk=version.pk).update(status=RecommenderVersion.Status.FAILED)
            raise
        timings.update(result.timings)
        if result.ranker is not None:  # what a refresh of some customers' lists needs (recommendations_refresh)
            _ranker_save(shop=shop, version=version, ranker=result.ranker)
        job_progress(job_id=job_id, done=2)
        clock = time.perf_counter()
        say(f"writing {len(result.recommendations)} recommendations and {len(result.similar)} similar products")
        recs = result.recommendations.assign(shop_id=shop.pk, version_id=version.pk)[
            ["shop_id", "version_id", "customer_id", "product_id", "rank", "score", "source", "reason"]]
        similar = result.similar.assign(
            shop_id=shop.pk, version_id=version.pk)[
            ["shop_id", "version_id", "product_id", "similar_id", "kind", "rank", "score"]]
        with transaction.atomic():
            # The active build's row first, as recommendations_refresh locks it: one lock order, no deadlock.
            list(RecommenderVersion.objects.select_for_update().filter(
                shop=shop, status=RecommenderVersion.Status.ACTIVE).values_list("id", flat=True))
            Recommendation.objects.filter(shop=shop).delete()
            SimilarProduct.objects.filter(shop=shop).delete()
            bulk_insert_frame(Recommendation._meta.db_table, recs)
            bulk_insert_frame(SimilarProduct._meta.db_table, similar)
            RecommenderVersion.objects.filter(shop=shop, status=RecommenderVersion.Status.ACTIVE).update(
                status=RecommenderVersion.Status.RETIRED)
            version.status = RecommenderVersion.Status.ACTIVE
            version.weights = {k_: float(v) for k_, v in result.weights.items()}
            version.params = {**version.params, "choice": result.choice, "tuned": result.tuned}
            version.finished_at = timezone.now()
            version.save(update_fields=["status", "weights", "params", "finished_at"])
        timings["write"] = time.perf_counter() - clock
        _rankers_prune(shop=shop, keep=version.pk)
        outcome = BuildOutcome(version=version, customers=len(frames.customers), products=len(frames.products),
                               interactions=len(frames.interactions), recommendations=len(recs),
                               similar=len(similar), seconds=time.perf_counter() - started,
                               timings={name: round(s, 2) for name, s in timings.items()})
        job_progress(job_id=job_id, done=4)
        job_finish(job_id=job_id, result=outcome.to_dict(), message="recommendations built")
    return outcome


def _build(frames, *, k: int, config: RecommenderConfig, progress) -> BuildResult:
    """`ml.build_all`, except that a shop without customers or active products gets empty lists."""
    if frames.customers.empty or not frames.products["active"].any():
        progress("no customers or no active products yet: nothing to recommend")
        return BuildResult(
            recommendations=pd.DataFrame(columns=["customer_id", "product_id", "rank", "score", "source", "reason"]),
            similar=pd.DataFrame(columns=["product_id", "similar_id", "kind", "rank", "score"]), weights={})
    return build_all(frames.interactions, frames.products, frames.customers, k=k, config=config, progress=progress,
                     visual_pairs=frames.visual)


RECOMMENDATION_COLUMNS = ["shop_id", "version_id", "customer_id", "product_id", "rank", "score", "source", "reason"]


def _ranker_path(*, shop: Shop, version_id: int) -> Path:
    return Path(settings.MODEL_DIR) / shop.slug / "recommender" / str(version_id) / "ranker.txt"


def _ranker_save(*, shop: Shop, version: RecommenderVersion, ranker) -> None:
    """The build's ranker in LightGBM's text format (atomically: temporary file + rename)."""
    path = _ranker_path(shop=shop, version_id=version.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".ranker-{uuid.uuid4().hex}.partial")
    try:
        ranker.save_model(str(temporary))
        temporary.rename(path)
    finally:
        temporary.unlink(missing_ok=True)


def _rankers_prune(*, shop: Shop, keep: int) -> None:
    """Remove the rankers of the shop's earlier builds (only the active build's lists are ever refreshed)."""
    folder = _ranker_path(shop=shop, version_id=keep).parent.parent
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name != str(keep):
                shutil.rmtree(child, ignore_errors=True)


def _ranker_load(*, shop: Shop, version: RecommenderVersion):
    """The build's ranker, or None (a build before rankers were saved, a lost file: the blend weights serve)."""
    path = _ranker_path(shop=shop, version_id=version.pk)
    if not path.exists():
        logger.warning("recommender build %d chose its ranker but %s is missing: refreshing with its blend weights",
                       version.pk, path)
        return None
    import lightgbm as lgb

    return lgb.Booster(model_file=str(path))


@dataclass(frozen=True)
class RefreshOutcome:
    version_id: int | None  # the build whose rows were replaced (None: no active build, nothing done)
    customers: int
    recommendations: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds: read, fit, lists, write


def recommendations_refresh(*, shop_id: int, customer_ids) -> RefreshOutcome:
    """Rebuild these customers' lists in the shop's active build, from the shop's data as it is now (their rows
    replaced in one transaction; other customers' rows untouched). Called after customers are re-scored on the
    arrival of their orders or events (predictions.signals.customers_rescored).

    The same lists as the build would make today: the build's settings (re-buy rules, TIFU-KNN's tuned decay),
    blend weights and ranker, and its list code (`ml.build.customer_lists`) over these customers. The build
    saves no fitted members, and most of them cannot be refitted for a few customers: item-kNN, user-kNN,
    TIFU-KNN's neighbours, ALS and popularity are functions of every customer's interactions. So the members
    are refitted on the whole shop (a build's "read" and "fit" stages, without its validation search and its
    lists for everyone); the cost grows with the shop's interactions, not with the customers refreshed. Safe to
    run again; a build that became active meanwhile is left alone (its lists are newer)."""
    started = time.perf_counter()
    ids = sorted({int(i) for i in customer_ids})
    version = RecommenderVersion.objects.filter(
        pk=recommender_version_active(shop=shop_id)).select_related("shop").first()
    if version is None or not ids:
        return RefreshOutcome(version_id=None, customers=0, recommendations=0, seconds=0.0)
    shop = version.shop
    clock = time.perf_counter()
    frames = recommender_frames(shop_id=shop_id)
    timings = {"read": time.perf_counter() - clock}
    params = dict(version.params)
    config = RecommenderConfig.from_dict({**params, **params.get("tuned", {}), "workers": 1})
    ranker = _ranker_load(shop=shop, version=version) if params.get("choice") == "ranker" else None
    if frames.customers.empty or not frames.products["active"].any():
        lists = pd.DataFrame(columns=["customer_id", "product_id", "rank", "score", "source", "reason"])
    else:
        clock = time.perf_counter()
        fitted = hybrid_fit(frames.interactions, frames.products, frames.customers, config=config,
                            weights=version.weights or {}, ranker=ranker, visual_pairs=frames.visual)
        timings["fit"] = time.perf_counter() - clock
        clock = time.perf_counter()
        lists = customer_lists(fitted, np.asarray(ids, dtype=np.int64), k=version.k)
        timings["lists"] = time.perf_counter() - clock
    clock = time.perf_counter()
    rows = lists.assign(shop_id=shop_id, version_id=version.pk)[RECOMMENDATION_COLUMNS]
    with transaction.atomic():
        # Under the build's lock: a new build (which locks it first too) waits, or has already replaced it.
        if not RecommenderVersion.objects.select_for_update().filter(
                pk=version.pk, status=RecommenderVersion.Status.ACTIVE).exists():
            logger.info("recommender build %d was replaced during a refresh: nothing written", version.pk)
            return RefreshOutcome(version_id=None, customers=0, recommendations=0,
                                  seconds=time.perf_counter() - started)
        Recommendation.objects.filter(version_id=version.pk, customer_id__in=ids).delete()
        bulk_insert_frame(Recommendation._meta.db_table, rows)
    timings["write"] = time.perf_counter() - clock
    outcome = RefreshOutcome(version_id=version.pk, customers=len(ids), recommendations=len(rows),
                             seconds=time.perf_counter() - started,
                             timings={name: round(s, 2) for name, s in timings.items()})
    logger.info("refreshed the recommendations of %d customers of shop %d in build %d (%.1f s)", len(ids),
                shop_id, version.pk, outcome.seconds)
    return outcome


def customers_rescored_refresh(*, shop_id: int, customer_ids, **kwargs) -> None:
    """Receives predictions.signals.customers_rescored: the re-scored customers get fresh lists too, by a task of
    their own on the `ml` queue (RECOMMENDATIONS_REFRESH_ON_RESCORE=false leaves them to the nightly build: the
    refit reads the whole shop, about 18 s at 20,000 customers, more on a big shop, once per re-scoring)."""
    if not settings.RECOMMENDATIONS_REFRESH_ON_RESCORE:
        return
    from .tasks import recommendations_refresh_task

    recommendations_refresh_task.delay(shop_id, sorted({int(i) for i in customer_ids}))


def recommendations_evaluate(*, shop: Shop, k: int = 10, data_report: bool = False) -> dict:
    """Hold out each customer's last order; metrics@k of every recommender and the hybrid, side by side.

    `data_report`: add the held-out data's shape (share of test products the customer bought before, share
    never seen in training)."""
    frames = recommender_frames(shop_id=shop.pk)
    result = evaluate_recommenders(frames.interactions, frames.products, frames.customers, k=k,
                                   config=recommender_config(shop=shop), visual_pairs=frames.visual)
    report = result.to_dict()
    report["weights"] = {name: float(w) for name, w in result.weights.items()}
    report["hybrid_choice"] = result.hybrid_choice
    report["validation_ndcg"] = {name: round(float(v), 6) for name, v in result.validation.items()}
    if data_report:
        report["data_report"] = result.data_report
    if result.cutoff is not None:
        report["holdout_after"] = pd.Timestamp(result.cutoff).isoformat()
    return report


SIMILAR_EXPORT_COLUMNS = ["product_id", "similar_product_id", "rank", "score", "kind"]


def similar_products_export(*, shop: Shop, kind: str, path, scope: str = "overall") -> int:
    """Write the shop's similar products of `kind` to a CSV file (SIMILAR_EXPORT_COLUMNS, products by their own
    ids, ordered by product and rank); returns the rows written. `visual` reads the catalogue's visual
    neighbours (of `scope`), the other kinds the active recommender build (none before the first build)."""
    if kind == "visual":
        frame = visual_neighbours_frame(shop_id=shop.pk, scope=scope)
    else:
        frame = similar_products_frame(shop_id=shop.pk, kind=kind)
    frame = frame.assign(kind=kind)[SIMILAR_EXPORT_COLUMNS]
    frame["score"] = frame["score"].astype(float).round(6)
    try:
        frame.to_csv(path, index=False)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}", field="out") from exc
    return len(frame)
