"""Drill 9: with DEBUG off no traceback or secret reaches a response, and the logs carry no personal
data or tokens (emails, bearer tokens, secret parameters are redacted on the way out)."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client

from accounts.logfilters import RedactFilter, redact
from accounts.tokens import api_token_create

from .urls_boom import SECRET_IN_ERROR

EMAIL = "alice.private@example.com"
pytestmark = pytest.mark.urls("tests.security.urls_boom")


@pytest.fixture
def token(world):
    return api_token_create(user=world["users"]["admin"], shop=world["acme"].shop, name="logs").plain


def _assert_clean(body: str, *secrets: str) -> None:
    for needle in ("Traceback", "RuntimeError", SECRET_IN_ERROR, settings.SECRET_KEY, 'File "', *secrets):
        assert needle not in body, needle


@pytest.mark.parametrize("path", [f"/boom/{EMAIL}/", f"/api/v1/boom/{EMAIL}/"])
def test_500_shows_no_traceback_or_secret_and_logs_are_redacted(world, token, path, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(world["users"]["admin"])
    with caplog.at_level(logging.INFO):
        response = client.get(path, {"token": token}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 500
    body = response.content.decode()
    _assert_clean(body, EMAIL, token)
    if path.startswith("/api/"):
        assert response.json()["code"] == "server_error"
    else:
        assert "Something went wrong" in body
    # The failure was logged (with its traceback)...
    assert SECRET_IN_ERROR in caplog.text and "Traceback" in caplog.text
    # ...but nothing personal or secret.
    assert EMAIL not in caplog.text and token not in caplog.text and token[3:] not in caplog.text
    assert "[email]" in caplog.text


def test_404_and_403_pages_say_nothing_internal(world):
    client = Client()
    client.force_login(world["users"]["marketer"])
    for path, status in (("/no/such/page/", 404), ("/models/", 403), ("/segments/99999999/", 404)):
        response = client.get(path)
        assert response.status_code == status
        _assert_clean(response.content.decode())
        assert "Using the URLconf" not in response.content.decode()  # the DEBUG 404 page


@pytest.mark.parametrize("text,leak", [
    ("login failed for bob@example.com", "bob@example.com"),
    ("GET /customers/bob%40example.com/", "bob%40example.com"),
    ("Authorization: Bearer es_AbCdEf0123456789xyz", "AbCdEf0123456789"),
    ("called with es_AbCdEf0123456789xyz", "AbCdEf0123456789"),
    ("/api/?token=abcdef123456&x=1", "abcdef123456"),
    ('{"password": "hunter2hunter2"}', "hunter2"),
])
def test_redact_removes_personal_data_and_secrets(text, leak):
    assert leak not in redact(text)


def test_redact_filter_rewrites_args_and_tracebacks_without_dropping_the_record():
    try:
        raise ValueError(f"bad input from {EMAIL}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "user %s token %s", (EMAIL, "Bearer abcdefgh123"),
                                   sys.exc_info())
    assert RedactFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert EMAIL not in text and "abcdefgh123" not in text and "ValueError" in text


@pytest.mark.parametrize(("status", "traceback_kept"), [(403, False), (400, False), (500, True)])
def test_a_refused_request_logs_one_line_and_a_failure_its_traceback(status, traceback_kept):
    """A new user's review (session 15): every 403 logged a full traceback."""
    import sys

    from django.core.exceptions import PermissionDenied

    try:
        raise PermissionDenied("not your shop")
    except PermissionDenied:
        record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden (Permission denied): %s",
                                   ("/models/",), sys.exc_info())
    record.status_code = status
    assert RedactFilter().filter(record) is True
    text = logging.Formatter().format(record)
    assert "Forbidden (Permission denied): /models/" in text
    assert ("Traceback" in text) is traceback_kept
