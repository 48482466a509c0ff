"""Settings shared by every environment, read from the environment (or `.env`).

One database dialect: PostgreSQL everywhere. The embedded default (no DATABASE_URL; no REDIS_URL /
CELERY_BROKER_URL) is a PostgreSQL and a Redis that the project starts itself from pip packages, with their
data under var/ (ecomsight/embedded.py): the same code paths as production, a real Celery worker included.
Production settings turn the embedded default off (EMBEDDED_SERVICES=false) and require real servers.
"""

import os
import sys
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from ecomsight import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# The demo's default key is not a secret; production settings refuse to start without a real one.
SECRET_KEY = env("SECRET_KEY", default="insecure-demo-key-change-me-9f2c1e7b4a6d8e0f3b5c7a9d1e3f5a7b")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "accounts",
    "catalog",
    "behavior",
    "reviews",
    "predictions",
    "recommendations",
    "forecasts",
    "offers",
    "deliveries",
    "privacy",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the body (CSRF reads request.POST): an oversized request is refused unread.
    "accounts.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "ecomsight.csp.ContentSecurityPolicyMiddleware",  # django-csp's, a fixed policy on JSON
    "accounts.middleware.LoginRequiredMiddleware",
    "accounts.middleware.NoStoreForUsersMiddleware",
    "accounts.middleware.NulRefusedMiddleware",
]

# Content-Security-Policy (django-csp): scripts and stylesheets from our own origin only. The pages have no
# inline scripts (keep it so); inline style *attributes* (bar widths) are allowed, <style> elements are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

ROOT_URLCONF = "ecomsight.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.shop_context",
            ],
        },
    },
]

WSGI_APPLICATION = "ecomsight.wsgi.application"

# Without DATABASE_URL / REDIS_URL, start (or find running) the embedded servers and export their URLs, so
# that every process this one starts (a Celery worker, gunicorn, a test's subprocess) finds the same ones.
# `manage.py demo --help` (any request for help) reads no database: it starts nothing, and the URLs are ones
# nobody connects to.
EMBEDDED_SERVICES = env.bool("EMBEDDED_SERVICES", default=True)
_HELP_ONLY = {"DATABASE_URL": "postgres:///help-only", "REDIS_URL": "redis://help-only:6379/0"}
for _name, _start in (("DATABASE_URL", embedded.postgres_url), ("REDIS_URL", embedded.redis_url)):
    if not env(_name, default=""):
        if not EMBEDDED_SERVICES:
            raise ImproperlyConfigured(f"{_name} is not set (and EMBEDDED_SERVICES is off)")
        os.environ[_name] = _HELP_ONLY[_name] if embedded.asks_for_help(sys.argv) else _start(VAR_DIR)

DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# JIT compilation costs a page query more (~15 ms) than it ever saves on these short queries.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# Prepared statements: parameters bound on the server (Django's documented `server_side_binding` option for psycopg)
# and psycopg's own preparing, which Django leaves off by default for poolers' sake: a statement a connection has run
# 5 times is prepared, and PostgreSQL stops planning the API's repeated reads on every call. bench/api.py measured
# PostgreSQL's CPU per API call at a quarter (scores 0.96 -> 0.20 ms, recommendations 0.54 -> 0.12 ms). Turn it
# off (false) behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode before 1.22 or
# without max_prepared_statements). Processes are restarted after `migrate`: a prepared statement whose result
# columns a migration changed fails until its connection closes (CONN_MAX_AGE).
if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# Product pictures (catalog/services.py): fetched by workers, stored under MEDIA_ROOT by SHA-256.
# Addresses resolving to private, loopback, link-local or reserved ranges are refused unless this allows them.
IMAGE_FETCH_ALLOW_PRIVATE = env.bool("IMAGE_FETCH_ALLOW_PRIVATE", default=False)
IMAGE_FETCH_CONNECT_TIMEOUT = env.float("IMAGE_FETCH_CONNECT_TIMEOUT", default=5.0)
IMAGE_FETCH_READ_TIMEOUT = env.float("IMAGE_FETCH_READ_TIMEOUT", default=15.0)
IMAGE_FETCH_ATTEMPTS = env.int("IMAGE_FETCH_ATTEMPTS", default=3)
IMAGE_FETCH_WORKERS = env.int("IMAGE_FETCH_WORKERS", default=8)
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=10 * 1024 ** 2)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
# "efficientnet-lite0" (shipped in a pinned package), "histogram" (no model), or a .onnx / TorchScript file.
IMAGE_EMBEDDING_MODEL = env("IMAGE_EMBEDDING_MODEL", default="efficientnet-lite0")
IMAGE_EMBEDDING_DEVICE = env("IMAGE_EMBEDDING_DEVICE", default="auto")
IMAGE_EMBEDDING_BATCH_SIZE = env.int("IMAGE_EMBEDDING_BATCH_SIZE", default=32)
IMAGE_EMBEDDING_THREADS = env.int("IMAGE_EMBEDDING_THREADS", default=0)  # CPU threads for the model (0: torch's)
IMAGE_NEIGHBOURS = env.int("IMAGE_NEIGHBOURS", default=20)
IMAGE_DUPLICATE_MAX_DISTANCE = env.int("IMAGE_DUPLICATE_MAX_DISTANCE", default=10)

