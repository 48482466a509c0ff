"""The recommendation build, by customer partitions: no process holds every customer's interactions.

`recommendations_build` (the build's first task, or the whole build in process):

1. a version (BUILDING) and its job; the shop's `as_of` (its last interaction: every partition ages its
   interactions from it), its size, and its partitions: id ranges of about RECOMMEND_PARTITION_CUSTOMERS
   customers (NTILE over the ids);
2. blend weights, ranker and tuned settings on the validation split of a stable customer sample (everyone in a
   shop of up to `validation_train_customers`: the same validation as before);
3. the statistics pass: partition after partition read, its item statistics and neighbour indexes folded into
   the running sums, its weights matrix written to disk (never the catalogue's co-occurrence matrix), dropped;
   item_knn's neighbours computed product block by product block over those matrices, which are then removed;
   the shared model saved as an .npz beside the ranker, the similar products written
   under the building version;
4. one `recommendations_partition_task` per partition (the `ml` queue), enqueued on commit — or each run here.

`recommendations_partition_run` lists one partition's customers with the shared model and replaces its rows of the
version (delete by version and id range, then COPY: idempotent); under the version's row lock it records itself
done, and the last one activates the version in the same transaction (earlier builds' rows deleted, the active
one retired). Readers only ever read the active version's rows, so they never see a half-built one. A failing
partition: `recommendations_build_fail` — the version FAILED and its rows deleted, the job failed, the previous
build still active and readable. A shop of one partition goes the same way, with the same lists as one fit over
every customer.
"""

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
from django.db import connection, transaction
from django.utils import timezone

from accounts.jobs import job_create, job_fail, job_finish, job_progress, job_resumed, job_running
from accounts.models import Job, Shop
from catalog.models import Category
from ecomsight.db import bulk_insert_frame
from predictions.selectors.frames import customer_count

from ..ml.build import recommend_all, recommendations_frame
from ..ml.config import RecommenderConfig
from ..ml.content import content_similarity
from ..ml.data import build_interaction_data
from ..ml.evaluate import validation_hybrid
from ..ml.partitioned import (
    PartitionPartials,
    WeightsSpill,
    item_similarity_blocks,
    partials_merge,
    partition_hybrid,
    partition_partials,
    partitioned_model,
    partitioned_model_load,
    partitioned_model_save,
    shop_config,
)
from ..ml.similar import similar_products_frame
from ..ml.visual import visual_similarity
from ..models import Recommendation, RecommenderVersion, SimilarProduct
from ..selectors import (
    RecommenderFrames,
    customer_partition_bounds,
    recommender_as_of,
    recommender_frames,
    recommender_purchase_lines,
)

logger = logging.getLogger("ecomsight.recommendations")

RECOMMENDATION_COLUMNS = ["shop_id", "version_id", "customer_id", "product_id", "rank", "score", "source", "reason"]
SIMILAR_COLUMNS = ["shop_id", "version_id", "product_id", "similar_id", "kind", "rank", "score"]


@dataclass(frozen=True)
class BuildOutcome:
    """What `recommendations_build` did. With the partitions enqueued, `recommendations` counts the rows written so
    far (0) and the version is still building: the job's result has the final figures."""

    version: RecommenderVersion
    customers: int
    products: int
    interactions: int
    recommendations: int
    similar: int
    seconds: float
    partitions: int = 1
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: sample, weights, statistics, ...

    def to_dict(self) -> dict:
        return {"version": self.version.pk, "customers": self.customers, "products": self.products,
                "interactions": self.interactions, "recommendations": self.recommendations,
                "similar": self.similar, "weights": self.version.weights, "partitions": self.partitions,
                "seconds": round(self.seconds, 2)}


def recommender_config(*, shop: Shop, **overrides) -> RecommenderConfig:
    """The shop's settings: re-buy allowed globally and per category (Category.allow_rebuy)."""
    by_category = dict(Category.objects.filter(shop=shop, allow_rebuy__isnull=False)
                       .values_list("path", "allow_rebuy"))
    return RecommenderConfig(allow_rebuy=shop.allow_rebuy, rebuy_by_category=by_category, **overrides)


