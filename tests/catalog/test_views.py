"""Pages: the product page with its picture and look-alikes, the picture itself, Data quality's duplicates,
thumbnails on the customer page; access by role and shop."""

import pytest
from django.test import Client

from catalog.models import Product
from catalog.services import product_images_index
from tests.accounts.factories import UserFactory


@pytest.fixture
def indexed(shop, catalogue):
    product_images_index(shop=shop, images_dir=catalogue["images"])
    return shop


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_product_page_shows_its_picture_look_alikes_and_the_products_sharing_it(indexed):
    client = _client(UserFactory(username="m", role="marketer", shops=[indexed]))
    page = client.get("/products/CAT/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/products/CAT/image/thumb/" in html and "/products/CAT-PAD/" in html
    assert "The same picture is used by" in html
    thumb = client.get("/products/CAT/image/thumb/")
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content)[:2] == b"\xff\xd8"
    assert client.get("/products/GONE/image/thumb/").status_code == 404  # failed picture: nothing to serve
    assert client.get("/products/NOPE/").status_code == 404


@pytest.mark.django_db
def test_pictures_of_another_shop_are_not_served(indexed, other_shop):
    Product.objects.create(shop=other_shop, external_id="CAT")
    stranger = _client(UserFactory(username="x", role="admin", shops=[other_shop]))
    assert stranger.get("/products/CAT/image/thumb/").status_code == 404


@pytest.mark.django_db
def test_data_quality_lists_duplicate_pictures_for_analysts(indexed):
    analyst = _client(UserFactory(username="a", role="analyst", shops=[indexed]))
    html = analyst.get("/quality/").content.decode()
    assert "Duplicate pictures" in html and "(CAT-PAD)" in html and "(COF-2)" in html
    assert "(ROCKET)" not in html.split('id="duplicate-pictures"')[1].split("</div>")[0]


@pytest.mark.django_db
def test_a_product_id_with_a_slash_gets_its_page_and_picture(indexed):
    Product.objects.filter(shop=indexed, external_id="CAT").update(external_id="CATS/1")
    client = _client(UserFactory(username="m2", role="marketer", shops=[indexed]))
    page = client.get("/products/CATS/1/")
    assert page.status_code == 200 and "/products/CATS/1/image/thumb/" in page.content.decode()
    assert client.get("/products/CATS/1/image/thumb/").status_code == 200