# Login brute force (accounts/throttle.py): attempts per username and per client IP within the window,
# counted in the shared cache; past the limit, attempts are refused until the window ends.
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=50)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=15 * 60)

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "accounts:login"

# Request size limits (accounts.middleware.RequestBodyLimitMiddleware answers 413 from Content-Length alone).
IMPORT_UPLOAD_MAX_BYTES = env.int("IMPORT_UPLOAD_MAX_BYTES", default=200 * 1024 ** 2)
# Keys that encrypt customers' email and name at rest (comma-separated Fernet keys, the first encrypts): see
# ecomsight/crypto.py. Empty: derived from SECRET_KEY (development only).
PERSONAL_DATA_KEYS = env.str("PERSONAL_DATA_KEYS", default="")
# The key of the email's blind index (HMAC-SHA256; any long random string), separate from the encryption keys:
# rotating those leaves it alone; changing it needs `rotate_personal_data_keys`. Empty: derived from SECRET_KEY.
PERSONAL_DATA_INDEX_KEY = env.str("PERSONAL_DATA_INDEX_KEY", default="")
# A running import whose process has not written its heartbeat for this long is marked failed (its process is gone).
IMPORT_HEARTBEAT_STALE_SECONDS = env.int("IMPORT_HEARTBEAT_STALE_SECONDS", default=600)
# A verified API token is kept this long in the cache (accounts/tokens.py; 0: verified on every call).
API_TOKEN_CACHE_SECONDS = env.int("API_TOKEN_CACHE_SECONDS", default=30)
# The API's first at-risk page of a filter is kept this long in the cache, sealed (predictions/api/pages.py; dropped
# at once by a scoring run landing, re-scoring, erasure and arriving data; 0: read from PostgreSQL every call).
AT_RISK_PAGE_CACHE_SECONDS = env.int("AT_RISK_PAGE_CACHE_SECONDS", default=60)
API_BODY_MAX_BYTES = env.int("API_BODY_MAX_BYTES", default=100 * 1024 ** 2)
FORM_BODY_MAX_BYTES = env.int("FORM_BODY_MAX_BYTES", default=1024 ** 2)
UPLOAD_PATHS = ("/imports/",)
# Bodies read into memory (form fields, not files; API JSON): the API's batches may be up to 32 MB
# (behavior/api/views.py MAX_BATCH_BYTES); web forms are held to FORM_BODY_MAX_BYTES by the middleware.
# Uploaded files stream to temporary files above 2.5 MB, so an upload's size costs disk, never memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=40 * 1024 ** 2)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 1
FILE_UPLOAD_MAX_MEMORY_SIZE = int(2.5 * 1024 ** 2)
FILE_UPLOAD_PERMISSIONS = 0o640

