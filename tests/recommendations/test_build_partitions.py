"""The recommendation build by customer partitions (issue 23, item 3), on the simulated shop in PostgreSQL, with
the Celery tasks eager: several partitions give the lists of one, a failing partition keeps the previous build,
the job's progress counts the partitions, readers never see a build that is still being written."""

import threading
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.db import connection

from accounts.models import Job
from recommendations.ml import build_all
from recommendations.models import Recommendation, RecommenderVersion, SimilarProduct
from recommendations.selectors import customer_page_recommendations, recommender_frames, recommender_version_active
from recommendations.services import (
    recommendations_build,
    recommendations_partition_run,
    recommendations_statistics_run,
    recommender_config,
)
from recommendations.tasks import recommendations_build_task

pytestmark = pytest.mark.django_db

# Members whose fit does not depend on which customers share a partition: ALS and the sequential member are fitted
# on each partition's own customers (a sample of the shop), the ranker is off with several partitions.
DETERMINISTIC = {"als_max_interactions": 0, "seqrec_max_interactions": 0, "ranker": False}


def _lists(version_id: int) -> dict[tuple[int, int], tuple]:
    rows = Recommendation.objects.filter(version_id=version_id).values_list(
        "customer_id", "rank", "product_id", "score", "source", "reason")
    return {(c, r): (p, s, source, reason) for c, r, p, s, source, reason in rows}


