"""Likely buyers as segments: the likely buyers list takes a filter, is saved as a segment of every scored customer
(lapsed ones included), and that segment's page, export file and API answer hold the customers the list showed."""

import csv
import datetime as dt
import io

import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from behavior.models import Customer
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, Segment
from predictions.services.exports import csv_lines, export_rows
from predictions.services.segments import export_create, segment_create
from tests.accounts.factories import UserFactory
from tests.predictions.factories import OrderFactory, ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(shop):
    run = ScoringRunFactory(shop=shop, finished_at=dt.datetime(2024, 6, 2, 7, 12, tzinfo=dt.UTC))
    cs = scored_customers(shop, run, [
        {"external_id": "ALICE", "p": 0.83, "buy": 0.12, "spend": 1234},
        {"external_id": "BOB", "p": 0.08, "buy": 0.7, "spend": 50, "reasons": ["25 orders so far"]},
    ])
    # Gone quiet: scored for buying only (no churn row), so on the likely buyers but not on the at-risk list.
    quiet = Customer.objects.create(shop=shop, external_id="QUIET", name="Quiet One", email="quiet@example.com")
    CustomerScore.objects.create(shop=shop, scoring_run=run, customer=quiet, task="purchase", probability=0.4,
                                 risk_band="medium", decile=3, spend_12m=0, scored_at=run.as_of,
                                 reasons=["ordered 400 days ago"])
    OrderFactory(shop=shop, customer=cs["BOB"], placed_at=run.as_of - dt.timedelta(days=10), total=30)
    return {"run": run, "customers": {**cs, "QUIET": quiet}}


@pytest.fixture
def admin(shop):
    return UserFactory(role="admin", shops=[shop])


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def test_the_buyers_filter_has_its_own_sorts_and_refuses_the_risk_filters():
    flt = AtRiskFilter.from_query({"list": "buyers"})
    assert flt.buyers and flt.sort == "purchase" and not flt.errors
    assert AtRiskFilter.from_dict(flt.to_dict()) == flt  # saved and read back: still the buyers list
    assert AtRiskFilter.from_query({}).list == "at_risk" and "list" not in AtRiskFilter().to_dict()
    assert "no risk filter" in AtRiskFilter.from_query({"list": "buyers", "churn_min": "50"}).errors[0]
    assert "no risk filter" in AtRiskFilter.from_query({"list": "buyers", "band": "high"}).errors[0]
    wrong_sort = AtRiskFilter.from_query({"list": "buyers", "sort": "risk"})
    assert "sorts by purchase, value, last_order" in wrong_sort.errors[0]
    # On the at-risk list the chance of buying is 100 - the chance of leaving: filter on that instead.
    assert "Chance of buying filters the likely buyers list" in AtRiskFilter.from_query({"buy_min": "30"}).errors[0]
    assert "Unknown list" in AtRiskFilter.from_query({"list": "everyone"}).errors[0]
    assert "range is empty" in AtRiskFilter.from_query({"list": "buyers", "buy_min": "60", "buy_max": "20"}).errors[0]


def test_the_likely_buyers_page_filters_by_chance_of_buying_and_keeps_lapsed_customers(admin_client, scored):
    response = admin_client.get("/buyers/?buy_min=30")
    body = response.content.decode()
    assert response.status_code == 200
    assert "QUIET" in body and "BOB" in body and ">ALICE<" not in body
    assert "<strong>2</strong> scored customers match" in body and "Chance of buying at least 30%" in body
    assert 'name="query" value="sort=purchase&amp;list=buyers&amp;buy_min=30"' in body  # what "Save" keeps
    # The at-risk list's risk filters are refused here, with the reason, and list nobody.
    refused = admin_client.get("/buyers/?churn_min=50")
    assert refused.status_code == 400 and "no risk filter" in refused.content.decode()
    assert ">BOB<" not in refused.content.decode()
    # A buyers filter given to the at-risk list opens the likely buyers list.
    moved = admin_client.get("/customers/?list=buyers&buy_min=30")
    assert moved.status_code == 302 and moved["Location"].startswith("/buyers/?")


