"""Score history retention: the scores and interest profiles of runs older than SCORE_HISTORY_DAYS go (nightly or
`manage.py expire_score_history`); each shop's two newest succeeded runs, runs still going, young runs and every
run's headline figures on the dashboard stay; an expired run cannot be resumed, and the offer policy keeps the
probabilities its assignments logged."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecomsight.errors import UserError
from predictions import retention
from predictions.models import CustomerInterest, CustomerScore, ScoringRun
from predictions.retention import score_history_expire
from predictions.selectors.dashboard import run_figures
from predictions.selectors.scores import customer_score_history
from predictions.services.scoring import scoring_run_resume
from predictions.tasks import score_history_expire_task
from tests.predictions.factories import ScoringRunFactory

pytestmark = pytest.mark.django_db


def _run(shop, *, age_days: int, customers: list, status=ScoringRun.Status.SUCCEEDED, p: float = 0.7, **fields):
    """A run made `age_days` ago with a churn and a purchase score and one interest row for each customer."""
    run = ScoringRunFactory(shop=shop, status=status, as_of=timezone.now() - timedelta(days=age_days), **fields)
    ScoringRun.objects.filter(pk=run.pk).update(created_at=run.as_of)
    CustomerScore.objects.bulk_create([
        CustomerScore(shop=shop, scoring_run=run, customer=c, task=task, probability=p, risk_band="high", decile=1,
                      spend_12m=100.0, revenue_at_risk=p * 100.0, scored_at=run.as_of)
        for c in customers for task in ("churn", "purchase")])
    CustomerInterest.objects.bulk_create([
        CustomerInterest(shop=shop, scoring_run=run, customer=c, kind="brand", brand="Acme", share=0.5)
        for c in customers])
    run.refresh_from_db()
    return run


def _rows(run) -> tuple[int, int]:
    return (CustomerScore.objects.filter(scoring_run=run).count(),
            CustomerInterest.objects.filter(scoring_run=run).count())


@pytest.fixture
def customers(shop):
    from tests.predictions.factories import CustomerFactory

    return CustomerFactory.create_batch(5, shop=shop)


def test_old_runs_lose_their_scores_but_keep_their_figures(shop, other_shop, customers, settings, monkeypatch):
    from tests.predictions.factories import CustomerFactory

    settings.SCORE_HISTORY_DAYS = 400
    monkeypatch.setattr(retention, "SCORE_DELETE_CUSTOMERS", 2)  # several delete ranges per run
    oldest = _run(shop, age_days=500, customers=customers, p=0.8)  # finished before runs stored their figures
    old = _run(shop, age_days=450, customers=customers, summary={"figures": {
        "scored": 5, "expected_churners": 1.0, "high_band": 1, "revenue_at_risk": 9.0, "expected_buyers": 2.0}})
    failed = _run(shop, age_days=420, customers=customers[:2], status=ScoringRun.Status.FAILED,
                  summary={"done": [0]}, chunks_total=3, chunks_done=1)
    running = _run(shop, age_days=410, customers=customers[:1], status=ScoringRun.Status.RUNNING)
    # The shop's two newest runs: one made 405 days ago (the one before the current: a delivery's retry, an export
    # or a list's cursor may still read it) and the current one, made today from data of long ago (a backfill):
    # the age that counts is when a run was made.
    previous = _run(shop, age_days=405, customers=customers)
    backfill = _run(shop, age_days=0, customers=customers)
    ScoringRun.objects.filter(pk=backfill.pk).update(as_of=timezone.now() - timedelta(days=404))
    # The other shop's two runs are old, and they are its newest: they stay.
    other_customers = CustomerFactory.create_batch(3, shop=other_shop)
    other_runs = [_run(other_shop, age_days=days, customers=other_customers) for days in (700, 600)]

    dry = score_history_expire(dry_run=True)
    assert dry == {"days": 400, "dry_run": True, "runs": 3, "scores": 24, "interests": 12, "runs_left": 0}
    assert _rows(oldest) == (10, 5)

    assert score_history_expire() == {**dry, "dry_run": False}
    for run in (oldest, old, failed):
        assert _rows(run) == (0, 0)
        run.refresh_from_db()
        assert run.summary["scores_expired_at"] and run.summary["scores_deleted_at"]
    assert _rows(running) == (2, 1) and _rows(previous) == (10, 5) and _rows(backfill) == (10, 5)
    assert [_rows(run) for run in other_runs] == [(6, 3), (6, 3)]

    # The dashboard's trend keeps the old runs' points: the oldest one's figures were stored from its scores first.
    figures = {f.run_id: f for f in run_figures(shop=shop, runs=[oldest, old, previous])}
    assert figures[oldest.pk].scored == 5 and figures[oldest.pk].expected_churners == pytest.approx(4.0)
    assert figures[oldest.pk].revenue_at_risk == pytest.approx(400.0)
    assert figures[old.pk].expected_churners == 1.0  # stored figures are not recomputed
    assert oldest.summary["figures"]["histogram"][8] == 5

    # A customer's history now starts with the kept runs; an expired run cannot be resumed (its rows are gone);
    # a second sweep finds nothing left.
    history = customer_score_history(shop=shop, customer_id=customers[0].external_id, task="churn")[0:10]
    assert sorted(row["scoring_run_id"] for row in history) == [previous.pk, backfill.pk]
    with pytest.raises(UserError, match="cannot be resumed"):
        scoring_run_resume(run_id=failed.pk, enqueue=False)
    assert score_history_expire()["runs"] == 0


def test_a_sweep_out_of_time_leaves_the_rest_to_the_next(shop, customers, settings, monkeypatch):
    settings.SCORE_HISTORY_DAYS = 400
    monkeypatch.setattr(retention, "SCORE_DELETE_CUSTOMERS", 2)
    old = [_run(shop, age_days=days, customers=customers) for days in (500, 450)]
    for days in (10, 5):
        _run(shop, age_days=days, customers=customers)

    cut_short = score_history_expire(seconds=0)
    assert (cut_short["runs"], cut_short["runs_left"]) == (0, 2)
    assert score_history_expire() == {"days": 400, "dry_run": False, "runs": 2, "scores": 20, "interests": 10,
                                      "runs_left": 0}
    assert [_rows(run) for run in old] == [(0, 0), (0, 0)]


def test_the_offer_policy_keeps_the_probabilities_its_assignments_logged(shop, customers, settings):
    from offers.models import Assignment, Offer
    from offers.selectors import assignment_frame
    from tests.predictions.factories import OrderFactory

    old = _run(shop, age_days=500, customers=customers[:1], p=0.8)
    for days in (10, 5):
        _run(shop, age_days=days, customers=customers[:1], p=0.3)
    offer = Offer.objects.create(shop=shop, external_id="d10", kind="discount_pct", value=10)
    at = old.as_of + timedelta(days=1)
    Assignment.objects.create(shop=shop, external_id="a1", customer=customers[0], offer=offer, assigned_at=at,
                              propensity=0.5,
                              context={"churn_probability": 0.8, "purchase_probability": 0.8})
    OrderFactory(shop=shop, customer=customers[0], placed_at=timezone.now())  # the data's clock: the window closed

    before = assignment_frame(shop=shop).frame[["churn_probability", "purchase_probability"]].iloc[0].tolist()
    score_history_expire(days=400)
    assert _rows(old) == (0, 0)
    after = assignment_frame(shop=shop).frame[["churn_probability", "purchase_probability"]].iloc[0].tolist()
    assert before == after == [0.8, 0.8]


def test_zero_days_keeps_every_score_and_negative_days_is_a_clear_error(shop, customers, settings):
    run = _run(shop, age_days=3000, customers=customers)
    _run(shop, age_days=1, customers=customers)
    settings.SCORE_HISTORY_DAYS = 0
    assert score_history_expire_task() == {"days": 0, "dry_run": False, "runs": 0, "scores": 0, "interests": 0,
                                           "runs_left": 0}
    assert _rows(run) == (10, 5)
    for days in ("-1", "100000"):
        with pytest.raises(CommandError, match="--days must be 0"):
            call_command("expire_score_history", "--days", days)


def test_command_prints_one_json_line_and_honours_days(shop, customers):
    week_old = _run(shop, age_days=8, customers=customers)
    for days in (2, 1):
        _run(shop, age_days=days, customers=customers)
    out = io.StringIO()
    call_command("expire_score_history", "--days", "7", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {
        "days": 7, "dry_run": False, "runs": 1, "scores": 10, "interests": 5, "runs_left": 0}
    assert _rows(week_old) == (0, 0)
