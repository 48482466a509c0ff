"""gunicorn's settings for the web app. gunicorn reads this file from the directory it starts in
(`gunicorn ecomsight.wsgi`, the Dockerfile, docker-compose.yml, bench/api.py); command-line options win.

Measured with bench/api.py (32 keep-alive clients on 2 cores; the README's "Serving" part):
- gthread workers keep client connections alive (sync workers close each one) and gunicorn_h1c, from
  requirements.txt, parses requests in C.
- One process per core (WEB_CONCURRENCY), each with two request threads (WEB_THREADS). With more
  processes than cores (2 x cores + 1, gunicorn's usual advice, for workers that wait on I/O) the
  operating system time-slices them, and a process descheduled mid-request holds up every client queued
  on it: on 2 cores, 5 x 1 gave at-risk a p99 of 94-97 ms where 2 x 1 and 2 x 2 gave 52-75 ms, and
  recommendations 63-68 ms against 29-47 ms, at the same or higher throughput. The second thread lets a process serve
  another request while one waits on the database or a long export; more threads queue behind the
  process's GIL (2 x 4 widened every p99 again).
- A worker holds at most WEB_WORKER_CONNECTIONS (16) open connections, and keeps at most that minus
  WEB_THREADS of them idle between requests: past that it answers with `Connection: close`, and the
  client's next connection goes to whichever worker takes it. So clients spread evenly over the
  processes. Unbounded, the latency a client saw depended on the process it landed in (per-client means
  from 2 ms to 47 ms in one run). With every worker full, a new client waits in the listen backlog until
  a connection ends: give workers x WEB_WORKER_CONNECTIONS room for the clients (or the proxy's upstream
  pool) you expect (2 cores: 32 connections).
- After start-up each worker moves what it loaded (Django, the URL patterns: about 180,000 objects)
  out of the garbage collector's reach (gc.freeze): a full collection over them stalled every request
  of that process for about 95 ms.
"""

import gc
import os

workers = int(os.environ.get("WEB_CONCURRENCY", max(2, os.cpu_count() or 1)))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 2))
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", 16))
keepalive = int(os.environ.get("WEB_KEEPALIVE", 5))
timeout = int(os.environ.get("WEB_TIMEOUT", 120))
backlog = 2048
# gunicorn's control socket (a fixed path under ~/.gunicorn) would be shared by every server on the machine.
control_socket_disable = True


def post_worker_init(worker) -> None:
    """Load what the first request would (the URL patterns and the views they import), then freeze."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every urls module and view)
    gc.collect()
    gc.freeze()
