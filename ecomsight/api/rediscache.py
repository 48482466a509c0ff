"""The redis-py client behind Django's Redis cache, and `pipelined()`, which sends the API's commands (the
syncs of ecomsight.api.shared, a browser session's throttle count, generation bumps) on a connection of
the thread's own.

Django's RedisCache builds a new redis.Redis object on every operation (copying its ~170 response
callbacks, about 0.1 ms each time); the API asks for the client on every request, so it keeps one per
thread. The client shares the cache's connection pool, key prefix and version.

A redis-py pipeline costs about 0.07 ms of CPU per call here for its objects, its pool checkout and its
response callbacks; the same commands written at once on a connection the thread keeps cost half that
(measured with 3 commands: 0.038 ms against 0.070-0.073 ms)."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

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
    """`key` as the default cache stores it (prefix and version), so cache.get() sees the same value.
    (Not validated for memcached: the keys given here are short ASCII names of our own.)"""
    return caches["default"].make_key(key)


def _pack(commands) -> bytes:
    # RESP arrays of bulk strings, as redis-py's pack_commands writes them, for str, bytes and int arguments.
    out = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, int):
                arg = b"%d" % arg
            out.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(out)


def _connection():
    # The thread's own connection to the default cache's server, made with its pool's settings (address,
    # database, password, timeouts) and never shared; a new one after a fork (gunicorn, Celery).
    held = getattr(_local, "connection", None)
    if held is not None and held[1] == os.getpid() and held[0] is caches["default"]:
        return held[2]
    client = redis_client()
    if client is None:
        return None
    pool = client.connection_pool
    held = (caches["default"], os.getpid(), pool.connection_class(**pool.connection_kwargs))
    _local.connection = held
    return held[2]


def pipelined(*commands: tuple) -> list | None:
    """Send `commands` (tuples of str, bytes or int such as ("INCR", key), keys as redis_key() gives them)
    in one write and return their raw replies (bytes, ints), or None when the default cache is not Redis.

    A connection found broken (Redis restarted, an idle socket closed) is opened again and the commands
    sent once more, so a counter may count one request twice then. Any other error drops the connection
    (its unread replies would answer the next call) and is raised as redis-py raises it."""
    conn = _connection()
    if conn is None:
        return None
    packed = _pack(commands)
    for attempt in (1, 2):
        try:
            conn.send_packed_command([packed], check_health=False)
            return [conn.read_response() for _ in commands]
        except (RedisConnectionError, RedisTimeoutError, OSError):
            conn.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            conn.disconnect()
            raise
    raise AssertionError("unreachable")


# ---- shared generations ---------------------------------------------------------------------------------
#
# A process may keep an answer read from the database (a verified token, a shop's current scoring run) as
# long as a *generation* in the shared cache is unchanged: whatever could change the answer replaces the
# generation, and the process reads it at ecomsight.api.shared's syncs.


def shared_cache_available() -> bool:
    """Whether the default cache is shared between processes (Redis or memcached). A per-process cache
    (LocMem, the demo's default) cannot carry a generation to other processes: do not cache then."""
    module = type(caches["default"]).__module__
    return "redis" in module or "memcached" in module


def generation_bump(key: str) -> None:
    """Replace the generation under `key` with a fresh value (never a counter: a flushed or evicted key can
    never come back equal to an old one). Stored raw, not pickled, so reading it needs no unpickling.
    Raises when the cache is down."""
    value = f"{time.time_ns()}-{secrets.token_hex(4)}"
    if redis_client() is None:
        caches["default"].set(key, value, None)
    else:
        pipelined(("SET", redis_key(key), value))


def generation_publish(key: str, *, what: str) -> None:
    """Bump the generation under `key` now, and again when the current transaction commits, so no process
    can keep the state from before the commit in between. A cache outage is logged (naming `what`), not
    raised: other processes' kept answers then last until their own expiry."""

    def bump() -> None:
        try:
            generation_bump(key)
        except Exception:  # noqa: BLE001
            logger.warning("cache unavailable: could not publish %s", what, exc_info=True)

    bump()
    transaction.on_commit(bump)
