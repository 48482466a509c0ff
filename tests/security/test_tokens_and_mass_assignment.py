"""Drills 3 and 5, re-checked against the API as it is (tests/api holds the full matrices): bad tokens are
refused, tokens are hashed at rest, and read-only fields sent in a segment write change nothing."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.tokens import api_token_create, api_token_revoke
from predictions.models import Segment

from .conftest import ACME_MARK

ME = "/api/v1/me/"


def _bearer(plain: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


@pytest.mark.parametrize("case", ["revoked", "expired", "garbage", "truncated", "owner_removed"])
def test_bad_tokens_are_refused_with_401(world, case):
    issued = api_token_create(user=world["users"]["admin"], shop=world["acme"].shop, name=case)
    assert _bearer(issued.plain).get(ME).status_code == 200
    plain = issued.plain
    if case == "expired":
        # Expiry by the passing of time.
        token = ApiToken.objects.get(pk=issued.token.pk)
        token.expires_at = timezone.now() + timedelta(seconds=1)
        token.save(update_fields=["expires_at"])
        assert _bearer(plain).get(ME).status_code == 200
        time.sleep(1.1)
    if case == "revoked":
        api_token_revoke(token=issued.token, actor=world["users"]["admin"])
    elif case == "garbage":
        plain = "es_" + "A" * 40
    elif case == "truncated":
        plain = plain[:-1]
    elif case == "owner_removed":
        world["users"]["admin"].shops.remove(world["acme"].shop)
    response = _bearer(plain).get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_another_shops_token_sees_only_its_shop(world):
    issued = api_token_create(user=world["users"]["outsider"], shop=world["globex"].shop, name="other")
    client = _bearer(issued.plain)
    assert client.get(f"/api/v1/customers/{world['acme'].params['customer_id']}/").status_code == 404
    assert ACME_MARK not in client.get("/api/v1/customers/").content.decode()


def test_plain_token_is_nowhere_in_the_database(world):
    issued = api_token_create(user=world["users"]["admin"], shop=world["acme"].shop, name="hash")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert rows and not any(issued.plain in str(v) or issued.plain[8:] in str(v) for row in rows for v in row)


@pytest.mark.parametrize("method", ["patch", "put"])
def test_read_only_fields_in_a_segment_write_change_nothing(world, method):
    issued = api_token_create(user=world["users"]["marketer"], shop=world["acme"].shop, name="ma")
    segment = Segment.objects.get(pk=world["acme"].params["segment_id"])
    other = world["globex"].shop
    body = {"name": "Renamed", "filters": {}, "id": 999999, "shop": other.pk, "shop_id": other.pk,
            "created_by": world["users"]["outsider"].pk, "created_at": "2001-01-01T00:00:00Z", "size": 12345}
    response = getattr(_bearer(issued.plain), method)(f"/api/v1/segments/{segment.pk}/", body, format="json")
    assert response.status_code in (200, 400)
    after = Segment.objects.get(pk=segment.pk)
    assert (after.shop_id, after.created_by_id, after.created_at) == (segment.shop_id, segment.created_by_id,
                                                                      segment.created_at)
    assert not Segment.objects.filter(pk=999999).exists()
    assert not Segment.objects.filter(shop=other, name="Renamed").exists()
