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

Steps 2 and 3 need nothing of each other when the shop is too big for TIFU-KNN's neighbours (the only statistic
that depends on a tuned setting, its decay): there, with workers (`enqueue`), step 3 is a task of its own
(`recommendations_statistics_task`) that another worker runs while this one fits step 2, and whichever of the two
records itself second, under the version's row lock, starts step 4. Smaller shops run them one after the other.

`recommendations_partition_run` lists one partition's customers with the shared model and replaces its rows of the
version (delete by version and id range, then COPY: idempotent); under the version's row lock it records itself
done, and the last one activates the version in the same transaction (earlier builds' rows deleted, the active
one retired). Readers only ever read the active version's rows, so they never see a half-built one. A failing
partition or statistics pass: `recommendations_build_fail` — the version FAILED and its rows deleted, the job
failed, the previous build still active and readable. A shop of one partition goes the same way, with the same
lists as one fit over every customer.
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
import scipy.sparse as sp
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.jobs import job_create, job_fail, job_finish, job_progress, job_resumed, job_running
from accounts.models import Job, Shop
from catalog.models import Category, Product
from ecomsight.db import bulk_insert_frame
from predictions.selectors.frames import customer_count

from ..ml.build import recommend_all, recommendations_frame
from ..ml.config import RecommenderConfig
from ..ml.content import content_similarity
from ..ml.data import build_interaction_data
from ..ml.evaluate import HybridFit, validation_hybrid
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
    (module doc). `enqueue`: the statistics pass (where it can run beside the validation fit) and one Celery task
    per partition go to the workers (the version becomes active when the last one ends); otherwise everything runs
    here and the version is active on return. `config`: the recommenders' settings (default: the shop's,
    `recommender_config`)."""
    started = time.perf_counter()
    if job_id is None:
        job_id = job_create(shop=shop, kind=Job.Kind.RECOMMEND, user=user, params={"k": k}).pk

    say = _reporter(job_id=job_id, progress=progress)
    with job_running(job_id):
        config = config or recommender_config(shop=shop)
        version = RecommenderVersion.objects.create(shop=shop, job_id=job_id, k=k, params=config.to_dict())
        try:
            plan = _plan_and_fit(shop=shop, version=version, k=k, config=config, say=say, enqueue=enqueue)
        except BaseException as exc:
            recommendations_build_fail(version_id=version.pk, error=f"{type(exc).__name__}: {exc}")
            raise
    if plan.ready is not None:
        _lists_start(plan.ready, enqueue=enqueue, progress=say)
    version.refresh_from_db()
    metrics = version.metrics
    return BuildOutcome(version=version, customers=plan.customers, products=plan.products,
                        interactions=metrics.get("interactions", 0),
                        recommendations=sum(metrics.get("rows", {}).values()), similar=metrics.get("similar", 0),
                        seconds=time.perf_counter() - started,
                        partitions=len(plan.bounds), timings={name: round(s, 2) for name, s in plan.timings.items()})


def _reporter(*, job_id: int | None, progress: Callable[[str], None] | None) -> Callable[[str], None]:
    """A step's messages to `progress` (a command's output) when given, and to the build's job."""
    def say(message: str) -> None:
        if progress:
            progress(message)
        job_progress(job_id=job_id, message=message)
    return say


@dataclass(frozen=True)
class _Plan:
    bounds: list[list[int]]
    customers: int
    products: int
    timings: dict[str, float]
    ready: RecommenderVersion | None  # fit and statistics recorded here: its partitions are this task's to start


