"""The interest profile: shown on the customer page and by the API, and a filter of the at-risk list (web page, API,
saved segments) that reads it in one semi-join, whatever the number of customers."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tokens import api_token_create
from catalog.models import Category
from predictions.models import CustomerInterest, Segment
from predictions.selectors.segments import segment_size
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.predictions.factories import ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(shop):
    return UserFactory(role="marketer", shops=[shop])


@pytest.fixture
def api(marketer, shop):
    return bearer(api_token_create(user=marketer, shop=shop, name="t").plain)


def interest(run, customer, share, *, category=None, brand=""):
    return CustomerInterest(shop_id=run.shop_id, scoring_run=run, customer=customer,
                            kind="category" if category else "brand", category=category, brand=brand, share=share)


@pytest.fixture
def profiled(shop):
    """ALICE is 80 % Home (62 % Home > Kitchen), BOB 30 % Home and 70 % Toys, CAROL has no profile."""
    home = Category.objects.create(shop=shop, name="Home", path="Home")
    kitchen = Category.objects.create(shop=shop, name="Kitchen", path="Home > Kitchen", parent=home)
    toys = Category.objects.create(shop=shop, name="Toys", path="Toys")
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [{"external_id": "ALICE", "p": 0.8}, {"external_id": "BOB", "p": 0.7},
                                      {"external_id": "CAROL", "p": 0.6}])
    CustomerInterest.objects.bulk_create([
        interest(run, cs["ALICE"], 0.8, category=home), interest(run, cs["ALICE"], 0.62, category=kitchen),
        interest(run, cs["ALICE"], 0.2, category=toys), interest(run, cs["ALICE"], 0.7, brand="Acme"),
        interest(run, cs["ALICE"], 0.3, brand="Zeta"),
        interest(run, cs["BOB"], 0.3, category=home), interest(run, cs["BOB"], 0.7, category=toys),
    ])
    return {"run": run, "customers": cs, "home": home, "kitchen": kitchen, "toys": toys}


def listed(page: str) -> set[str]:
    return {name for name in ("ALICE", "BOB", "CAROL") if f"/customers/{name}/" in page}


def test_at_risk_page_keeps_only_customers_interested_enough_in_the_category(client, marketer, profiled):
    client.force_login(marketer)
    home = profiled["home"].pk
    response = client.get("/customers/", {"category": home, "category_min": 50})
    assert response.status_code == 200
    page = response.content.decode()
    assert listed(page) == {"ALICE"} and "Interest in Home at least 50 %" in page
    assert listed(client.get("/customers/", {"category": home, "category_min": 30}).content.decode()) == {
        "ALICE", "BOB"}  # inclusive: BOB's 30 % counts
    assert listed(client.get("/customers/", {"category": profiled["toys"].pk, "category_min": 50})
                  .content.decode()) == {"BOB"}


def test_a_minimum_without_a_category_or_out_of_range_warns_and_lists_nothing(client, marketer, profiled):
    client.force_login(marketer)
    response = client.get("/customers/", {"category_min": 50})
    page = response.content.decode()
    # Not the list without the minimum (it listed everyone before session 16): it could pass for the one meant.
    assert response.status_code == 400 and "needs a category" in page and listed(page) == set()
    page = client.get("/customers/", {"category": profiled["home"].pk, "category_min": 9}).content.decode()
    assert "must be between 10 and 100" in page  # profiles keep shares from 10 %: below, the filter would lie


def test_unknown_parameters_are_still_refused(client, marketer, api, profiled):
    client.force_login(marketer)
    assert client.get("/customers/", {"category": profiled["home"].pk, "category_minimum": 50}).status_code == 400
    assert api.get("/api/v1/at-risk/", {"category_minimum": 0.5}).status_code == 400


def test_api_at_risk_filter_takes_the_share_from_0_to_1(api, profiled):
    home = profiled["home"].pk
    body = api.get("/api/v1/at-risk/", {"category": home, "category_min": 0.5}).json()
    assert [r["customer_id"] for r in body["results"]] == ["ALICE"]
    assert api.get("/api/v1/at-risk/", {"category": home, "category_min": 1.5}).status_code == 400
    assert api.get("/api/v1/at-risk/", {"category_min": 0.5}).status_code == 400  # needs a category


def test_saved_segment_with_a_minimum_interest_holds_only_those_customers(client, shop, marketer, api, profiled):
    home = profiled["home"].pk
    created = api.post("/api/v1/segments/", {"name": "Home lovers", "filters": {"category": home,
                                                                              "category_min": 0.5}}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["filters"] == {"category": home, "category_min": 0.5} and created.json()["size"] == 1
    segment = Segment.objects.get(pk=created.json()["id"])
    assert segment.filters == {"category": home, "category_min": 50}  # stored in the web page's whole percents
    members = api.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]
    assert [m["customer_id"] for m in members] == ["ALICE"]
    # The same filter saved from the web page, and refused when the one validator refuses it.
    client.force_login(marketer)
    client.post("/segments/", {"name": "Toys", "query": f"category={profiled['toys'].pk}&category_min=50"})
    assert segment_size(shop=shop, segment=Segment.objects.get(name="Toys")) == 1
    refused = api.post("/api/v1/segments/", {"name": "Bad", "filters": {"category_min": 0.5}}, format="json")
    assert refused.status_code == 400 and "needs a category" in refused.json()["message"]


def test_customer_page_shows_the_top_categories_and_brands_with_their_shares(client, marketer, profiled):
    client.force_login(marketer)
    page = client.get("/customers/ALICE/").content.decode()
    card = page[page.index('id="customer-interests"'):]
    assert card.index("Home") < card.index("Home &gt; Kitchen") < card.index("Toys")
    assert "80 %" in card and "62 %" in card and "Acme" in card and "70 %" in card
    assert 'id="customer-interests"' not in client.get("/customers/CAROL/").content.decode()


def test_api_gives_a_customers_interests(api, profiled):
    body = api.get("/api/v1/customers/ALICE/interests/").json()
    assert body["scoring_run"]["id"] == profiled["run"].pk
    assert body["categories"] == [{"id": profiled["home"].pk, "path": "Home", "share": 0.8},
                                  {"id": profiled["kitchen"].pk, "path": "Home > Kitchen", "share": 0.62},
                                  {"id": profiled["toys"].pk, "path": "Toys", "share": 0.2}]
    assert body["brands"] == [{"brand": "Acme", "share": 0.7}, {"brand": "Zeta", "share": 0.3}]
    assert api.get("/api/v1/customers/CAROL/interests/").json()["categories"] == []
    assert api.get("/api/v1/customers/NOPE/interests/").status_code == 404
    assert api.get("/api/v1/customers/ALICE/interests/", {"top": 3}).status_code == 400  # unknown parameter


def test_a_shop_without_catalogue_or_scores_still_answers_everywhere(client, shop, marketer, api):
    client.force_login(marketer)
    scored_customers(shop, ScoringRunFactory(shop=shop), [{"external_id": "DAN", "p": 0.5}])
    assert 'id="customer-interests"' not in client.get("/customers/DAN/").content.decode()
    page = client.get("/customers/", {"category": 999, "category_min": 10}).content.decode()
    # A link's id the catalogue has not is an error naming the parameter (a saved segment's says "no longer exists")
    assert "No category with id 999 in this shop&#x27;s catalogue (category)" in page and listed(page) == set()
    assert api.get("/api/v1/customers/DAN/interests/").json()["categories"] == []


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries)


def test_the_filtered_page_costs_the_same_queries_for_3_or_60_customers(client, shop, marketer, api, profiled):
    client.force_login(marketer)
    params = {"category": profiled["home"].pk, "category_min": 20}
    web = lambda: client.get("/customers/", params)  # noqa: E731
    rest = lambda: api.get("/api/v1/at-risk/", {**params, "category_min": 0.2})  # noqa: E731
    web(), rest()  # warm: the token check and the session are cached after the first call
    few_web, few_api = _queries(web), _queries(rest)
    run = profiled["run"]
    many = scored_customers(shop, run, [{"external_id": f"M{i:03}", "p": 0.5} for i in range(57)])
    CustomerInterest.objects.bulk_create([interest(run, c, 0.5, category=profiled["home"]) for c in many.values()])
    assert "M000" in web().content.decode() and len(rest().json()["results"]) == 50  # a full page: 2 + 57 match
    assert _queries(web) == few_web and _queries(rest) == few_api


@pytest.fixture
def bought_acme(shop, profiled):
    """CAROL (no profile) bought an ACME product; a cancelled order of BOB's held one too."""
    from datetime import timedelta

    from behavior.models import Order, OrderLine
    from tests.catalog.factories import ProductFactory

    acme = ProductFactory(shop=shop, brand="ACME")
    cs, as_of = profiled["customers"], profiled["run"].as_of
    for key, status in (("CAROL", Order.Status.PLACED), ("BOB", Order.Status.CANCELLED)):
        order = Order.objects.create(shop=shop, customer=cs[key], external_id=f"o-{key}", status=status,
                                     placed_at=as_of - timedelta(days=5), total=10)
        OrderLine.objects.create(shop=shop, order=order, product=acme)
    return profiled


