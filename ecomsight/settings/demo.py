"""`make demo`: the embedded PostgreSQL and Redis under var/ (ecomsight/embedded.py), started when needed,
whatever DATABASE_URL / REDIS_URL / CELERY_BROKER_URL the environment or .env may say. Every `manage.py`
command run with these settings (create_user, import_data, create_token…) talks to the demo's database."""

import os

for _name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
    # An empty value overrides .env too (read_env does not overwrite what the environment has).
    os.environ[_name] = ""
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"  # the demo serves with a real Celery worker

from .base import *  # noqa: E402,F403
