"""Import loose ends (session 27): what the JSON line's counts and the rejected-rows report say about a file."""

import csv
import io
import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def _import(shop, path, *args, kind="orders"):
    out = io.StringIO()
    call_command("import_data", kind, str(path), "--shop", shop.slug, *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _report(document) -> list[list[str]]:
    with open(document["report"], encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_a_refused_dates_reason_says_that_month_names_are_read(shop, tmp_path, import_dir):
    # Read since session 26 (26 Oct 2025, 26. Oktober 2025 …), yet the reason named ISO 8601 and Unix time only.
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,placed_at\nO1,C1,26 Okt. 2025\nO2,C1,26 out 2025\n")
    document = _import(shop, path)
    assert (document["inserted"], document["rejected"]) == (1, 1)
    [(line, column, value, reason)] = _report(document)[1:]
    assert (line, column, value) == ("3", "placed_at", "26 out 2025")
    assert reason.startswith("unparseable date (expected ISO 8601, e.g. 2024-03-01")
    assert "the month's name in English, German, French, Spanish or Italian, e.g. 26 Oct 2025" in reason