# Where trained model artifacts live (LightGBM text models, torch state_dicts, metadata JSON).
MODEL_DIR = Path(env("MODEL_DIR", default=str(VAR_DIR / "models")))
# Import reports and export files.
IMPORT_DIR = VAR_DIR / "imports"
EXPORT_DIR = VAR_DIR / "exports"
# Uploads, rejected-rows reports and export files older than this go every night (0: keep them all).
# Training reads a uniform sample of about this many customers when a shop has more (0: all of them), so its
# memory stays bounded whatever the shop's size; scoring always reads every customer, chunk by chunk.
TRAIN_SAMPLE_CUSTOMERS = env.int("TRAIN_SAMPLE_CUSTOMERS", default=300_000)
# Threads each Celery worker process gives its numeric libraries (BLAS, OpenMP, LightGBM, PyTorch); 0: their own
# defaults (BLAS every core, LightGBM 2). Several worker processes on one machine: its cores / the processes
# (ecomsight.celery applies it when a worker process starts).
ML_THREADS = env.int("ML_THREADS", default=0)
# LightGBM's hyperparameter search on the validation cutoff (predictions/ml/tuning.py): trials per fit (0: the
# fixed two-setting grid gbm.PARAM_CANDIDATES) and a wall-clock guard per fit, in seconds. Off by default: the
# search gained on validation but not on the test windows (docs/status/issue-19-session7-optuna.md).
TUNE_TRIALS = env.int("TUNE_TRIALS", default=0)
TUNE_SECONDS = env.float("TUNE_SECONDS", default=300.0)
FILE_RETENTION_DAYS = env.int("FILE_RETENTION_DAYS", default=30)
# Scores (and interest profiles) of scoring runs older than this are deleted nightly; each shop's current run and
# every run's headline figures stay (predictions/retention.py). 400 days: a year of a customer's score history and
# the same weeks a year before. 0 keeps every score.
SCORE_HISTORY_DAYS = env.int("SCORE_HISTORY_DAYS", default=400)
EXPORT_STREAM_MAX_ROWS = env.int("EXPORT_STREAM_MAX_ROWS", default=5000)  # larger exports run as a job
# Scheduled deliveries (deliveries app): customers per webhook batch, tries per batch or upload, the first
# back-off (doubled after each failed try), and whether private / loopback addresses may be targets.
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=500)
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=5)
DELIVERY_RETRY_BACKOFF_SECONDS = env.int("DELIVERY_RETRY_BACKOFF_SECONDS", default=60)
DELIVERY_ALLOW_PRIVATE = env.bool("DELIVERY_ALLOW_PRIVATE", default=False)

REDIS_URL = env("REDIS_URL")
CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}}

