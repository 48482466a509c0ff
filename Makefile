# The two commands of the README: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-forecasts.txt | cksum | cut -d' ' -f1)
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test lint install bench-ingest

install: $(STAMP)

$(STAMP): requirements.txt requirements-forecasts.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	# statsforecast and fugue declare pandas<3; they run on ours (see requirements-forecasts.txt)
	$(PY) -m pip install --quiet --no-deps -r requirements-forecasts.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

# The embedded default: SQLite under var/ and Celery tasks in process.
demo: $(STAMP)
	DJANGO_SETTINGS_MODULE=ecomsight.settings.demo $(PY) manage.py demo $(DEMO_ARGS)

# The whole suite against PostgreSQL and Redis on localhost (DATABASE_URL / REDIS_URL override).
test: $(STAMP)
	$(PY) scripts/check_services.py
	DJANGO_SETTINGS_MODULE=ecomsight.settings.test $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
