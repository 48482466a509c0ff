"""Per-token (per-user for the browser) rate limits in the Django cache (Redis in tests and production).

A fixed window counter: one atomic INCR per request. DRF's SimpleRateThrottle keeps the list of
every request's time instead, which at thousands of calls a minute costs more than the call itself."""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"600/min" → (600, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


class TokenRateThrottle(BaseThrottle):
    """Limits each token (or session user) to DEFAULT_THROTTLE_RATES["token"] requests per window."""

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
            ident = f"t{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = f"a{self.get_ident(request)}"
        now = time.time()
        window = int(now // self.period)
        key = f"api-throttle:{self.scope}:{ident}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:  # first request of the window
            if cache.add(key, 1, self.period + 1):
                count = 1
            else:
                count = cache.incr(key)
        if count > self.limit:
            self._wait = (window + 1) * self.period - now
            return False
        return True

    def wait(self) -> float | None:
        return max(1.0, self._wait) if self._wait else None
