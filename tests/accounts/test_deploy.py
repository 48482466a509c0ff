from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_production_settings_and_a_shared_model_dir():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "ecomsight.settings.production"
        assert env["MODEL_DIR"] == "/data/models"
        assert {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY", "ALLOWED_HOSTS"} <= set(env)
        assert "models:/data/models" in services[name]["volumes"]


def test_compose_web_migrates_before_serving_and_worker_reads_both_queues():
    services = _compose()["services"]
    web = services["web"]["command"]
    assert web.index("migrate") < web.index("gunicorn")
    assert "default,ml" in services["worker"]["command"]
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"]
