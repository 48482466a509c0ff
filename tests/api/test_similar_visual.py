"""GET products/{id}/similar/?kind=visual: the catalogue's visual neighbours, with or without a recommender build."""

import pytest

from catalog.models import Category, Product, VisualNeighbour
from tests.api.conftest import assert_error


@pytest.fixture
def neighbours(shop, other_shop):
    shoes = Category.objects.create(shop=shop, name="Shoes", path="Shoes")
    bags = Category.objects.create(shop=shop, name="Bags", path="Bags")
    a, b, c = (Product.objects.create(shop=shop, external_id=pid, title=pid, category=cat)
               for pid, cat in (("A", shoes), ("B", bags), ("C", shoes)))
    VisualNeighbour.objects.bulk_create([
        VisualNeighbour(shop=shop, product=a, similar=b, scope="overall", rank=1, score=0.9),
        VisualNeighbour(shop=shop, product=a, similar=c, scope="overall", rank=2, score=0.7),
        VisualNeighbour(shop=shop, product=a, similar=c, scope="category", rank=1, score=0.7),
    ])
    Product.objects.create(shop=other_shop, external_id="A")
    return a


@pytest.mark.django_db
def test_visual_neighbours_best_first_without_any_recommender_build(clients, neighbours):
    body = clients["marketer"].get("/api/v1/products/A/similar/?kind=visual").json()
    assert [(r["kind"], r["rank"], r["product"]["id"]) for r in body["results"]] == [("visual", 1, "B"),
                                                                                     ("visual", 2, "C")]
    category = clients["marketer"].get("/api/v1/products/A/similar/?kind=visual&scope=category").json()
    assert [r["product"]["id"] for r in category["results"]] == ["C"]


@pytest.mark.django_db
def test_visual_kind_is_scoped_to_the_token_shop_and_checks_its_filters(clients, other_client, neighbours):
    assert other_client.get("/api/v1/products/A/similar/?kind=visual").json()["results"] == []
    assert_error(clients["marketer"].get("/api/v1/products/A/similar/?kind=looks"), 400)
    assert_error(clients["marketer"].get("/api/v1/products/A/similar/?kind=visual&scope=world"), 400)
    assert_error(clients["marketer"].get("/api/v1/products/ZZ/similar/?kind=visual"), 404)
