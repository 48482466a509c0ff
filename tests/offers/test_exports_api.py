"""Wiring: segment exports carry offer_id (and log the draws); the next-best-offer API."""

import csv
import io

import pytest

from accounts.tokens import api_token_create
from offers.models import Assignment, Offer
from predictions.services.exports import csv_lines, export_rows
from predictions.services.segments import export_create
from tests.accounts.factories import UserFactory
from tests.api.conftest import bearer
from tests.predictions.factories import ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(shop):
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": "A", "p": 0.9, "spend": 100},
                                             {"external_id": "B", "p": 0.8, "spend": 50}])
    return {"segment": SegmentFactory(shop=shop, filters={"churn_min": 50}), "customers": customers}


def _export(shop, segment):
    admin = UserFactory(role="admin", shops=[shop])
    text = "".join(csv_lines(export_rows(plan=export_create(shop=shop, segment=segment, user=admin))))
    return list(csv.DictReader(io.StringIO(text)))


def test_an_export_without_offers_has_an_empty_offer_column_and_logs_nothing(shop, scored):
    rows = _export(shop, scored["segment"])
    assert [r["offer_id"] for r in rows] == ["", ""]
    assert not Assignment.objects.exists()


def test_an_export_carries_each_customers_logged_offer(shop, scored):
    Offer.objects.create(shop=shop, external_id="d10", kind="discount_pct", value=10)
    rows = _export(shop, scored["segment"])
    logged = {a.customer.external_id: a for a in Assignment.objects.filter(shop=shop).select_related("customer",
                                                                                                     "offer")}
    assert set(logged) == {"A", "B"}
    # The "no offer" arm (created beside d10) writes an empty cell; any other arm its id.
    assert {r["customer_id"]: r["offer_id"] for r in rows} == {
        k: "" if a.offer.kind == Offer.Kind.NONE else a.offer.external_id for k, a in logged.items()}
    assert all(a.channel == "export" and a.propensity == pytest.approx(0.5) for a in logged.values())


def test_a_customer_drawn_for_no_offer_gets_an_empty_offer_cell_not_the_arms_id(shop, scored):
    # The demo (and many shops) call the no-offer arm "NONE": a campaign template printing {{ offer_id }} as a
    # code would send customers the word NONE. The draw is still logged against that arm.
    Offer.objects.create(shop=shop, external_id="NONE", name="No offer", kind="none")
    rows = _export(shop, scored["segment"])
    assert [r["offer_id"] for r in rows] == ["", ""]
    assert set(Assignment.objects.filter(shop=shop).values_list("offer__external_id", flat=True)) == {"NONE"}


def test_next_best_offer_api_draws_logs_and_repeats_within_a_day(shop, other_shop, scored):
    Offer.objects.create(shop=shop, external_id="fs", kind="free_shipping")
    user = UserFactory(role="marketer", shops=[shop, other_shop])
    client = bearer(api_token_create(user=user, shop=shop, name="t").plain)
    first = client.get("/api/v1/customers/A/next-best-offer/")
    assert first.status_code == 200
    body = first.json()
    assert body["customer_id"] == "A" and body["offer_id"] in {"fs", "none"}
    assert body["propensity"] == pytest.approx(0.5) and body["policy_version"] is None
    assert (body["marketing_consent"], body["flagged"]) == (None, [])  # whether it may be sent: the caller's
    assert client.get("/api/v1/customers/A/next-best-offer/").json()["assignment_id"] == body["assignment_id"]
    assert Assignment.objects.filter(shop=shop, channel="api").count() == 1
    assert client.get("/api/v1/customers/nobody/next-best-offer/").status_code == 404
    other = bearer(api_token_create(user=user, shop=other_shop, name="o").plain)
    assert other.get("/api/v1/customers/A/next-best-offer/").status_code == 404  # another shop's customer
    assert bearer("wrong").get("/api/v1/customers/A/next-best-offer/").status_code == 401
    from behavior.models import Customer
    from forecasts.models import CustomerFlag

    b = Customer.objects.get(shop=shop, external_id="B")
    Customer.objects.filter(pk=b.pk).update(marketing_consent=False)
    CustomerFlag.objects.create(shop=shop, customer=b, kind="refund_abuse", reason="4 of 5 orders refunded")
    answer = client.get("/api/v1/customers/B/next-best-offer/").json()
    assert (answer["marketing_consent"], answer["flagged"]) == (False, ["Refund abuse: 4 of 5 orders refunded"])
