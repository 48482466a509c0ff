"""Score history retention: the scores and interest profiles of runs older than SCORE_HISTORY_DAYS go (nightly or
`manage.py expire_score_history`); each shop's current run, runs still going, young runs and every run's headline
figures on the dashboard stay."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from predictions import retention
from predictions.models import CustomerInterest, CustomerScore, ScoringRun
from predictions.retention import score_history_expire
from predictions.selectors.dashboard import run_figures
from predictions.selectors.scores import customer_score_history
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
    young = _run(shop, age_days=10, customers=customers)
    # The other shop's only run is old, and it is that shop's current run: it stays.
    other_current = _run(other_shop, age_days=600, customers=CustomerFactory.create_batch(3, shop=other_shop))

    dry = score_history_expire(dry_run=True)
    assert dry == {"days": 400, "dry_run": True, "runs": 3, "scores": 24, "interests": 12}
    assert _rows(oldest) == (10, 5)

    assert score_history_expire() == {**dry, "dry_run": False}
    for run in (oldest, old, failed):
        assert _rows(run) == (0, 0)
        run.refresh_from_db()
        assert run.summary["scores_expired_at"]
    assert _rows(running) == (2, 1) and _rows(young) == (10, 5) and _rows(other_current) == (6, 3)
    assert (failed.summary["done"], failed.chunks_done) == ([], 0)  # resumed, it would score every chunk again

    # The dashboard's trend keeps the old runs' points: the oldest one's figures were stored from its scores first.
    figures = {f.run_id: f for f in run_figures(shop=shop, runs=[oldest, old, young])}
    assert figures[oldest.pk].scored == 5 and figures[oldest.pk].expected_churners == pytest.approx(4.0)
    assert figures[oldest.pk].revenue_at_risk == pytest.approx(400.0)
    assert figures[old.pk].expected_churners == 1.0  # stored figures are not recomputed
    assert oldest.summary["figures"]["histogram"][8] == 5

    # A customer's history now starts with the young run; a second sweep finds nothing left.
    history = customer_score_history(shop=shop, customer_id=customers[0].external_id, task="churn")[0:10]
    assert [row["scoring_run_id"] for row in history] == [young.pk]
    assert score_history_expire() == {"days": 400, "dry_run": False, "runs": 0, "scores": 0, "interests": 0}


def test_zero_days_keeps_every_score_and_negative_days_is_a_clear_error(shop, customers, settings):
    run = _run(shop, age_days=3000, customers=customers)
    _run(shop, age_days=1, customers=customers)
    settings.SCORE_HISTORY_DAYS = 0
    assert score_history_expire_task() == {"days": 0, "dry_run": False, "runs": 0, "scores": 0, "interests": 0}
    assert _rows(run) == (10, 5)
    with pytest.raises(CommandError, match="--days must be 0"):
        call_command("expire_score_history", "--days", "-1")


def test_command_prints_one_json_line_and_honours_days(shop, customers):
    week_old = _run(shop, age_days=8, customers=customers)
    _run(shop, age_days=1, customers=customers)
    out = io.StringIO()
    call_command("expire_score_history", "--days", "7", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1]) == {
        "days": 7, "dry_run": False, "runs": 1, "scores": 10, "interests": 5}
    assert _rows(week_old) == (0, 0)
