"""Per-token (per-user for the browser) rate limits in the Django cache (Redis in tests and production).

A fixed window counter in Redis, the Django cache's (INCR; EXPIRE on a window's first request). DRF's
SimpleRateThrottle keeps the list of every request's time instead, which at thousands of calls a minute costs more
than the call itself."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django_redis import get_redis_connection
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"600/min" → (600, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def window_count(key: str, *, ttl: int) -> int:
    """Count one more request under `key` and return the count; the key expires `ttl` seconds after the
    window's first request (the key names its window, so it is never counted into again after).

    Redis's INCR (which starts a missing key at 0), and EXPIRE on the window's first request. django-redis's
    cache.incr runs a Lua script (EXISTS, then INCRBY) on every call instead. Should the EXPIRE not happen (the
    process dies between the two commands, or Redis's connection drops: the caller then lets the call through),
    that window's key stays without an expiry: a few bytes, never counted into again. Needs django-redis, which
    the settings configure as the cache (CACHES)."""
    client, name = get_redis_connection("default"), cache.make_key(key)
    count = client.incr(name)
    if count == 1:
        client.expire(name, ttl)
    return count


def token_ident(key_hash: str) -> str:
    # By hash, not id: ids come back after a database is restored or recreated, and a fresh token must not
    # inherit the count of an old one with the same id.
    return f"t{key_hash[:24]}"


class TokenRateThrottle(BaseThrottle):
    """Limits each token (or session user) to DEFAULT_THROTTLE_RATES["token"] requests per window.

    Counted in Redis on the call; with Redis down, a call goes through uncounted (logged) rather than
    failing."""

    scope = "token"

    def __init__(self):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.limit, self.period = parse_rate(rate) if rate else (0, 1)
        self._wait = 0.0

    def allow_request(self, request, view) -> bool:
        if not self.limit:
            return True
        token = request.auth
        if token is not None and hasattr(token, "key_hash"):
            ident = token_ident(token.key_hash)
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = f"a{self.get_ident(request)}"
        now = time.time()
        window = int(now // self.period)
        try:
            count = window_count(f"api-throttle:{self.scope}:{ident}:{window}", ttl=self.period + 1)
        except Exception:  # noqa: BLE001 — with the cache down, calls go through rather than fail
            logger.warning("cache unavailable: API call not counted against its rate limit", exc_info=True)
            return True
        if count > self.limit:
            self._wait = (window + 1) * self.period - now
            return False
        return True

    def wait(self) -> float | None:
        return max(1.0, self._wait) if self._wait else None
