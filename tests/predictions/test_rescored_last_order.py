"""A customer re-scored after a new order: every list, filter, segment and export reads their last order as their
re-scored row saw it (up to its history_until), as the at-risk list does, not only up to the run's as_of.

A new user's repro: a customer who last ordered 387 days before the scores orders today; after the re-scoring the
likely buyers' "last order at least 366 days ago" still listed them ("Last order 14 Nov 2025, 387 days ago" beside
their reason "Ordered today"), a segment of that filter held them and its export wrote them."""

import csv
import datetime as dt
import io

import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun
from predictions.selectors.at_risk import LIST_COLUMNS, at_risk_queryset, at_risk_rows
from predictions.selectors.likely_buyers import likely_buyers_page
from predictions.services.exports import csv_lines, export_rows
from predictions.services.segments import export_create, segment_create
from tests.accounts.factories import UserFactory
from tests.predictions.factories import OrderFactory, ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def _end_of_day(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=23, minute=59, second=59, microsecond=0)


@pytest.fixture(params=["copied", "computed"])
def rescored(request, shop):
    """REVIVED last ordered 387 days before the run and ordered the day after it; the worker re-scored them (rows
    as customers_rescore writes them: history_until the end of that day, a churn row now, "Ordered today").
    PENDING did the same but is not re-scored yet; OLD ordered 400 days before and nothing since. "computed": a
    run from before the churn rows carried their last order (the list computes it)."""
    copied = request.param == "copied"
    run = ScoringRunFactory(shop=shop, summary={LIST_COLUMNS: {"churn_scored": 1}} if copied else {})
    old_order, new_order = run.as_of - 387 * DAY, run.as_of + DAY + dt.timedelta(hours=10)
    until = _end_of_day(new_order)
    cs = scored_customers(shop, run, [
        {"external_id": "REVIVED", "p": 0.1, "buy": 0.8, "reasons": ["Ordered today"]},
        {"external_id": "PENDING", "buy": 0.5, "lapsed": True},
        {"external_id": "OLD", "buy": 0.4, "lapsed": True},
    ])
    # Lapsed ones are scored for buying only (no order in the churn lookback): no churn row.
    CustomerScore.objects.filter(task="churn", customer__external_id__in=["PENDING", "OLD"]).delete()
    CustomerScore.objects.filter(customer=cs["REVIVED"]).update(
        history_until=until, scored_at=until, reasons=["Ordered today"])
    if copied:
        CustomerScore.objects.filter(customer=cs["REVIVED"], task="churn").update(
            last_order_placed_at=new_order, purchase_probability_copy=0.8)
    OrderFactory(shop=shop, customer=cs["REVIVED"], placed_at=old_order)
    OrderFactory(shop=shop, customer=cs["REVIVED"], placed_at=new_order)
    OrderFactory(shop=shop, customer=cs["PENDING"], placed_at=run.as_of - 400 * DAY)
    OrderFactory(shop=shop, customer=cs["PENDING"], placed_at=new_order)
    OrderFactory(shop=shop, customer=cs["OLD"], placed_at=run.as_of - 400 * DAY)
    return {"run": run, "customers": cs, "new_order": new_order}


@pytest.fixture
def admin(shop):
    return UserFactory(role="admin", shops=[shop])


def _buyers(run: ScoringRun, **query) -> list[str]:
    flt = AtRiskFilter.from_query({"list": "buyers", **query})
    return sorted(r.external_id for r in at_risk_rows(at_risk_queryset(shop=run.shop, run=run, flt=flt), run=run))


def test_a_rescored_customer_leaves_the_likely_buyers_silent_over_a_year_was_still_listed(shop, rescored):
    run = rescored["run"]
    # PENDING's order is newer than their score: they stay until re-scored, marked (exports leave them out).
    assert _buyers(run, days_min="366") == ["OLD", "PENDING"]
    assert _buyers(run, days_min="366", lapsed="false") == []
    assert _buyers(run, days_max="30") == ["REVIVED"]
    row = next(r for r in at_risk_rows(at_risk_queryset(shop=shop, run=run, flt=AtRiskFilter(list="buyers")),
                                       run=run) if r.external_id == "REVIVED")
    assert (row.last_order_at, row.days_since_last_order, row.top_reason) == (rescored["new_order"], 0,
                                                                              "Ordered today")
    assert not row.ordered_since_scoring
    # The web page's rows (and its "last order" sort) read the same last order.
    page = likely_buyers_page(shop=shop, flt=AtRiskFilter.from_query({"list": "buyers", "sort": "last_order"}))
    assert [(r.external_id, r.last_order_at, r.days_since_last_order) for r in page.rows] == [
        ("PENDING", run.as_of - 400 * DAY, 400), ("OLD", run.as_of - 400 * DAY, 400),
        ("REVIVED", rescored["new_order"], 0)]
    # The at-risk list (churn rows) reads the same last order.
    at_risk = at_risk_rows(at_risk_queryset(shop=shop, run=run, flt=AtRiskFilter.from_query({"days_max": "30"})),
                           run=run)
    assert [(r.external_id, r.last_order_at) for r in at_risk] == [("REVIVED", rescored["new_order"])]


def test_a_buyers_segment_of_customers_silent_over_a_year_and_its_exports_leave_a_rescored_customer_out(
        shop, rescored, admin):
    segment = segment_create(shop=shop, user=admin, name="Silent over a year",
                             flt=AtRiskFilter.from_query({"list": "buyers", "days_min": "366"}))
    plan = export_create(shop=shop, segment=segment, user=admin)
    assert [r["customer_id"] for r in csv.DictReader(io.StringIO("".join(csv_lines(export_rows(plan=plan)))))] == [
        "OLD"]
    assert plan.left_out_ordered_since_scoring == 1  # PENDING: ordered after their score, not re-scored yet

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=admin, shop=shop, name='t').plain}")
    members = api.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]
    assert [(m["customer_id"], m["ordered_since_scoring"]) for m in members] == [("PENDING", True), ("OLD", False)]
    response = api.get(f"/api/v1/segments/{segment.pk}/export/?include_ordered_since_scoring=true")
    assert response.status_code == 200 and response["X-Left-Out-Ordered-Since-Scoring"] == "0"
    written = [r["customer_id"] for r in csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))]
    assert written == ["PENDING", "OLD"]


def test_the_dashboards_customers_who_ordered_in_12_months_count_a_rescored_one_as_its_histogram_does(
        shop, rescored, client, admin):
    # "1,098 ordered in the last 12 months" beside a histogram (and an at-risk list) of 1,112 after re-scoring: the
    # count read orders up to the run's as_of only. REVIVED is active again (a churn row); PENDING not yet (their
    # score does not know the order); the guest stand-in is never counted.
    from behavior.models import GUEST_CUSTOMER_ID, Customer
    from predictions.selectors.dashboard import dashboard_get

    guest = Customer.objects.create(shop=shop, external_id=GUEST_CUSTOMER_ID)
    OrderFactory(shop=shop, customer=guest, placed_at=rescored["run"].as_of - 5 * DAY)
    dashboard = dashboard_get(shop=shop)
    assert dashboard.active_customers == sum(dashboard.histogram) == 1
    client.force_login(admin)
    assert "of whom <strong>1</strong> ordered in the last 12 months" in client.get("/").content.decode()
