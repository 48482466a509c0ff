"""ecomsight.api.shared: the API's generations and per-token counts synced with the real Redis every
API_SYNC_SECONDS per process, not on every call."""

import time

import pytest
from django.conf import settings
from django.test import override_settings

from accounts.tokens import token_hash
from ecomsight.api import shared
from ecomsight.api.rediscache import redis_client, redis_key
from ecomsight.api.throttling import TokenRateThrottle, token_ident
from tests.conftest import calls_counted

from .conftest import assert_error, bearer

ME = "/api/v1/me/"


@pytest.fixture
def round_trips(monkeypatch):
    """Every write to Redis that shared.sync makes (the real one, counted)."""
    return calls_counted(monkeypatch, shared, "pipelined")


@pytest.fixture
def daily_window(settings):
    """A throttle window of a day, so the counts a test makes fall in one window (a minute's could end mid-test)."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "100000/day"}}


def _window_key(plain: str) -> str:
    key, _ = TokenRateThrottle().counter(token_ident(token_hash(plain)), time.time())
    return redis_key(key)


def test_calls_between_two_syncs_make_no_round_trip_and_their_counts_arrive_at_the_next(
        tokens, daily_window, synced_by_hand, round_trips):
    client = bearer(tokens["marketer"])
    assert client.get(ME).status_code == 200  # verifies the token (the database) and keeps it
    window = _window_key(tokens["marketer"])
    for _ in range(20):
        assert client.get(ME).status_code == 200
    assert round_trips == [] and redis_client().get(window) is None
    shared.sync(force=True)
    assert len(round_trips) == 1 and int(redis_client().get(window)) == 21
    assert 0 < redis_client().ttl(window) <= 86_401  # the window and a second


def test_counts_of_other_processes_are_combined_at_each_sync(tokens, synced_by_hand):
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "5/day"}}
    client = bearer(tokens["analyst"])
    with override_settings(REST_FRAMEWORK=rest):
        assert client.get(ME).status_code == 200
        shared.sync(force=True)
        window = _window_key(tokens["analyst"])
        redis_client().incrby(window, 3)  # three requests another process admitted: 4 in all
        assert client.get(ME).status_code == 200  # 2 as this process knows it
        shared.sync(force=True)  # sends its 1, learns 5
        response = client.get(ME)
    assert_error(response, 429, "throttled")
    assert int(redis_client().get(window)) == 5  # the refused call is counted at the next sync


def test_with_redis_unreachable_tokens_are_checked_against_the_database_and_counts_wait(tokens, daily_window,
                                                                                         synced_by_hand):
    client = bearer(tokens["admin"])
    window = _window_key(tokens["admin"])
    before = int(redis_client().get(window) or 0)
    down = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with override_settings(CACHES=down):
        shared.sync(force=True)
        assert shared.generation("api-auth:generation") is shared.UNAVAILABLE
        assert [client.get(ME).status_code for _ in range(3)] == [200, 200, 200]
    shared.sync(force=True)  # Redis is back: the three counts are sent
    assert int(redis_client().get(window)) == before + 3
    assert shared.generation("api-auth:generation") is not shared.UNAVAILABLE


def test_with_redis_unreachable_a_browser_session_still_gets_answers(client, users):
    # The session's throttle counts in Redis directly (no token to carry the count): while Redis is down it
    # lets calls through rather than failing them.
    client.force_login(users["marketer"])
    down = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    with override_settings(CACHES=down):
        assert [client.get(ME).status_code for _ in range(2)] == [200, 200]
