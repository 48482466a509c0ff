"""Drill 2 (tenant isolation and who may open what) and drill 6's "no GET changes state": every route
of the project, walked from the URL resolver, as anonymous, marketer, analyst, admin and another shop's user."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_create

from .conftest import ACME_MARK, MARK, all_routes, snapshot

# Anonymous may read these and nothing else (besides static files).
PUBLIC = {"accounts:login", "api-schema", "api-docs", "api-v1:health"}


def _body(response) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def test_route_walk_finds_every_kind_of_page_so_the_crawl_cannot_silently_shrink(db):
    names = {r.name for r in all_routes()}
    assert {"home", "predictions:customer", "predictions:segment_export", "behavior:import_report",
            "analyst:version", "accounts:login", "api-v1:segment-export", "api-v1:customer"} <= names
    assert len(names) >= 45


def test_anonymous_gets_no_page_but_login_and_api_answers_401_with_www_authenticate(world, client):
    values = world["acme"].params
    for route in all_routes():
        url = route.url(values)
        response = client.get(url)
        if route.name in PUBLIC:
            assert response.status_code == 200, url
        elif route.is_api:
            assert response.status_code == 401, (url, response.status_code)
            assert response["WWW-Authenticate"].startswith("Bearer"), url
        else:
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accounts/login/"), url
        assert ACME_MARK not in _body(response), url


@pytest.mark.parametrize("path", ["/admin/", "/admin/behavior/customer/", "/admin/auth/user/"])
def test_anonymous_is_sent_to_login_from_the_admin_site(world, client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_own_shop_pages_open_and_show_own_data_so_the_leak_checks_are_not_vacuous(world, client, role):
    client.force_login(world["users"][role])
    values = world["acme"].params
    opened = 0
    for route in all_routes():
        if route.is_api or route.name in ("behavior:import_map", "accounts:logout", "accounts:login"):
            continue
        response = client.get(route.url(values))
        body = _body(response)
        assert MARK not in body, route.name
        if role == "marketer" and route.is_analyst_page:
            assert response.status_code == 403, route.name
        elif response.status_code == 200:
            opened += 1
        elif route.name == "accounts:shop_switch":  # POST-only, but a GET goes back to a page, switching nothing
            assert (response.status_code, response["Location"]) == (302, "/"), route.name
        else:
            # GET on a POST-only action (405); nothing else is acceptable for one's own shop.
            assert response.status_code == 405, (route.name, response.status_code)
    assert opened >= (7 if role == "marketer" else 18)


@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_another_shops_ids_answer_404_and_no_page_shows_its_data(world, client, role):
    client.force_login(world["users"][role])
    values = world["globex"].params  # the other tenant's ids, asked for by acme's users
    for route in all_routes():
        if route.is_api:
            continue
        response = client.get(route.url(values))
        assert MARK not in _body(response), (route.name, role)
        if route.params and response.status_code not in (403, 405):
            assert response.status_code == 404, (route.name, response.status_code)


def test_user_of_another_shop_sees_nothing_of_ours(world, client):
    client.force_login(world["users"]["outsider"])
    for route in all_routes():
        if route.is_api:
            continue
        response = client.get(route.url(world["acme"].params))
        assert ACME_MARK not in _body(response), route.name
        if route.params and response.status_code != 405:
            assert response.status_code == 404, (route.name, response.status_code)


def test_a_session_preference_for_another_shop_is_ignored(world, client):
    client.force_login(world["users"]["admin"])
    session = client.session
    session["shop"] = "globex"  # a tampered or stale session
    session.save()
    for path in ("/", "/customers/", "/segments/", "/imports/", "/jobs/", "/models/"):
        response = client.get(path)
        assert response.status_code == 200 and MARK not in _body(response), path
        assert ACME_MARK in _body(response) or path in ("/", "/models/", "/jobs/"), path


def test_switching_to_a_shop_not_granted_is_404(world, client):
    client.force_login(world["users"]["admin"])
    response = client.post("/accounts/shop/", {"shop": "globex", "next": "/"})
    assert response.status_code == 404
    assert client.session.get("shop") != "globex"


@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_api_token_of_our_shop_never_reaches_the_other_shops_objects(world, role):
    issued = api_token_create(user=world["users"][role], shop=world["acme"].shop, name="crawl")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    for route in all_routes():
        if not route.is_api:
            continue
        response = client.get(route.url(world["globex"].params))
        assert MARK not in _body(response), route.name
        if route.params and response.status_code not in (403, 405):
            assert response.status_code == 404, (route.name, response.status_code)
        # ...while our own ids do answer (the check above is not vacuous).
    own = client.get(f"/api/v1/customers/{world['acme'].params['customer_id']}/")
    assert own.status_code == 200 and ACME_MARK in _body(own)


def test_marketer_gets_403_on_every_analyst_page(world, client):
    client.force_login(world["users"]["marketer"])
    analyst_pages = [r for r in all_routes() if r.is_analyst_page]
    assert len(analyst_pages) >= 10
    for route in analyst_pages:
        assert client.get(route.url(world["acme"].params)).status_code == 403, route.name
        assert client.post(route.url(world["acme"].params)).status_code == 403, route.name


def test_no_get_changes_state(world, client):
    """Every GET route, as admin, on our own ids (web pages and the API by session): row counts unchanged."""
    client.force_login(world["users"]["admin"])
    before = snapshot()
    for route in all_routes(include_admin=False):
        response = client.get(route.url(world["acme"].params))
        _body(response)  # run streamed responses to the end: exports write while streaming
        assert response.status_code < 500, route.name
    assert snapshot() == before


# ---- Django's admin site: staff users of one shop -------------------------------------------------------


def test_shop_admin_cannot_see_other_shops_jobs_tokens_or_audit_log_in_the_admin_site(world, client):
    from accounts.models import AuditLog

    other = world["globex"].shop
    token = api_token_create(user=world["users"]["outsider"], shop=other, name=f"{MARK} token").token
    AuditLog.objects.create(shop=other, action="export", target=f"{MARK} target")
    client.force_login(world["users"]["admin"])
    for path in ("/admin/accounts/job/", "/admin/accounts/apitoken/", "/admin/accounts/auditlog/",
                 "/admin/accounts/shop/", "/admin/auth/user/"):
        response = client.get(path)
        assert response.status_code in (200, 403), path
        assert MARK not in _body(response) and "outsider" not in _body(response), path
    for path in (f"/admin/accounts/apitoken/{token.pk}/change/", f"/admin/accounts/shop/{other.pk}/change/",
                 f"/admin/auth/user/{world['users']['outsider'].pk}/change/"):
        assert client.get(path).status_code in (302, 403, 404), path


def test_shop_admin_cannot_make_themselves_superuser_or_grant_themselves_another_shop(world, client):
    admin = world["users"]["admin"]
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{admin.pk}/change/")
    if page.status_code == 200:
        html = _body(page)
        assert 'name="is_superuser"' not in html and 'name="user_permissions"' not in html
    client.post(f"/admin/auth/user/{admin.pk}/change/", {
        "username": admin.username, "is_active": "on", "is_staff": "on", "is_superuser": "on",
        "groups": [], "user_permissions": [], "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    })
    client.post(f"/admin/accounts/shop/{world['acme'].shop.pk}/change/", {
        "slug": "acme", "name": "Acme", "currency": "EUR", "horizon_days": 90, "churn_lookback_days": 365,
        "allow_rebuy": "on", "members": [admin.pk, world["users"]["outsider"].pk],
    })
    client.post(f"/admin/accounts/shop/{world['globex'].shop.pk}/change/", {
        "slug": "globex", "name": "Globex", "currency": "EUR", "horizon_days": 90, "churn_lookback_days": 365,
        "allow_rebuy": "on", "members": [admin.pk],
    })
    admin.refresh_from_db()
    assert not admin.is_superuser
    assert list(admin.shops.values_list("slug", flat=True)) == ["acme"]
