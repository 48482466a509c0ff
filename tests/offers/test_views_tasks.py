"""Wiring: the Offers page, the campaign planner and the nightly training task."""

import pytest

from offers.models import Offer, PolicyVersion
from offers.services import offer_policy_train
from offers.tasks import offer_policy_nightly_task
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, SegmentFactory, scored_customers

pytestmark = pytest.mark.django_db


def test_offers_page_shows_offers_the_policy_verdict_and_lift_per_offer(client, logged_shop):
    offer_policy_train(shop=logged_shop)
    client.force_login(UserFactory(role="marketer", shops=[logged_shop]))
    response = client.get("/offers/")
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("discount_10", "Results per offer", "Results per way of choosing", "promote", "Lift over no offer"):
        assert text in page
    assert client.get("/offers/", HTTP_HOST="testserver").status_code == 200
    from tests.phone_cards import assert_rows_as_cards

    for table in ("offer-table", "policy-table", "results-table"):  # browser24 M5: cards on a phone
        assert_rows_as_cards(page, table)


def test_planner_shows_each_customers_offer_and_expected_conversions_with_an_interval(client, logged_shop):
    offer_policy_train(shop=logged_shop)
    run = ScoringRunFactory(shop=logged_shop)
    scored_customers(logged_shop, run, [{"external_id": f"s{i}", "p": 0.9, "spend": 10} for i in range(5)])
    segment = SegmentFactory(shop=logged_shop, filters={"churn_min": 50})
    client.force_login(UserFactory(role="marketer", shops=[logged_shop]))
    page = client.get(f"/offers/plan/{segment.pk}/").content.decode()
    assert "Conversions" in page and "95 % interval" in page and "s3" in page
    other = SegmentFactory()
    assert client.get(f"/offers/plan/{other.pk}/").status_code == 404  # another shop's segment


def test_anonymous_users_are_sent_to_log_in(client, shop):
    assert client.get("/offers/").status_code == 302


def test_nightly_task_trains_every_shop_with_logs_and_skips_too_few(logged_shop, other_shop):
    Offer.objects.create(shop=other_shop, external_id="x", kind="gift")
    assert offer_policy_nightly_task() == [logged_shop.pk]
    assert PolicyVersion.objects.filter(shop=logged_shop).count() == 1


@pytest.mark.parametrize("value", [2147483647, 36_501, 0])
def test_an_attribution_window_beyond_its_bound_is_a_form_error_not_a_broken_offers_page(client, shop, value):
    # The shop's day counts are bounded; the offer settings' window was not (2147483647 days: every later read of
    # the attribution window overflowed a timedelta).
    from offers.models import OfferSettings
    settings_row = OfferSettings.objects.create(shop=shop)
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    url = f"/admin/offers/offersettings/{settings_row.pk}/change/"
    response = client.post(url, {"shop": shop.pk, "attribution_days": value, "control_share": 0.1, "epsilon": 0.05})
    assert response.status_code == 200 and response.context["adminform"].form.errors.get("attribution_days")
    settings_row.refresh_from_db()
    assert settings_row.attribution_days == 30
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert client.get("/offers/").status_code == 200


def test_an_offers_exclusion_window_beyond_its_bound_is_a_form_error(client, shop):
    offer = Offer.objects.create(shop=shop, external_id="o1", kind="gift")
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    response = client.post(f"/admin/offers/offer/{offer.pk}/change/", {
        "shop": shop.pk, "external_id": "o1", "name": "", "kind": "gift", "value": "", "cost_per_redemption": "0",
        "active": "on", "min_spend": "", "categories": "[]", "exclude_ordered_within_days": 2147483647})
    assert response.status_code == 200 and response.context["adminform"].form.errors.get("exclude_ordered_within_days")


def test_without_a_policy_the_planner_shows_the_mix_the_export_draws_not_one_offer_for_everyone(client, shop):
    # Before a policy is live the export draws each customer's offer at random among their eligible ones; the plan
    # said "first eligible" for everyone (GIFT: 50) while the file held a mix of four offers.
    from offers.selectors import offer_plan
    from offers.services import offer_none_ensure, offers_assign

    for external_id, kind in (("GIFT", "gift"), ("SHIP", "free_shipping"), ("TEN", "discount_pct")):
        Offer.objects.create(shop=shop, external_id=external_id, name=external_id.title(), kind=kind)
    offer_none_ensure(shop_id=shop.pk)
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": f"s{i}", "p": 0.9, "spend": 10} for i in range(400)])
    ids = [c.pk for c in customers.values()]
    plan = offer_plan(shop=shop, customer_ids=ids)
    assert plan.offer_counts == {"GIFT": 100, "SHIP": 100, "TEN": 100, "none": 100}
    assert all(r.chance == pytest.approx(0.25) and r.choices == 4 for r in plan.rows)
    segment = SegmentFactory(shop=shop, filters={"churn_min": 50})
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get(f"/offers/plan/{segment.pk}/").content.decode()
    drawn = {}
    for assigned in offers_assign(shop=shop, customer_ids=ids, channel="export", seed=3):
        drawn[assigned.offer_id] = drawn.get(assigned.offer_id, 0) + 1
    assert set(drawn) == set(plan.offer_counts) and all(abs(drawn[k] - 100) < 35 for k in drawn)
    assert "one of 4 offers, drawn at random: GIFT, SHIP, TEN, none" in page
    assert 'Gift <span class="muted small">(GIFT)</span> about 100' in page
    assert "first eligible" not in page and "manage.py" not in page
    offers_page = client.get("/offers/").content.decode()
    assert "EcomSight has not learned from your offers yet, so each customer's offer is drawn at random" in offers_page