# --- Celery -------------------------------------------------------------------------------------
# The broker is Redis: CELERY_BROKER_URL, else REDIS_URL (the embedded one by default). Tasks go to workers;
# CELERY_TASK_ALWAYS_EAGER=true runs them in process instead (the tests do, except the worker tests).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A SIGKILLed pool child must not take its task with it: acknowledge after the task ran and
# re-queue when the worker is lost. Chunks are idempotent, so running one twice is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers an unacknowledged task after this long; it must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
    # How often a worker sweeps for tasks a dead worker left unacknowledged (kombu's defaults: 10 s x 10).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    # A sweep holds a Redis lock that expires after this long: a worker killed mid-sweep delays every
    # other worker's sweeps until then (kombu's default, 300 s).
    "unacked_mutex_expire": env.int("CELERY_UNACKED_MUTEX_EXPIRE", default=300),
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Training and scoring get their own queue so imports and exports never wait behind them.
CELERY_TASK_ROUTES = {
    "predictions.tasks.*": {"queue": "ml"},
    "recommendations.tasks.*": {"queue": "ml"},
    "forecasts.tasks.*": {"queue": "ml"},
    "catalog.tasks.*": {"queue": "ml"},
    "offers.tasks.*": {"queue": "ml"},
    "reviews.tasks.*": {"queue": "ml"},
}
CELERY_TASK_SOFT_TIME_LIMIT = 30 * 60
CELERY_TASK_TIME_LIMIT = 35 * 60
# The stall sweep (recommendations/services/stalls.py, every RUN_STALL_SWEEP_SECONDS on the default queue): a scoring
# run RUNNING or a recommendation build BUILDING whose job's progress has not moved for RUN_STALL_SECONDS has its
# missing chunks / partitions queued again (a queued task can be lost for good: a worker killed between Redis's
# BRPOP and kombu recording the message unacknowledged); after RUN_STALL_MAX_RESUMES resumes in a row without
# progress it is failed. 30 min is far above a chunk's time (about 30 s for 25,000 customers) and a partition's (a few
# minutes for 50,000); 4 x 30 min without progress outlasts every task's hard time limit (65 min at most), so a task
# still running is never failed. While the ml queue still holds messages the sweep neither resumes nor fails anything
# (a task waiting behind other work is not lost): a lost one is told apart once the queue has drained.
RUN_STALL_SECONDS = env.int("RUN_STALL_SECONDS", default=30 * 60)
RUN_STALL_MAX_RESUMES = env.int("RUN_STALL_MAX_RESUMES", default=3)
RUN_STALL_SWEEP_SECONDS = env.float("RUN_STALL_SWEEP_SECONDS", default=300.0)
CELERY_BEAT_SCHEDULE = {
    "nightly-score-and-recommend": {
        "task": "recommendations.tasks.nightly_run",
        "schedule": crontab(hour=2, minute=0),
    },
    "nightly-reviews": {  # sentiment trained again when due, else new reviews scored (reviews.services)
        "task": "reviews.tasks.reviews_nightly_task",
        "schedule": crontab(hour=1, minute=40),
    },
    "nightly-forecast-and-alerts": {
        "task": "forecasts.tasks.nightly_forecasts",
        "schedule": crontab(hour=2, minute=45),
    },
    "product-pictures": {  # pictures of products imported through the web or the API (catalog/tasks.py)
        "task": "catalog.tasks.product_images_pending_task",
        "schedule": crontab(minute="*/15"),
    },
    "nightly-offer-policy": {
        "task": "offers.tasks.offer_policy_nightly_task",
        "schedule": crontab(hour=2, minute=50),
    },
    "nightly-behavior-housekeeping": {  # dead imports marked failed; events past each shop's retention deleted
        "task": "behavior.nightly_housekeeping",
        "schedule": crontab(hour=1, minute=30),
    },
    "nightly-deliveries": {  # scheduled segment deliveries (deliveries app), after the night's scores and offers
        "task": "deliveries.tasks.deliveries_due_task",
        "schedule": crontab(hour=4, minute=0),
    },
    "nightly-expire-files": {
        "task": "predictions.tasks.files_expire_task",
        "schedule": crontab(hour=3, minute=30),
    },
    "nightly-expire-score-history": {  # scores of runs older than SCORE_HISTORY_DAYS (predictions/retention.py)
        "task": "predictions.tasks.score_history_expire_task",
        "schedule": crontab(hour=3, minute=40),
    },
    "stalled-runs": {  # scoring runs and recommendation builds that stopped moving, resumed (RUN_STALL_* above)
        "task": "recommendations.tasks.runs_stalled_resume_task",
        "schedule": RUN_STALL_SWEEP_SECONDS,
        "options": {"expires": RUN_STALL_SWEEP_SECONDS},  # a sweep no worker took in time is dropped: another comes
    },
}