def recommendations_build(
    *, shop: Shop, k: int = 20, user=None, job_id: int | None = None,
    progress: Callable[[str], None] | None = None, enqueue: bool = False, config: RecommenderConfig | None = None,
) -> BuildOutcome:
    """Top-k recommendations for every customer and similar products for every product, by customer partitions
    (module doc). `enqueue`: one Celery task per partition (the version becomes active when the last one ends);
    otherwise every partition runs here and the version is active on return. `config`: the recommenders' settings
    (default: the shop's, `recommender_config`)."""
    started = time.perf_counter()
    if job_id is None:
        job_id = job_create(shop=shop, kind=Job.Kind.RECOMMEND, user=user, params={"k": k}).pk

    def say(message: str) -> None:
        if progress:
            progress(message)
        job_progress(job_id=job_id, message=message)

    with job_running(job_id):
        config = config or recommender_config(shop=shop)
        version = RecommenderVersion.objects.create(shop=shop, job_id=job_id, k=k, params=config.to_dict())
        try:
            plan = _statistics_pass(shop=shop, version=version, k=k, config=config, say=say)
        except BaseException as exc:
            recommendations_build_fail(version_id=version.pk, error=f"{type(exc).__name__}: {exc}")
            raise
    partitions = len(plan.bounds)
    if not partitions:
        with transaction.atomic():
            _activate(RecommenderVersion.objects.select_for_update(of=("self",)).select_related("shop")
                      .get(pk=version.pk))
    elif enqueue:
        from ..tasks import recommendations_partition_task

        for index in range(partitions):
            transaction.on_commit(lambda i=index: recommendations_partition_task.delay(version.pk, i), robust=True)
    else:
        for index in range(partitions):
            try:
                recommendations_partition_run(version_id=version.pk, index=index, progress=say)
            except BaseException as exc:
                recommendations_build_fail(version_id=version.pk, error=f"partition {index}: {type(exc).__name__}: "
                                                                        f"{exc}")
                raise
    version.refresh_from_db()
    return BuildOutcome(version=version, customers=plan.customers, products=plan.products,
                        interactions=plan.interactions, recommendations=sum(version.metrics.get("rows", {}).values()),
                        similar=plan.similar, seconds=time.perf_counter() - started, partitions=partitions,
                        timings={name: round(s, 2) for name, s in plan.timings.items()})


@dataclass(frozen=True)
class _Plan:
    bounds: list[list[int]]
    customers: int
    products: int
    interactions: int
    similar: int
    timings: dict[str, float]


