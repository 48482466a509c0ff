"""The embedded default for `make demo`: a SQLite file under var/ and tasks run in process,
whatever DATABASE_URL / CELERY_BROKER_URL the environment or .env may say."""

import os
from pathlib import Path

_var = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent.parent / "var"))
os.environ["DATABASE_URL"] = f"sqlite:///{_var / 'demo.sqlite3'}"
os.environ["CELERY_BROKER_URL"] = ""
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
os.environ["REDIS_URL"] = ""

from .base import *  # noqa: E402,F403
