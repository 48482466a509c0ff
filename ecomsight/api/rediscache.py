"""The redis-py client behind Django's Redis cache, for the per-request commands of the API (the token
generation GET, the throttle's INCR + EXPIRE pipeline).

Django's RedisCache builds a new redis.Redis object on every operation (copying its ~170 response
callbacks, about 0.1 ms each time); the API issues two per request, so it keeps one client per thread.
The client shares the cache's connection pool, key prefix and version."""

from __future__ import annotations

import threading

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

_local = threading.local()


def redis_client():
    """The default cache's redis client (one per thread and cache object), or None when the default
    cache is not Redis (LocMem in the demo): callers then use the portable cache API."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    held = getattr(_local, "held", None)
    if held is None or held[0] is not backend:
        held = (backend, backend._cache.get_client(None, write=True))
        _local.held = held
    return held[1]


def redis_key(key: str) -> str:
    """`key` as the default cache stores it (prefix and version), so cache.get() sees the same value."""
    return caches["default"].make_and_validate_key(key)
