"""Every API operation, fuzzed from the OpenAPI schema by schemathesis against a live server on the test
database: no input may make the API answer with a server error. Few examples per operation (the deep run is
bench/fuzz_api.sh); the four 500s of the old SQLite demo were found by exactly this kind of run."""

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_api_operation_answers_a_server_error_to_schema_generated_input(live_server, scored, tokens, settings,
                                                                             tmp_path):
    settings.DEFAULT_THROTTLE_RATES = {"token": "100000000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "100000000/min"}}
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [str(st), "run", f"{live_server.url}/api/schema/?format=json", "--url", live_server.url,
         "--header", f"Authorization: Bearer {tokens['admin']}", "--checks", "not_a_server_error",
         "--max-examples", "3", "--seed", "1", "--workers", "1", "--no-shrink", "--request-timeout", "60",
         "--phases", "examples,fuzzing", "--warnings", "off",
         "--report", "ndjson", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout, result.stdout[-3000:]
