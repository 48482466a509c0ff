"""Drill 6: CSRF is enforced on every session POST (web pages and the API used from the browser)."""

from __future__ import annotations

from django.test import Client

from .conftest import all_routes, snapshot


def test_every_post_without_csrf_token_is_403_and_changes_nothing(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["admin"])
    before = snapshot()
    routes = all_routes()
    for route in routes:
        response = client.post(route.url(world["acme"].params), {"name": "csrf", "shop": "acme"})
        # The health check is public and takes no POST: 405 there, before any session is consulted.
        expected = 405 if route.name == "api-v1:health" else 403
        assert response.status_code == expected, (route.name, response.status_code)
    assert snapshot() == before
    assert len(routes) >= 45


def test_login_form_itself_needs_the_csrf_token_against_login_csrf(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "admin", "password": "correct-horse-battery"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_same_post_with_the_token_goes_through_so_the_403_above_is_csrf(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"]["admin"])
    client.get("/segments/")
    token = client.cookies["csrftoken"].value
    segment_id = world["acme"].params["segment_id"]
    response = client.post(f"/segments/{segment_id}/rename/", {"name": "Renamed", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    from predictions.models import Segment

    assert Segment.objects.get(pk=segment_id).name == "Renamed"
