"""Debounced tasks: run a shop's task once per window however many changes arrive (Redis SET NX on a key).

The first change of a window adds the key (it lives `seconds` plus a grace period) and enqueues the task with a
countdown of `seconds`; every change until the task starts finds the key and enqueues nothing. The task calls
`debounce_release` first thing, so changes arriving while it runs schedule the next window's task: a steady
stream of changes is handled once per window, never starved. Used by re-scoring on arrival
(predictions.services.rescoring) and by anomaly checks after imports (forecasts.services.alerts)."""

from __future__ import annotations

from django.core.cache import cache

# The key outlives the countdown by this much: a task lost with its broker lets the next change schedule again
# after it.
GRACE_SECONDS = 60


def debounced_enqueue(*, key: str, task, args: tuple, seconds: int) -> bool:
    """Enqueue `task(*args)` to run `seconds` from now unless one is already waiting under `key`. Returns
    whether this call enqueued it."""
    if not cache.add(key, 1, timeout=seconds + GRACE_SECONDS):
        return False
    task.apply_async(args, countdown=seconds)
    return True


def debounce_release(*, key: str) -> None:
    """The task behind `key` has started: changes from now on schedule the next window's task."""
    cache.delete(key)
