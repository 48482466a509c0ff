"""DELETE customers/{id}/ (erasure) and GET customers/{id}/export/ (access request): admins only."""

import pytest

from accounts.models import AuditLog
from behavior.models import Customer
from predictions.models import CustomerScore

from .conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_only_admins_erase_or_export(clients, scored, role):
    assert_error(clients[role].delete("/api/v1/customers/C1/"), 403)
    assert_error(clients[role].get("/api/v1/customers/C1/export/"), 403)
    assert Customer.objects.filter(external_id="C1").exists()
    assert clients[role].get("/api/v1/customers/C1/").status_code == 200  # reading stays as it was


def test_admin_erases_a_customer_idempotently(clients, shop, scored):
    api = clients["admin"]
    exported = api.get("/api/v1/customers/C1/export/").json()
    assert exported["customer"]["id"] == "C1" and len(exported["scores"]) == 2
    first = api.delete("/api/v1/customers/C1/")
    assert first.status_code == 200 and first.json()["found"] is True and first.json()["scores"] == 2
    assert not Customer.objects.filter(shop=shop, external_id="C1").exists()
    assert not CustomerScore.objects.filter(customer__external_id="C1").exists()
    assert_error(api.get("/api/v1/customers/C1/"), 404)
    assert_error(api.get("/api/v1/customers/C1/export/"), 404)
    again = api.delete("/api/v1/customers/C1/")
    assert again.status_code == 200 and again.json()["found"] is False
    assert AuditLog.objects.filter(action="customer.erase").count() == 2


def test_another_shops_admin_cannot_erase_our_customer(other_client, shop, scored):
    assert other_client.delete("/api/v1/customers/C1/").json()["found"] is False
    assert Customer.objects.filter(shop=shop, external_id="C1").exists()


def test_customer_output_carries_marketing_consent(clients, shop, scored):
    assert clients["marketer"].get("/api/v1/customers/C1/").json()["marketing_consent"] is None
    Customer.objects.filter(shop=shop, external_id="C1").update(marketing_consent=False)
    assert clients["marketer"].get("/api/v1/customers/C1/").json()["marketing_consent"] is False


def test_segment_members_and_export_leave_out_refusals_and_say_how_many(clients, shop, scored):
    Customer.objects.filter(shop=shop, external_id="C1").update(marketing_consent=False)
    segment = scored["segment"]  # bands: high (C1, C2, C3)
    members = clients["marketer"].get(f"/api/v1/segments/{segment.pk}/members/")
    assert "C1" not in {r["customer_id"] for r in members.json()["results"]}
    assert members["X-Left-Out-No-Consent"] == "1"
    export = clients["admin"].get(f"/api/v1/segments/{segment.pk}/export/")
    body = b"".join(export.streaming_content).decode()
    assert export["X-Left-Out-No-Consent"] == "1" and "\nC1," not in body and "\nC2," in body.replace("\r", "")
