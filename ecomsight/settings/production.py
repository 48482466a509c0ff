"""Production settings: everything that `manage.py check --deploy` asks for."""

import os

# Production never starts the embedded servers: DATABASE_URL and REDIS_URL must name real ones.
os.environ["EMBEDDED_SERVICES"] = "false"

from .base import *  # noqa: E402,F403
from .base import env  # noqa: E402

SECRET_KEY = env("SECRET_KEY")  # no default: refuse to start without a real one
# The keys encrypting customers' email and name (ecomsight/crypto.py): no default either.
PERSONAL_DATA_KEYS = env("PERSONAL_DATA_KEYS")
PERSONAL_DATA_INDEX_KEY = env("PERSONAL_DATA_INDEX_KEY")  # the email's blind index: no default either
DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# Every gunicorn worker and every machine must share the counters of the API throttle and the login
# throttle (and the token cache's invalidation): a per-process LocMem cache would multiply the limits.
REDIS_URL = env("REDIS_URL")  # no default: refuse to start without the shared cache
CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
