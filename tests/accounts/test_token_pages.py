"""The API tokens page: the secret shown once and working against the real API, who sees and revokes which token."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditLog
from accounts.tokens import api_token_create, token_hash
from ecomsight.errors import UserError
from tests.accounts.factories import UserFactory

PAGE = "/accounts/tokens/"
REVOKE = "/accounts/tokens/revoke/"
ME = "/api/v1/me/"
SECRET = re.compile(r'value="(es_[A-Za-z0-9_-]{40,})"')

pytestmark = pytest.mark.django_db


def revoke(client, token: ApiToken):
    return client.post(REVOKE, {"token": token.pk})


def revoke_button(token: ApiToken) -> str:
    return f'name="token" value="{token.pk}"'


def bearer(plain: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return api


def logged_in(client, role: str, *shops):
    user = UserFactory(role=role, shops=list(shops))
    client.force_login(user)
    return user


def create(client, **data):
    """POST the create form as a browser does (following the redirect); the final response and the plain token
    it shows (None when none is shown)."""
    response = client.post(PAGE, {"name": "CRM sync", "expires_days": "", **data}, follow=True)
    match = SECRET.search(response.content.decode())
    return response, match.group(1) if match else None


def test_anonymous_is_sent_to_log_in_and_creates_nothing(client, shop):
    for response in (client.get(PAGE), client.post(PAGE, {"name": "x"})):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert not ApiToken.objects.exists()


def test_user_without_a_role_gets_403_not_the_page(client, shop):
    client.force_login(UserFactory(shops=[shop]))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_every_role_has_the_page_in_its_navigation(client, shop, role):
    logged_in(client, role, shop)
    assert 'href="/accounts/tokens/"' in client.get("/").content.decode()
    assert client.get(PAGE).status_code == 200


def test_created_secret_is_shown_once_works_on_the_api_and_is_stored_nowhere(client, shop):
    user = logged_in(client, "analyst", shop)
    response, plain = create(client, name="CRM sync")
    assert response.redirect_chain == [(PAGE + "#new-token", 302)]  # the secret never goes through a URL
    assert response.status_code == 200 and plain is not None
    assert "no-store" in response["Cache-Control"]
    assert "will not be shown again" in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.shop, token.name) == (user, shop, "CRM sync")
    assert token.key_hash == token_hash(plain) and token.expires_at is None

    me = bearer(plain).get(ME)
    assert me.status_code == 200
    assert (me.json()["username"], me.json()["role"], me.json()["shop"]) == (user.username, "analyst", shop.slug)

    html = client.get(PAGE).content.decode()
    assert plain not in html  # the list shows the token by name and prefix only
    assert "CRM sync" in html and f"{token.prefix}…" in html
    assert plain not in str(dict(client.session.items()))
    assert not any(plain in str(a.details) or plain in a.target for a in AuditLog.objects.all())


def test_reloading_the_page_after_creating_a_token_makes_no_second_token_nor_shows_the_secret_again(client, shop):
    logged_in(client, "marketer", shop)
    posted = client.post(PAGE, {"name": "CRM sync", "expires_days": ""})
    assert posted.status_code == 302  # a reload of what the browser then shows is a GET, not the POST again
    assert SECRET.search(posted.content.decode()) is None
    shown = client.get(PAGE)
    plain = SECRET.search(shown.content.decode()).group(1)
    assert "no-store" in shown["Cache-Control"]

    reloaded = client.get(PAGE)
    assert plain not in reloaded.content.decode() and "will not be shown again" not in reloaded.content.decode()
    assert ApiToken.objects.count() == 1
    assert bearer(plain).get(ME).status_code == 200


def test_a_session_sees_only_its_own_new_secret(client, shop):
    user = logged_in(client, "marketer", shop)
    client.post(PAGE, {"name": "CRM sync", "expires_days": ""})
    other_browser = Client()
    other_browser.force_login(user)  # the same user elsewhere: the secret was shown to the browser that asked
    assert SECRET.search(other_browser.get(PAGE).content.decode()) is None
    assert SECRET.search(client.get(PAGE).content.decode()) is not None


def test_a_second_active_token_of_the_same_name_is_refused_by_the_field(client, shop):
    logged_in(client, "marketer", shop)
    create(client, name="CRM sync")
    response, plain = create(client, name="  crm   SYNC ")
    assert response.redirect_chain == [] and plain is None
    html = response.content.decode()
    assert "already has an active token named “crm SYNC”" in html and 'class="errorlist' in html
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("ended", ["revoked", "expired"])
def test_the_name_of_a_revoked_or_expired_token_can_be_used_again(client, shop, ended):
    user = logged_in(client, "marketer", shop)
    old = api_token_create(user=user, shop=shop, name="CRM sync", expires_days=1).token
    field = "revoked_at" if ended == "revoked" else "expires_at"
    ApiToken.objects.filter(pk=old.pk).update(**{field: timezone.now() - timedelta(minutes=1)})
    _, plain = create(client, name="CRM sync")
    assert plain is not None and ApiToken.objects.filter(name="CRM sync").count() == 2


def test_the_same_name_is_free_for_another_user_and_in_another_shop(shop, other_shop):
    alice = UserFactory(role="marketer", shops=[shop, other_shop])
    bob = UserFactory(role="marketer", shops=[shop])
    api_token_create(user=alice, shop=shop, name="CRM sync")
    api_token_create(user=alice, shop=other_shop, name="CRM sync")
    api_token_create(user=bob, shop=shop, name="CRM sync")
    with pytest.raises(UserError, match="already has an active token"):
        api_token_create(user=bob, shop=shop, name="CRM sync")
    assert ApiToken.objects.count() == 3


def test_expiry_in_days_sets_expires_at(client, shop):
    logged_in(client, "marketer", shop)
    before = timezone.now()
    response, plain = create(client, expires_days="30")
    assert plain is not None
    expires_at = ApiToken.objects.get().expires_at
    assert before + timedelta(days=30) <= expires_at <= timezone.now() + timedelta(days=30)


@pytest.mark.parametrize(("data", "message"), [
    ({"name": ""}, "Give the token a name"),
    ({"name": "   "}, "Give the token a name"),
    ({"name": "x" * 101}, "at most 100 characters"),
    ({"expires_days": "0"}, "greater than or equal to 1"),
    ({"expires_days": "3651"}, "less than or equal to 3650"),
    ({"expires_days": "soon"}, "Enter a whole number"),
])
def test_invalid_form_shows_the_error_by_the_field_and_creates_no_token(client, shop, data, message):
    logged_in(client, "marketer", shop)
    response, plain = create(client, **data)
    assert response.status_code == 200
    assert plain is None
    html = response.content.decode()
    assert message in html and 'class="errorlist' in html
    assert not ApiToken.objects.exists()


def test_marketer_token_carries_the_marketer_role_not_more(client, shop):
    logged_in(client, "marketer", shop)
    _, plain = create(client)
    api = bearer(plain)
    assert api.get(ME).json()["role"] == "marketer"
    assert api.post("/api/v1/jobs/train/", {"task": "churn"}, format="json").status_code == 403


def test_revoking_own_token_makes_the_api_refuse_it_and_is_audited(client, shop):
    user = logged_in(client, "marketer", shop)
    _, plain = create(client)
    api = bearer(plain)
    assert api.get(ME).status_code == 200
    token = ApiToken.objects.get()

    assert revoke_button(token) in client.get(PAGE).content.decode()
    response = revoke(client, token)
    assert response.status_code == 302 and response["Location"] == PAGE

    assert api.get(ME).status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    audit = AuditLog.objects.get(action="token.revoke")
    assert (audit.user, audit.shop, audit.details["token_id"]) == (user, shop, token.pk)
    html = client.get(PAGE).content.decode()
    assert ">Revoked<" in html and revoke_button(token) not in html  # no revoke button on a revoked token


def test_marketer_neither_sees_nor_revokes_another_users_token(client, shop):
    other = UserFactory(role="marketer", shops=[shop])
    issued = api_token_create(user=other, shop=shop, name="Someone else's sync")
    logged_in(client, "marketer", shop)

    html = client.get(PAGE).content.decode()
    assert "Someone else" not in html and issued.token.prefix not in html
    assert revoke(client, issued.token).status_code == 404
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None
    assert bearer(issued.plain).get(ME).status_code == 200
    assert not AuditLog.objects.filter(action="token.revoke").exists()


def test_admin_sees_every_token_of_the_shop_with_its_owner_and_revokes_it(client, shop):
    owner = UserFactory(username="mia", role="marketer", shops=[shop])
    issued = api_token_create(user=owner, shop=shop, name="Mia's newsletter")
    admin = logged_in(client, "admin", shop)

    html = client.get(PAGE).content.decode()
    assert "Mia&#x27;s newsletter" in html and ">mia<" in html and issued.token.prefix in html
    assert revoke_button(issued.token) in html
    assert revoke(client, issued.token).status_code == 302
    assert bearer(issued.plain).get(ME).status_code == 401
    audit = AuditLog.objects.get(action="token.revoke")
    assert audit.user == admin and audit.details["token_id"] == issued.token.pk


def test_marketer_list_has_no_owner_column(client, shop):
    logged_in(client, "marketer", shop)
    create(client)
    assert "<th>Owner</th>" not in client.get(PAGE).content.decode()


@pytest.mark.parametrize("role", ["marketer", "admin"])
def test_tokens_of_another_shop_are_neither_listed_nor_revocable(client, shop, other_shop, role):
    user = logged_in(client, role, shop, other_shop)  # works on `shop`, the first by slug
    elsewhere = api_token_create(user=user, shop=other_shop, name="Globex sync")
    stranger = api_token_create(user=UserFactory(role="marketer", shops=[other_shop]), shop=other_shop,
                                name="Stranger sync")

    html = client.get(PAGE).content.decode()
    assert "Globex sync" not in html and "Stranger sync" not in html
    for issued in (elsewhere, stranger):
        assert revoke(client, issued.token).status_code == 404
        issued.token.refresh_from_db()
        assert issued.token.revoked_at is None


def test_created_token_acts_for_the_shop_chosen_in_the_top_bar(client, shop, other_shop):
    logged_in(client, "analyst", shop, other_shop)
    client.post("/accounts/shop/", {"shop": other_shop.slug})
    _, plain = create(client)
    assert bearer(plain).get(ME).json()["shop"] == other_shop.slug


def test_revoke_by_get_or_without_csrf_token_changes_nothing(shop):
    csrf_client = Client(enforce_csrf_checks=True)
    user = logged_in(csrf_client, "marketer", shop)
    issued = api_token_create(user=user, shop=shop, name="ci")

    assert csrf_client.get(REVOKE, {"token": issued.token.pk}).status_code == 405
    assert revoke(csrf_client, issued.token).status_code == 403  # no CSRF token
    assert csrf_client.post(PAGE, {"name": "forged"}).status_code == 403
    issued.token.refresh_from_db()
    assert issued.token.revoked_at is None
    assert ApiToken.objects.count() == 1
    assert bearer(issued.plain).get(ME).status_code == 200


def test_list_shows_active_expired_and_revoked_status(client, shop):
    user = logged_in(client, "marketer", shop)
    active = api_token_create(user=user, shop=shop, name="alpha").token
    expired = api_token_create(user=user, shop=shop, name="beta", expires_days=1).token
    revoked = api_token_create(user=user, shop=shop, name="gamma").token
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())

    html = client.get(PAGE).content.decode()
    assert all(word in html for word in (">Active<", ">Expired<", ">Revoked<"))
    assert revoke_button(active) in html
    assert revoke_button(expired) not in html and revoke_button(revoked) not in html


@pytest.mark.parametrize("data", [{}, {"token": "abc"}, {"token": "0"}, {"token": "999999"}])
def test_revoke_of_a_missing_or_garbage_id_is_404(client, shop, data):
    logged_in(client, "admin", shop)
    assert client.post(REVOKE, data).status_code == 404


def test_revoking_twice_keeps_the_first_revocation_and_one_audit_entry(client, shop):
    user = logged_in(client, "marketer", shop)
    token = api_token_create(user=user, shop=shop, name="ci").token
    revoke(client, token)
    first = ApiToken.objects.get(pk=token.pk).revoked_at
    assert revoke(client, token).status_code == 302
    assert ApiToken.objects.get(pk=token.pk).revoked_at == first
    assert AuditLog.objects.filter(action="token.revoke").count() == 1


def test_the_new_token_has_a_copy_button_and_the_curl_line_sets_token_first(client, shop):
    """browser24 L13: a user copied the token by reading it (l for I) and got 401; the curl line used $TOKEN without
    saying to set it. A Copy button (static/js/copy.js: the CSP allows no inline script) and `TOKEN='…'` first."""
    logged_in(client, "marketer", shop)
    response, plain = create(client, name="CRM sync")
    page = response.content.decode()
    assert re.search(r'<button type="button" [^>]*data-copy="new-token-value"[^>]*>Copy</button>', page)
    assert '<script src="/static/js/copy.js" defer></script>' in page
    assert f"TOKEN='{plain}'\ncurl -H \"Authorization: Bearer $TOKEN\"" in page.replace("&quot;", '"')
    assert "<script>" not in page  # no inline script (CONTENT_SECURITY_POLICY: script-src 'self')
