import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.models import AuditLog, Membership
from tests.accounts.factories import ShopFactory

GOOD = "plum-orchard-lantern-42"


def _run(*args, **options):
    out = io.StringIO()
    call_command("create_user", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["marketer", "analyst", "admin"])
def test_create_user_with_each_role_can_log_in_with_that_role(client, shop, role):
    out = _run("alice", "--role", role, "--password", GOOD)
    user = User.objects.get(username="alice")
    assert "Created user 'alice'" in out
    assert list(Membership.objects.filter(user=user).values_list("shop__slug", "role")) == [(shop.slug, role)]
    assert user.is_staff is (role == "admin")
    assert client.login(username="alice", password=GOOD)


@pytest.mark.django_db
def test_create_user_takes_the_password_from_the_environment(monkeypatch, shop):
    monkeypatch.setenv("ECOMSIGHT_PASSWORD", GOOD)
    _run("bob", "--role", "marketer")
    assert User.objects.get(username="bob").check_password(GOOD)


@pytest.mark.django_db
def test_create_user_prompts_twice_when_no_password_is_given(monkeypatch, shop):
    monkeypatch.delenv("ECOMSIGHT_PASSWORD", raising=False)
    answers = iter([GOOD, GOOD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    _run("carol", "--role", "analyst")
    assert User.objects.get(username="carol").check_password(GOOD)


@pytest.mark.django_db
def test_create_user_refuses_two_different_typed_passwords(monkeypatch, shop):
    monkeypatch.delenv("ECOMSIGHT_PASSWORD", raising=False)
    answers = iter([GOOD, GOOD + "x"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    with pytest.raises(CommandError, match="differ"):
        _run("carol", "--role", "analyst")
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "reason"), [("short1", "too short"), ("password123", "too common"), ("4815162342", "numeric")]
)
def test_weak_password_is_refused_with_a_clear_command_error(shop, password, reason):
    with pytest.raises(CommandError) as excinfo:
        _run("dave", "--role", "marketer", "--password", password)
    assert excinfo.value.args[0].startswith("Password refused:")
    assert reason in excinfo.value.args[0]
    assert not User.objects.filter(username="dave").exists()


@pytest.mark.django_db
def test_password_like_the_username_is_refused(shop):
    with pytest.raises(CommandError, match="similar"):
        _run("margaretha-lindqvist", "--role", "marketer", "--password", "margaretha-lindqvist")


@pytest.mark.django_db
def test_rerun_updates_role_password_and_shops_and_says_so(client, shop, other_shop):
    _run("erin", "--role", "admin", "--password", GOOD, "--shop", shop.slug)
    out = _run("erin", "--role", "marketer", "--password", GOOD + "-new", "--shop", other_shop.slug)
    user = User.objects.get(username="erin")
    assert "Updated user 'erin'" in out
    # The admin membership of the first shop is gone with the grant; the new shop has the new role.
    assert list(Membership.objects.filter(user=user).values_list("shop__slug", "role")) == [
        (other_shop.slug, "marketer")]
    assert user.is_staff is False
    assert list(user.shops.all()) == [other_shop]
    assert client.login(username="erin", password=GOOD + "-new")
    assert User.objects.filter(username="erin").count() == 1


@pytest.mark.django_db
def test_role_changes_are_written_to_the_audit_log(shop):
    _run("frank", "--role", "marketer", "--password", GOOD)
    _run("frank", "--role", "analyst", "--password", GOOD)
    _run("frank", "--role", "analyst", "--password", GOOD)  # no change, no entry
    entries = list(AuditLog.objects.filter(action__startswith="membership.", target="frank").order_by("id"))
    assert [(e.action, e.shop_id, e.details) for e in entries] == [
        ("membership.create", shop.pk, {"role": "marketer"}),
        ("membership.role_changed", shop.pk, {"from": "marketer", "to": "analyst"})]


@pytest.mark.django_db
def test_the_only_shop_is_granted_by_default(shop):
    _run("gina", "--role", "marketer", "--password", GOOD)
    assert list(User.objects.get(username="gina").shops.all()) == [shop]


@pytest.mark.django_db
def test_no_shop_is_guessed_when_there_are_several(shop, other_shop):
    out = _run("hank", "--role", "marketer", "--password", GOOD)
    assert not User.objects.get(username="hank").shops.exists()
    assert "none" in out


@pytest.mark.django_db
def test_rerun_without_shop_keeps_the_grants(shop, other_shop):
    _run("ivy", "--role", "marketer", "--password", GOOD, "--shop", other_shop.slug)
    _run("ivy", "--role", "analyst", "--password", GOOD)
    assert list(User.objects.get(username="ivy").shops.all()) == [other_shop]


@pytest.mark.django_db
def test_several_shops_are_granted(shop):
    extra = ShopFactory(slug="initech")
    _run("jo", "--role", "marketer", "--password", GOOD, "--shop", shop.slug, "--shop", extra.slug)
    assert set(User.objects.get(username="jo").shops.values_list("slug", flat=True)) == {shop.slug, "initech"}


@pytest.mark.django_db
def test_unknown_shop_is_a_clear_error_and_creates_nobody(shop):
    with pytest.raises(CommandError, match="No shop 'nope'"):
        _run("kim", "--role", "marketer", "--password", GOOD, "--shop", "nope")
    assert not User.objects.filter(username="kim").exists()


@pytest.mark.django_db
def test_email_is_stored(shop):
    _run("lee", "--role", "marketer", "--password", GOOD, "--email", "lee@example.com")
    assert User.objects.get(username="lee").email == "lee@example.com"
