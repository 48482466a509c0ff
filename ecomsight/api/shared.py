"""State the API's web processes share through Redis and consult on every call, synced with Redis at
most every API_SYNC_SECONDS (default 0.1 s) per process instead of on every call:

- *generations*: a process keeps verified tokens (accounts.tokens) and each shop's current scoring run
  (predictions.current_run) while the generation of each is unchanged; whatever could change an answer
  replaces its generation;
- the throttle's per-token request counters (ecomsight.api.throttling).

Why: bench/api.py on 2 cores, in one sitting, with the round trip on every call and with it stubbed out:
recommendations 1,556 -> 1,934-2,036 requests/s, scores 1,321 -> 1,929-2,094, at-risk 795 -> 1,035-1,268.
In process the round trip costs 0.05 ms of CPU; under load each one is also two context switches, which
cost the workers far more (cache misses) than the in-process figure shows.

What it costs, bounded by the interval, and said in the README:
- A change made in *another* process (a token revoked or demoted, a scoring run finished) takes effect
  here within API_SYNC_SECONDS of its commit. In the process that made it, at once: it clears its own
  caches.
- Each process counts its own requests between syncs, so a token can exceed its limit by what the other
  processes admitted in one interval. One client on one kept-alive connection is counted exactly.
- Counts not yet sent when a process exits (at most one interval's) are not counted.

API_SYNC_SECONDS=0 syncs on every call (one round trip each). Only with Redis as the default cache; the
callers keep their portable paths for others (LocMem in the demo).

One thread syncs at a time: the others go on with the values of the last sync. When Redis cannot be
reached, `generation()` answers UNAVAILABLE (callers then read the database) and counts stay pending until
a sync succeeds.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from django.conf import settings

from .rediscache import pipelined, redis_key

logger = logging.getLogger(__name__)

UNAVAILABLE = object()

_watched: list[str] = []  # generation keys, as given (not prefixed)
_generations: dict[str, object] = {}  # key -> value at the last sync (str or None), or UNAVAILABLE
_counters: dict[str, _Counter] = {}
_state_lock = threading.Lock()  # _counters' fields and _generations
_sync_lock = threading.Lock()  # one sync at a time
_synced_at = -math.inf  # time.monotonic() of the last sync, successful or not


class _Counter:
    __slots__ = ("expires_at", "in_flight", "known", "pending", "ttl")

    def __init__(self, ttl: int, now: float):
        self.known = 0  # the shared count at the last sync, ours included
        self.pending = 0  # counted here, not yet sent
        self.in_flight = 0  # sent in the sync under way
        self.ttl = ttl
        self.expires_at = now + ttl

    def value(self) -> int:
        return self.known + self.in_flight + self.pending


def generation_watch(key: str) -> None:
    """Read the generation under `key` (as rediscache.generation_bump writes it) at every sync."""
    if key not in _watched:
        _watched.append(key)


def generation(key: str):
    """The generation under `key` as of the last sync, at most API_SYNC_SECONDS old (syncing first when
    due): a str, None before the first bump, or UNAVAILABLE when Redis could not be reached."""
    if key not in _watched:
        generation_watch(key)
        sync(force=True)
    else:
        sync()
    return _generations.get(key, UNAVAILABLE)


def count(key: str, ttl: int) -> int:
    """Count one request under `key` (a Redis key that expires `ttl` seconds after its last count) and
    return the count as this process knows it: the shared count at the last sync plus its own since."""
    now = time.monotonic()
    with _state_lock:
        counter = _counters.get(key)
        if counter is None:
            counter = _counters[key] = _Counter(ttl, now)
        counter.pending += 1
        counter.expires_at = now + ttl
    sync()
    return counter.value()


def sync(*, force: bool = False) -> None:
    """Send the pending counts and read the watched generations, in one write, when API_SYNC_SECONDS
    have passed since the last sync (or `force`). A thread that finds another syncing goes on without."""
    global _synced_at
    now = time.monotonic()
    if not force and now - _synced_at < settings.API_SYNC_SECONDS:
        return
    if not _sync_lock.acquire(blocking=force):
        return
    try:
        with _state_lock:
            for key in [k for k, c in _counters.items() if c.expires_at < now and not c.pending]:
                del _counters[key]
            sending = [(key, c) for key, c in _counters.items() if c.pending]
            for _, c in sending:
                c.in_flight, c.pending = c.pending, 0
        commands = [("MGET", *(redis_key(k) for k in _watched))] if _watched else []
        for key, c in sending:
            full = redis_key(key)
            commands += [("INCRBY", full, c.in_flight), ("EXPIRE", full, c.ttl)]
        try:
            replies = pipelined(*commands) if commands else []
        except Exception:  # noqa: BLE001 — the callers fall back; the counts are sent next time
            logger.warning("cache unavailable: API tokens and scoring runs read from the database", exc_info=True)
            with _state_lock:
                for _, c in sending:
                    c.pending, c.in_flight = c.pending + c.in_flight, 0
                _generations.update(dict.fromkeys(_watched, UNAVAILABLE))
            return
        with _state_lock:
            if _watched:
                values = replies.pop(0)
                _generations.update({key: None if raw is None else raw.decode()
                                     for key, raw in zip(_watched, values, strict=True)})
            for (_, c), total in zip(sending, replies[::2], strict=True):
                c.known, c.in_flight = int(total), 0
    finally:
        _synced_at = time.monotonic()
        _sync_lock.release()

