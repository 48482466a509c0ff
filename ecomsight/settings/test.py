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

# pytest-xdist (`make test` runs the suite on two workers): each worker has its own test database already
# (pytest-django names it test_<name>_gw<K>); here worker K also gets its own Redis db, for the cache and the
# broker, K above the one the URL names (K below it past db 15: the default 15 gives gw0 15, gw1 14), and its
# own folders for models, imports, exports and media (below). The processes a test starts (a Celery worker,
# gunicorn, a drill's subprocess) inherit the worker's environment, adjusted once.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if XDIST_WORKER and os.environ.get("ECOMSIGHT_TEST_WORKER") != XDIST_WORKER:
    from urllib.parse import urlsplit

    def _worker_db(url: str, k: int) -> str:
        parts = urlsplit(url)
        db = int(parts.path.strip("/") or 0)
        return parts._replace(path=f"/{db + k if db + k <= 15 else db - k}").geturl()

    _k = int(XDIST_WORKER.removeprefix("gw"))
    for _name in ("REDIS_URL", "CELERY_BROKER_URL"):
        os.environ[_name] = _worker_db(os.environ[_name], _k)
    os.environ["ECOMSIGHT_TEST_WORKER"] = XDIST_WORKER
# Tasks run in process in the tests; the worker tests start a real Celery worker against Redis.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from .base import *  # noqa: E402,F403
from .base import VAR_DIR, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_WORKER_DIR = f"-{XDIST_WORKER}" if XDIST_WORKER else ""  # var/test-models-gw1, ...
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / f"test-models{_WORKER_DIR}")))
IMPORT_DIR = VAR_DIR / f"test-imports{_WORKER_DIR}"
EXPORT_DIR = VAR_DIR / f"test-exports{_WORKER_DIR}"
if XDIST_WORKER and "MEDIA_ROOT" not in os.environ:
    MEDIA_ROOT = VAR_DIR / f"test-media{_WORKER_DIR}"
