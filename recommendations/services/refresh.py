"""Fresh lists for some customers in the active build (after they were re-scored on new orders or events)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from ecomsight.db import bulk_insert_frame

from ..ml.build import customer_lists, hybrid_fit
from ..ml.config import RecommenderConfig
from ..models import Recommendation, RecommenderVersion
from ..selectors import recommender_frames, recommender_version_active
from .build import RECOMMENDATION_COLUMNS, _ranker_load

logger = logging.getLogger("ecomsight.recommendations")


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
    from ..tasks import recommendations_refresh_task

    recommendations_refresh_task.delay(shop_id, sorted({int(i) for i in customer_ids}))

