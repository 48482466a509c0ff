"""Tokens: hashed at rest, Bearer authentication, 401s with WWW-Authenticate, throttling, create_token."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from accounts.models import ApiToken, AuditLog
from accounts.tokens import api_token_create, api_token_revoke, api_token_verify, token_hash
from tests.accounts.factories import UserFactory

from .conftest import assert_error, bearer

ME = "/api/v1/me/"


def test_plain_token_is_nowhere_in_the_database(tokens):
    plain = tokens["analyst"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM accounts_apitoken t")
        rows = " ".join(r[0] for r in cursor.fetchall())
        cursor.execute("SELECT row_to_json(a)::text FROM accounts_auditlog a")
        audit = " ".join(r[0] for r in cursor.fetchall())
    assert plain not in rows and plain not in audit
    assert token_hash(plain) in rows  # stored as its SHA-256, with a short recognisable prefix
    assert ApiToken.objects.get(key_hash=token_hash(plain)).prefix == plain[:12]


def test_bearer_token_authenticates_as_its_owner_with_role_and_shop(clients):
    body = clients["analyst"].get(ME).json()
    assert body["username"] == "analyst" and body["role"] == "analyst" and body["shop"] == "acme"


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer garbage", "Bearer es_" + "x" * 43, "Bearer a b",
                                    "Bearer " + "x" * 500])
def test_missing_or_garbage_token_is_401_with_www_authenticate(db, client, header):
    response = client.get(ME, HTTP_AUTHORIZATION=header) if header else client.get(ME)
    body = assert_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["code"] in ("not_authenticated", "authentication_failed")


def test_expired_token_is_refused(users, shop):
    issued = api_token_create(user=users["admin"], shop=shop, name="short", expires_days=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(issued.plain).get(ME)
    assert "expired" in assert_error(response, 401)["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revoked_token_is_refused_at_once_and_revocation_is_audited(users, shop):
    issued = api_token_create(user=users["admin"], shop=shop, name="ci")
    client = bearer(issued.plain)
    assert client.get(ME).status_code == 200
    api_token_revoke(token=issued.token, actor=users["admin"])
    assert "revoked" in assert_error(client.get(ME), 401)["message"]
    assert AuditLog.objects.filter(action="token.revoke", details__token_id=issued.token.pk).exists()


def test_token_stops_working_when_owner_loses_the_shop_or_is_deactivated(users, shop, tokens):
    users["marketer"].shops.remove(shop)
    assert_error(bearer(tokens["marketer"]).get(ME), 401)
    users["analyst"].is_active = False
    users["analyst"].save()
    assert_error(bearer(tokens["analyst"]).get(ME), 401)


def test_token_follows_the_owners_current_role_in_the_tokens_shop_only(users, shop, other_shop, tokens):
    from accounts.services import membership_set

    membership_set(shop=other_shop, user=users["marketer"], role="admin")  # admin elsewhere: nothing here
    assert bearer(tokens["marketer"]).get(ME).json()["role"] == "marketer"
    membership_set(shop=shop, user=users["admin"], role="marketer")
    assert bearer(tokens["admin"]).get(ME).json()["role"] == "marketer"


def test_last_used_is_written_at_most_once_a_minute(tokens, settings):
    settings.API_TOKEN_CACHE_SECONDS = 0  # the row's own rule (the SQL edit below would wait for the cache)
    plain = tokens["marketer"]
    api_token_verify(plain=plain)
    first = ApiToken.objects.get(key_hash=token_hash(plain)).last_used_at
    api_token_verify(plain=plain)
    assert ApiToken.objects.get(key_hash=token_hash(plain)).last_used_at == first
    ApiToken.objects.filter(key_hash=token_hash(plain)).update(last_used_at=first - timedelta(minutes=2))
    api_token_verify(plain=plain)
    assert ApiToken.objects.get(key_hash=token_hash(plain)).last_used_at > first - timedelta(minutes=1)


def test_token_cannot_be_made_for_a_shop_the_user_is_not_granted(shop, other_shop):
    from ecomsight.errors import UserError

    user = UserFactory(role="analyst", shops=[other_shop])
    with pytest.raises(UserError):
        api_token_create(user=user, shop=shop, name="x")


def test_session_writes_need_csrf(users, shop):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(users["marketer"])
    assert client.get("/api/v1/segments/").status_code == 200
    response = client.post("/api/v1/segments/", {"name": "x"}, format="json")
    assert_error(response, 403)


@pytest.mark.django_db
def test_throttle_answers_429_with_retry_after(tokens):
    from django.conf import settings

    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/min"}}
    client = bearer(tokens["marketer"])
    with override_settings(REST_FRAMEWORK=rest):
        codes = [client.get(ME).status_code for _ in range(4)]
        response = client.get(ME)
    assert codes[:3] == [200, 200, 200]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1


def test_create_token_command_prints_the_token_once_and_stores_its_hash(users, shop):
    out, err = StringIO(), StringIO()
    call_command("create_token", "analyst", "--name", "crm", "--shop", "acme", "--expires-days", "30",
                 stdout=out, stderr=err)
    plain = out.getvalue().strip()
    token = ApiToken.objects.get(key_hash=token_hash(plain))
    assert token.name == "crm" and token.shop == shop and token.expires_at is not None
    assert plain not in err.getvalue()
    assert bearer(plain).get(ME).json()["role"] == "analyst"


def test_create_token_command_refuses_unknown_user(db, shop):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user"):
        call_command("create_token", "nobody", "--name", "x", "--shop", "acme")
