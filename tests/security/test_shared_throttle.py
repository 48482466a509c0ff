"""Drill 10: throttling holds across gunicorn workers because its counters live in Redis, not in a process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from django.conf import settings
from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from rest_framework.test import APIClient

from accounts.throttle import login_attempt_check
from accounts.tokens import api_token_create

ROOT = Path(__file__).resolve().parents[2]


def test_default_cache_is_redis_in_the_test_settings():
    assert settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert isinstance(caches["default"], RedisCache)


def test_api_throttle_counter_is_the_one_in_the_django_cache(world):
    issued = api_token_create(user=world["users"]["admin"], shop=world["acme"].shop, name="throttle")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plain}")
    redis = get_redis_connection("default")
    before = set(redis.scan_iter(match="*api-throttle:*"))
    for _ in range(3):
        assert client.get("/api/v1/me/").status_code == 200
    new = set(redis.scan_iter(match="*api-throttle:*")) - before
    # One counter (two if the calls straddled a window boundary), read back through the Django cache API.
    assert 1 <= len(new) <= 2
    plain_keys = [k.decode().split(":", 2)[2] for k in new]
    assert sum(int(cache.get(k)) for k in plain_keys) == 3


def test_login_throttle_counter_is_in_the_shared_cache(db):
    ip = f"192.0.2.{uuid.uuid4().int % 250}"
    name = f"nobody-{uuid.uuid4().hex}"
    login_attempt_check(username=name, ip=ip)
    keys = [k for k in get_redis_connection("default").scan_iter(match="*login-failures:u:*")]
    assert keys  # in Redis, where every worker reads it


def test_two_processes_hitting_the_same_counter_share_the_count():
    key = f"drill10:{uuid.uuid4().hex}"
    code = ("import django; django.setup(); from ecomsight.api.throttling import window_count; "
            f"[window_count({key!r}, ttl=60) for _ in range(50)]")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ecomsight.settings.test"}
    workers = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env) for _ in range(2)]
    assert all(w.wait(timeout=60) == 0 for w in workers)
    assert int(cache.get(key)) == 100
    cache.delete(key)
