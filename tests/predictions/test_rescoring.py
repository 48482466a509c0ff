"""Re-scoring on arrival (issue 18 §1): an order posted through the API marks the customer's score as older than
their data, and the worker re-scores them into the current run; the task is idempotent and one task re-scores
every change of its debounce window."""

import json
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db.models import Count
from django.test import override_settings

from accounts.tokens import api_token_create
from behavior.models import Event
from catalog.models import Category, Product
from ecomsight.celery import app as celery_app
from predictions.models import CustomerInterest, CustomerScore, RescorePending, ScoringRun
from predictions.selectors.dashboard import churn_histogram
from predictions.selectors.freshness import customers_ordered_since_scoring, with_ordered_since_scoring
from predictions.services.rescoring import customers_rescore, rescore_changed, rescore_pending_count
from predictions.services.scoring import run_figures_computed, scoring_run_create, scoring_run_execute
from predictions.services.training import model_train
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.conftest import calls_counted

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
ORDERS = "/api/v1/orders/batch/"


@pytest.fixture
def run(simulated_shop) -> ScoringRun:
    simulated_shop.horizon_days = 60
    simulated_shop.save()
    for task in ("purchase", "churn"):
        model_train(shop=simulated_shop, task=task, horizon_days=60, algorithms=["bgnbd", "lgbm"])
    run = scoring_run_execute(run=scoring_run_create(shop=simulated_shop, enqueue=False))
    assert run.status == ScoringRun.Status.SUCCEEDED
    cache.delete(f"rescore:scheduled:{simulated_shop.pk}")
    return run


@pytest.fixture
def analyst(simulated_shop):
    user = UserFactory(username="rescoring-analyst", role="analyst", shops=[simulated_shop])
    return bearer(api_token_create(user=user, shop=simulated_shop, name="rescoring").plain)


def _at_risk(run: ScoringRun, n: int = 1) -> list[CustomerScore]:
    """The run's customers most likely to leave (churn rows)."""
    return list(run.scores.filter(task="churn").select_related("customer").order_by("-probability", "id")[:n])


def _order(score: CustomerScore, run: ScoringRun, key: str) -> dict:
    placed = run.as_of + timedelta(days=1)
    return {"order_id": key, "customer_id": score.customer.external_id, "placed_at": placed.isoformat(),
            "total": 80.0}