def _assert_same_lists(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (product, score, source, reason) in want.items():
        assert got[key][0] == product, key
        assert got[key][1] == pytest.approx(score, rel=1e-4, abs=1e-6), key
        assert got[key][2:] == (source, reason), key


def _similar(version_id: int) -> set[tuple]:
    return set(SimilarProduct.objects.filter(version_id=version_id).values_list("product_id", "similar_id", "kind",
                                                                                "rank"))


def test_three_partitions_give_the_lists_of_one(simulated_shop, settings):
    # catches: a member fitted on the partition's customers where it needs the shop's (popularity, neighbours,
    # item similarity, re-buy cycles), a partition ageing interactions from its own last one, rows lost between
    # partitions (a customer on a bound)
    config = recommender_config(shop=simulated_shop, **DETERMINISTIC)
    settings.RECOMMEND_PARTITION_CUSTOMERS = 10_000
    one = recommendations_build(shop=simulated_shop, k=10, config=config)
    assert one.partitions == 1
    want, want_similar = _lists(one.version.pk), _similar(one.version.pk)
    assert want and want_similar

    settings.RECOMMEND_PARTITION_CUSTOMERS = 250  # 600 customers: 3 partitions
    three = recommendations_build(shop=simulated_shop, k=10, config=config)
    assert three.partitions == 3 and len(three.version.params["partitions"]) == 3
    assert three.version.status == RecommenderVersion.Status.ACTIVE
    assert three.version.weights == one.version.weights
    _assert_same_lists(_lists(three.version.pk), want)
    assert _similar(three.version.pk) == want_similar
    assert three.recommendations == len(want) == Recommendation.objects.filter(shop=simulated_shop).count()
    assert not Recommendation.objects.filter(version=one.version).exists()  # the retired build's rows are gone


def test_a_shop_of_one_partition_gets_the_lists_of_one_fit_over_every_customer(simulated_shop, settings):
    # catches: the partitioned path drifting from the build it replaced (ml.build_all over every customer), with
    # every member the shop's size allows (ALS, the sequential member, the ranker when validation picks it)
    settings.RECOMMEND_PARTITION_CUSTOMERS = 10_000
    config = recommender_config(shop=simulated_shop)
    built = recommendations_build(shop=simulated_shop, k=10, config=config)
    frames = recommender_frames(shop_id=simulated_shop.pk)
    reference = build_all(frames.interactions, frames.products, frames.customers, k=10, config=config,
                          visual_pairs=frames.visual)
    assert built.version.params["choice"] == reference.choice
    want = {(int(r.customer_id), int(r.rank)): (int(r.product_id), float(r.score), str(r.source), str(r.reason))
            for r in reference.recommendations.itertuples()}
    _assert_same_lists(_lists(built.version.pk), want)


def _build_enqueued(shop, django_capture_on_commit_callbacks):
    """The nightly path: the build task, whose partitions are enqueued on commit; returns (version, callbacks)."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        recommendations_build_task.delay(shop.pk, 10, None)
    version = RecommenderVersion.objects.filter(shop=shop).latest("created_at")
    return version, callbacks


def test_a_failing_partition_fails_the_build_and_the_previous_one_stays_active_and_readable(
        simulated_shop, settings, django_capture_on_commit_callbacks):
    # catches: a half-written build activated, the previous build's rows deleted before the new one is complete,
    # a failed build's rows left behind, a job left "running" for ever
    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    config = recommender_config(shop=simulated_shop, **DETERMINISTIC)
    previous = recommendations_build(shop=simulated_shop, k=10, config=config).version
    before = _lists(previous.pk)
    customer = min(c for c, _ in before)

    version, callbacks = _build_enqueued(simulated_shop, django_capture_on_commit_callbacks)
    assert len(callbacks) == 3 and version.status == RecommenderVersion.Status.BUILDING
    callbacks[0]()  # the first partition is written
    assert Recommendation.objects.filter(version=version).exists()
    # the shared model is lost before the second partition runs (a disk replaced, a worker on another machine)
    artifact = Path(django_settings.MODEL_DIR) / simulated_shop.slug / "recommender" / str(version.pk)
    (artifact / "partitioned.npz").unlink()
    with pytest.raises(FileNotFoundError):
        callbacks[1]()
    callbacks[2]()  # still queued: writes nothing for a failed build

    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.FAILED
    job = Job.objects.get(pk=version.job_id)
    assert job.status == Job.Status.FAILED and "partition 1" in job.error
    assert not Recommendation.objects.filter(version=version).exists()
    assert not SimilarProduct.objects.filter(version=version).exists()
    assert recommender_version_active(shop=simulated_shop) == previous.pk
    assert _lists(previous.pk) == before
    page = customer_page_recommendations(simulated_shop.pk, customer, None)
    assert [r.product_id for r in page.recommendations] == [before[(customer, rank)][0] for rank in range(1, 11)]


def test_progress_counts_partitions_and_readers_see_the_previous_build_until_the_last_one(
        simulated_shop, settings, django_capture_on_commit_callbacks):
    # catches: a reader shown a mix of two builds, progress that never reaches 100 %, a partition run twice (a
    # redelivered task) duplicating rows or counting twice
    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    previous = recommendations_build(shop=simulated_shop, k=10,
                                     config=recommender_config(shop=simulated_shop, **DETERMINISTIC)).version
    before = _lists(previous.pk)
    customer = min(c for c, _ in before)

    version, callbacks = _build_enqueued(simulated_shop, django_capture_on_commit_callbacks)
    job = Job.objects.get(pk=version.job_id)
    assert (job.progress_done, job.progress_total) == (1, 4)  # the statistics pass, then 3 partitions
    for index, callback in enumerate(callbacks):
        callback()
        if index < 2:
            callback()  # delivered twice: replaced, counted once
            job.refresh_from_db()
            assert job.progress_done == 2 + index and job.status == Job.Status.RUNNING
            assert recommender_version_active(shop=simulated_shop) == previous.pk
            page = customer_page_recommendations(simulated_shop.pk, customer, None)
            assert {r.version_id for r in page.recommendations} == {previous.pk}
            assert _lists(previous.pk) == before
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.progress_done == job.progress_total == 4
    assert job.result["recommendations"] == Recommendation.objects.filter(shop=simulated_shop).count()
    assert recommender_version_active(shop=simulated_shop) == version.pk
    statuses = dict(RecommenderVersion.objects.filter(shop=simulated_shop).values_list("pk", "status"))
    assert statuses == {previous.pk: "retired", version.pk: "active"}
    per_customer = np.bincount(np.asarray(Recommendation.objects.filter(version=version).values_list("rank",
                                                                                                      flat=True)))
    assert per_customer[1] == simulated_shop.customers.count()  # one first place per customer, no duplicates
    assert recommendations_partition_run(version_id=version.pk, index=0) == 0  # done and active: left alone


def test_an_older_build_finishing_last_never_replaces_a_newer_one_and_the_shared_model_goes_with_the_build(
        simulated_shop, settings, django_capture_on_commit_callbacks):
    # catches: two nightly builds overlapping, the older one's last partition activating it over the newer one and
    # deleting the newer rows; the older build left "building" for ever; the shared model (customers' interaction
    # vectors) kept on disk after the build
    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    older, older_callbacks = _build_enqueued(simulated_shop, django_capture_on_commit_callbacks)
    newer, newer_callbacks = _build_enqueued(simulated_shop, django_capture_on_commit_callbacks)
    shared = Path(django_settings.MODEL_DIR) / simulated_shop.slug / "recommender" / str(newer.pk) / "partitioned.npz"
    assert shared.exists()
    with django_capture_on_commit_callbacks(execute=True):
        for callback in newer_callbacks:
            callback()
    assert recommender_version_active(shop=simulated_shop) == newer.pk
    assert not shared.exists()
    rows = _lists(newer.pk)
    with django_capture_on_commit_callbacks(execute=True):
        for callback in older_callbacks:
            callback()
    statuses = dict(RecommenderVersion.objects.filter(shop=simulated_shop).values_list("pk", "status"))
    assert statuses == {older.pk: "failed", newer.pk: "active"}
    assert _lists(newer.pk) == rows and not Recommendation.objects.filter(version=older).exists()
    job = Job.objects.get(pk=older.job_id)
    assert job.status == Job.Status.FAILED and f"superseded by recommender build {newer.pk}" in job.error


def test_the_statistics_pass_leaves_no_customer_matrices_on_disk_even_when_it_fails(
            simulated_shop, settings, django_capture_on_commit_callbacks, monkeypatch):
    # catches: the partitions' weights matrices (customers' interactions, written for the product-block pass) kept
    # after the pass, or left behind by a pass that failed
    from recommendations.services import build

    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    version, callbacks = _build_enqueued(simulated_shop, django_capture_on_commit_callbacks)
    artifact = Path(django_settings.MODEL_DIR) / simulated_shop.slug / "recommender" / str(version.pk)
    assert (artifact / "partitioned.npz").exists() and not (artifact / "weights").exists()

    seen = []

    def fail(spill, *args, **kwargs):
        seen.append(spill.directory)
        assert len(list(spill.directory.glob("*.npy"))) == 3 * 7  # every partition's matrix is on disk now
        raise MemoryError("no room for a block")

    monkeypatch.setattr(build, "item_similarity_blocks", fail)
    with pytest.raises(MemoryError):
        recommendations_build(shop=simulated_shop, k=10, config=recommender_config(shop=simulated_shop,
                                                                                   **DETERMINISTIC))
    failing = RecommenderVersion.objects.filter(shop=simulated_shop).latest("pk")
    assert failing.status == RecommenderVersion.Status.FAILED
    assert seen == [artifact.parent / str(failing.pk) / "weights"] and not seen[0].exists()


def test_a_big_shops_statistics_pass_runs_beside_the_fit_in_either_order_with_the_lists_of_one_process(
        simulated_shop, settings, django_capture_on_commit_callbacks, monkeypatch):
    # catches: partitions queued before the fit or the statistics are recorded (lists without weights or without
    # the shared model), the pass beside the fit giving other lists or similar products than the one after it, a
    # build that never starts its partitions when the statistics finish first, a statistics task delivered twice
    # writing twice
    from recommendations.services import build

    settings.RECOMMEND_PARTITION_CUSTOMERS = 250  # 600 customers: 3 partitions
    # above TIFU-KNN's neighbour cap: no statistic reads a tuned setting, so the pass may run beside the fit
    config = recommender_config(shop=simulated_shop, **DETERMINISTIC, tifu_neighbours_max_customers=100)
    serial = recommendations_build(shop=simulated_shop, k=10, config=config)
    want, want_similar = _lists(serial.version.pk), _similar(serial.version.pk)

    # the fit ends first: the statistics task, when it records itself, queues the partitions
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = recommendations_build(shop=simulated_shop, k=10, config=config, enqueue=True)
    version = outcome.version
    assert len(callbacks) == 1  # the statistics task only
    assert version.status == RecommenderVersion.Status.BUILDING and "partitions" not in version.params
    assert version.weights == serial.version.weights and not SimilarProduct.objects.filter(version=version).exists()
    job = Job.objects.get(pk=version.job_id)
    assert (job.progress_done, job.progress_total) == (0, 4)
    with django_capture_on_commit_callbacks(execute=False) as partitions:
        callbacks[0]()
    assert len(partitions) == 3
    with django_capture_on_commit_callbacks(execute=True):
        for callback in partitions:
            callback()  # run here (eager)
    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.ACTIVE
    _assert_same_lists(_lists(version.pk), want)
    assert _similar(version.pk) == want_similar
    assert version.metrics["interactions"] == serial.version.metrics["interactions"]
    artifact = Path(django_settings.MODEL_DIR) / simulated_shop.slug / "recommender" / str(version.pk)
    assert not (artifact / "content.npz").exists() and not (artifact / "partitioned.npz").exists()

    # the statistics end first (run while the fit is still going): the fit's task queues the partitions
    fit = build.validation_hybrid

    def statistics_then_fit(*args, **kwargs):
        building = RecommenderVersion.objects.filter(shop=simulated_shop).latest("pk")
        recommendations_statistics_run(version_id=building.pk)
        building.refresh_from_db()
        assert "similar" in building.metrics and "partitions" not in building.params
        return fit(*args, **kwargs)

    monkeypatch.setattr(build, "validation_hybrid", statistics_then_fit)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        outcome = recommendations_build(shop=simulated_shop, k=10, config=config, enqueue=True)
    assert len(queued) == 4  # the statistics task (delivered after it ran: writes nothing) and 3 partitions
    with django_capture_on_commit_callbacks(execute=True):
        for callback in queued:
            callback()
    outcome.version.refresh_from_db()
    assert outcome.version.status == RecommenderVersion.Status.ACTIVE
    _assert_same_lists(_lists(outcome.version.pk), want)
    assert _similar(outcome.version.pk) == want_similar


def test_a_failing_statistics_task_fails_the_build_and_the_fit_recorded_after_it_leaves_no_files(
        simulated_shop, settings, django_capture_on_commit_callbacks, monkeypatch):
    # catches: a build left "building" for ever, or resurrected by the fit recording itself after the failure, and
    # the shared model or ranker written after the failure's clean-up left on disk
    from recommendations.services import build
    from recommendations.tasks import recommendations_statistics_task

    settings.RECOMMEND_PARTITION_CUSTOMERS = 250
    config = recommender_config(shop=simulated_shop, **DETERMINISTIC, tifu_neighbours_max_customers=100)
    previous = recommendations_build(shop=simulated_shop, k=10, config=config).version
    fit = build.validation_hybrid

    def statistics_fail_then_fit(*args, **kwargs):
        building = RecommenderVersion.objects.filter(shop=simulated_shop).latest("pk")
        with pytest.raises(MemoryError):
            recommendations_statistics_task.apply(args=(building.pk,), throw=True)
        return fit(*args, **kwargs)

    def no_room(*args, **kwargs):
        raise MemoryError("no room for a block")

    monkeypatch.setattr(build, "validation_hybrid", statistics_fail_then_fit)
    monkeypatch.setattr(build, "item_similarity_blocks", no_room)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = recommendations_build(shop=simulated_shop, k=10, config=config, enqueue=True)
    version = outcome.version
    assert version.status == RecommenderVersion.Status.FAILED and "partitions" not in version.params
    job = Job.objects.get(pk=version.job_id)
    assert job.status == Job.Status.FAILED and job.error.startswith("statistics: MemoryError")
    assert not SimilarProduct.objects.filter(version=version).exists()
    assert not (Path(django_settings.MODEL_DIR) / simulated_shop.slug / "recommender" / str(version.pk)).exists()
    assert recommender_version_active(shop=simulated_shop) == previous.pk


@pytest.mark.django_db(transaction=True)
def test_partitions_write_their_rows_at_the_same_time_and_count_one_by_one(simulated_shop, settings, monkeypatch):
    # catches: partitions writing one at a time under the version's row lock (each waiting for the other's COPY),
    # a partition's rows counted before they are written, the last one activating while another is still writing
    from recommendations.services import build

    settings.RECOMMEND_PARTITION_CUSTOMERS = 250  # 3 partitions
    monkeypatch.setattr(build, "_lists_start", lambda version, **kwargs: None)  # the partitions run below
    version = recommendations_build(shop=simulated_shop, k=10,
                                    config=recommender_config(shop=simulated_shop, **DETERMINISTIC)).version
    assert len(version.params["partitions"]) == 3
    writing, release = threading.Event(), threading.Event()
    insert = build.bulk_insert_frame

    def held_open(table, frame):  # partition 0's write pauses inside its transaction, its rows not yet committed
        insert(table, frame)
        if threading.current_thread().name == "partition-0":
            writing.set()
            release.wait(60)

    monkeypatch.setattr(build, "bulk_insert_frame", held_open)
    written: dict = {}

    def run(index: int) -> None:
        try:
            written[index] = recommendations_partition_run(version_id=version.pk, index=index)
        finally:
            connection.close()

    first = threading.Thread(target=run, args=(0,), name="partition-0")
    first.start()
    try:
        assert writing.wait(60)
        second = threading.Thread(target=run, args=(1,), name="partition-1")
        second.start()
        second.join(60)
        assert not second.is_alive(), "partition 1 waited for partition 0's write"
        version.refresh_from_db()
        assert version.metrics["done"] == [1] and written[1] > 0
        assert version.status == RecommenderVersion.Status.BUILDING
    finally:
        release.set()
        first.join(60)
    version.refresh_from_db()
    assert version.metrics["done"] == [0, 1] and written[0] > 0
    assert recommendations_partition_run(version_id=version.pk, index=2) > 0
    version.refresh_from_db()
    assert version.status == RecommenderVersion.Status.ACTIVE
    assert Recommendation.objects.filter(version=version).values("customer").distinct().count() == \
        simulated_shop.customers.count()
