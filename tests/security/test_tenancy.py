"""Finding 1 (critical): roles belong to a shop. The permission matrix role × shop × (page, API call, admin
change), users in two shops with different roles in each, and the attack the review reproduced."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditLog, Membership
from accounts.tokens import api_token_create, api_token_revoke
from tests.accounts.factories import UserFactory, member

from .conftest import ACME_MARK, MARK, PASSWORD

RANK = {"marketer": 1, "analyst": 2, "admin": 3}


@pytest.fixture
def people(world):
    """Every role on acme; and two users in both shops with different roles: "dual" is admin on acme and
    marketer on globex, "twin" the other way round."""
    acme, globex = world["acme"].shop, world["globex"].shop
    people = dict(world["users"])
    people["dual"] = UserFactory(username="dual", role="admin", shops=[acme])
    member(people["dual"], globex, "marketer")
    people["twin"] = UserFactory(username="twin", role="marketer", shops=[acme])
    member(people["twin"], globex, "admin")
    return people


def _role(person: str, shop_slug: str) -> str | None:
    table = {"dual": {"acme": "admin", "globex": "marketer"}, "twin": {"acme": "marketer", "globex": "admin"},
             "outsider": {"globex": "admin"}}
    return table[person].get(shop_slug) if person in table else {"acme": person}.get(shop_slug)


def _switch(client, slug: str):
    return client.post("/accounts/shop/", {"shop": slug, "next": "/"})


CASES = [(person, slug) for person in ("marketer", "analyst", "admin", "dual", "twin", "outsider")
         for slug in ("acme", "globex")]


@pytest.mark.parametrize(("person", "slug"), CASES)
def test_pages_follow_the_role_in_the_shop_shown(world, people, client, person, slug):
    role = _role(person, slug)
    data = world[slug]
    mark = ACME_MARK if slug == "acme" else MARK
    client.force_login(people[person])
    switched = _switch(client, slug)
    if role is None:
        assert switched.status_code == 404  # not a member: the shop does not exist for them
        return
    assert client.get("/customers/").status_code == 200
    assert client.get("/imports/").status_code == (200 if RANK[role] >= 2 else 403)
    assert client.get("/models/").status_code == (200 if RANK[role] >= 2 else 403)
    page = client.get(f"/customers/{data.params['external_id']}/").content.decode()
    assert (f"{mark}1@example.com" in page) is (role == "admin")  # personal data: admins of this shop only
    assert ("/admin/" in client.get("/").content.decode()) is (role == "admin")  # the nav's Admin link


@pytest.mark.parametrize(("person", "slug"), [c for c in CASES if _role(*c) is not None])
def test_a_token_acts_with_its_owners_role_in_the_tokens_shop(world, people, person, slug):
    role = _role(person, slug)
    data = world[slug]
    mark = ACME_MARK if slug == "acme" else MARK
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + api_token_create(user=people[person], shop=data.shop,
                                                                     name="t").plain)
    assert api.get("/api/v1/me/").json()["role"] == role
    detail = api.get(f"/api/v1/customers/{data.params['customer_id']}/").json()
    assert (detail.get("email") == f"{mark}1@example.com") is (role == "admin")
    assert api.post("/api/v1/jobs/score/", {}, format="json").status_code in (
        (202, 400, 409) if RANK[role] >= 2 else (403,))
    at_risk = api.get("/api/v1/at-risk/").json()["results"]
    assert at_risk and all((row["email"] is not None) is (role == "admin") for row in at_risk)
    if role == "admin":  # stored encrypted, shown decrypted (the at-risk API reads with raw SQL)
        assert {row["email"] for row in at_risk} == {f"{mark}{i}@example.com" for i in range(1, 4)}
    other = world["globex" if slug == "acme" else "acme"]
    assert api.get(f"/api/v1/customers/{other.params['customer_id']}/").status_code == 404


def test_a_token_for_a_shop_the_owner_left_stops_working_though_they_stay_in_another(world, people):
    from accounts.services import membership_remove

    dual = people["dual"]
    plain = api_token_create(user=dual, shop=world["acme"].shop, name="t").plain
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + plain)
    assert api.get("/api/v1/me/").status_code == 200
    membership_remove(shop=world["acme"].shop, user=dual)
    assert api.get("/api/v1/me/").status_code == 401


# ---- Django admin ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("person", "slug"), CASES)
def test_admin_site_memberships_are_managed_by_that_shops_admins_only(world, people, client, person, slug):
    role = _role(person, slug)
    shop = world[slug].shop
    newcomer = UserFactory(username=f"new-{person}-{slug}")
    client.force_login(people[person])
    response = client.post("/admin/accounts/membership/add/",
                           {"username": newcomer.username, "shop": shop.pk, "role": "analyst"})
    made = Membership.objects.filter(user=newcomer, shop=shop).exists()
    assert made is (role == "admin"), response.status_code
    if made:
        entry = AuditLog.objects.get(action="membership.create", target=newcomer.username)
        assert (entry.shop, entry.user, entry.details) == (shop, people[person], {"role": "analyst"})
    # Change the role of a member of this shop, then remove them.
    victim = UserFactory(username=f"victim-{person}-{slug}", role="marketer", shops=[shop])
    membership = Membership.objects.get(user=victim, shop=shop)
    client.post(f"/admin/accounts/membership/{membership.pk}/change/", {"role": "admin"})
    membership.refresh_from_db()
    assert (membership.role == "admin") is (role == "admin")
    client.post(f"/admin/accounts/membership/{membership.pk}/delete/", {"post": "yes"})
    assert Membership.objects.filter(pk=membership.pk).exists() is (role != "admin")
    if role == "admin":
        actions = list(AuditLog.objects.filter(target=victim.username).values_list("action", flat=True))
        assert sorted(actions) == ["membership.remove", "membership.role_changed"]


def test_the_membership_list_shows_the_admins_shops_only(world, people, client):
    client.force_login(people["twin"])  # marketer on acme, admin on globex
    listed = client.get("/admin/accounts/membership/").context["cl"].result_list
    assert {m.shop.slug for m in listed} == {"globex"}  # acme's members are none of their business
    assert {m.user.username for m in listed} == {"outsider", "dual", "twin"}


@pytest.mark.parametrize("person", ["admin", "dual", "twin", "outsider"])
def test_the_reviews_attack_shop_admins_never_touch_accounts(world, people, client, person):
    """An admin of shop A set the password of a user of A and B, made them admin, and read B: never again."""
    target = people["dual"] if person != "dual" else people["twin"]
    client.force_login(people[person])
    before = target.password
    for path in (f"/admin/auth/user/{target.pk}/password/", f"/admin/auth/user/{target.pk}/change/",
                 "/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/group/"):
        assert client.get(path).status_code in (302, 403, 404), path
    client.post(f"/admin/auth/user/{target.pk}/password/",
                {"password1": "Brand-new-pass-42", "password2": "Brand-new-pass-42", "usable_password": "true"})
    client.post(f"/admin/auth/user/{target.pk}/change/", {
        "username": target.username, "email": "evil@example.com", "is_active": "on", "is_staff": "on",
        "is_superuser": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    target.refresh_from_db()
    assert (target.password, target.email, target.is_superuser) == (before, "", False)
    # Their own account neither.
    me = people[person]
    client.post(f"/admin/auth/user/{me.pk}/change/", {"username": me.username, "is_superuser": "on"})
    me.refresh_from_db()
    assert not me.is_superuser


def test_an_admin_of_shop_a_cannot_grant_anything_in_shop_b(world, people, client):
    client.force_login(people["dual"])  # admin on acme, marketer on globex
    globex = world["globex"].shop
    client.post("/admin/accounts/membership/add/", {"username": "dual", "shop": globex.pk, "role": "admin"})
    assert Membership.objects.get(user=people["dual"], shop=globex).role == "marketer"
    outsider_membership = Membership.objects.get(user=people["outsider"], shop=globex)
    assert client.get(f"/admin/accounts/membership/{outsider_membership.pk}/change/").status_code in (302, 403, 404)
    client.post(f"/admin/accounts/shop/{globex.pk}/change/", {
        "slug": "globex", "name": "Renamed", "currency": "EUR", "horizon_days": 90, "churn_lookback_days": 365})
    globex.refresh_from_db()
    assert globex.name != "Renamed"


def test_superuser_manages_accounts(world, client):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert client.get("/admin/auth/user/").status_code == 200
    assert client.get("/admin/accounts/membership/").status_code == 200


def test_admins_log_in_with_password_and_reach_the_admin_site(world, people, client):
    assert client.login(username="twin", password=PASSWORD)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/membership/").status_code == 200


# ---- the data migration ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_gives_each_granted_shop_the_users_old_global_role():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0002_roles")])
    apps = executor.loader.project_state([("accounts", "0002_roles")]).apps
    Shop, Group = apps.get_model("accounts", "Shop"), apps.get_model("auth", "Group")
    User = apps.get_model("auth", "User")
    a, b = Shop.objects.create(slug="a", name="A"), Shop.objects.create(slug="b", name="B")
    analyst = User.objects.create(username="ann")
    analyst.groups.add(Group.objects.get(name="analyst"), Group.objects.get(name="marketer"))
    a.members.add(analyst)
    b.members.add(analyst)
    nobody = User.objects.create(username="no-role")
    a.members.add(nobody)
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
        rows = sorted(Membership.objects.values_list("user__username", "shop__slug", "role"))
        assert rows == [("ann", "a", "analyst"), ("ann", "b", "analyst")]
        from django.contrib.auth.models import Group as LiveGroup
        assert not LiveGroup.objects.filter(name__in=["marketer", "analyst", "admin"]).exists()
    finally:
        Membership.objects.all().delete()


def test_a_token_revoked_in_django_admin_is_audited_and_stops_working(world, people, client):
    token = api_token_create(user=people["marketer"], shop=world["acme"].shop, name="crm")
    client.force_login(people["admin"])
    response = client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.token.pk]})
    assert response.status_code == 302, response.content[:500]
    entry = AuditLog.objects.get(action="token.revoke")
    assert (entry.user, entry.shop) == (people["admin"], world["acme"].shop)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + token.plain)
    assert api.get("/api/v1/me/").status_code == 401


def test_a_revoked_token_cannot_be_revived_or_extended_in_django_admin(world, people, client):
    # The replay of the review cleared "revoked at" on the change form: the token worked again, unaudited.
    token = api_token_create(user=people["marketer"], shop=world["acme"].shop, name="crm")
    api_token_revoke(token=token.token, actor=people["admin"])
    client.force_login(people["admin"])
    client.post(f"/admin/accounts/apitoken/{token.token.pk}/change/", {
        "expires_at_0": "2999-01-01", "expires_at_1": "10:00:00", "revoked_at_0": "", "revoked_at_1": ""})
    token.token.refresh_from_db()
    assert token.token.revoked_at is not None and token.token.expires_at is None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer " + token.plain)
    assert api.get("/api/v1/me/").status_code == 401


def test_a_shop_admin_opens_and_saves_their_shops_settings_and_the_change_is_audited(world, people, client):
    shop = world["acme"].shop
    client.force_login(people["admin"])
    page = client.get(f"/admin/accounts/shop/{shop.pk}/change/")
    assert page.status_code == 200  # was a 500 (a read-only slug cannot be prepopulated)
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) if form.initial.get(name) is not None else "" for name in form.fields}
    data["event_retention_days"] = 400
    response = client.post(f"/admin/accounts/shop/{shop.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    shop.refresh_from_db()
    assert shop.event_retention_days == 400
    entry = AuditLog.objects.get(action="shop.settings")
    assert entry.user == people["admin"] and entry.details == {"event_retention_days": "400"}


@pytest.mark.parametrize("field", ["horizon_days", "churn_lookback_days", "event_retention_days"])
def test_a_shop_setting_beyond_its_bound_is_refused_in_django_admin(world, people, client, field):
    # The replay of the review saved 2147483647 days.
    shop = world["acme"].shop
    client.force_login(people["admin"])
    form = client.get(f"/admin/accounts/shop/{shop.pk}/change/").context["adminform"].form
    data = {name: form.initial.get(name) if form.initial.get(name) is not None else "" for name in form.fields}
    data[field] = 2147483647
    response = client.post(f"/admin/accounts/shop/{shop.pk}/change/", data)
    assert response.status_code == 200 and response.context["adminform"].form.errors.get(field)
    shop.refresh_from_db()
    assert getattr(shop, field) != 2147483647