def _plan_and_fit(*, shop: Shop, version: RecommenderVersion, k: int, config: RecommenderConfig,
                  say: Callable[[str], None], enqueue: bool) -> _Plan:
    """Steps 1-3 of the module doc (3 on a worker of its own where it can run beside 2); the job's progress total
    set."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    customers = customer_count(shop_id=shop.pk)
    bounds = customer_partition_bounds(shop_id=shop.pk, size=settings.RECOMMEND_PARTITION_CUSTOMERS)
    # no interaction yet: every partition ages from one instant all the same
    as_of = recommender_as_of(shop_id=shop.pk) or pd.Timestamp(int(time.time()), unit="s", tz="UTC")
    purchase_lines = recommender_purchase_lines(shop_id=shop.pk)
    job_progress(job_id=version.job_id, done=0, total=len(bounds) + 1)
    catalogue = Product.objects.filter(shop=shop).aggregate(total=Count("id"),
                                                            active=Count("id", filter=Q(active=True)))
    if not customers or not catalogue["active"]:
        say("no customers or no active products yet: nothing to recommend")
        version.params = {**config.to_dict(), "choice": "blend", "tuned": {}, "as_of": as_of.isoformat(),
                          "bounds": []}
        version.metrics = {"customers": customers, "products": catalogue["total"], "done": [], "rows": {}}
        version.save(update_fields=["params", "metrics"])
        ready = _build_record(version.pk, fit=HybridFit({}), similar=None,
                              figures={"interactions": 0, "similar": 0})
        return _Plan([], customers, catalogue["total"], timings, ready)

    config = shop_config(config, customers=customers, purchase_lines=purchase_lines, partitions=len(bounds))
    # TIFU-KNN's neighbour index is the one statistic that reads a tuned setting (its decay): without it, the
    # statistics pass needs nothing of the validation fit and another worker runs it meanwhile
    beside = enqueue and customers > config.tifu_neighbours_max_customers
    version.params = {**config.to_dict(), "as_of": as_of.isoformat(), "bounds": bounds, "statistics_beside": beside}
    version.metrics = {"customers": customers, "products": catalogue["total"], "done": [], "rows": {}}
    version.save(update_fields=["params", "metrics"])
    if beside:
        from ..tasks import recommendations_statistics_task

        transaction.on_commit(lambda: recommendations_statistics_task.delay(version.pk), robust=True)
    share = config.validation_train_customers / customers if customers > config.validation_train_customers else None
    say(f"reading a sample of {min(customers, config.validation_train_customers)} customers for the validation fit"
        if share else "reading interactions, products and customers")
    sample = recommender_frames(shop_id=shop.pk, sample_share=share)
    products = sample.products.reset_index(drop=True)
    timings["sample"] = time.perf_counter() - clock
    clock = time.perf_counter()
    content = content_similarity(products, config)
    if beside:  # the statistics pass reads it at its end rather than computing it again (9 s at 20,000 products)
        _matrix_save(content, _artifact_path(shop=shop, version_id=version.pk, name="content.npz"))
    visual = visual_similarity(products, sample.visual)
    say("fitting hybrid weights on the validation split")
    fit = validation_hybrid(sample.interactions, products, sample.customers, k=min(k, 10), config=config,
                            content_similarity=content, visual_similarity=visual)
    # a shop of one partition read whole for the sample: its statistics come from the same frames, not a re-read
    whole = sample if share is None and len(bounds) == 1 else None
    del sample
    if fit.ranker is not None:  # every partition lists with it; a refresh of some customers' lists needs it too
        _ranker_save(shop=shop, version=version, ranker=fit.ranker)
    timings["weights"] = time.perf_counter() - clock
    if beside:
        return _Plan(bounds, customers, len(products), timings, _build_record(version.pk, fit=fit))
    clock = time.perf_counter()
    statistics = _statistics(shop=shop, version=version, config=fit.tuned_config(config), as_of=as_of,
                             bounds=bounds, products=products, content=content, visual=visual, frames=whole, say=say)
    timings["statistics"] = time.perf_counter() - clock
    return _Plan(bounds, customers, len(products), timings, _build_record(version.pk, fit=fit, **statistics))


def recommendations_statistics_run(*, version_id: int, enqueue: bool = True,
                                   progress: Callable[[str], None] | None = None) -> None:
    """Step 3 of a build on a worker of its own, beside the validation fit (module doc); whichever of the two
    records itself second starts the partitions (to the workers, or here with enqueue=False). A version no longer
    building, or whose statistics are recorded already, is left alone."""
    version = RecommenderVersion.objects.select_related("shop").get(pk=version_id)
    if version.status != RecommenderVersion.Status.BUILDING or "similar" in version.metrics:
        return
    params = version.params
    statistics = _statistics(shop=version.shop, version=version, config=RecommenderConfig.from_dict(params),
                             as_of=pd.Timestamp(params["as_of"]), bounds=params["bounds"],
                             say=_reporter(job_id=version.job_id, progress=progress))
    ready = _build_record(version.pk, **statistics)
    if ready is not None:
        _lists_start(ready, enqueue=enqueue, progress=progress)


def _statistics(*, shop: Shop, version: RecommenderVersion, config: RecommenderConfig, as_of: pd.Timestamp,
                bounds: list[list[int]], say: Callable[[str], None], products: pd.DataFrame | None = None,
                content: sp.csr_matrix | None = None, visual: sp.csr_matrix | None = None,
                frames: RecommenderFrames | None = None) -> dict:
    """Step 3 (module doc): the partitions' statistics folded, item_knn's neighbours by product blocks, the shared
    model saved; returns `_build_record`'s `similar` (the similar products, not written yet) and `figures`.
    `products`, `content`, `visual`: the catalogue and its similarities when the caller has them (else read with
    the first partition); `frames`: the only partition's frames when already read."""
    merged: PartitionPartials | None = None
    tifu = version.metrics["customers"] <= config.tifu_neighbours_max_customers  # as the partitions decide
    # Each partition's weights matrix goes to disk instead of its co-occurrence (Gram) matrix, which is
    # products x products: item_knn's neighbours are then computed product block by product block.
    spill = WeightsSpill(_artifact_path(shop=shop, version_id=version.pk, name="weights"))
    try:
        for index, (lo, hi) in enumerate(bounds):
            say(f"statistics of partition {index + 1} of {len(bounds)}")
            if frames is None:
                frames = recommender_frames(shop_id=shop.pk, customer_range=(lo, hi))
            if products is None:
                products = frames.products.reset_index(drop=True)
                visual = visual_similarity(products, frames.visual)
            data = _partition_data(frames, config=config, as_of=as_of)
            frames = None
            partial = partition_partials(data, config, tifu=tifu, gram=False)
            spill.add(data.weights)
            del data
            merged = partial if merged is None else partials_merge([merged, partial], config)
            del partial
        say("item neighbours, by product blocks")
        # each block moves the job's progress (its time): the stall sweep sees a long pass still working
        similarity = item_similarity_blocks(spill, merged.stats.sq_norms, config, progress=lambda done, total: say(
            f"item neighbours, by product blocks: {done} of {total}"))
    finally:
        spill.remove()  # customers' interactions: not kept past the pass
    if content is None:  # beside the fit: the fit's task saved it (computed here if that task has not yet)
        saved = _artifact_path(shop=shop, version_id=version.pk, name="content.npz")
        content = sp.load_npz(saved) if saved.exists() else content_similarity(products, config)
        saved.unlink(missing_ok=True)
    model = partitioned_model(merged, config, content=content, visual=visual, similarity=similarity)
    interactions = merged.interactions
    del merged
    partitioned_model_save(model, _artifact_path(shop=shop, version_id=version.pk, name="partitioned.npz"))
    catalogue = build_interaction_data(_NO_INTERACTIONS, products, pd.DataFrame({"customer_id": []}), config=config,
                                       as_of=as_of)  # the products' ids and active flags, as every partition's
    similar = similar_products_frame(catalogue, also_bought=model.similarity, content=model.content,
                                     k=config.similar_k).assign(shop_id=shop.pk, version_id=version.pk)
    return {"similar": similar, "figures": {"interactions": interactions, "similar": len(similar)}}


