"""The API's JSON renderer (orjson) writes what DRF's own renderer writes: clients see the same bytes."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer as DrfJSONRenderer

from ecomsight.api.renderers import JSONRenderer

PAYLOAD = {
    "utc": dt.datetime(2026, 6, 30, 23, 59, 59, tzinfo=dt.UTC),
    "utc_micro": dt.datetime(2026, 6, 30, 1, 2, 3, 4500, tzinfo=ZoneInfo("UTC")),
    "offset": dt.datetime(2026, 3, 1, 14, 5, tzinfo=ZoneInfo("Europe/Amsterdam")),
    "naive": dt.datetime(2026, 3, 1, 14, 5),
    "date": dt.date(2026, 3, 1),
    "time": dt.time(14, 5, 1),
    "decimal": Decimal("12.50"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy": gettext_lazy("Not found."),
    "text": "Zoë \"quoted\" \\ tab\t line\n nul\x00 sep\u2028 para\u2029 emoji 🛒",
    "numbers": [0, -1, 2**63 - 1, 0.1, 2.0, -0.0, 123456789.123, 0.7563254120160027],
    "nested": {"list": [None, True, False, {"a": []}], "empty": {}},
    7: "an integer key",
}


def test_the_same_bytes_as_drfs_renderer_for_every_kind_of_value():
    assert JSONRenderer().render(PAYLOAD) == DrfJSONRenderer().render(PAYLOAD)
    assert JSONRenderer().render(None) == b""


def test_what_orjson_cannot_write_goes_through_drfs_renderer():
    data = {"big": 2**70, "when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    assert JSONRenderer().render(data) == DrfJSONRenderer().render(data) == b'{"big":1180591620717411303424,' \
        b'"when":"2026-01-01T00:00:00Z"}'
    pretty = JSONRenderer().render({"a": [1]}, accepted_media_type="application/json; indent=2")
    assert pretty == DrfJSONRenderer().render({"a": [1]}, accepted_media_type="application/json; indent=2")
    assert b"\n" in pretty


@pytest.mark.parametrize("path", ["/api/v1/at-risk/", "/api/v1/customers/C1/scores/",
                                  "/api/v1/customers/C1/recommendations/", "/api/v1/customers/", "/api/v1/me/"])
def test_api_responses_are_what_drfs_renderer_would_have_written(clients, scored, path):
    response = clients["admin"].get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == DrfJSONRenderer().render(response.data)
    assert json.loads(response.content)


def test_errors_and_pretty_printing_through_the_api(clients, scored):
    response = clients["admin"].get("/api/v1/customers/NOPE/scores/")
    assert response.status_code == 404
    assert response.content == DrfJSONRenderer().render(response.data)
    pretty = clients["admin"].get("/api/v1/at-risk/", HTTP_ACCEPT="application/json; indent=4")
    assert pretty.status_code == 200 and b'\n    "next"' in pretty.content