# Re-scoring on arrival (predictions.services.rescoring): customers whose orders or events arrive are re-scored
# by the worker this many seconds after the first change of a window, in chunks of RESCORE_CHUNK_SIZE.
RESCORE_DEBOUNCE_SECONDS = env.int("RESCORE_DEBOUNCE_SECONDS", default=30)
# Data whose last day is more than this many days before today is said to be old: on the pages that show scores or
# a forecast of it, and in the forecast's notes (a shop last imported two months ago read "ordered 6 days ago").
STALE_DATA_DAYS = env.int("STALE_DATA_DAYS", default=14)
RESCORE_CHUNK_SIZE = env.int("RESCORE_CHUNK_SIZE", default=5_000)
# Then their recommendations, by a task of its own (recommendations.services.recommendations_refresh); false
# leaves them to the nightly build (the refit reads the whole shop once per re-scoring: costly on a big shop).
RECOMMENDATIONS_REFRESH_ON_RESCORE = env.bool("RECOMMENDATIONS_REFRESH_ON_RESCORE", default=True)
# The recommendation build lists customers in partitions of about this many (one Celery task each, bounded memory
# per process); a shop with fewer customers is one partition (recommendations.services.build).
RECOMMEND_PARTITION_CUSTOMERS = env.int("RECOMMEND_PARTITION_CUSTOMERS", default=50_000)

# Anomaly checks after new data (forecasts.services.alerts): an orders/events import that finished or an API batch
# schedules one check of the shop's monitors this many seconds later; arrivals until it runs add nothing.
ANOMALY_DEBOUNCE_SECONDS = env.int("ANOMALY_DEBOUNCE_SECONDS", default=300)

# Reviews arriving after an analysis are scored with its saved model within RESCORE_DEBOUNCE_SECONDS; the nightly
# run trains the sentiment model again when it is this many days old or the rated reviews grew by this share.
REVIEWS_RETRAIN_DAYS = env.int("REVIEWS_RETRAIN_DAYS", default=7)
REVIEWS_RETRAIN_GROWTH = env.float("REVIEWS_RETRAIN_GROWTH", default=0.2)

# --- REST framework -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "ecomsight.api.schema.ApiAutoSchema",
    # Bearer first: its WWW-Authenticate header is the one a 401 carries. The session serves the
    # browser (and the Swagger page); DRF enforces CSRF on its writes.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "ecomsight.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["ecomsight.api.permissions.RolePermission"],
    "DEFAULT_THROTTLE_CLASSES": ["ecomsight.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env("API_THROTTLE_RATE", default="1200/min")},
    "DEFAULT_PAGINATION_CLASS": "ecomsight.api.pagination.ApiCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": ["ecomsight.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["ecomsight.api.parsers.JSONParser"],  # DRF's, with a nesting limit
    "EXCEPTION_HANDLER": "ecomsight.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNICODE_JSON": True,
    "STRICT_JSON": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "EcomSight API",
    "DESCRIPTION": (
        "Churn and purchase scores, recommendations, segments and ingestion for one shop.\n\n"
        "Authenticate with `Authorization: Bearer <token>`: create one in the web app on the **API tokens** "
        "page (`/accounts/tokens/`, in the menu for every role; it acts for the shop chosen there with your own "
        "role), or with `python manage.py create_token USER --name NAME --shop SLUG`. A token acts for one "
        "shop with its owner's role (marketer < "
        "analyst < admin). Customers and products are addressed by the shop's own ids. Lists use cursor "
        "pagination: follow `next`. Every error has the form "
        '`{"status": 400, "code": "invalid", "message": "...", "field": "name-or-null"}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "ENUM_NAME_OVERRIDES": {
        "RiskBandEnum": "predictions.models.CustomerScore.Band",
        "JobStatusEnum": "accounts.models.Job.Status",
        "JobKindEnum": "accounts.models.Job.Kind",
        "ModelStatusEnum": "predictions.models.ModelVersion.Status",
        "TaskEnum": "predictions.models.Task",
    },
}

# Logs carry no personal data or secrets: the console handler redacts emails, bearer tokens and
# secret-looking values (accounts/logfilters.py). Django's own loggers lose their default handlers
# (mail_admins would mail request data) and reach the console through the root logger.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "accounts.logfilters.RedactFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "django": {"handlers": [], "level": "WARNING", "propagate": True},
        "ecomsight": {"level": env("LOG_LEVEL", default="INFO")},
    },
}

# Serve static files from the apps and static/ without a collectstatic step (the demo, small installs).
WHITENOISE_USE_FINDERS = True
