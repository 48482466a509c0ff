"""Offers: the two import kinds, outcomes and context read from orders, training, evaluation, assignment."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import call_command

from behavior.models import Customer, Order
from behavior.services import data_import
from ecomsight.errors import UserError
from offers.models import Assignment, Offer, OfferSettings, PolicyVersion
from offers.selectors import assignment_frame, customer_context_frame
from offers.services import offer_policy_evaluate, offer_policy_train, offers_assign

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _csv(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _rejects(result) -> list[list[str]]:
    if not result.report:
        return []
    with open(result.report, newline="") as f:
        return list(csv.reader(f))[1:]


def test_offers_import_rejects_an_unknown_kind_with_its_line_and_updates_on_reimport(shop, tmp_path):
    path = _csv(tmp_path, "offers.csv", "offer_id,name,kind,value,cost_per_redemption\n"
                "d10,Ten off,discount_pct,10,2.5\nfs,Free shipping,free_shipping,,4\nbad,Bad,coupon_x,,1\n")
    result = data_import(shop=shop, kind="offers", path=path)
    assert (result.inserted, result.rejected) == (2, 1)
    assert _rejects(result) == [["4", "kind", "coupon_x", "unknown offer kind (expected one of discount_pct, "
                                 "free_shipping, gift, none, recommendation)"]]
    offer = Offer.objects.get(shop=shop, external_id="d10")
    assert (offer.kind, offer.value, offer.cost_per_redemption) == ("discount_pct", Decimal("10.00"), Decimal("2.50"))
    path.write_text("offer_id,kind,cost_per_redemption\nd10,discount_pct,3\n")
    again = data_import(shop=shop, kind="offers", path=path)
    assert (again.inserted, again.updated) == (0, 1)
    offer.refresh_from_db()
    assert offer.cost_per_redemption == Decimal("3.00") and offer.name == "Ten off"


def test_assignments_import_creates_stand_ins_and_rejects_bad_propensity_and_unknown_offer(shop, tmp_path):
    data_import(shop=shop, kind="offers", path=_csv(tmp_path, "o.csv", "offer_id,kind\nd10,discount_pct\n"))
    path = _csv(tmp_path, "a.csv", "assignment_id,customer_id,offer_id,assigned_at,propensity\n"
                "a1,c1,d10,2025-03-01,0.25\n"
                "a2,c2,none,2025-03-01T10:00:00,1\n"
                "a3,c3,d10,2025-03-01,0\n"
                "a4,c4,d10,2025-03-01,abc\n"
                "a5,c5,nope,2025-03-01,0.5\n"
                "a6,c6,d10,not-a-date,0.5\n")
    result = data_import(shop=shop, kind="offer_assignments", path=path)
    assert result.inserted == 2 and result.rejected == 4
    assert sorted((r[0], r[1]) for r in _rejects(result)) == [
        ("4", "propensity"), ("5", "propensity"), ("6", "offer_id"), ("7", "assigned_at")]
    assert set(Customer.objects.filter(shop=shop).values_list("external_id", "is_stub")) == {("c1", True),
                                                                                           ("c2", True)}
    assert Assignment.objects.get(shop=shop, external_id="a1").propensity == 0.25
    assert data_import(shop=shop, kind="offer_assignments", path=path).inserted == 0  # idempotent


def _shop_with_orders(shop, orders, assignments, *, cost="2"):
    Offer.objects.create(shop=shop, external_id="d10", kind="discount_pct", value=10, cost_per_redemption=cost)
    Offer.objects.create(shop=shop, external_id="none", kind="none")
    customers = {}
    for key, at, total, status in orders:
        customer = customers.get(key) or Customer.objects.get_or_create(shop=shop, external_id=key)[0]
        customers[key] = customer
        Order.objects.create(shop=shop, customer=customer, external_id=f"{key}-{at.isoformat()}", placed_at=at,
                             total=total, status=status)
    for i, (key, offer, at) in enumerate(assignments):
        customer = customers.get(key) or Customer.objects.get_or_create(shop=shop, external_id=key)[0]
        Assignment.objects.create(shop=shop, external_id=f"a{i}", customer=customer, assigned_at=at, propensity=0.5,
                                  offer=Offer.objects.get(shop=shop, external_id=offer))


def test_outcomes_count_orders_that_stand_inside_the_window_and_subtract_the_offer_cost(shop):
    _shop_with_orders(shop, orders=[
        ("c1", T0 - timedelta(days=10), 50, "placed"),  # history: not an outcome
        ("c1", T0 - timedelta(days=12), 900, "refunded"),  # history: no spend (money back), still an order
        ("c1", T0 + timedelta(days=5), 40, "placed"),
        ("c1", T0 + timedelta(days=20), 30, "placed"),
        ("c1", T0 + timedelta(days=21), 500, "refunded"),  # a refund is not a sale the offer won
        ("c2", T0 + timedelta(days=3), 99, "cancelled"),  # cancelled: no conversion
        ("c2", T0 + timedelta(days=4), 99, "refunded"),  # refunded: no conversion either
        ("c2", T0 + timedelta(days=31), 70, "placed"),  # after the 30-day window
        ("clock", T0 + timedelta(days=100), 1, "placed"),
    ], assignments=[("c1", "d10", T0), ("c2", "d10", T0), ("c3", "none", T0 + timedelta(days=80))])
    frames = assignment_frame(shop=shop)
    frame = frames.frame.set_index(frames.frame["key"].astype(int))
    one, two = (Assignment.objects.get(external_id=k).pk for k in ("a0", "a1"))
    assert frame.loc[one, "converted"] == 1 and frame.loc[one, "revenue"] == pytest.approx(40 + 30 - 2)
    assert frame.loc[two, "converted"] == 0 and frame.loc[two, "revenue"] == 0
    assert frames.pending == 1  # c3's window closes after the latest order
    # Context uses only what happened before the assignment.
    assert frame.loc[one, "frequency_365"] == 2 and frame.loc[one, "recency_days"] == pytest.approx(10)
    assert frame.loc[one, "monetary_365"] == pytest.approx(50) and frame.loc[one, "avg_order_value"] == 50
    OfferSettings.objects.filter(shop=shop).update(attribution_days=40)
    assert assignment_frame(shop=shop).frame.set_index("key").loc[two, "converted"] == 1


def test_customer_context_reads_every_customer_in_one_statement(shop, django_assert_max_num_queries):
    _shop_with_orders(shop, orders=[(f"c{i}", T0 - timedelta(days=i + 1), 10 * (i + 1), "placed")
                                    for i in range(30)], assignments=[])
    ids = list(Customer.objects.filter(shop=shop).values_list("id", flat=True))
    with django_assert_max_num_queries(1):
        frame = customer_context_frame(shop=shop, customer_ids=ids, at=T0)
    assert len(frame) == 30 and frame["recency_days"].min() == pytest.approx(1)


def test_evaluate_prints_the_documented_json_and_refuses_unknown_policies(logged_shop):
    out = io.StringIO()
    call_command("offer_policy_evaluate", "--policy", "always:recommendation", "--json", "--shop", "acme",
                 stdout=out)
    report = json.loads(out.getvalue())
    assert {"policy", "reward", "n", "effective_sample_size", "estimates", "verdict"} <= report.keys()
    assert set(report["estimates"]) == {"ips", "snips", "dr"}
    for estimate in report["estimates"].values():
        assert estimate["low"] <= estimate["value"] <= estimate["high"]
    assert report["n"] == 1500 and 0 < report["effective_sample_size"] < 1500
    logged = offer_policy_evaluate(shop=logged_shop, policy="logged", reward="net_revenue")
    assert logged["effective_sample_size"] == 1500
    with pytest.raises(UserError, match="Unknown offer 'nope'"):
        offer_policy_evaluate(shop=logged_shop, policy="always:nope")
    with pytest.raises(UserError, match="Unknown policy"):
        offer_policy_evaluate(shop=logged_shop, policy="greedy")


def test_train_promotes_a_policy_whose_gain_interval_is_above_zero_and_not_twice(logged_shop):
    first = offer_policy_train(shop=logged_shop)
    assert first.report["evaluation"]["gain"]["low"] > 0 and first.promoted
    assert first.version.status == PolicyVersion.Status.CURRENT
    # Trained again on the same logs: no better than the current policy, so it stays a candidate.
    second = offer_policy_train(shop=logged_shop)
    assert not second.promoted and second.version.status == PolicyVersion.Status.CANDIDATE
    assert "can't tell yet" in second.report["evaluation"]["verdict"] or second.report["evaluation"]["gain"][
        "high"] <= 0


def test_too_few_closed_assignments_is_a_clear_error(shop):
    _shop_with_orders(shop, orders=[("c1", T0, 10, "placed")], assignments=[("c1", "d10", T0)])
    with pytest.raises(UserError, match="at least 50"):
        offer_policy_train(shop=shop)


def test_assignments_log_their_propensity_and_the_control_share_without_a_policy_is_everyone(logged_shop):
    ids = list(Customer.objects.filter(shop=logged_shop).values_list("id", flat=True)[:200])
    at = datetime(2025, 6, 1, tzinfo=UTC)
    assigned = offers_assign(shop=logged_shop, customer_ids=ids, channel="export", at=at, seed=1)
    assert len(assigned) == 200 and all(a.is_control for a in assigned)
    assert {round(a.propensity, 6) for a in assigned} == {0.2}  # uniform over the 5 offers
    again = offers_assign(shop=logged_shop, customer_ids=ids[:10], channel="api", at=at + timedelta(hours=1))
    assert [a.assignment_id for a in again] == [a.assignment_id for a in assigned[:10]]  # sticky for 24 hours
    offer_policy_train(shop=logged_shop)
    later = offers_assign(shop=logged_shop, customer_ids=ids, channel="export", at=at + timedelta(days=2), seed=2)
    version = PolicyVersion.objects.get(shop=logged_shop, status="current")
    assert all(a.policy_version == version.pk for a in later)
    control = np.array([a.is_control for a in later])
    assert 0.02 < control.mean() < 0.25
    chosen = [a.propensity for a in later if not a.is_control]
    assert max(chosen) > 0.8  # the greedy offer: (1 - 0.1) * (1 - 0.05) + share of the uniform parts
    stored = Assignment.objects.filter(shop=logged_shop, channel="export", policy_version=version)
    assert stored.count() == 200 and all("recency_days" in a.context for a in stored[:5])


def test_a_policy_the_logs_never_chose_is_refused_not_reported(logged_shop):
    Offer.objects.create(shop=logged_shop, external_id="brand_new", kind="gift")
    report = offer_policy_evaluate(shop=logged_shop, policy="always:brand_new")
    assert report["refused"] and report["verdict"].startswith("cannot tell: the logs rarely chose")
    assert report["effective_sample_size"] == 0
    assert all(e == {"value": None, "low": None, "high": None} for e in report["estimates"].values())


def test_ineligible_customers_never_get_an_offer_and_its_propensity_share_goes_to_the_others(shop):
    _shop_with_orders(shop, orders=[("rich", T0 - timedelta(days=40), 500, "placed"),
                                    ("poor", T0 - timedelta(days=40), 5, "placed"),
                                    ("recent", T0 - timedelta(days=2), 500, "placed")], assignments=[])
    Offer.objects.filter(shop=shop, external_id="d10").update(min_spend=100, exclude_ordered_within_days=7)
    ids = dict(Customer.objects.filter(shop=shop).values_list("external_id", "id"))
    for seed in range(5):
        assigned = {a.customer_external_id: a for a in offers_assign(
            shop=shop, customer_ids=list(ids.values()), channel="export", at=T0 + timedelta(hours=25 * seed),
            seed=seed)}
        assert assigned["poor"].offer_id == "none" and assigned["poor"].propensity == 1.0
        assert assigned["recent"].offer_id == "none" and assigned["recent"].propensity == 1.0
        assert assigned["rich"].propensity == 0.5


def test_orders_naming_their_offer_charge_the_cost_only_for_redemptions(shop, tmp_path):
    data_import(shop=shop, kind="offers", path=_csv(tmp_path, "o.csv", "offer_id,kind,cost_per_redemption\n"
                                                    "d10,discount_pct,5\n"))
    orders = _csv(tmp_path, "orders.csv", "order_id,customer_id,placed_at,total,coupon\n"
                  "1,c1,2025-03-05,100,d10\n2,c2,2025-03-05,80,\n3,c3,2025-06-30,1,\n")
    data_import(shop=shop, kind="orders", path=orders, column_map={"offer_id": "coupon"})
    assert Order.objects.get(shop=shop, external_id="1").offer_code == "d10"
    data_import(shop=shop, kind="offer_assignments", path=_csv(
        tmp_path, "a.csv", "assignment_id,customer_id,offer_id,assigned_at,propensity\n"
        "a1,c1,d10,2025-03-01,0.5\na2,c2,d10,2025-03-01,0.5\n"))
    frame = assignment_frame(shop=shop).frame
    by_customer = dict(zip(frame["customer_id"].map(
        dict(Customer.objects.filter(shop=shop).values_list("id", "external_id"))), frame["revenue"], strict=True))
    assert by_customer == {"c1": pytest.approx(95), "c2": pytest.approx(80)}  # c2 converted without the coupon