_NO_INTERACTIONS = pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "product_id": pd.Series(dtype="int64"),
                                 "ts": pd.Series(dtype="datetime64[ns, UTC]"), "kind": pd.Series(dtype="str"),
                                 "quantity": pd.Series(dtype="float64"), "order_id": pd.Series(dtype="float64")})


def _build_record(version_id: int, *, fit: HybridFit | None = None, similar: pd.DataFrame | None = None,
                  figures: dict | None = None) -> RecommenderVersion | None:
    """Record the validation fit (weights, choice, tuned settings) and/or the statistics pass (`similar` written,
    `figures`) under the version's row lock; returns the version when both are now recorded (its partitions can
    start: `_lists_start`), else None. A version no longer building
    records nothing, and its shared model file (written after the failure pruned its files) is removed."""
    with transaction.atomic():
        locked = (RecommenderVersion.objects.select_for_update(of=("self",)).select_related("shop")
                  .get(pk=version_id))
        if locked.status != RecommenderVersion.Status.BUILDING:
            shop = locked.shop
            transaction.on_commit(lambda: _artifacts_prune(shop=shop, version_ids=[version_id]))
            return None
        fields = ["params", "metrics"]
        if fit is not None:
            locked.params = {**locked.params, "choice": fit.choice, "tuned": dict(fit.tuned)}
            locked.weights = {name: float(value) for name, value in fit.weights.items()}
            fields.append("weights")
        if figures is not None:  # the building version's own rows: no reader sees them before it is active
            SimilarProduct.objects.filter(version_id=version_id).delete()
            if similar is not None:
                bulk_insert_frame(SimilarProduct._meta.db_table, similar[SIMILAR_COLUMNS])
            locked.metrics = {**locked.metrics, **figures}
        ready = "choice" in locked.params and "similar" in locked.metrics
        if ready:
            bounds = locked.params["bounds"]
            locked.params = {**locked.params, "partitions": bounds}
            job_progress(job_id=locked.job_id, done=1, message=f"statistics of {locked.metrics['customers']} "
                                                               f"customers ready: listing {len(bounds)} partition(s)")
        locked.save(update_fields=fields)
    return locked if ready else None


