"""Before the test suite: say which PostgreSQL and Redis the tests will use.

DATABASE_URL / REDIS_URL, when set, must answer. Unset, the tests use the servers on 127.0.0.1 (5432, 6379)
when they answer, and otherwise start the embedded ones under var/ (ecomsight/embedded.py)."""

import os
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ecomsight.embedded import answers  # noqa: E402

VAR_DIR = os.environ.get("VAR_DIR", "var")
SERVICES = [("PostgreSQL", "DATABASE_URL", 5432, f"{VAR_DIR}/pg"), ("Redis", "REDIS_URL", 6379, f"{VAR_DIR}/redis")]


def main() -> int:
    failed = False
    for name, variable, default_port, folder in SERVICES:
        url = os.environ.get(variable)
        if url:
            parsed = urlparse(url)
            if parsed.hostname is None and "host" in parse_qs(parsed.query):
                print(f"{name}: {variable} names a unix socket ({parse_qs(parsed.query)['host'][0]})")
                continue
            host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
            try:
                socket.create_connection((host, port), timeout=3).close()
            except OSError as exc:
                print(f"{name} is not reachable at {host}:{port}, which {variable} names ({exc}).", file=sys.stderr)
                failed = True
                continue
            print(f"{name}: {host}:{port} ({variable})")
        elif answers("127.0.0.1", default_port):
            print(f"{name}: 127.0.0.1:{default_port}")
        else:
            print(f"{name}: nothing answers at 127.0.0.1:{default_port}; the tests start the embedded one under "
                  f"{folder}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
