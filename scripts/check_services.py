"""Before the test suite: are PostgreSQL and Redis reachable? If not, say how to start them."""

import os
import socket
import sys
from urllib.parse import urlparse

SERVICES = [
    ("PostgreSQL", os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight"), 5432,
     "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    ("Redis", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"), 6379,
     'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'),
]


def main() -> int:
    down = []
    for name, url, default_port, how in SERVICES:
        parsed = urlparse(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
        try:
            socket.create_connection((host, port), timeout=3).close()
        except OSError as exc:
            down.append(f"{name} is not reachable at {host}:{port} ({exc}).\n  Start it with: {how}")
    for message in down:
        print(message, file=sys.stderr)
    if down:
        print("Or point DATABASE_URL / REDIS_URL at running servers.", file=sys.stderr)
    return 1 if down else 0


if __name__ == "__main__":
    sys.exit(main())
