"""Writes of the recommendations app: build every list and similar-product list, evaluate offline.

The bridge: `selectors.recommender_frames` (three bulk reads) → `ml.build_all` → one transaction that
replaces the shop's lists (COPY on PostgreSQL). Re-running replaces, never duplicates."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from django.db import transaction
from django.utils import timezone

from accounts.jobs import job_create, job_finish, job_progress, job_running
from accounts.models import Job, Shop
from catalog.models import Category
from catalog.selectors import visual_neighbours_frame
from ecomsight.db import bulk_insert_frame
from ecomsight.errors import UserError

from .ml.build import BuildResult, build_all
from .ml.config import RecommenderConfig
from .ml.evaluate import evaluate_recommenders
from .models import Recommendation, RecommenderVersion, SimilarProduct
from .selectors import recommender_frames, similar_products_frame

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
        job_progress(job_id=job_id, done=2)
        clock = time.perf_counter()
        say(f"writing {len(result.recommendations)} recommendations and {len(result.similar)} similar products")
        recs = result.recommendations.assign(shop_id=shop.pk, version_id=version.pk)[
            ["shop_id", "version_id", "customer_id", "product_id", "rank", "score", "source", "reason"]]
        similar = result.similar.assign(
            shop_id=shop.pk, version_id=version.pk)[
            ["shop_id", "version_id", "product_id", "similar_id", "kind", "rank", "score"]]
        with transaction.atomic():
            Recommendation.objects.filter(shop=shop).delete()
            SimilarProduct.objects.filter(shop=shop).delete()
            bulk_insert_frame(Recommendation._meta.db_table, recs)
            bulk_insert_frame(SimilarProduct._meta.db_table, similar)
            RecommenderVersion.objects.filter(shop=shop, status=RecommenderVersion.Status.ACTIVE).update(
                status=RecommenderVersion.Status.RETIRED)
            version.status = RecommenderVersion.Status.ACTIVE
            version.weights = {k_: float(v) for k_, v in result.weights.items()}
            version.finished_at = timezone.now()
            version.save(update_fields=["status", "weights", "finished_at"])
        timings["write"] = time.perf_counter() - clock
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