def test_a_segment_saved_from_the_likely_buyers_holds_lapsed_customers_and_says_which_list(admin_client, scored):
    response = admin_client.post("/segments/", {"name": "Likely to buy", "query": "buy_min=30&list=buyers"})
    segment = Segment.objects.get(name="Likely to buy")
    assert response.status_code == 302 and segment.filters == {"buy_min": 30, "sort": "purchase", "list": "buyers"}
    body = admin_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "All 2 customers in this segment" in body
    assert body.index("BOB") < body.index("QUIET")  # likeliest buyer first
    assert ">lapsed<" in body  # QUIET has no chance of leaving: no longer active
    assert "Open in the likely buyers list" in body and "/buyers/?" in body
    assert 'id="planner"' not in body  # the churn planner does not apply to buyers
    assert "Likely buyers (every scored customer, active or lapsed)" in admin_client.get("/segments/").content.decode()


def test_a_likely_buyers_export_writes_lapsed_customers_with_empty_churn_columns(shop, scored, admin):
    segment = segment_create(shop=shop, user=admin, name="Buyers",
                             flt=AtRiskFilter.from_query({"list": "buyers", "buy_min": "30"}))
    plan = export_create(shop=shop, segment=segment, user=admin)
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(export_rows(plan=plan))))))
    assert [r["customer_id"] for r in rows] == ["BOB", "QUIET"]
    bob, quiet = rows
    assert bob["churn_probability"] == "0.08" and bob["purchase_probability"] == "0.7" and bob["risk_band"]
    assert (quiet["churn_probability"], quiet["risk_band"], quiet["revenue_at_risk"]) == ("", "", "")
    assert quiet["purchase_probability"] == "0.4" and quiet["email"] == "quiet@example.com"
    assert quiet["reasons"] == "ordered 400 days ago"
    # Everyone's reasons for buying, as the segment's page shows them (BOB's churn row says why he stays).
    assert bob["reasons"] == "; ".join(CustomerScore.objects.get(customer__external_id="BOB", task="purchase").reasons)


def test_the_api_saves_a_likely_buyers_segment_and_pages_its_members(shop, scored, admin):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=admin, shop=shop, name='t').plain}")
    created = api.post("/api/v1/segments/", {"name": "Buyers", "filters": {"list": "buyers", "buy_min": 0.3}},
                       format="json")
    assert created.status_code == 201, created.content
    assert created.json()["size"] == 2 and created.json()["filters"]["buy_min"] == 0.3
    members = api.get(f"/api/v1/segments/{created.json()['id']}/members/").json()["results"]
    assert [m["customer_id"] for m in members] == ["BOB", "QUIET"]
    assert members[1]["churn_probability"] is None and members[1]["risk_band"] == ""
    assert members[1]["revenue_at_risk"] is None  # as the CSV's empty cell
    assert members[1]["purchase_probability"] == 0.4
    refused = api.post("/api/v1/segments/", {"name": "Bad", "filters": {"list": "buyers", "churn_min": 0.5}},
                       format="json")
    assert refused.status_code == 400 and "no risk filter" in refused.content.decode()


@pytest.mark.parametrize("name", ["   ", "x" * 201])
def test_a_save_without_a_valid_name_goes_back_to_the_filtered_list_not_the_whole_one(admin_client, scored, name):
    # The list without its filter would offer to save every customer under the next name typed.
    response = admin_client.post("/segments/", {"name": name, "query": "band=high&country=FR"})
    assert response.status_code == 302 and response["Location"] == "/customers/?band=high&country=FR"
    back = admin_client.post("/segments/", {"name": "", "query": "list=buyers&buy_min=30"})
    assert back["Location"] == "/buyers/?list=buyers&buy_min=30"
    assert not Segment.objects.exists()