def test_brand_filter_lists_buyers_and_with_a_minimum_the_interested(client, marketer, bought_acme):
    client.force_login(marketer)
    page = client.get("/customers/", {"brand": "acme"}).content.decode()
    assert listed(page) == {"CAROL"} and "Bought brand acme" in page  # case-insensitive; cancelled orders don't count
    page = client.get("/customers/", {"brand": "Acme", "brand_min": 50}).content.decode()
    assert listed(page) == {"ALICE"} and "Interest in brand Acme at least 50 %" in page
    assert listed(client.get("/customers/", {"brand": "zeta", "brand_min": 30}).content.decode()) == {"ALICE"}
    assert listed(client.get("/customers/", {"brand": "Zeta", "brand_min": 31}).content.decode()) == set()
    page = client.get("/customers/", {"brand": "Acme", "brand_min": 15}).content.decode()
    assert "must be between 20 and 100" in page  # below 20 % a customer's sixth brand could be missing
    page = client.get("/customers/", {"brand_min": 50}).content.decode()
    assert "needs a brand" in page and listed(page) == set()  # nothing listed until the filter is whole


def test_api_and_segments_filter_by_brand_with_shares_from_0_to_1(api, shop, bought_acme):
    body = api.get("/api/v1/at-risk/", {"brand": "Acme", "brand_min": 0.5}).json()
    assert [r["customer_id"] for r in body["results"]] == ["ALICE"]
    assert [r["customer_id"] for r in api.get("/api/v1/at-risk/", {"brand": "ACME"}).json()["results"]] == ["CAROL"]
    assert api.get("/api/v1/at-risk/", {"brand_min": 0.5}).status_code == 400  # needs a brand
    assert api.get("/api/v1/at-risk/", {"brand": "Acme", "brand_min": 0.1}).status_code == 400
    created = api.post("/api/v1/segments/", {"name": "Acme fans", "filters": {"brand": "Acme", "brand_min": 0.6}},
                       format="json")
    assert created.status_code == 201, created.content
    assert created.json()["filters"] == {"brand": "Acme", "brand_min": 0.6} and created.json()["size"] == 1
    segment = Segment.objects.get(pk=created.json()["id"])
    assert segment.filters == {"brand": "Acme", "brand_min": 60}
    members = api.get(f"/api/v1/segments/{segment.pk}/members/").json()["results"]
    assert [m["customer_id"] for m in members] == ["ALICE"]
