"""Test settings: PostgreSQL and Redis on localhost when they answer (DATABASE_URL / REDIS_URL override),
otherwise the embedded ones under var/ (ecomsight/embedded.py), so that `make test` passes on a machine that
has nothing but Python."""

import os
from pathlib import Path

from ecomsight.embedded import answers

if "DATABASE_URL" not in os.environ and answers("127.0.0.1", 5432):
    os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/ecomsight"
if "REDIS_URL" not in os.environ:
    if answers("127.0.0.1", 6379):
        os.environ["REDIS_URL"] = "redis://127.0.0.1:6379/15"
    else:
        from ecomsight.embedded import redis_url

        os.environ["REDIS_URL"] = redis_url(Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parents[2]
                                                                / "var")), db=15)
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
# Tasks run in process in the tests; the worker tests start a real Celery worker against Redis.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from .base import *  # noqa: E402,F403
from .base import VAR_DIR, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "test-models")))
IMPORT_DIR = VAR_DIR / "test-imports"
EXPORT_DIR = VAR_DIR / "test-exports"