def test_the_filter_form_shows_the_country_a_link_asks_for_even_when_no_customer_has_it(admin_client, scored):
    # "Germany" in a link is the list's DE; "XX" matches nobody. The form showed "Any country" for both, and an
    # Apply after changing another field dropped the country without a word.
    germany = admin_client.get("/customers/?country=Germany").content.decode()
    assert '<option value="DE" selected>Germany (DE)</option>' in germany  # named as the Forecast page names it
    unknown = admin_client.get("/buyers/?country=XX").content.decode()
    assert '<option value="XX" selected>XX (no customer)</option>' in unknown
    assert "No customer matches this filter" in unknown


def test_the_at_risk_list_has_no_chance_of_buying_column_it_would_only_mirror_the_chance_of_leaving(
        admin_client, scored):
    body = admin_client.get("/customers/").content.decode()
    assert 'data-label="Chance of leaving"' in body and 'data-label="Chance of buying"' not in body
    assert "Their chance of buying is the rest: 100 % less the chance of leaving." in body


def test_days_since_last_order_matches_only_customers_who_ordered(admin_client, scored):
    # "Last order at least 400 days ago" on the likely buyers listed mostly new sign-ups who never ordered (a
    # browser re-check): a win-back filter wants lapsed buyers. BOB ordered 10 days before the scores.
    body = admin_client.get("/buyers/?days_min=5").content.decode()
    assert "<strong>1</strong> scored customers match" in body and ">BOB<" in body and "QUIET" not in body
    assert "No customer matches" in admin_client.get("/buyers/?days_min=11").content.decode()


def test_the_likely_buyers_headline_counts_every_scored_customer_whatever_the_filter(admin_client, scored):
    # "0 customers, of whom about 2,056 are expected to order" under ?country=XX (a browser re-check).
    body = admin_client.get("/buyers/?country=XX").content.decode()
    assert "3 customers, of whom about <strong>1</strong> are expected to order" in body


def test_the_likely_buyers_columns_sort_the_list(admin_client, scored):
    body = admin_client.get("/buyers/?buy_min=30").content.decode()
    assert 'href="?sort=value&amp;list=buyers&amp;buy_min=30"' in body  # the filter kept, the sort changed
    by_spend = admin_client.get("/buyers/?sort=value").content.decode()
    assert "12-month spend&nbsp;▾" in by_spend and by_spend.index("ALICE") < by_spend.index("BOB")


def test_a_money_filter_is_shown_as_typed_not_as_a_float(admin_client, scored):
    body = admin_client.get("/customers/?value_min=500&value_max=1234567.5").content.decode()
    assert 'type="number" value="500" id="f-value-min" name="value_min"' in body
    assert 'value="1234567.50"' in body


def test_last_order_longest_ago_first_puts_customers_who_never_ordered_last(admin_client, scored):
    # A second reader: the sort inherited "never ordered first", so "top N by last order" were new sign-ups.
    body = admin_client.get("/buyers/?sort=last_order").content.decode()
    assert body.index("BOB") < body.index("QUIET") and body.index("BOB") < body.index("ALICE")


@pytest.mark.parametrize(("lapsed", "words"), [("false", "Still active"), ("true", "Already lapsed")])
def test_the_likely_buyers_summary_line_names_the_lapsed_choice_as_its_select_does(admin_client, scored, lapsed,
                                                                                   words):
    # The line read "Still active (save)" / "Already lapsed (win back)" (the at-risk list's words) under a select
    # saying "Still active" / "Already lapsed" (a new user).
    body = admin_client.get(f"/buyers/?lapsed={lapsed}").content.decode()
    assert f'<option value="{lapsed}" selected>{words}</option>' in body
    assert f"scored customers match<span class=\"muted\"> · {words}</span>" in body
    assert "(save)" not in body and "(win back)" not in body
    at_risk = admin_client.get(f"/customers/?lapsed={lapsed}").content.decode()  # the at-risk list keeps its own
    saying = {"false": "Still active (save)", "true": "Already lapsed (win back)"}[lapsed]
    assert f'<option value="{lapsed}" selected>{saying}</option>' in at_risk and f" · {saying}</span>" in at_risk
