#!/usr/bin/env bash
# Fuzz the REST API from its OpenAPI schema with schemathesis (hundreds of examples per operation).
#
#   bench/fuzz_api.sh [MAX_EXAMPLES]        (default 300)
#
# The script migrates DATABASE_URL (default: a throw-away database ecomsight_fuzz), seeds a
# shop with a few scored customers and an admin token, serves the app with gunicorn on 127.0.0.1:8766,
# and runs every check schemathesis has (5xx, status codes, content types and response bodies against
# the schema) with that token. Exit status: schemathesis's (non-zero when it found a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${1:-300}"
PORT="${FUZZ_PORT:-8766}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ecomsight_fuzz}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/10}"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-ecomsight.settings.test}"
export API_THROTTLE_RATE="${API_THROTTLE_RATE:-100000000/min}"
export LOG_LEVEL="${LOG_LEVEL:-ERROR}"

ST=.venv/bin/st  # schemathesis is pinned in requirements.txt (the suite runs it briefly too)

.venv/bin/python - <<'PY'
import os, sys
sys.path.insert(0, ".")
import psycopg
base, _, name = os.environ["DATABASE_URL"].rpartition("/")
with psycopg.connect(base + "/postgres", autocommit=True) as admin:
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        admin.execute(f'CREATE DATABASE "{name}"')
PY
TOKEN=$(.venv/bin/python - <<'PY'
import sys
sys.path.insert(0, ".")
sys.argv = ["bench/api.py"]
import importlib.util
spec = importlib.util.spec_from_file_location("bench_api", "bench/api.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
print(bench.seed(200))
PY
)

.venv/bin/gunicorn ecomsight.wsgi:application --bind "127.0.0.1:${PORT}" --workers 3 --log-level warning &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:${PORT}/api/v1/health/" >/dev/null 2>&1 && break
  sleep 0.5
done

"$ST" run "http://127.0.0.1:${PORT}/api/schema/?format=json" \
  --url "http://127.0.0.1:${PORT}" \
  --header "Authorization: Bearer ${TOKEN}" \
  --checks all \
  --max-examples "${EXAMPLES}" \
  --workers 2