def test_an_order_posted_through_the_api_gets_the_customer_rescored_into_the_current_run(
        run, analyst, django_capture_on_commit_callbacks):
    score = _at_risk(run)[0]
    others_before = dict(run.scores.exclude(customer_id=score.customer_id).values_list("id", "probability"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = analyst.post(ORDERS, [_order(score, run, "NEW-1")], format="json")
    assert response.status_code == 200 and response.json()["stored"] == 1
    # Until the worker has run: the score says it is older than the customer's data.
    stale = with_ordered_since_scoring(run.scores.filter(customer_id=score.customer_id, task="churn"), run=run).get()
    assert stale.ordered_since_scoring and stale.history_until is None  # it saw the history up to the run's as_of
    assert customers_ordered_since_scoring(run=run) == {score.customer_id}
    assert rescore_pending_count(shop_id=run.shop_id) == 1

    for callback in callbacks:  # the commit's callbacks: the debounced task (eager in the tests) runs
        callback()

    fresh = with_ordered_since_scoring(run.scores.filter(customer_id=score.customer_id, task="churn"), run=run).get()
    assert not fresh.ordered_since_scoring
    assert fresh.scored_at > score.scored_at
    assert fresh.history_until > run.as_of
    # An order today: no more likely to leave (calibrated probabilities are steps: it may stay on the same one),
    # and BG/NBD's P(alive), a smooth function of the history, goes up.
    assert fresh.probability <= score.probability
    assert fresh.p_alive > score.p_alive
    assert fresh.last_order_placed_at == run.as_of + timedelta(days=1)
    assert 1 <= fresh.decile <= 10
    assert customers_ordered_since_scoring(run=run) == set()
    assert rescore_pending_count(shop_id=run.shop_id) == 0
    # Rescored in place: still one current run, the other customers' rows untouched.
    assert ScoringRun.objects.filter(shop=run.shop, status=ScoringRun.Status.SUCCEEDED).count() == 1
    assert dict(run.scores.exclude(customer_id=score.customer_id).values_list("id", "probability")) == others_before
    # The dashboard's figures are those of the rows now stored (they stayed the night's before).
    figures = ScoringRun.objects.get(pk=run.pk).summary["figures"]
    live = run_figures_computed(run)
    assert (figures["scored"], figures["high_band"]) == (live["scored"], live["high_band"])
    assert figures["histogram"] == churn_histogram(run=run, use_stored=False)  # counted from the rows, not kept
    assert figures["expected_churners"] == pytest.approx(live["expected_churners"])


def test_rescoring_the_same_customers_twice_replaces_their_rows(run):
    ids = [s.customer_id for s in _at_risk(run, 5)]
    rows_before = run.scores.count()
    assert customers_rescore(shop=run.shop, customer_ids=ids) == 5
    first = {(r.customer_id, r.task): r for r in run.scores.filter(customer_id__in=ids)}
    assert customers_rescore(shop=run.shop, customer_ids=ids) == 5
    second = {(r.customer_id, r.task): r for r in run.scores.filter(customer_id__in=ids)}
    assert run.scores.count() == rows_before
    assert not run.scores.values("customer_id", "task").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert first.keys() == second.keys()
    for key, row in second.items():
        assert (row.probability, row.decile, row.reasons, row.risk_band) == (
            first[key].probability, first[key].decile, first[key].reasons, first[key].risk_band)
        assert row.scored_at >= first[key].scored_at


def test_one_task_rescores_every_post_of_its_debounce_window(run, analyst, django_capture_on_commit_callbacks,
                                                             settings, monkeypatch):
    from predictions.services import rescoring

    settings.RESCORE_DEBOUNCE_SECONDS = 30
    scores = _at_risk(run, 3)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False  # enqueue for real, to Redis: count what the posts enqueue
    try:
        with celery_app.connection_for_write() as conn:
            redis = conn.default_channel.client
            redis.delete("ml")
            for i, score in enumerate(scores):
                with django_capture_on_commit_callbacks(execute=True):
                    response = analyst.post(ORDERS, [_order(score, run, f"DEB-{i}")], format="json")
                assert response.json()["stored"] == 1
            tasks = [json.loads(m)["headers"]["task"] for m in redis.lrange("ml", 0, -1)]
            redis.delete("ml")
            # three posts, one task waiting out the window (beside the anomaly check, debounced the same way)
            assert tasks.count("predictions.tasks.rescore_changed_task") == 1
    finally:
        celery_app.conf.task_always_eager = eager
    assert set(RescorePending.objects.values_list("customer_id", flat=True)) == {s.customer_id for s in scores}
    # The one task, when it runs, re-scores all three, in chunks of at most chunk_size.
    chunks = calls_counted(monkeypatch, rescoring, "customers_rescore")
    assert rescore_changed(shop_id=run.shop_id, chunk_size=2) == 3
    assert len(chunks) == 2
    assert rescore_pending_count(shop_id=run.shop_id) == 0
    assert customers_ordered_since_scoring(run=run) == set()


def test_events_posted_through_the_api_record_their_customers_once(run, analyst):
    score = _at_risk(run)[0]
    occurred = (run.as_of + timedelta(hours=2)).isoformat()
    events = [{"event_id": f"EV-{i}", "customer_id": score.customer.external_id, "type": "view",
               "occurred_at": occurred, "properties": {}} for i in range(3)]
    assert analyst.post("/api/v1/events/batch/", events, format="json").json()["stored"] == 3
    assert list(RescorePending.objects.values_list("customer_id", flat=True)) == [score.customer_id]
    # Sent again: nothing new stored, nothing more to re-score.
    RescorePending.objects.all().delete()
    assert analyst.post("/api/v1/events/batch/", events, format="json").json()["stored"] == 0
    assert not RescorePending.objects.exists()


def test_a_chunk_that_fails_stays_pending(run, monkeypatch):
    from predictions.services import rescoring

    ids = [s.customer_id for s in _at_risk(run, 3)]
    before = set(run.scores.filter(customer_id__in=ids).values_list("id", "scored_at"))
    RescorePending.objects.bulk_create([RescorePending(shop=run.shop, customer_id=i, changed_at=run.as_of)
                                        for i in ids])

    def broken(**kwargs):
        raise RuntimeError("model file missing")

    monkeypatch.setattr(rescoring, "scores_compute", broken)
    with pytest.raises(RuntimeError):
        rescore_changed(shop_id=run.shop_id)
    assert set(RescorePending.objects.values_list("customer_id", flat=True)) == set(ids)
    assert set(run.scores.filter(customer_id__in=ids).values_list("id", "scored_at")) == before  # rows kept
    from accounts.models import Job

    job = Job.objects.get(shop=run.shop, kind=Job.Kind.RESCORE)  # the Jobs page says it failed, and why
    assert job.status == Job.Status.FAILED and "model file missing" in job.error


def test_the_rescoring_after_new_orders_is_a_row_on_the_jobs_page_one_per_burst(run, client):
    # A browser review: after an import the Jobs page showed nothing of the re-scoring that followed it.
    from accounts.models import Job

    def arrive(scores):
        RescorePending.objects.bulk_create([RescorePending(shop=run.shop, customer_id=s.customer_id,
                                                           changed_at=run.as_of) for s in scores])

    scores = _at_risk(run, 5)
    arrive(scores[:3])
    assert rescore_changed(shop_id=run.shop_id) == 3
    job = Job.objects.get(shop=run.shop, kind=Job.Kind.RESCORE)
    assert (job.status, job.progress_done, job.progress_total) == (Job.Status.SUCCEEDED, 3, 3)
    assert job.message == "3 customers re-scored after new orders or events"
    client.force_login(UserFactory(role="analyst", shops=[run.shop]))
    page = client.get("/jobs/").content.decode()
    assert f"Re-scoring #{job.pk}" in page and "3 customers re-scored after new orders or events" in page
    # The next window's re-scoring, nothing else started meanwhile: the same row counts on (a shop streaming
    # orders through the API would otherwise get a row every 30 seconds).
    arrive(scores[3:])
    assert rescore_changed(shop_id=run.shop_id) == 2
    job.refresh_from_db()
    assert (job.status, job.progress_done, Job.objects.filter(kind=Job.Kind.RESCORE).count()) == ("succeeded", 5, 1)
    # A row gathers a day of windows at most: its start and count still say when and how much.
    Job.objects.filter(pk=job.pk).update(created_at=job.created_at - timedelta(days=2))
    arrive(scores[:1])
    assert rescore_changed(shop_id=run.shop_id) == 1
    assert Job.objects.filter(kind=Job.Kind.RESCORE).count() == 2
    Job.objects.filter(kind=Job.Kind.RESCORE).exclude(pk=job.pk).delete()
    # After another job (an import), a new row: the page's order stays the order things happened in.
    Job.objects.create(shop=run.shop, kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED)
    arrive(scores[:1])
    assert rescore_changed(shop_id=run.shop_id) == 1
    assert Job.objects.filter(kind=Job.Kind.RESCORE).count() == 2
    assert rescore_changed(shop_id=run.shop_id) == 0  # nothing pending: no row
    assert Job.objects.filter(kind=Job.Kind.RESCORE).count() == 2


def test_rescoring_recomputes_the_customers_interest_profile_and_no_one_elses(run):
    shop = run.shop
    score = _at_risk(run)[0]
    others_before = set(CustomerInterest.objects.filter(scoring_run=run).exclude(customer_id=score.customer_id)
                        .values_list("id", flat=True))
    gadgets = Category.objects.create(shop=shop, name="Gadgets", path="Gadgets")
    gadget = Product.objects.create(shop=shop, external_id="GADGET", title="Gadget", category=gadgets, brand="Newco")
    Event.objects.bulk_create([Event(shop=shop, customer=score.customer, type="add_to_cart", product=gadget,
                                     occurred_at=run.as_of + timedelta(hours=1 + i), idempotency_key=uuid.uuid4())
                               for i in range(40)])
    assert customers_rescore(shop=shop, customer_ids=[score.customer_id]) == 1
    mine = CustomerInterest.objects.filter(scoring_run=run, customer_id=score.customer_id)
    assert mine.get(category=gadgets).share > 0.3  # 40 carts (weight 0.5 each) today: about half their interest
    assert mine.filter(brand="Newco").exists()
    others_after = set(CustomerInterest.objects.filter(scoring_run=run).exclude(customer_id=score.customer_id)
                       .values_list("id", flat=True))
    assert others_after == others_before


def test_a_rescoring_retires_the_at_risk_page_the_api_keeps(run, analyst):
    # The API keeps the first at-risk page (predictions.api.pages); the re-scored rows replace it.
    page = "/api/v1/at-risk/?sort=churn&page_size=3"
    before = analyst.get(page).json()["results"]
    assert customers_rescore(shop=run.shop, customer_ids=[s.customer_id for s in _at_risk(run, 3)]) == 3
    kept = analyst.get(page)
    with override_settings(AT_RISK_PAGE_CACHE_SECONDS=0):
        read = analyst.get(page)
    assert kept.status_code == 200 and kept.content == read.content
    assert kept.json()["results"] != before