def _statistics_pass(*, shop: Shop, version: RecommenderVersion, k: int, config: RecommenderConfig,
                     say: Callable[[str], None]) -> _Plan:
    """Steps 1-3 of the module doc; the version's params, weights and metrics saved; the job's progress total set."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    customers = customer_count(shop_id=shop.pk)
    bounds = customer_partition_bounds(shop_id=shop.pk, size=settings.RECOMMEND_PARTITION_CUSTOMERS)
    # no interaction yet: every partition ages from one instant all the same
    as_of = recommender_as_of(shop_id=shop.pk) or pd.Timestamp(int(time.time()), unit="s", tz="UTC")
    purchase_lines = recommender_purchase_lines(shop_id=shop.pk)
    job_progress(job_id=version.job_id, done=0, total=len(bounds) + 1)
    share = config.validation_train_customers / customers if customers > config.validation_train_customers else None
    say(f"reading a sample of {min(customers, config.validation_train_customers)} customers for the validation fit"
        if share else "reading interactions, products and customers")
    sample = recommender_frames(shop_id=shop.pk, sample_share=share)
    products = sample.products.reset_index(drop=True)
    timings["sample"] = time.perf_counter() - clock
    if not customers or not products["active"].any():
        say("no customers or no active products yet: nothing to recommend")
        _plan_save(version, config=config, as_of=as_of, bounds=[], weights={}, choice="blend", tuned={},
                   figures={"customers": customers, "products": len(products), "interactions": 0, "similar": 0})
        return _Plan([], customers, len(products), 0, 0, timings)

    config = shop_config(config, customers=customers, purchase_lines=purchase_lines, partitions=len(bounds))
    clock = time.perf_counter()
    content = content_similarity(products, config)
    visual = visual_similarity(products, sample.visual)
    say("fitting hybrid weights on the validation split")
    interactions = sample.interactions.assign(kind=sample.interactions["kind"].astype("category"))
    fit = validation_hybrid(interactions, products, sample.customers, k=min(k, 10), config=config,
                            content_similarity=content, visual_similarity=visual)
    # a shop of one partition read whole for the sample: its statistics come from the same frames, not a re-read
    whole = sample if share is None and len(bounds) == 1 else None
    del sample, interactions
    tuned = fit.tuned_config(config)
    timings["weights"] = time.perf_counter() - clock

    clock = time.perf_counter()
    merged: PartitionPartials | None = None
    tifu = customers <= tuned.tifu_neighbours_max_customers  # TIFU's neighbours: decided by the shop's size
    # Each partition's weights matrix goes to disk instead of its co-occurrence (Gram) matrix, which is
    # products x products: item_knn's neighbours are then computed product block by product block.
    spill = WeightsSpill(_artifact_path(shop=shop, version_id=version.pk, name="weights"))
    try:
        for index, (lo, hi) in enumerate(bounds):
            say(f"statistics of partition {index + 1} of {len(bounds)}")
            data = _partition_data(shop_id=shop.pk, customer_range=(lo, hi), config=tuned, as_of=as_of,
                                   frames=whole)
            partial = partition_partials(data, tuned, tifu=tifu, gram=False)
            spill.add(data.weights)
            del data
            merged = partial if merged is None else partials_merge([merged, partial], tuned)
            del partial
        del whole
        say("item neighbours, by product blocks")
        # each block moves the job's progress (its time): the stall sweep sees a long pass still working
        similarity = item_similarity_blocks(spill, merged.stats.sq_norms, tuned, progress=lambda done, total: say(
            f"item neighbours, by product blocks: {done} of {total}"))
    finally:
        spill.remove()  # customers' interactions: not kept past the pass
    model = partitioned_model(merged, tuned, content=content, visual=visual, similarity=similarity)
    interactions_total = merged.interactions
    del merged
    partitioned_model_save(model, _artifact_path(shop=shop, version_id=version.pk, name="partitioned.npz"))
    timings["statistics"] = time.perf_counter() - clock

    clock = time.perf_counter()
    catalogue = build_interaction_data(_NO_INTERACTIONS, products, pd.DataFrame({"customer_id": []}), config=tuned,
                                       as_of=as_of)  # the products' ids and active flags, as every partition's
    similar = similar_products_frame(catalogue, also_bought=model.similarity, content=model.content,
                                     k=config.similar_k).assign(shop_id=shop.pk, version_id=version.pk)
    with transaction.atomic():  # the building version's own rows: no reader sees them before it is active
        SimilarProduct.objects.filter(version_id=version.pk).delete()
        bulk_insert_frame(SimilarProduct._meta.db_table, similar[SIMILAR_COLUMNS])
    if fit.ranker is not None:  # every partition lists with it; a refresh of some customers' lists needs it too
        _ranker_save(shop=shop, version=version, ranker=fit.ranker)
    timings["similar"] = time.perf_counter() - clock
    _plan_save(version, config=config, as_of=as_of, bounds=bounds, weights=fit.weights, choice=fit.choice,
               tuned=dict(fit.tuned), figures={"customers": customers, "products": len(products),
                                               "interactions": interactions_total, "similar": len(similar)})
    job_progress(job_id=version.job_id, done=1,
                 message=f"statistics of {customers} customers ready: listing {len(bounds)} partition(s)")
    return _Plan(bounds, customers, len(products), interactions_total, len(similar), timings)


_NO_INTERACTIONS = pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "product_id": pd.Series(dtype="int64"),
                                 "ts": pd.Series(dtype="datetime64[ns, UTC]"), "kind": pd.Series(dtype="str"),
                                 "quantity": pd.Series(dtype="float64"), "order_id": pd.Series(dtype="float64")})


def _plan_save(version: RecommenderVersion, *, config: RecommenderConfig, as_of: pd.Timestamp, bounds, weights,
               choice: str, tuned: dict, figures: dict) -> None:
    version.params = {**config.to_dict(), "choice": choice, "tuned": tuned, "as_of": as_of.isoformat(),
                      "partitions": bounds}
    version.weights = {name: float(value) for name, value in weights.items()}
    version.metrics = {**figures, "done": [], "rows": {}}
    version.save(update_fields=["params", "weights", "metrics"])


def _partition_data(*, shop_id: int, customer_range: tuple[int, int], config: RecommenderConfig,
                    as_of: pd.Timestamp, frames: RecommenderFrames | None = None):
    """One partition's customers and their interactions as the recommenders' matrix (the shop's products, the
    build's `as_of`); `frames`: the partition's frames when already read."""
    if frames is None:
        frames = recommender_frames(shop_id=shop_id, customer_range=customer_range)
    interactions = frames.interactions.assign(kind=frames.interactions["kind"].astype("category"))
    return build_interaction_data(interactions, frames.products, frames.customers, config=config, as_of=as_of)


def recommendations_partition_run(*, version_id: int, index: int,
                                  progress: Callable[[str], None] | None = None) -> int:
    """List partition `index` of a building version and replace its rows (safe to run twice); the last partition
    to finish activates the version. Returns the rows written (0: the version is no longer building, or this
    partition was done already)."""
    version = RecommenderVersion.objects.select_related("shop").get(pk=version_id)
    if version.status != RecommenderVersion.Status.BUILDING or index in version.metrics.get("done", []):
        return 0
    shop, params = version.shop, version.params
    lo, hi = params["partitions"][index]
    config = RecommenderConfig.from_dict({**params, **params.get("tuned", {})})
    data = _partition_data(shop_id=shop.pk, customer_range=(lo, hi), config=config,
                           as_of=pd.Timestamp(params["as_of"]))
    model = partitioned_model_load(_artifact_path(shop=shop, version_id=version.pk, name="partitioned.npz"))
    ranker = None
    if params.get("choice") == "ranker":
        ranker = _ranker_load(shop=shop, version=version)
        if ranker is None:  # every partition must list the same way
            raise RuntimeError(f"recommender build {version.pk} chose its ranker but its file is missing")
    fitted = partition_hybrid(data, model, config, weights=version.weights, ranker=ranker)
    del model
    rows = fitted.data.customer_positions(fitted.data.customer_ids)
    coded = recommend_all(fitted.hybrid, rows, version.k, fitted.exclude, workers=config.workers, progress=progress)
    lists = recommendations_frame(fitted.hybrid, rows, coded).assign(shop_id=shop.pk, version_id=version.pk)
    del fitted, coded
    with transaction.atomic():
        # Under the version's row lock, taken first: partitions write one at a time and count one by one, the same
        # partition delivered twice at once writes once (the second finds it done), a failed version takes none.
        locked = (RecommenderVersion.objects.select_for_update(of=("self",)).select_related("shop")
                  .get(pk=version.pk))
        done = set(locked.metrics.get("done", []))
        if locked.status != RecommenderVersion.Status.BUILDING or index in done:
            return 0
        # The partition's customers locked (FOR KEY SHARE, in id order, as an erasure locks them FOR UPDATE): a
        # customer erased while the lists were computed is left out, and an erasure arriving now waits for this
        # commit, then deletes what was written (Recommendation has no FK constraint to stop an orphan row).
        lists = lists[lists["customer_id"].isin(_customers_locked(shop_id=shop.pk, customer_range=(lo, hi)))]
        Recommendation.objects.filter(version_id=version.pk, customer_id__gte=lo, customer_id__lte=hi).delete()
        bulk_insert_frame(Recommendation._meta.db_table, lists[RECOMMENDATION_COLUMNS])
        done.add(index)
        locked.metrics = {**locked.metrics, "done": sorted(done),
                          "rows": {**locked.metrics.get("rows", {}), str(index): len(lists)}}
        locked.save(update_fields=["metrics"])
        total = len(params["partitions"])
        job_progress(job_id=locked.job_id, done=1 + len(done), message=f"listed {len(done)} of {total} partitions")
        if len(done) == total:
            _activate(locked)
    return len(lists)


def _customers_locked(*, shop_id: int, customer_range: tuple[int, int]) -> np.ndarray:
    """The ids of the shop's customers in the range, locked FOR KEY SHARE until the caller's transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM behavior_customer WHERE shop_id = %s AND id BETWEEN %s AND %s ORDER BY id"
                       " FOR KEY SHARE", [shop_id, customer_range[0], customer_range[1]])
        return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)


