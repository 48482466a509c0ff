"""Drill 4: login brute force is slowed down without locking the real user out for good; the session
rotates on login and logout; weak passwords are refused everywhere a password is set."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.services import user_create_or_update
from ecomsight.errors import UserError
from tests.accounts.factories import UserFactory

from .conftest import PASSWORD

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _fresh_counters(db):
    # The counters live in Redis and outlive a test: start from none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(shop):
    return UserFactory(username="alice", role="marketer", shops=[shop])


def _attempt(client, username, password, ip="10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_sixth_wrong_password_in_a_row_is_refused_with_429_even_if_the_password_is_right(client, user):
    for i in range(5):
        response = _attempt(client, "alice", f"wrong-guess-{i}")
        assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = _attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60
    assert "Too many failed logins" in response.content.decode()
    assert SESSION_KEY not in client.session


def test_throttle_counts_usernames_case_insensitively_so_alice_and_ALICE_share_a_count(client, user):
    for i, name in enumerate(["alice", "ALICE", "Alice ", "aLiCe", "alice"]):
        _attempt(client, name, f"wrong-{i}")
    assert _attempt(client, "alice", PASSWORD).status_code == 429


def test_username_block_holds_from_another_ip(client, user):
    for i in range(5):
        _attempt(client, "alice", f"wrong-{i}", ip=f"10.0.1.{i}")
    assert _attempt(client, "alice", PASSWORD, ip="10.9.9.9").status_code == 429


def test_correct_password_after_the_cooling_off_logs_in(client, user, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 1
    for i in range(6):
        _attempt(client, "alice", f"wrong-{i}")
    assert _attempt(client, "alice", PASSWORD).status_code == 429
    time.sleep(1.2)
    response = _attempt(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(user.pk)


def test_a_successful_login_clears_the_username_count_so_typos_do_not_add_up_over_the_day(client, user):
    for round_ in range(3):
        for i in range(4):
            _attempt(client, "alice", f"typo-{round_}-{i}")
        assert _attempt(client, "alice", PASSWORD).status_code == 302
        client.logout()


def test_one_ip_spraying_many_usernames_is_stopped_by_the_ip_limit(client, user, settings):
    settings.LOGIN_FAILURES_PER_IP = 8
    for i in range(8):
        assert _attempt(client, f"victim{i}", "Summer2026!!").status_code == 200
    response = _attempt(client, "alice", PASSWORD)
    assert response.status_code == 429
    # Another address is not affected: the real user elsewhere still logs in.
    assert _attempt(client, "alice", PASSWORD, ip="10.0.0.2").status_code == 302


def test_blocked_attempts_do_not_extend_the_cooling_off(client, user, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 2
    for i in range(5):
        _attempt(client, "alice", f"wrong-{i}")
    time.sleep(1.0)
    for i in range(5):  # hammering during the block...
        assert _attempt(client, "alice", f"again-{i}").status_code == 429
    time.sleep(1.2)  # ...does not push the window's end later
    assert _attempt(client, "alice", PASSWORD).status_code == 302


def test_session_key_rotates_on_login_and_the_old_session_is_gone(client, user):
    client.get(LOGIN)
    session = client.session
    session["planted"] = "x"
    session.save()
    before = session.session_key
    assert _attempt(client, "alice", PASSWORD).status_code == 302
    after = client.session.session_key
    assert after != before and not Session.objects.filter(session_key=before).exists()


def test_logout_deletes_the_session_so_a_stolen_cookie_is_worthless(client, user):
    assert _attempt(client, "alice", PASSWORD).status_code == 302
    stolen = client.session.session_key
    assert client.post("/accounts/logout/").status_code == 302
    assert not Session.objects.filter(session_key=stolen).exists()
    assert client.session.session_key != stolen
    client.cookies["sessionid"] = stolen  # replaying the old cookie
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("weak", ["password123", "1234567890123", "short1!", "alice-smith-2026", "qwertyuiop"])
def test_weak_passwords_are_refused_by_the_user_service(db, weak):
    with pytest.raises(UserError) as caught:
        user_create_or_update(username="alice-smith-2026", role="marketer", password=weak, shops=None)
    assert caught.value.field == "password"


def test_weak_password_is_refused_by_the_create_user_command(shop):
    with pytest.raises(CommandError, match="Password refused"):
        call_command("create_user", "bob", "--role", "marketer", "--shop", shop.slug, "--password", "password")
    from django.contrib.auth.models import User

    assert not User.objects.filter(username="bob").exists()


def test_weak_password_is_refused_by_the_admin_password_forms(shop):
    from django.contrib.auth.forms import AdminPasswordChangeForm, SetPasswordForm
    from django.contrib.auth.models import User

    target = UserFactory(username="carol", role="marketer", shops=[shop])
    for form_class in (AdminPasswordChangeForm, SetPasswordForm):
        form = form_class(target, {"password1": "password", "password2": "password",
                                   "new_password1": "password", "new_password2": "password"})
        assert not form.is_valid(), form_class.__name__
    assert User.objects.get(pk=target.pk).check_password(PASSWORD)
