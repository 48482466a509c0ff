"""gunicorn's settings for the web app. gunicorn reads this file from the directory it starts in
(`gunicorn ecomsight.wsgi`, the Dockerfile, docker-compose.yml, bench/api.py); command-line options win.

Measured with bench/api.py (32 keep-alive clients on 2 cores; the README's "Serving" part):
- gthread workers keep client connections alive (sync workers close each one) and gunicorn_h1c, from
  requirements.txt, parses requests in C.
- One request thread per process (WEB_THREADS): more threads in one process queue behind its GIL, and a
  request that waits for the GIL at every socket read and write gets slow at the tail.
- A worker holds at most WEB_WORKER_CONNECTIONS (8) open connections, and keeps at most that minus
  WEB_THREADS of them idle between requests: past that it answers with `Connection: close`, and the
  client's next connection goes to whichever worker takes it. So clients spread evenly over the
  processes. Unbounded, the latency a client saw depended on the process it landed in (per-client means
  from 2 ms to 47 ms in one run). Health's p99: 82 ms with 2 threads and no bound, 65-110 ms with 16
  connections per worker, 47-56 ms with 8. With every worker full, a new client waits in the listen
  backlog until a connection ends: give workers x WEB_WORKER_CONNECTIONS room for the clients (or the
  proxy's upstream pool) you expect.
- After start-up each worker moves what it loaded (Django, the URL patterns: about 180,000 objects)
  out of the garbage collector's reach (gc.freeze): a full collection over them stalled every request
  of that process for about 95 ms.
"""

import gc
import os

workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 1))
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", 8))
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