def _activate(version: RecommenderVersion) -> None:
    """The version (locked by the caller) becomes the shop's active build, in the caller's transaction: earlier
    builds' rows deleted, the active one retired. Older builds still building are failed (they could only replace
    this newer one); a newer build already active leaves this one retired unused."""
    shop = version.shop
    now = timezone.now()
    # Before the active row is locked (a stale build's last partition may be activating it: it finishes first).
    stale = list(RecommenderVersion.objects.filter(shop=shop, status=RecommenderVersion.Status.BUILDING,
                                                   pk__lt=version.pk).values_list("id", "job_id"))
    if stale:
        RecommenderVersion.objects.filter(pk__in=[pk for pk, _ in stale],
                                          status=RecommenderVersion.Status.BUILDING).update(
            status=RecommenderVersion.Status.FAILED, finished_at=now)
        for _, job_id in stale:
            if job_id:
                job_fail(job_id=job_id, error=f"superseded by recommender build {version.pk}")
    # The active build's row, as recommendations_refresh locks it: a refresh writing its rows finishes first.
    active = list(RecommenderVersion.objects.select_for_update().filter(
        shop=shop, status=RecommenderVersion.Status.ACTIVE).values_list("id", flat=True))
    if any(pk > version.pk for pk in active):
        version.status = RecommenderVersion.Status.RETIRED
        version.finished_at = now
        version.save(update_fields=["status", "finished_at"])
        Recommendation.objects.filter(version_id=version.pk).delete()
        SimilarProduct.objects.filter(version_id=version.pk).delete()
        if version.job_id:
            job_finish(job_id=version.job_id, result={"version": version.pk, "superseded_by": max(active)},
                       message="a newer build was active already: this one was not used")
        transaction.on_commit(lambda: _artifacts_prune(shop=shop, version_ids=[version.pk]))
        return
    old = list(RecommenderVersion.objects.filter(shop=shop).exclude(pk=version.pk)
               .exclude(status=RecommenderVersion.Status.BUILDING).values_list("id", flat=True))
    Recommendation.objects.filter(version_id__in=old).delete()
    SimilarProduct.objects.filter(version_id__in=old).delete()
    RecommenderVersion.objects.filter(shop=shop, status=RecommenderVersion.Status.ACTIVE).update(
        status=RecommenderVersion.Status.RETIRED)
    version.status = RecommenderVersion.Status.ACTIVE
    version.finished_at = now
    version.save(update_fields=["status", "finished_at"])
    metrics = version.metrics
    result = {"version": version.pk, "customers": metrics.get("customers", 0), "products": metrics.get("products", 0),
              "interactions": metrics.get("interactions", 0),
              "recommendations": sum(metrics.get("rows", {}).values()), "similar": metrics.get("similar", 0),
              "weights": version.weights, "partitions": len(version.params.get("partitions", [])),
              "seconds": round((version.finished_at - version.created_at).total_seconds(), 2)}
    if version.job_id:
        job_progress(job_id=version.job_id, done=len(version.params.get("partitions", [])) + 1)
        job_finish(job_id=version.job_id, result=result, message="recommendations built")
    # The shared model holds customers' interaction vectors (user_knn / TIFU neighbours): only the partitions
    # need it, so it goes with the build's end, and an erased customer's vector does not outlive the build.
    shared = _artifact_path(shop=shop, version_id=version.pk, name="partitioned.npz")
    transaction.on_commit(lambda: shared.unlink(missing_ok=True))
    transaction.on_commit(lambda: _artifacts_prune(shop=shop, version_ids=old))


