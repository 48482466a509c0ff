"""The customer page's "What to offer" card: the recommendations app provides it to predictions' page
(predictions.extensions), from the active build only."""

import pytest

from recommendations.models import Recommendation, RecommenderVersion, SimilarProduct
from tests.accounts.factories import UserFactory
from tests.behavior.factories import OrderLineFactory
from tests.predictions.factories import OrderFactory, ProductFactory, ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    customer = scored_customers(shop, ScoringRunFactory(shop=shop), [{"external_id": "ALICE", "p": 0.8}])["ALICE"]
    kettle, mug, teapot, grinder = (ProductFactory(shop=shop, title=t) for t in ("Kettle", "Mug", "Teapot", "Grinder"))
    OrderLineFactory(order=OrderFactory(customer=customer, shop=shop), product=kettle)
    retired = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.RETIRED)
    Recommendation.objects.create(shop=shop, version=retired, customer=customer, product=grinder, rank=2, score=1,
                                  source="popularity", reason="old build")

    def build():
        active = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
        Recommendation.objects.create(shop=shop, version=active, customer=customer, product=mug, rank=1,
                                      score=0.9, source="item_cf", reason="because they bought Kettle")
        SimilarProduct.objects.create(shop=shop, version=active, product=kettle, similar=teapot, kind="content",
                                      rank=1, score=0.5)

    return lambda: client.get("/customers/ALICE/").content.decode(), build


def test_before_the_first_build_the_page_says_so(page):
    show, _ = page
    body = show()
    assert "No recommendations yet for this customer." in body and "Grinder" not in body


def test_the_active_builds_recommendations_and_products_like_the_last_order(page):
    show, build = page
    build()
    body = show()
    assert "Mug" in body and "Because they bought Kettle" in body
    assert "Related to what they last bought" in body and "Teapot" in body
    assert "Grinder" not in body  # the retired build's