def test_the_plan_shows_the_offer_already_given_in_the_last_24_hours_not_a_random_draw(client, shop):
    # A browser review: after an export, the plan still said "one of 4 offers, drawn at random, 25 %" for customers
    # who had been given an offer in the last 24 hours; a file made then repeats their offer.
    from datetime import timedelta

    from django.utils import timezone

    from offers.selectors import offer_plan
    from offers.services import offer_none_ensure, offers_assign

    for external_id, kind in (("GIFT", "gift"), ("SHIP", "free_shipping"), ("TEN", "discount_pct")):
        Offer.objects.create(shop=shop, external_id=external_id, name=external_id.title(), kind=kind)
    offer_none_ensure(shop_id=shop.pk)
    run = ScoringRunFactory(shop=shop)
    customers = scored_customers(shop, run, [{"external_id": f"s{i}", "p": 0.9, "spend": 10} for i in range(40)])
    ids = [c.pk for c in customers.values()]
    given = {a.customer_external_id: a.offer_id for a in
             offers_assign(shop=shop, customer_ids=ids[:10], channel="export", seed=1)}
    # one given 25 hours ago is drawn again
    offers_assign(shop=shop, customer_ids=ids[10:11], channel="export", seed=1,
                  at=timezone.now() - timedelta(hours=25))
    plan = offer_plan(shop=shop, customer_ids=ids)
    assert plan.repeated == 10 and plan.customers == 40
    rows = {r.customer_external_id: r for r in plan.rows}
    for external_id, offer_id in given.items():
        assert (rows[external_id].offer_id, rows[external_id].chance, rows[external_id].choices) == (offer_id, 1.0, 1)
        assert rows[external_id].given_at is not None
    assert rows["s10"].chance == pytest.approx(0.25) and rows["s10"].given_at is None
    # the counts: 30 customers drawn at random (7.5 of each offer) plus the 10 given
    for offer_id in ("GIFT", "SHIP", "TEN", "none"):
        assert abs(plan.offer_counts.get(offer_id, 0) - (7.5 + list(given.values()).count(offer_id))) <= 0.5
    # and the file made now carries exactly those offers for them
    again = {a.customer_external_id: a.offer_id for a in offers_assign(shop=shop, customer_ids=ids, channel="export")}
    assert all(again[k] == v for k, v in given.items())
    segment = SegmentFactory(shop=shop, filters={"churn_min": 50})
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get(f"/offers/plan/{segment.pk}/").content.decode()
    assert ("40 customers were given an offer in the last 24 hours (by an export or the API): a file made now gives "
            "them the same offer again instead of drawing a new one.") in page
    assert "one of 4 offers, drawn at random" not in page and ": a file made now repeats it" in page


def test_the_next_best_offer_schema_says_is_control_is_not_the_exports_held_back_group():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    help_text = schema["components"]["schemas"]["NextBestOffer"]["properties"]["is_control"]["description"]
    assert "drawn at random" in help_text and "not the control group held back from segment exports" in help_text


def test_the_offers_page_reads_in_a_marketers_words(client, shop):
    """Session 24's browser review: the Offers page spoke of policies, logged assignments, the random control, a
    closed attribution window and redemptions."""
    Offer.objects.create(shop=shop, external_id="NONE", name="No offer", kind="none")
    Offer.objects.create(shop=shop, external_id="d10", name="10 % off", kind="discount_pct", value=10, min_spend=50)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/offers/").content.decode()
    for jargon in ("policy", "Policies", "assignment", "random control", "attribution window", "redemption",
                   "propensity", "logs"):
        assert jargon not in page, jargon
    assert "a control group" in page and "Who can get it" in page and "Cost when used" in page
    assert "No results yet: an offer's result counts once 30 days have passed since it was given" in page
    assert 'A customer drawn for "No offer" gets an empty offer cell in the file.' in page


def test_on_a_phone_each_offer_is_a_card_not_a_sideways_scroll(client, shop):
    """browser24 M5: at 390 px the offers table (744 px) hid Cost per redemption, Eligibility and Active."""
    from tests.phone_cards import assert_rows_as_cards

    Offer.objects.create(shop=shop, external_id="d10", name="10 % off", kind="discount_pct", value=10, min_spend=50)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    assert_rows_as_cards(client.get("/offers/").content.decode(), "offer-table")
