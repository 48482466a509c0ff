"""`manage.py … --help` starts no embedded server (browser24 L14: `manage.py demo --help` started the embedded
PostgreSQL and Redis, var/pg and var/redis appeared, before `make demo` had ever run)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecomsight.embedded import asks_for_help

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("argv", "help_only"), [
    (["manage.py", "demo", "--help"], True),
    (["manage.py", "demo", "-h"], True),
    (["manage.py", "help", "demo"], True),
    (["manage.py"], True),
    (["manage.py", "--version"], True),
    (["manage.py", "demo"], False),
    (["manage.py", "demo", "--customers", "400"], False),
    (["manage.py", "migrate"], False),
    (["manage.py", "shell", "-c", "print('--help')"], False),  # an argument's value, not the option
    (["manage.py", "dbshell", "--", "-h", "db.example"], False),  # psql's -h (a second reader)
    (["gunicorn", "ecomsight.wsgi"], False),
])
def test_only_a_request_for_help_is_told_apart(argv, help_only):
    assert asks_for_help(argv) is help_only


@pytest.mark.parametrize("args", [("demo", "--help"), ("help", "demo")])
def test_demo_help_prints_its_options_and_starts_no_database_nor_redis(tmp_path, args):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DJANGO_SETTINGS_MODULE="ecomsight.settings.demo", VAR_DIR=str(tmp_path / "var"))
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--customers" in done.stdout
    assert not (tmp_path / "var" / "pg").exists() and not (tmp_path / "var" / "redis").exists()