def _lists_start(version: RecommenderVersion, *, enqueue: bool, progress: Callable[[str], None] | None = None) -> None:
    """Step 4 for a version whose fit and statistics are recorded: its partitions queued once the caller commits
    (`enqueue`) or each run here; a version of no partition (nothing to recommend) is activated at once."""
    partitions = len(version.params["partitions"])
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
                recommendations_partition_run(version_id=version.pk, index=index, progress=progress)
            except BaseException as exc:
                recommendations_step_fail(version_id=version.pk, index=index, exc=exc)
                raise


def _partition_data(frames: RecommenderFrames, *, config: RecommenderConfig, as_of: pd.Timestamp):
    """One partition's customers and their interactions (`frames`) as the recommenders' matrix (the shop's
    products, the build's `as_of`)."""
    return build_interaction_data(frames.interactions, frames.products, frames.customers, config=config, as_of=as_of)


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
    data = _partition_data(recommender_frames(shop_id=shop.pk, customer_range=(lo, hi)), config=config,
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
    lists = _partition_write(version=version, index=index, customer_range=(lo, hi), lists=lists)
    if lists is None:
        return 0
    with transaction.atomic():
        # Under the version's row lock (FOR NO KEY UPDATE: other partitions' writes, FOR KEY SHARE, go on): partitions
        # count one by one, the same partition delivered twice counts once, a version failed meanwhile (its rows,
        # these too, deleted by the failure) takes none, the last activates.
        locked = (RecommenderVersion.objects.select_for_update(of=("self",), no_key=True).select_related("shop")
                  .get(pk=version.pk))
        done = set(locked.metrics.get("done", []))
        if locked.status != RecommenderVersion.Status.BUILDING or index in done:
            return 0
        done.add(index)
        locked.metrics = {**locked.metrics, "done": sorted(done),
                          "rows": {**locked.metrics.get("rows", {}), str(index): len(lists)}}
        locked.save(update_fields=["metrics"])
        total = len(params["partitions"])
        job_progress(job_id=locked.job_id, done=1 + len(done), message=f"listed {len(done)} of {total} partitions")
        if len(done) == total:
            _activate(locked)
    return len(lists)


def _partition_write(*, version: RecommenderVersion, index: int, customer_range: tuple[int, int],
                     lists: pd.DataFrame) -> pd.DataFrame | None:
    """Replace partition `index`'s rows of a building version with `lists` (those of customers erased meanwhile left
    out); returns the rows written, or None (nothing written) when the version is no longer building or the
    partition is recorded done. Partitions write at the same time, and record themselves while others write (the
    version's row FOR KEY SHARE here, FOR NO KEY UPDATE to record; a failure, FOR UPDATE, waits for the writes under
    way, then deletes their rows too); copies of one partition write one after the other (an advisory lock on
    (version, partition)), the later one finding the first done or replacing its rows."""
    lo, hi = customer_range
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [version.pk % 2**31, index])
            cursor.execute(f"SELECT 1 FROM {RecommenderVersion._meta.db_table} WHERE id = %s AND status = %s"
                           " AND NOT COALESCE(metrics -> 'done', '[]') @> to_jsonb(%s::int) FOR KEY SHARE",
                           [version.pk, RecommenderVersion.Status.BUILDING, index])
            if cursor.fetchone() is None:  # no longer building, or this partition is done
                return None
        # The partition's customers locked (FOR KEY SHARE, in id order, as an erasure locks them FOR UPDATE): a
        # customer erased while the lists were computed is left out, and an erasure arriving now waits for this
        # commit, then deletes what was written (Recommendation has no FK constraint to stop an orphan row).
        lists = lists[lists["customer_id"].isin(_customers_locked(shop_id=version.shop_id, customer_range=(lo, hi)))]
        Recommendation.objects.filter(version_id=version.pk, customer_id__gte=lo, customer_id__lte=hi).delete()
        bulk_insert_frame(Recommendation._meta.db_table, lists[RECOMMENDATION_COLUMNS])
    return lists


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
    # (and the catalogue's content similarity, when the fit's task saved it after the statistics pass had computed
    # its own)
    for name in ("partitioned.npz", "content.npz"):
        transaction.on_commit(lambda path=_artifact_path(shop=shop, version_id=version.pk, name=name):
                              path.unlink(missing_ok=True))
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