def recommendations_build_fail(*, version_id: int, error: str) -> None:
    """A build failed (its statistics pass or a partition): the version FAILED and its rows deleted, its job
    failed. The shop's active build stays as it was. Partitions still running write nothing after this."""
    with transaction.atomic():
        version = RecommenderVersion.objects.select_for_update().filter(pk=version_id).first()
        if version is None or version.status != RecommenderVersion.Status.BUILDING:
            return
        version.status = RecommenderVersion.Status.FAILED
        version.finished_at = timezone.now()
        version.save(update_fields=["status", "finished_at"])
        Recommendation.objects.filter(version_id=version_id).delete()
        SimilarProduct.objects.filter(version_id=version_id).delete()
        if version.job_id:
            job_fail(job_id=version.job_id, error=error[:2000])
        shop = version.shop
        transaction.on_commit(lambda: _artifacts_prune(shop=shop, version_ids=[version_id]))  # never used now
    logger.warning("recommender build %d failed: %s", version_id, error)


def _artifact_path(*, shop: Shop, version_id: int, name: str) -> Path:
    return Path(settings.MODEL_DIR) / shop.slug / "recommender" / str(version_id) / name


def _ranker_path(*, shop: Shop, version_id: int) -> Path:
    return _artifact_path(shop=shop, version_id=version_id, name="ranker.txt")


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


