"""Fresh recommendations for re-scored customers (issue 18 §1): an order arriving through the API gets the
customer re-scored and their recommendation list rebuilt in the active build, from their new history, with the
build's own choices; every other customer's list stays as the build wrote it."""

from datetime import timedelta

import pytest

from predictions.services.rescoring import customers_rescore
from recommendations.models import Recommendation, RecommenderVersion
from recommendations.services import recommendations_build, recommendations_refresh
from tests.predictions.test_rescoring import ORDERS, _at_risk, analyst, run  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _lists(version_id: int, *, exclude_customer: int | None = None) -> dict[int, list[tuple]]:
    rows = Recommendation.objects.filter(version_id=version_id).order_by("customer_id", "rank")
    if exclude_customer is not None:
        rows = rows.exclude(customer_id=exclude_customer)
    out: dict[int, list[tuple]] = {}
    for customer_id, product_id, rank, score, source, reason in rows.values_list(
            "customer_id", "product_id", "rank", "score", "source", "reason"):
        out.setdefault(customer_id, []).append((product_id, rank, score, source, reason))
    return out


def test_a_product_bought_through_the_api_leaves_the_buyers_list_and_nobody_elses_changes(
        run, analyst, django_capture_on_commit_callbacks):  # noqa: F811
    shop = run.shop
    shop.allow_rebuy = False  # the shop's rule: what a customer bought is not offered again
    shop.save()
    version = recommendations_build(shop=shop, k=10).version
    score = _at_risk(run)[0]
    top = Recommendation.objects.filter(version=version, customer_id=score.customer_id).order_by("rank").first()
    assert top is not None
    others_before = _lists(version.pk, exclude_customer=score.customer_id)

    order = {"order_id": "REC-1", "customer_id": score.customer.external_id,
             "placed_at": (run.as_of + timedelta(days=1)).isoformat(), "total": 30.0,
             "lines": [{"product_id": top.product.external_id, "quantity": 1, "unit_price": 30.0}]}
    with django_capture_on_commit_callbacks() as callbacks:
        assert analyst.post(ORDERS, [order], format="json").json()["stored"] == 1
    for callback in callbacks:  # the debounced re-scoring task (eager in the tests)
        callback()

    after = list(Recommendation.objects.filter(customer_id=score.customer_id).order_by("rank"))
    assert {r.version_id for r in after} == {version.pk}  # in the active build, no new build
    assert RecommenderVersion.objects.get(pk=version.pk).status == RecommenderVersion.Status.ACTIVE
    assert len(after) == 10 and [r.rank for r in after] == list(range(1, 11))
    assert top.product_id not in {r.product_id for r in after}  # just bought: not offered again
    assert _lists(version.pk, exclude_customer=score.customer_id) == others_before


def test_with_the_refresh_turned_off_lists_wait_for_the_nightly_build(
        run, analyst, settings, django_capture_on_commit_callbacks):  # noqa: F811
    settings.RECOMMENDATIONS_REFRESH_ON_RESCORE = False
    shop = run.shop
    shop.allow_rebuy = False
    shop.save()
    version = recommendations_build(shop=shop, k=10).version
    score = _at_risk(run)[0]
    before = _lists(version.pk)
    top = Recommendation.objects.filter(version=version, customer_id=score.customer_id).order_by("rank").first()
    order = {"order_id": "REC-OFF", "customer_id": score.customer.external_id,
             "placed_at": (run.as_of + timedelta(days=1)).isoformat(), "total": 30.0,
             "lines": [{"product_id": top.product.external_id, "quantity": 1, "unit_price": 30.0}]}
    with django_capture_on_commit_callbacks() as callbacks:
        assert analyst.post(ORDERS, [order], format="json").json()["stored"] == 1
    for callback in callbacks:
        callback()
    run.refresh_from_db()
    assert run.scores.get(customer_id=score.customer_id, task="churn").history_until is not None  # re-scored
    assert _lists(version.pk) == before  # the list is the build's until the next one


def test_a_refresh_without_new_data_gives_the_builds_own_lists(run):  # noqa: F811
    # The build's choices (weights, ranker, tuned settings) are reused, so the lists cannot drift from the build's.
    version = recommendations_build(shop=run.shop, k=10).version
    ids = [s.customer_id for s in _at_risk(run, 40)]
    before = {c: rows for c, rows in _lists(version.pk).items() if c in ids}
    outcome = recommendations_refresh(shop_id=run.shop_id, customer_ids=ids)
    assert outcome.version_id == version.pk and outcome.customers == 40
    after = {c: rows for c, rows in _lists(version.pk).items() if c in ids}
    assert {c: [r[:2] for r in rows] for c, rows in after.items()} == {
        c: [r[:2] for r in rows] for c, rows in before.items()}
    assert {c: [r[3:] for r in rows] for c, rows in after.items()} == {
        c: [r[3:] for r in rows] for c, rows in before.items()}


def test_rescoring_without_an_active_build_leaves_recommendations_alone(run):  # noqa: F811
    ids = [s.customer_id for s in _at_risk(run, 3)]
    assert customers_rescore(shop=run.shop, customer_ids=ids) == 3
    assert recommendations_refresh(shop_id=run.shop_id, customer_ids=ids).version_id is None
    assert not Recommendation.objects.exists()


def test_a_builds_ranker_is_saved_in_lightgbms_text_format_and_reads_back_the_same(shop, settings, tmp_path):
    # A refresh of a build whose validation chose its ranker must order candidates with that very ranker.
    import numpy as np

    from recommendations.ml.ranker import ranker_scores, train_ranker
    from recommendations.services import _ranker_load, _ranker_save

    settings.MODEL_DIR = tmp_path
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 5)), rng.integers(0, 2, 400)
    ranker = train_ranker(X, y, np.full(40, 10), rounds=20, seed=0, min_leaf=5)
    version = RecommenderVersion.objects.create(shop=shop, params={"choice": "ranker"})
    _ranker_save(shop=shop, version=version, ranker=ranker)
    assert list(tmp_path.rglob("*.txt")) == [tmp_path / shop.slug / "recommender" / str(version.pk) / "ranker.txt"]
    assert np.array_equal(ranker_scores(_ranker_load(shop=shop, version=version), X), ranker_scores(ranker, X))
    newer = RecommenderVersion.objects.create(shop=shop, params={"choice": "ranker"})
    assert _ranker_load(shop=shop, version=newer) is None  # no file: the refresh falls back to the blend weights
