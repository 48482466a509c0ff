"""A cursor past the end of an API list (kept while the list shrank, or written by hand) answers 200 with no results
and a `previous` link back to the list's last page, as DRF's CursorPagination does for a position past the end:
stepping back from it never lands on another empty page."""

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest

from behavior.models import Customer

pytestmark = pytest.mark.django_db


def _offset(link: str) -> int:
    return json.loads(base64.urlsafe_b64decode(parse_qs(urlparse(link).query)["cursor"][0]))["o"]


def _snapshot_cursor(run_id: int, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"r": run_id, "o": offset}).encode()).decode()


@pytest.mark.parametrize("offset", [5, 6, 50])
def test_an_at_risk_cursor_past_the_end_leads_back_to_the_last_page(clients, scored, offset):
    api = clients["admin"]
    body = api.get("/api/v1/at-risk/", {"cursor": _snapshot_cursor(scored["run"].pk, offset), "page_size": 2}).json()
    assert body["results"] == [] and body["next"] is None
    assert _offset(body["previous"]) == 3  # the five customers' last two
    back = api.get(body["previous"]).json()
    assert [r["customer_id"] for r in back["results"]] == ["C4", "C5"] and back["next"] is None


def test_a_segment_members_cursor_past_the_end_leads_back_to_the_last_members(clients, scored):
    api = clients["admin"]
    url = f"/api/v1/segments/{scored['segment'].pk}/members/"  # high risk
    members = [r["customer_id"] for r in api.get(url).json()["results"]]
    assert len(members) >= 2
    body = api.get(url, {"cursor": _snapshot_cursor(scored["run"].pk, 40), "page_size": 1}).json()
    assert body["results"] == [] and _offset(body["previous"]) == len(members) - 1
    back = api.get(body["previous"]).json()
    assert [r["customer_id"] for r in back["results"]] == members[-1:] and back["next"] is None


def test_a_model_list_cursor_past_the_end_leads_back_as_drf_does(clients, shop):
    for i in range(1, 6):
        Customer.objects.create(shop=shop, external_id=f"K{i}")
    api = clients["admin"]
    first = api.get("/api/v1/customers/", {"page_size": 2}).json()
    Customer.objects.filter(shop=shop).exclude(external_id__in=[r["id"] for r in first["results"]]).delete()
    body = api.get(first["next"]).json()  # the list shrank under the cursor
    assert body["results"] == [] and body["previous"]
    assert [r["id"] for r in api.get(body["previous"]).json()["results"]]
