"""`make demo`: the whole product from nothing on the embedded default (SQLite, tasks in process), then a
marketer logs in to the page it serves. Runs the real command in a subprocess, at a small size."""

import http.cookiejar
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_demo_sets_up_everything_on_sqlite_and_serves_a_page_a_marketer_can_log_in_to(tmp_path):
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.demo", "VAR_DIR": str(tmp_path),
           "MODEL_DIR": str(tmp_path / "models"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path / "demo.log", "w+")  # noqa: SIM115 - closed below
    demo = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--customers", "400", "--products", "60", "--days", "300",
         "--addrport", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        output = ""
        while time.monotonic() < deadline and demo.poll() is None:
            output = (tmp_path / "demo.log").read_text()
            if "serving on" in output:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        output = (tmp_path / "demo.log").read_text()
        assert demo.poll() is None, f"the demo stopped:\n{output[-3000:]}"
        for step in ("importing events", "training churn models", "scoring every customer",
                     "building recommendations", "ready"):
            assert step in output, f"no progress line for {step!r}"
        password = re.search(r"marketer\s+password: (\S+)", output).group(1)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        page = opener.open(f"http://127.0.0.1:{port}/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": "marketer", "password": password,
                                       "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/accounts/login/", data=body,
                                         headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"})
        dashboard = opener.open(request).read().decode()
        assert "Dashboard" in dashboard and "Log out" in dashboard
        at_risk = opener.open(f"http://127.0.0.1:{port}/customers/").read().decode()
        assert "At-risk customers" in at_risk
    finally:
        os.killpg(demo.pid, 15)
        demo.wait(30)
        log.close()

    db = sqlite3.connect(tmp_path / "demo.sqlite3")
    counts = {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in
              ("behavior_customer", "behavior_event", "predictions_customerscore", "recommendations_recommendation")}
    assert counts["behavior_customer"] == 400
    assert all(counts.values()), counts
