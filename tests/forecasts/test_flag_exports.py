"""Flagged customers are left out of segment exports (the campaign files) unless the export includes them, the
audit log and a header say how many, and the customer page says why they are flagged."""

import csv
import io

import pytest

from accounts.models import AuditLog
from accounts.tokens import api_token_create
from forecasts.models import CustomerFlag
from predictions.services.segments import export_create
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.predictions.factories import ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(shop):
    """A, B, C scored and in the segment; B flagged for refund abuse."""
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": x, "p": p, "buy": 0.2, "spend": 100}
                                             for x, p in (("A", 0.9), ("B", 0.8), ("C", 0.7))])
    CustomerFlag.objects.create(shop=shop, customer=customers["B"], kind="refund_abuse",
                                reason="refunded 4 of 5 orders (80%; the shop: 3%), 360.00 in all")
    return {"customers": customers, "segment": SegmentFactory(shop=shop, filters={"churn_min": 50})}


def test_a_flagged_customer_is_not_in_the_export_but_the_others_are(shop, flagged):
    customers = flagged["customers"]
    plan = export_create(shop=shop, segment=flagged["segment"], user=UserFactory(role="admin", shops=[shop]))
    assert plan.customer_ids == [customers["A"].pk, customers["C"].pk]
    assert plan.export.rows == 2 and plan.left_out_flagged == 1
    details = AuditLog.objects.get(action="segment.export").details
    assert details["flagged_left_out"] == 1 and details["include_flagged"] is False


def test_include_flagged_keeps_them_and_counts_nobody_left_out(shop, flagged):
    customers = flagged["customers"]
    plan = export_create(shop=shop, segment=flagged["segment"], user=UserFactory(role="admin", shops=[shop]),
                         include_flagged=True)
    assert plan.customer_ids == [customers[x].pk for x in "ABC"] and plan.left_out_flagged == 0
    details = AuditLog.objects.get(action="segment.export").details
    assert details["flagged_left_out"] == 0 and details["include_flagged"] is True


def test_a_scheduled_delivery_never_includes_flagged_customers(shop, flagged):
    # user None: what deliveries decide (export_create's default) — a campaign tool gets no flagged customer
    plan = export_create(shop=shop, segment=flagged["segment"], user=None)
    assert flagged["customers"]["B"].pk not in plan.customer_ids


def _rows(response) -> set[str]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return {row[0] for row in list(csv.reader(io.StringIO(text)))[1:]}


def test_segment_page_offers_the_switch_and_the_download_honours_it(client, shop, flagged):
    client.force_login(UserFactory(role="admin", shops=[shop]))
    segment = flagged["segment"].pk
    page = client.get(f"/segments/{segment}/").content.decode()
    assert 'name="include_flagged"' in page and "Include the 1 flagged customer" in page
    assert "the file holds 2" in page  # the default file: B not counted
    default = client.get(f"/segments/{segment}/export.csv")
    assert _rows(default) == {"A", "C"} and default["X-Left-Out-Flagged"] == "1"
    kept = client.get(f"/segments/{segment}/export.csv?include_flagged=1")
    assert _rows(kept) == {"A", "B", "C"} and kept["X-Left-Out-Flagged"] == "0"


def test_segment_page_has_no_switch_when_no_member_is_flagged(client, shop, flagged):
    CustomerFlag.objects.all().delete()
    client.force_login(UserFactory(role="admin", shops=[shop]))
    page = client.get(f"/segments/{flagged['segment'].pk}/").content.decode()
    assert 'name="include_flagged"' not in page and "the file holds 3" in page


def test_api_export_include_flagged(shop, flagged):
    admin = UserFactory(role="admin", shops=[shop])
    api = bearer(api_token_create(user=admin, shop=shop, name="t").plain)
    url = f"/api/v1/segments/{flagged['segment'].pk}/export/?format=csv"
    default = api.get(url)
    assert default.status_code == 200 and _rows(default) == {"A", "C"} and default["X-Left-Out-Flagged"] == "1"
    kept = api.get(url + "&include_flagged=true")
    assert _rows(kept) == {"A", "B", "C"} and kept["X-Left-Out-Flagged"] == "0"


def test_customer_page_says_why_a_customer_is_flagged_and_not_for_others(client, shop, flagged):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/customers/B/").content.decode()
    assert "Refund abuse: refunded 4 of 5 orders" in page and "left out of campaign files" in page
    assert "Refund abuse" not in client.get("/customers/A/").content.decode()
