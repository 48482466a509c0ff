"""Per-token (per-user for the browser) rate limits in the Django cache (Redis in tests and production).

A fixed window counter in Redis: for tokens, counted in the process and sent every API_SYNC_SECONDS
(INCRBY + EXPIRE, ecomsight.api.shared); for browser sessions, INCR + EXPIRE in one round trip per call.
DRF's SimpleRateThrottle keeps the list of every request's time instead, which at thousands of calls a
minute costs more than the call itself; Django's cache.incr() is two round trips (EXISTS, then INCR)."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .rediscache import pipelined, redis_client, redis_key

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"600/min" → (600, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def window_count(key: str, *, ttl: int) -> int:
    """Count one more request under `key` and return the count; the key expires `ttl` seconds after its
    last use. On Redis: INCR + EXPIRE in one pipelined round trip; elsewhere: the cache's incr/add."""
    if redis_client() is not None:
        full = redis_key(key)
        count, _ = pipelined(("INCR", full), ("EXPIRE", full, ttl))
        return int(count)
    try:
        return cache.incr(key)
    except ValueError:  # first request of the window
        if cache.add(key, 1, ttl):
            return 1
        return cache.incr(key)


def token_ident(key_hash: str) -> str:
    # By hash, not id: ids come back after a database is restored or recreated, and a fresh token must not
    # inherit the count of an old one with the same id.
    return f"t{key_hash[:24]}"


class TokenRateThrottle(BaseThrottle):
    """Limits each token (or session user) to DEFAULT_THROTTLE_RATES["token"] requests per window.

    For a token, the count is taken while the token is authenticated (BearerTokenAuthentication asks for
    `counter(ident)` and the token comes back with `.counted`; ecomsight.api.shared keeps it between syncs
    with Redis). A browser session's is counted in Redis on the call; with Redis down, such a call goes
    through uncounted (logged) rather than failing."""

    scope = "token"

    def __init__(self):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.limit, self.period = parse_rate(rate) if rate else (0, 1)
        self._wait = 0.0

    def counter(self, ident: str, now: float) -> tuple[str, int] | None:
        """The (cache key, ttl) counting `ident`'s requests in the window of `now`; None when unlimited."""
        if not self.limit:
            return None
        return f"api-throttle:{self.scope}:{ident}:{int(now // self.period)}", self.period + 1

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
        key, ttl = self.counter(ident, now)
        counted = getattr(token, "counted", None)
        if counted is not None and counted[0] == key and counted[1] is not None:
            count = counted[1]  # counted during authentication, in this window
        else:
            try:
                count = window_count(key, ttl=ttl)
            except Exception:  # noqa: BLE001 — with the cache down, calls go through rather than fail
                logger.warning("cache unavailable: API call not counted against its rate limit", exc_info=True)
                return True
        window = int(now // self.period)
        if count > self.limit:
            self._wait = (window + 1) * self.period - now
            return False
        return True

    def counted_within_limit(self, token) -> bool:
        """Whether the count taken while `token` was checked admits the call. False when it is over the limit,
        and when it was not counted (the cache was down): DRF's own check then decides, as allow_request."""
        if not self.limit:
            return True
        counted = getattr(token, "counted", None)
        return counted is not None and counted[1] is not None and counted[1] <= self.limit

    def wait(self) -> float | None:
        return max(1.0, self._wait) if self._wait else None
