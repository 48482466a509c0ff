"""gunicorn.conf.py, as the Dockerfile, docker-compose.yml and bench/api.py serve the app: connections kept
alive, at most WEB_WORKER_CONNECTIONS of them per worker, and start-up objects frozen out of the garbage
collector's reach."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served():
    """gunicorn started from the repository root (so it reads gunicorn.conf.py): one worker with one
    thread, two connections at most. Health needs no database."""
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.test", "LOG_LEVEL": "ERROR",
           "WEB_CONCURRENCY": "1", "WEB_THREADS": "1", "WEB_WORKER_CONNECTIONS": "2",
           "WEB_KEEPALIVE": "30"}
    proc = subprocess.Popen([GUNICORN, "ecomsight.wsgi:application", "--bind", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health/")
                assert conn.getresponse().status == 200
                conn.close()
                break
            except OSError:
                assert proc.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.3)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    conn.request("GET", "/api/v1/health/")
    response = conn.getresponse()
    response.read()
    return response


def _kept_alive(port: int) -> http.client.HTTPConnection:
    """A connection whose first answer keeps it open. The fixture's probe connection, closed by the client,
    stays among the worker's idle ones until the worker notices: meanwhile an answer may close instead."""
    for _ in range(50):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        response = _get(conn)
        assert response.status == 200
        if response.getheader("Connection", "").lower() != "close":
            return conn
        conn.close()
        time.sleep(0.1)
    raise AssertionError("no answer kept its connection open")


def test_requests_share_a_kept_alive_connection(served):
    conn = _kept_alive(served)
    sock = conn.sock
    second = _get(conn)
    assert second.status == 200
    assert second.getheader("Connection", "").lower() != "close"
    assert conn.sock is sock  # the same connection: not closed by the server and reopened
    conn.close()


def test_past_its_idle_connections_a_worker_answers_and_closes_so_the_client_goes_elsewhere(served):
    # WEB_WORKER_CONNECTIONS=2 with one thread: one idle kept-alive connection at most.
    kept = _kept_alive(served)
    time.sleep(0.5)  # idle: the worker has put it back among its kept-alive connections
    other = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    answered = _get(other)
    assert answered.status == 200 and answered.getheader("Connection", "").lower() == "close"
    sock = kept.sock
    assert _get(kept).status == 200 and kept.sock is sock  # the first one stays open
    kept.close()
    other.close()


def test_a_worker_with_all_its_connections_open_takes_the_next_client_when_one_ends(served):
    kept = _kept_alive(served)
    silent = socket.create_connection(("127.0.0.1", served), timeout=10)  # open, no request yet: 2 of 2
    time.sleep(5.5)  # gthread's thread waits 5 s for its first request, then parks it and is free again
    waiting = socket.create_connection(("127.0.0.1", served), timeout=1.5)
    waiting.sendall(b"GET /api/v1/health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with pytest.raises(TimeoutError):  # in the listen backlog: the worker does not take it yet
        waiting.recv(1024)
    kept.close()  # one connection ends: the waiting client is served
    waiting.settimeout(10)
    assert waiting.recv(1024).startswith(b"HTTP/1.1 200")
    waiting.close()
    silent.close()


def test_worker_start_up_freezes_what_django_loaded():
    code = ("import gc, runpy, django; django.setup(); "
            "conf = runpy.run_path('gunicorn.conf.py'); conf['post_worker_init'](None); print(gc.get_freeze_count())")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.test"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    # Django, DRF, the apps and every view the URL patterns import: well over 50,000 objects.
    assert int(out.strip().splitlines()[-1]) > 50_000
