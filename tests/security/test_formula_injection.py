"""Drill 8: spreadsheet formula injection in every CSV a user downloads: the web segment export, the API
segment export, `score --export` and the import's rejected-rows report. 0 cells may stay live.

Decision on numbers: a cell is allowed to start with "-" only in a column that is numeric by construction
(probabilities, money, counts written by our code from floats) and only when it parses as a number;
every text column (ids, names, emails, reasons, product titles, raw imported values) is neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from accounts.tokens import api_token_create
from behavior.services import data_import
from catalog.models import Product
from predictions.models import Segment
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, scored_customers

PAYLOADS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
NUMERIC = {"churn_probability", "purchase_probability", "revenue_at_risk", "probability", "decile",
           "expected_orders", "p_alive", "spend_12m", "line"}


def live_cells(text: str) -> list[tuple[str, str]]:
    """(column, value) of every cell a spreadsheet would evaluate."""
    rows = list(csv.reader(io.StringIO(text)))
    header, found = rows[0], []
    for row in rows[1:]:
        for column, value in zip(header, row, strict=False):
            if not value.startswith(DANGEROUS):
                continue
            if column in NUMERIC:
                try:
                    float(value)
                    continue
                except ValueError:
                    pass
            found.append((column, value))
    return found


def test_the_checker_finds_live_cells_so_a_pass_means_something():
    assert live_cells("customer_id,revenue_at_risk\n=1+1,-3.5\n'=1+1,=2\n") == [("customer_id", "=1+1"),
                                                                             ("revenue_at_risk", "=2")]


@pytest.fixture
def hostile(shop):
    """Customers, reasons and product titles starting with every formula character."""
    run = ScoringRunFactory(shop=shop, as_of=datetime(2026, 6, 30, tzinfo=UTC))
    specs = [{"external_id": p, "email": f"{p}@example.com", "name": p, "reasons": [p, f"{p} again"],
              "p": 0.9, "buy": 0.5, "spend": 100.0} for p in PAYLOADS]
    customers = scored_customers(shop, run, specs)
    version = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
    products = [Product.objects.create(shop=shop, external_id=f"P{i}", title=p) for i, p in enumerate(PAYLOADS)]
    # Three recommendations each, so rec_1..rec_3 hold hostile titles (rotated to cover every payload).
    Recommendation.objects.bulk_create([
        Recommendation(shop=shop, version=version, customer=customer, product=products[(n + rank) % len(products)],
                       rank=rank + 1, score=1.0, source="popularity", reason="r")
        for n, customer in enumerate(customers.values()) for rank in range(3)])
    segment = Segment.objects.create(shop=shop, name="All", filters={})
    admin = UserFactory(username="exporter", role="admin", shops=[shop])
    return {"segment": segment, "admin": admin, "run": run}


def _text(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode("utf-8-sig")


def test_web_segment_export_leaves_no_live_cell(client, hostile):
    client.force_login(hostile["admin"])
    response = client.get(f"/segments/{hostile['segment'].pk}/export.csv")
    assert response.status_code == 200
    text = _text(response)
    assert text.count("\n") == len(PAYLOADS) + 1  # every hostile customer is in the file
    assert "'=HYPERLINK" in text and "'@SUM" in text and "'+1+cmd" in text
    assert live_cells(text) == []


def test_api_segment_export_leaves_no_live_cell(hostile, shop):
    plain = api_token_create(user=hostile["admin"], shop=shop, name="x").plain
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    response = client.get(f"/api/v1/segments/{hostile['segment'].pk}/export/")
    assert response.status_code == 200
    text = _text(response)
    assert text.count("\n") == len(PAYLOADS) + 1
    assert live_cells(text) == []


def test_pseudonymised_export_leaves_no_live_cell(client, hostile):
    client.force_login(hostile["admin"])
    text = _text(client.get(f"/segments/{hostile['segment'].pk}/export.csv?pseudonymise=1"))
    assert live_cells(text) == []


def test_score_command_export_leaves_no_live_cell(hostile, shop, tmp_path):
    from predictions.management.commands.score import Command

    path = tmp_path / "scores.csv"
    from predictions.models import CustomerScore

    Command()._export(CustomerScore.objects.filter(scoring_run=hostile["run"]), str(path))
    text = path.read_bytes().decode("utf-8")
    assert len(list(csv.reader(io.StringIO(text)))) == 2 * len(PAYLOADS) + 1
    assert live_cells(text) == []


def test_import_rejected_rows_report_download_leaves_no_live_cell(client, shop, tmp_path, settings):
    settings.IMPORT_DIR = tmp_path / "imports"
    source = tmp_path / "orders.csv"
    lines = ["order_id,customer_id,placed_at,total"] + [
        f"O{i},C{i},{payload.replace(chr(13), '').replace(chr(9), '')},{payload.replace(chr(13), '')}"
        for i, payload in enumerate(PAYLOADS)]
    source.write_text("\n".join(lines) + "\n")
    data_import(shop=shop, kind="orders", path=source)
    from behavior.models import ImportJob

    job = ImportJob.objects.filter(shop=shop).latest("pk")
    assert job.rejected >= len(PAYLOADS)
    client.force_login(UserFactory(username="an", role="analyst", shops=[shop]))
    response = client.get(f"/imports/{job.pk}/report.csv")
    assert response.status_code == 200
    text = _text(response)
    assert "HYPERLINK" in text
    assert live_cells(text) == []
