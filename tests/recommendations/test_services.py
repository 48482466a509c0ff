"""Building and evaluating recommendations through the services and commands, on a simulated shop."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db.models import Count

from accounts.models import Job
from behavior.models import Customer, Event, Order, OrderLine
from catalog.models import Product
from recommendations.models import Recommendation, RecommenderVersion, SimilarProduct
from recommendations.selectors import recommender_frames
from recommendations.services import recommendations_build

NAMES = ("popularity", "repurchase", "item_knn", "user_knn", "content", "hybrid")
METRICS = {"hit_rate", "recall", "ndcg", "coverage", "popularity_bias", "top3_share"}


@pytest.mark.django_db
def test_build_gives_every_customer_k_ranked_products_with_reasons_and_rerun_replaces(simulated_shop):
    first = recommendations_build(shop=simulated_shop, k=5)
    recs = Recommendation.objects.filter(shop=simulated_shop)
    assert first.recommendations == recs.count() > 0
    per_customer = recs.values("customer").annotate(n=Count("id"))
    assert per_customer.count() == simulated_shop.customers.count()  # new customers get popular products
    assert max(r["n"] for r in per_customer) == 5
    assert not recs.filter(product__active=False).exists()
    assert not recs.filter(reason="").exists()
    assert set(recs.values_list("rank", flat=True)) == {1, 2, 3, 4, 5}
    assert SimilarProduct.objects.filter(shop=simulated_shop).exists()
    assert Job.objects.get(pk=first.version.job_id).status == "succeeded"

    second = recommendations_build(shop=simulated_shop, k=5)
    assert Recommendation.objects.filter(shop=simulated_shop).count() == second.recommendations
    assert not Recommendation.objects.filter(version=first.version).exists()
    statuses = dict(RecommenderVersion.objects.values_list("pk", "status"))
    assert statuses == {first.version.pk: "retired", second.version.pk: "active"}


@pytest.mark.django_db
def test_other_shops_lists_are_untouched_by_a_build(simulated_shop, other_shop):
    recommendations_build(shop=simulated_shop, k=3)
    before = Recommendation.objects.filter(shop=simulated_shop).count()
    recommendations_build(shop=other_shop, k=3)  # an empty shop: builds nothing, deletes nothing of others
    assert Recommendation.objects.filter(shop=simulated_shop).count() == before


@pytest.mark.django_db
def test_a_shop_that_disallows_rebuying_never_gets_bought_products_back(simulated_shop):
    simulated_shop.allow_rebuy = False
    simulated_shop.save()
    recommendations_build(shop=simulated_shop, k=10)
    bought = set(OrderLine.objects.filter(shop=simulated_shop)
                 .exclude(order__status="cancelled")  # a cancelled order bought nothing
                 .values_list("order__customer_id", "product_id"))
    offered = set(Recommendation.objects.filter(shop=simulated_shop).values_list("customer_id", "product_id"))
    assert offered and not offered & bought


@pytest.mark.django_db
def test_evaluating_a_shop_of_order_totals_only_says_what_is_missing(shop):
    """Orders with totals and item counts but no lines (the CD shop's shape): all zeros for 0 customers said
    nothing of why."""
    from django.core.management.base import CommandError

    customer = Customer.objects.create(shop=shop, external_id="C1")
    for day in (1, 20):
        Order.objects.create(shop=shop, customer=customer, external_id=f"O{day}", total=10, item_count=2,
                             placed_at=datetime(2024, 1, day, tzinfo=UTC))
    with pytest.raises(CommandError, match="has no order lines.*import_data order_lines"):
        call_command("evaluate_recommendations", "--shop", shop.slug, "--json")


@pytest.mark.django_db
def test_evaluating_a_shop_of_one_order_per_customer_says_nobody_can_be_evaluated(shop):
    """An outside review: every customer with one order printed "0 customers evaluated" and zeros, exit 0."""
    from django.core.management.base import CommandError

    products = Product.objects.bulk_create([Product(shop=shop, external_id=f"P{i}") for i in range(5)])
    for c in range(20):
        customer = Customer.objects.create(shop=shop, external_id=f"C{c}")
        order = Order.objects.create(shop=shop, customer=customer, external_id=f"O{c}", total=10,
                                     placed_at=datetime(2024, 1, 1 + c, tzinfo=UTC))
        OrderLine.objects.create(shop=shop, order=order, product=products[c % 5], quantity=1)
    with pytest.raises(CommandError, match="at least two orders"):
        call_command("evaluate_recommendations", "--shop", shop.slug, "--json")


@pytest.mark.django_db
def test_evaluate_command_prints_every_recommender_side_by_side(simulated_shop, capsys):
    call_command("evaluate_recommendations", "--k", "10", "--json", "--data-report")
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    # a minute's work on a real shop says what it is doing, on stderr (stdout stays one JSON document)
    assert "fitting the hybrid on a validation split" in printed.err
    assert report["k"] == 10 and report["customers"] > 0
    assert {"personal_frequency", "tifu_knn", "als"} <= set(report)
    assert report["hybrid_choice"] in {"ranker", "blend", *NAMES}
    data = report["data_report"]
    assert data["test_items"] >= report["customers"]
    assert 0 < data["bought_before_share"] < 1 and 0 <= data["never_seen_share"] < 1
    for name in NAMES:
        assert METRICS <= set(report[name]), name
        assert 0 <= report[name]["ndcg"] <= 1
    # The blend is fit on validation data, not the holdout, yet it should not lose to its parts.
    assert report["hybrid"]["ndcg"] >= 0.9 * max(report[n]["ndcg"] for n in NAMES if n != "hybrid")
    assert report["hybrid"]["ndcg"] > report["popularity"]["ndcg"]
    # A member that recommended nothing (no pictures: visual) is named, its zeros being no measurement.
    assert all(report[name]["coverage"] == 0 for name in report["members_without_recommendations"])
    assert "content" not in report["members_without_recommendations"]  # the simulated products have titles


@pytest.mark.django_db
def test_build_command_prints_one_json_document(simulated_shop, capsys):
    call_command("build_recommendations", "--k", "3", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["recommendations"] == Recommendation.objects.filter(shop=simulated_shop).count()


@pytest.mark.django_db
def test_the_frames_read_each_event_type_as_its_interaction_kind_and_leave_other_events_out(shop):
    when = datetime(2026, 6, 30, tzinfo=UTC)
    customer = Customer.objects.create(shop=shop, external_id="C1")
    kettle = Product.objects.create(shop=shop, external_id="P1", title="Kettle")
    order = Order.objects.create(shop=shop, customer=customer, external_id="O1", placed_at=when, total=10)
    OrderLine.objects.create(shop=shop, order=order, product=kettle, quantity=1)
    for day, kind in enumerate(["view", "add_to_cart", "wishlist", "search", "login"], start=1):
        Event.objects.create(shop=shop, customer=customer, type=kind, product=kettle,
                             occurred_at=when - timedelta(days=day), idempotency_key=uuid.uuid4())
    frames = recommender_frames(shop_id=shop.pk)
    kinds = frames.interactions.sort_values("ts", ascending=False)["kind"].astype(str).tolist()
    assert kinds == ["purchase", "view", "cart", "wishlist"]


@pytest.mark.django_db
def test_a_member_with_nothing_to_work_from_is_named_not_scored_as_a_measurement(simulated_shop, capsys):
    """An outside analyst's baskets of bare product ids: content (no titles) scored zeros with weight 1.0 in the blend,
    and popularity bias 0.0, as if measured."""
    Product.objects.filter(shop=simulated_shop).update(title="", description="", brand="", category=None)
    call_command("evaluate_recommendations", "--k", "10")
    printed = capsys.readouterr().out
    assert "Recommended nothing here: content" in printed and "their zeros are not a measurement" in printed
    # Nor do they weigh in the blend's printed weights (an outside analyst read "visual 1" for a member that
    # recommended nothing); the weights are printed only where the blend is the hybrid.
    weights = next(line for line in printed.splitlines() if line.startswith("Hybrid weights"))
    assert "Hybrid chosen on validation: blend" in printed
    assert "content" not in weights and "visual" not in weights and "personal_frequency" in weights
