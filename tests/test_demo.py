"""`make demo`: the whole product from nothing on the embedded default (PostgreSQL and Redis from pip packages,
a real Celery worker), then a marketer logs in, an integrator calls the API, a job runs on the worker, a second
run re-uses the shop and `demo-stop` stops everything. Runs the real commands in subprocesses, at a small size,
in a VAR_DIR of its own (its own embedded servers)."""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    return {**env, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.demo", "VAR_DIR": str(var_dir),
            "MODEL_DIR": str(var_dir / "models"), "PYTHONUNBUFFERED": "1"}


def _manage(var_dir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_demo_env(var_dir),
                          capture_output=True, text=True, timeout=timeout)


def _api(port: int, token: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/{path}", data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _embedded_servers(var_dir: Path) -> list[int]:
    """The pids of this VAR_DIR's embedded servers that still run: PostgreSQL (its command line names the data
    folder) and Redis (its pid file)."""
    pids = [p.pid for p in psutil.process_iter(["cmdline"])
            if any(str(var_dir / "pg") == part for part in p.info["cmdline"] or ())]
    redis_pid = var_dir / "redis" / "redis.pid"
    if redis_pid.exists() and psutil.pid_exists(int(redis_pid.read_text())):
        pids.append(int(redis_pid.read_text()))
    return pids


@pytest.mark.slow
def test_demo_builds_on_embedded_postgres_serves_pages_api_and_worker_then_stops(tmp_path):
    port = _free_port()
    log = open(tmp_path / "demo.log", "w+")  # noqa: SIM115 - closed below
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--customers", "400", "--products", "60", "--days", "300",
         "--port", str(port)],
        cwd=ROOT, env=_demo_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and demo.poll() is None:
            if "serving on" in (tmp_path / "demo.log").read_text():
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        output = (tmp_path / "demo.log").read_text()
        assert demo.poll() is None, f"the demo stopped:\n{output[-3000:]}"
        for step in ("importing events", "offers: 4 inserted", "training churn models", "scoring every customer",
                     "building recommendations", "ready", "forecasting sales in the worker", "with a Celery worker"):
            assert step in output, f"no progress line for {step!r}"
        password = re.search(r"marketer\s+password: (\S+)", output).group(1)

        # A marketer logs in to the pages.
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"http://127.0.0.1:{port}/accounts/login/").read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": "marketer", "password": password,
                                       "csrfmiddlewaretoken": csrf}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/", data=body,
                                         headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"})
        dashboard = opener.open(request).read().decode()
        assert "Dashboard" in dashboard and "Log out" in dashboard
        assert "At-risk customers" in opener.open(f"http://127.0.0.1:{port}/customers/").read().decode()
        # The pages a new user found empty (session 15's review): offers to plan with, a forecast on its way.
        assert "Free shipping" in opener.open(f"http://127.0.0.1:{port}/offers/").read().decode()
        deadline = time.monotonic() + 120  # the worker takes the queued forecast when it is free
        while True:
            forecasts = opener.open(f"http://127.0.0.1:{port}/forecasts/").read().decode()
            if "The first forecast is being made" in forecasts or "Download CSV" in forecasts:
                break
            assert time.monotonic() < deadline, forecasts[-2000:]
            time.sleep(1)

        # manage.py with the demo settings talks to the demo's database: an analyst's token for the API.
        created = _manage(tmp_path, "create_token", "analyst", "--name", "test", "--shop", "demo")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip().splitlines()[-1]

        # The calls that answered 500 on the SQLite demo.
        status, at_risk = _api(port, token, "at-risk/")
        assert status == 200 and at_risk["results"], at_risk
        customer = at_risk["results"][0]["customer_id"]
        status, recommendations = _api(port, token, f"customers/{customer}/recommendations/")
        assert status == 200, recommendations
        status, segment = _api(port, token, "segments/", {"name": "high risk", "filters": {"bands": ["high"]}})
        assert status == 201, segment
        status, members = _api(port, token, f"segments/{segment['id']}/members/")
        assert status == 200 and "results" in members, members
        assert _api(port, token, f"at-risk/?segment={segment['id']}")[0] == 200
        assert _api(port, token, "at-risk/?category=1")[0] == 200

        # A job goes to the Celery worker and finishes there (the request only enqueued it).
        status, job = _api(port, token, "jobs/recommendations/", {"k": 5})
        assert status == 202 and job["status"] == "pending", job
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job["status"] in ("pending", "running"):
            time.sleep(1)
            job = _api(port, token, f"jobs/{job['id']}/")[1]
        assert job["status"] == "succeeded", job
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the demo stops its web server and worker
        demo.wait(90)
        log.close()

    # A second run re-uses the shop: no simulation, no training.
    again = _manage(tmp_path, "demo", "--no-serve", timeout=120)
    assert again.returncode == 0, again.stderr
    assert "re-using it" in again.stderr and "training" not in again.stderr
    assert re.search(r"marketer\s+password: \S+", again.stdout)

    servers = _embedded_servers(tmp_path)
    assert len(servers) == 2, "the embedded PostgreSQL and Redis outlive the demo command"
    stopped = subprocess.run([sys.executable, "-m", "ecomsight.embedded", "stop", "--var-dir", str(tmp_path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "PostgreSQL" in stopped.stdout and "Redis" in stopped.stdout, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(pid) for pid in servers)