def _matrix_save(matrix: sp.csr_matrix, path: Path) -> None:
    """A sparse matrix as .npz (no pickle), atomically: temporary file + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}-{uuid.uuid4().hex}.partial.npz")
    try:
        sp.save_npz(temporary, sp.csr_matrix(matrix))
        temporary.rename(path)
    finally:
        temporary.unlink(missing_ok=True)


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
    """Finish a build whose queued tasks were lost (a worker killed between taking a task off Redis and recording it
    unacknowledged, a broker restarted without persistence): the partitions not in `version.metrics["done"]` run
    again — to the workers, or here with enqueue=False — or, for a build whose statistics pass was queued beside its
    fit and never recorded, that pass. Both are idempotent, so resuming a build that was in fact still going does no
    harm. A build that is no longer building, or whose first task never recorded its fit (that task's work: nothing
    to queue again), is left as it is. The stall sweep (services/stalls.py) calls it; `build_recommendations
    --resume VERSION_ID` too (partitions only)."""
    with transaction.atomic():
        # Under the build's lock, as its last partition takes it to activate it: a build ending now keeps its job's end.
        version = RecommenderVersion.objects.select_for_update().get(pk=version_id)
        missing = recommendations_build_missing(version)
        statistics = (missing is None and version.params.get("statistics_beside", False)
                      and "choice" in version.params and "similar" not in version.metrics)
        if version.status != RecommenderVersion.Status.BUILDING or (missing is None and not statistics):
            return version
        if version.job_id:
            job_resumed(job_id=version.job_id, message="resumed: the statistics pass to run again" if statistics
                        else f"resumed: {len(missing)} partition(s) to run again")
        if enqueue:  # once the resume commits (the stall sweep's transaction, when it calls this)
            from ..tasks import recommendations_partition_task, recommendations_statistics_task

            transaction.on_commit(lambda: recommendations_statistics_task.delay(version.pk) if statistics else
                                  [recommendations_partition_task.delay(version.pk, index) for index in missing])
    if not enqueue:
        for index in [None] if statistics else missing:
            try:
                if index is None:
                    recommendations_statistics_run(version_id=version.pk, enqueue=False, progress=progress)
                else:
                    recommendations_partition_run(version_id=version.pk, index=index, progress=progress)
            except BaseException as exc:
                recommendations_step_fail(version_id=version.pk, index=index, exc=exc)
                raise
    version.refresh_from_db()
    return version


def recommendations_step_fail(*, version_id: int, index: int | None, exc: BaseException) -> None:
    """`recommendations_build_fail` for a step that raised `exc`: the statistics pass (`index` None) or partition
    `index`, named in the error."""
    step = "statistics" if index is None else f"partition {index}"
    recommendations_build_fail(version_id=version_id, error=f"{step}: {type(exc).__name__}: {exc}")