def _artifacts_prune(*, shop: Shop, version_ids) -> None:
    """Remove the files (ranker, shared model) of the shop's earlier builds: only the active build's lists are
    ever refreshed, and a build still running keeps its own."""
    for version_id in version_ids:
        shutil.rmtree(_artifact_path(shop=shop, version_id=version_id, name="x").parent, ignore_errors=True)


def _ranker_load(*, shop: Shop, version: RecommenderVersion):
    """The build's ranker, or None (a build before rankers were saved, a lost file: the blend weights serve)."""
    path = _ranker_path(shop=shop, version_id=version.pk)
    if not path.exists():
        logger.warning("recommender build %d chose its ranker but %s is missing", version.pk, path)
        return None
    import lightgbm as lgb

    return lgb.Booster(model_file=str(path))


def recommendations_build_missing(version: RecommenderVersion) -> list[int] | None:
    """The partitions of a build not listed yet; None while its statistics pass has not planned them."""
    if "partitions" not in version.params:
        return None
    done = set(version.metrics.get("done", []))
    return [i for i in range(len(version.params["partitions"])) if i not in done]


def recommendations_build_resume(*, version_id: int, enqueue: bool = True,
                                 progress: Callable[[str], None] | None = None) -> RecommenderVersion:
    """Finish a build whose queued partitions were lost (a worker killed between taking a task off Redis and
    recording it unacknowledged, a broker restarted without persistence): the partitions not in
    `version.metrics["done"]` run again — to the workers, or here with enqueue=False. Partitions are idempotent, so
    resuming a build that was in fact still going does no harm. A build that is no longer building, or whose
    statistics pass never planned its partitions (that pass is its first task's: nothing to queue again), is left
    as it is. The stall sweep (services/stalls.py) calls it; `build_recommendations --resume VERSION_ID` too."""
    with transaction.atomic():
        # Under the build's lock, as its last partition takes it to activate it: a build ending now keeps its job's end.
        version = RecommenderVersion.objects.select_for_update().get(pk=version_id)
        missing = recommendations_build_missing(version)
        if version.status != RecommenderVersion.Status.BUILDING or missing is None:
            return version
        if version.job_id:
            job_resumed(job_id=version.job_id, message=f"resumed: {len(missing)} partition(s) to run again")
        if enqueue:  # once the resume commits (the stall sweep's transaction, when it calls this)
            from ..tasks import recommendations_partition_task

            transaction.on_commit(lambda: [recommendations_partition_task.delay(version.pk, index)
                                           for index in missing])
    if not enqueue:
        for index in missing:
            try:
                recommendations_partition_run(version_id=version.pk, index=index, progress=progress)
            except BaseException as exc:
                recommendations_build_fail(version_id=version.pk,
                                           error=f"partition {index}: {type(exc).__name__}: {exc}")
                raise
    version.refresh_from_db()
    return version
