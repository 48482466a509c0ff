import datetime as dt

import pytest
from django.test import RequestFactory
from django.views.defaults import server_error

from predictions.models import ScoringRun
from tests.accounts.factories import UserFactory


@pytest.mark.django_db
def test_shop_switch_refuses_a_shop_the_user_is_not_granted(client, shop, other_shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    response = client.post("/accounts/shop/", {"shop": other_shop.slug})
    assert response.status_code == 404
    assert client.session.get("shop") != other_shop.slug
    assert other_shop.name not in client.get("/").content.decode()


@pytest.mark.django_db
def test_shop_switch_to_a_granted_shop_changes_the_dashboard(client, shop, other_shop):
    client.force_login(UserFactory(role="marketer", shops=[shop, other_shop]))
    response = client.post("/accounts/shop/", {"shop": other_shop.slug, "next": "/"})
    assert response.status_code == 302
    assert client.session["shop"] == other_shop.slug
    html = client.get("/").content.decode()
    assert f'<option value="{other_shop.slug}" selected>' in html


@pytest.mark.django_db
def test_shop_switch_does_not_redirect_to_another_site(client, shop, other_shop):
    client.force_login(UserFactory(role="marketer", shops=[shop, other_shop]))
    response = client.post("/accounts/shop/", {"shop": other_shop.slug, "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "location"), [
    ({}, "/"),
    ({"next": "/segments/"}, "/segments/"),
    ({"next": "https://evil.example/"}, "/"),
])
def test_shop_switch_by_get_goes_back_to_a_page_without_switching(client, shop, other_shop, query, location):
    # Typed, bookmarked or reloaded: a page with the switcher, not the browser's bare 405 page.
    client.force_login(UserFactory(role="marketer", shops=[shop, other_shop]))
    response = client.get("/accounts/shop/", {"shop": other_shop.slug, **query})
    assert response.status_code == 302 and response["Location"] == location
    assert client.session.get("shop") != other_shop.slug  # a link never changes the shop
    assert client.get(location).status_code == 200


@pytest.mark.django_db
def test_user_without_a_shop_sees_the_ask_an_admin_page_not_an_error(client, shop):
    client.force_login(UserFactory())
    response = client.get("/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Ask an admin" in html
    assert shop.name not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("marketer", ["/customers/", "/segments/"], ["/imports/", "/models/", "/jobs/", "/admin/"]),
        ("analyst", ["/customers/", "/imports/", "/quality/", "/models/", "/jobs/"], ["/admin/"]),
        ("admin", ["/customers/", "/imports/", "/admin/"], []),
    ],
)
def test_navigation_shows_each_role_its_pages_only(client, shop, role, visible, hidden):
    client.force_login(UserFactory(role=role, shops=[shop]))
    html = client.get("/").content.decode()
    for url in visible:
        assert f'href="{url}"' in html
    for url in hidden:
        assert f'href="{url}"' not in html


@pytest.mark.django_db
def test_single_shop_user_sees_the_shop_name_without_a_switcher(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    html = client.get("/").content.decode()
    assert 'name="shop"' not in html
    assert shop.name in html


@pytest.mark.django_db
def test_unknown_page_of_a_logged_in_user_is_the_styled_404(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_500_page_renders_without_database_or_context_processors():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


@pytest.mark.django_db
def test_footer_shows_freshness_when_a_page_provides_it(rf, shop):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = UserFactory(role="marketer", shops=[shop])
    request.session = {}
    run = ScoringRun(shop=shop, as_of=dt.datetime(2024, 3, 2, 23, 59, 59, tzinfo=dt.UTC),
                     created_at=dt.datetime(2024, 3, 3, 7, 1, tzinfo=dt.UTC),
                     finished_at=dt.datetime(2024, 3, 3, 7, 12, tzinfo=dt.UTC))
    html = render_to_string("base.html", {"data_freshness": "2024-03-01", "scores_run": run}, request)
    assert "Data up to" in html and "2024-03-01" in html
    # The run's own time, in the format and zone the page headers use (not "in 16 hours" from the data day).
    assert "Scores from" in html and "3 Mar 2024, 07:12 UTC" in html
