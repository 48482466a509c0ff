"""The at-risk list reads as the other pages do: its category filter takes a category path (as the Reviews page does)
or an id, on the page and the API, with an error naming `category` for an unknown one; countries show as names."""

from datetime import timedelta

import pytest

from accounts.tokens import api_token_create
from behavior.models import Order, OrderLine, Review
from predictions.models import Segment
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.predictions.factories import AS_OF, CategoryFactory, ProductFactory, ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(shop):
    return UserFactory(role="marketer", shops=[shop])


@pytest.fixture
def api(marketer, shop):
    return bearer(api_token_create(user=marketer, shop=shop, name="t").plain)


@pytest.fixture
def kitchen_buyer(shop):
    """KATE (Germany) bought in Home > Kitchen and reviewed it; GUS (France) bought nothing in a category."""
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [{"external_id": "KATE", "p": 0.8, "spend": 100, "country": "DE"},
                                      {"external_id": "GUS", "p": 0.7, "spend": 90, "country": "FR"}])
    CategoryFactory(shop=shop, name="Home", path="Home")
    kitchen = CategoryFactory(shop=shop, name="Kitchen", path="Home > Kitchen")
    product = ProductFactory(shop=shop, category=kitchen)
    order = Order.objects.create(shop=shop, customer=cs["KATE"], external_id="o1",
                                 placed_at=AS_OF - timedelta(days=20), total=10)
    OrderLine.objects.create(shop=shop, order=order, product=product)
    Review.objects.create(shop=shop, customer=cs["KATE"], product=product, external_id="r1", rating=1,
                          text="Broke after a week", created_at=AS_OF)
    return {"kitchen": kitchen}


@pytest.mark.parametrize("written", ["Home > Kitchen", "home>kitchen", "Home"])
def test_the_at_risk_page_takes_a_category_path_as_the_reviews_page_does(client, marketer, kitchen_buyer, written):
    client.force_login(marketer)
    response = client.get("/customers/", {"category": written})
    page = response.content.decode()
    assert response.status_code == 200, page[:2000]
    assert "KATE" in page and "GUS" not in page
    assert "Bought in Home" in page


def test_the_at_risk_page_still_takes_an_id_and_a_segment_saved_with_one(client, shop, marketer, kitchen_buyer):
    client.force_login(marketer)
    kitchen = kitchen_buyer["kitchen"]
    page = client.get("/customers/", {"category": str(kitchen.pk)}).content.decode()
    assert "KATE" in page and "GUS" not in page
    segment = Segment.objects.create(shop=shop, name="Kitchen", filters={"category": kitchen.pk})
    page = client.get(f"/segments/{segment.pk}/").content.decode()
    assert "KATE" in page and "GUS" not in page and "Bought in Home &gt; Kitchen" in page


def test_an_unknown_category_is_an_error_naming_the_parameter(client, marketer, kitchen_buyer):
    client.force_login(marketer)
    response = client.get("/customers/", {"category": "Nope"})
    page = response.content.decode()
    assert response.status_code == 400
    assert "Unknown category “Nope” (category)" in page and "is not a number" not in page
    assert '<option value="Nope" selected>Nope (not in the catalogue)</option>' in page  # Apply keeps it, not "Any"
    assert "KATE" not in page


def test_saving_a_segment_from_a_path_saves_the_id(client, shop, marketer, kitchen_buyer):
    client.force_login(marketer)
    client.post("/segments/", {"name": "Kitchen buyers", "query": "category=Home+%3E+Kitchen"})
    assert Segment.objects.get(shop=shop, name="Kitchen buyers").filters == {"category": kitchen_buyer["kitchen"].pk}


def test_the_api_takes_a_path_or_an_id_and_names_category_for_an_unknown_one(api, kitchen_buyer):
    for written in ("Home > Kitchen", str(kitchen_buyer["kitchen"].pk)):
        body = api.get("/api/v1/at-risk/", {"category": written}).json()
        assert [r["customer_id"] for r in body["results"]] == ["KATE"], (written, body)
    response = api.get("/api/v1/at-risk/", {"category": "Nope"})
    body = response.json()
    assert response.status_code == 400 and body["field"] == "category" and "Nope" in body["message"], body
    created = api.post("/api/v1/segments/", {"name": "K", "filters": {"category": "Home > Kitchen"}}, format="json")
    assert created.status_code == 201 and created.json()["filters"]["category"] == kitchen_buyer["kitchen"].pk
    refused = api.post("/api/v1/segments/", {"name": "N", "filters": {"category": "Nope"}}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "filters.category", refused.json()


def test_the_reviews_filter_shares_the_lookup(client, api, marketer, kitchen_buyer):
    client.force_login(marketer)
    page = client.get("/reviews/", {"category": str(kitchen_buyer["kitchen"].pk)}).content.decode()
    assert "Broke after a week" in page
    response = client.get("/reviews/", {"category": "Nope"})
    assert response.status_code == 400 and "Unknown category “Nope”" in response.content.decode()
    assert api.get("/api/v1/reviews/", {"category": "Nope"}).json()["field"] == "category"


def test_countries_read_as_names_on_the_page_and_stay_codes_in_the_api(client, api, marketer, kitchen_buyer):
    client.force_login(marketer)
    page = client.get("/customers/").content.decode()
    assert ">Germany</div>" in page and ">France</div>" in page
    assert '<option value="DE">Germany (DE)</option>' in page
    assert "Country Germany (DE)" in client.get("/customers/", {"country": "de"}).content.decode()
    body = api.get("/api/v1/at-risk/").json()
    assert {r["country"] for r in body["results"]} == {"DE", "FR"}
