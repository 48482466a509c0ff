"""Login brute-force throttling: failed logins counted per username and per client IP in the shared cache.

After LOGIN_FAILURES_PER_USERNAME failures for one username within LOGIN_FAILURE_WINDOW_SECONDS, further
attempts for that username are refused until the window runs out (a cooling-off, never a permanent
lock: the real user logs in again afterwards). One IP gets a higher limit (LOGIN_FAILURES_PER_IP), which
stops one machine from spraying passwords over many usernames. The counters live in the Django cache
(Redis in tests and production), so every gunicorn worker sees the same counts.

Usernames are counted case-insensitively and hashed in the cache key (no personal data in Redis keys,
no key injection). The IP is REMOTE_ADDR: a reverse proxy must set it (X-Forwarded-For can be forged).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

logger = logging.getLogger("ecomsight.security")

_PREFIX = "login-failures"


@dataclass(frozen=True)
class LoginLimits:
    """How many failures a username and an IP may have within the window (seconds)."""

    per_username: int
    per_ip: int
    window_seconds: int


@dataclass(frozen=True)
class LoginBlock:
    """Why attempts are refused for now, and for how many more seconds (at most)."""

    scope: str  # "username" or "ip"
    retry_after: int


def login_limits() -> LoginLimits:
    """The configured limits (5 per username, 50 per IP, within 15 minutes by default)."""
    return LoginLimits(
        per_username=int(getattr(settings, "LOGIN_FAILURES_PER_USERNAME", 5)),
        per_ip=int(getattr(settings, "LOGIN_FAILURES_PER_IP", 50)),
        window_seconds=int(getattr(settings, "LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)),
    )


def client_ip(request: HttpRequest) -> str:
    """The address the request came from, as the server saw it."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _keys(*, username: str, ip: str) -> dict[str, str]:
    user_hash = hashlib.sha256((username or "").strip().casefold().encode()).hexdigest()[:32]
    ip_hash = hashlib.sha256(ip.encode()).hexdigest()[:32]
    return {"username": f"{_PREFIX}:u:{user_hash}", "ip": f"{_PREFIX}:ip:{ip_hash}"}


def _count(key: str, *, window: int, now: float) -> tuple[int, float]:
    """Add one to `key`'s counter; the counter and its end time are created together by the first attempt,
    and expire at the window's end (failing again never extends a cooling-off)."""
    for _ in range(2):
        cache.add(f"{key}:until", now + window, timeout=window)
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)  # atomic in Redis: parallel attempts cannot slip under the limit
        except ValueError:  # expired between add() and incr(): start again
            continue
        return count, float(cache.get(f"{key}:until") or now + window)
    return 1, now + window


def login_attempt_check(*, username: str, ip: str) -> LoginBlock | None:
    """Count a login attempt for this username and IP, before the password is checked.

    Returns the block in force (the attempt must be refused without checking the password), or None.
    Counting before checking (not after a failure) keeps parallel guesses from all passing the check
    at once; a correct password then takes its attempt back (login_attempt_succeeded)."""
    limits = login_limits()
    now = time.time()
    block = None
    for scope, key in _keys(username=username, ip=ip).items():
        limit = limits.per_username if scope == "username" else limits.per_ip
        count, until = _count(key, window=limits.window_seconds, now=now)
        if count == limit + 1:
            logger.warning("login throttled: more than %d attempts for one %s", limit, scope)
        if count > limit and block is None:
            block = LoginBlock(scope=scope, retry_after=max(1, min(int(until - now) + 1, limits.window_seconds)))
    return block


def login_attempt_succeeded(*, username: str, ip: str) -> None:
    """A correct password clears the username's count and takes its attempt back from the IP's count."""
    keys = _keys(username=username, ip=ip)
    cache.delete_many([keys["username"], f"{keys['username']}:until"])
    try:
        cache.decr(keys["ip"])
    except ValueError:
        pass
