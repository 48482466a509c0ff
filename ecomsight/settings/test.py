"""Test settings: real PostgreSQL and Redis on localhost (override with DATABASE_URL / REDIS_URL)."""

import os
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ecomsight")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
# Tasks run in process in the tests; the worker tests start a real Celery worker against Redis.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from .base import *  # noqa: E402,F403
from .base import VAR_DIR, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "test-models")))
IMPORT_DIR = VAR_DIR / "test-imports"
EXPORT_DIR = VAR_DIR / "test-exports"
