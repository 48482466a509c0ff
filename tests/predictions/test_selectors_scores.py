from datetime import timedelta

import pytest
from django.http import Http404

from behavior.models import Order, OrderLine
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun
from predictions.selectors.at_risk import (
    at_risk_page,
    at_risk_queryset,
    filter_choices,
    list_columns_copied,
    scoring_run_current,
)
from predictions.selectors.customers import customer_detail
from predictions.selectors.dashboard import dashboard_get
from predictions.selectors.segments import segment_detail
from predictions.services.score_columns import customer_score_list_columns_fill
from tests.predictions.factories import (
    AS_OF,
    CategoryFactory,
    ModelVersionFactory,
    ProductFactory,
    ScoringRunFactory,
    SegmentFactory,
    scored_customers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(shop):
    """Five scored customers with distinct values, orders at known ages and one category purchase."""
    run = ScoringRunFactory(shop=shop)
    cs = scored_customers(shop, run, [
        {"external_id": "A", "p": 0.9, "buy": 0.1, "spend": 100, "country": "DE"},   # at risk 90
        {"external_id": "B", "p": 0.5, "buy": 0.6, "spend": 1000, "country": "FR"},  # at risk 500
        {"external_id": "C", "p": 0.2, "buy": 0.9, "spend": 300, "country": "DE"},   # at risk 60
        {"external_id": "D", "p": 0.65, "buy": 0.3, "spend": 50, "country": "de"},   # at risk 32.5
        {"external_id": "E", "p": 0.4, "buy": None, "spend": 0, "country": "US"},    # never ordered
    ])
    ages = {"A": 120, "B": 10, "C": 40, "D": 400}
    orders = Order.objects.bulk_create([
        Order(shop=shop, customer=cs[k], external_id=f"o-{k}", placed_at=AS_OF - timedelta(days=d), total=10)
        for k, d in ages.items()
    ])
    kitchen = CategoryFactory(shop=shop, name="Kitchen", path="Home > Kitchen")
    home = CategoryFactory(shop=shop, name="Home", path="Home")
    OrderLine.objects.create(shop=shop, order=orders[2], product=ProductFactory(shop=shop, category=kitchen))
    return {"run": run, "customers": cs, "home": home, "kitchen": kitchen}


def ids(flt, shop):
    return [r.external_id for r in at_risk_page(shop=shop, flt=flt).rows]


def test_default_sort_puts_the_most_revenue_at_risk_first(shop, scored):
    assert ids(AtRiskFilter(), shop) == ["B", "A", "C", "D", "E"]


@pytest.mark.parametrize(("sort", "expected"), [
    ("churn", ["A", "D", "B", "E", "C"]),
    ("purchase", ["C", "B", "D", "A", "E"]),
    ("value", ["B", "C", "A", "D", "E"]),
    ("last_order", ["E", "D", "A", "C", "B"]),
])
def test_each_sort_orders_the_list_by_its_column(shop, scored, sort, expected):
    assert ids(AtRiskFilter(sort=sort), shop) == expected


@pytest.mark.parametrize(("flt", "expected"), [
    (AtRiskFilter(bands=("high",)), {"A", "D"}),
    (AtRiskFilter(bands=("medium", "low")), {"B", "C", "E"}),
    (AtRiskFilter(churn_min=50), {"A", "B", "D"}),
    (AtRiskFilter(churn_max=40), {"C", "E"}),
    (AtRiskFilter(value_min=100, value_max=300), {"A", "C"}),
    (AtRiskFilter(days_min=100), {"A", "D", "E"}),  # never ordered counts as "long ago" (on the at-risk list)
    (AtRiskFilter(days_max=40), {"B", "C"}),
    (AtRiskFilter(country="DE"), {"A", "C", "D"}),  # case-insensitive
    (AtRiskFilter(limit=2), {"B", "A"}),
    (AtRiskFilter(limit=2, sort="churn"), {"A", "D"}),
])
def test_each_filter_narrows_the_list_to_the_matching_customers(shop, scored, flt, expected):
    assert set(ids(flt, shop)) == expected


def test_category_filter_includes_purchases_in_subcategories(shop, scored):
    assert ids(AtRiskFilter(category=scored["home"].pk), shop) == ["C"]
    assert ids(AtRiskFilter(category=scored["kitchen"].pk), shop) == ["C"]


def test_segment_filter_applies_the_saved_filter_and_a_foreign_segment_matches_nobody(shop, other_shop, scored):
    segment = SegmentFactory(shop=shop, filters={"bands": ["high"]})
    assert set(ids(AtRiskFilter(segment=segment.pk, country="DE"), shop)) == {"A", "D"}
    foreign = SegmentFactory(shop=other_shop, filters={})
    assert ids(AtRiskFilter(segment=foreign.pk), shop) == []


def test_another_shops_scores_never_appear_in_the_list(shop, other_shop, scored):
    other_run = ScoringRunFactory(shop=other_shop, as_of=AS_OF + timedelta(days=1))
    scored_customers(other_shop, other_run, [{"external_id": "X", "p": 0.99, "spend": 10_000}])
    assert "X" not in ids(AtRiskFilter(), shop)


def test_only_the_latest_succeeded_run_is_listed(shop, scored):
    failed = ScoringRunFactory(shop=shop, as_of=AS_OF + timedelta(days=7), status=ScoringRun.Status.FAILED)
    scored_customers(shop, failed, [{"external_id": "F", "p": 0.99}])
    assert scoring_run_current(shop=shop) == scored["run"]
    assert "F" not in ids(AtRiskFilter(), shop)


def test_pagination_splits_pages_without_overlap(shop):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"K{i:03d}", "p": (i % 50) / 50, "spend": 100} for i in range(120)])
    pages = [at_risk_page(shop=shop, flt=AtRiskFilter(), page=n) for n in (1, 2, 3)]
    seen = [r.external_id for p in pages for r in p.rows]
    assert [len(p.rows) for p in pages] == [50, 50, 20]
    assert len(set(seen)) == 120
    assert pages[0].total == 120
    assert pages[0].rows[0].revenue_at_risk >= pages[2].rows[-1].revenue_at_risk


def test_a_page_is_a_fixed_number_of_queries_not_one_per_customer(shop, scored, django_assert_max_num_queries):
    flt = AtRiskFilter(days_min=1, value_min=1, sort="purchase")
    # run, count, page, the page's customers, their orders since scoring, all scored ("x of y")
    with django_assert_max_num_queries(6):
        page = at_risk_page(shop=shop, flt=flt)
    assert page.rows


def test_no_run_gives_an_empty_page_not_an_error(shop):
    page = at_risk_page(shop=shop, flt=AtRiskFilter())
    assert page.run is None and page.rows == [] and page.total == 0


def test_row_carries_purchase_probability_last_order_and_days(shop, scored):
    row = next(r for r in at_risk_page(shop=shop, flt=AtRiskFilter()).rows if r.external_id == "A")
    assert row.purchase_probability == pytest.approx(0.1)
    assert row.days_since_last_order == 120
    assert row.top_reason == "reason of A"


def test_revenue_at_risk_falls_back_to_probability_times_spend_when_the_scorer_left_it_empty(shop, scored):
    scored["run"].scores.filter(customer=scored["customers"]["C"], task="churn").update(revenue_at_risk=None)
    row = next(r for r in at_risk_page(shop=shop, flt=AtRiskFilter()).rows if r.external_id == "C")
    assert row.revenue_at_risk == pytest.approx(60)


def test_dashboard_figures_sum_the_current_runs_probabilities(shop, scored):
    ModelVersionFactory(shop=shop)
    d = dashboard_get(shop=shop)
    assert d.customers == 5
    assert d.active_customers == 3  # D ordered 400 days ago, E never
    assert d.current.expected_churners == pytest.approx(0.9 + 0.5 + 0.2 + 0.65 + 0.4)
    assert d.current.high_band == 2
    assert d.current.revenue_at_risk == pytest.approx(90 + 500 + 60 + 32.5)
    assert d.current.expected_buyers == pytest.approx(0.1 + 0.6 + 0.9 + 0.3)
    assert d.histogram == [0, 0, 1, 0, 1, 1, 1, 0, 0, 1]
    assert d.models[0].captured_top_decile == 0.38
    assert (d.models[0].calibration_said, d.models[0].calibration_observed) == (0.7, 0.68)


def test_dashboard_trend_has_one_point_per_run_oldest_first(shop, scored):
    older = ScoringRunFactory(shop=shop, as_of=AS_OF - timedelta(days=7))
    scored_customers(shop, older, [{"external_id": "old", "p": 0.3, "spend": 10}])
    trend = dashboard_get(shop=shop).trend
    assert [f.run_id for f in trend] == [older.pk, scored["run"].pk]
    assert trend[0].expected_churners == pytest.approx(0.3)


def test_dashboard_without_scores_has_counts_but_no_figures(shop):
    d = dashboard_get(shop=shop)
    assert d.current is None and d.trend == [] and d.histogram == []


def test_customer_of_another_shop_is_not_found(shop, other_shop, scored):
    with pytest.raises(Http404):
        customer_detail(shop=other_shop, external_id="A")


def test_customer_detail_merges_orders_and_events_newest_first(shop, scored):
    from behavior.models import Event

    c = scored["customers"]["A"]
    Event.objects.create(shop=shop, customer=c, type="view", occurred_at=AS_OF - timedelta(days=5),
                         idempotency_key="00000000-0000-0000-0000-000000000001")
    detail = customer_detail(shop=shop, external_id="A")
    assert [i.kind for i in detail.timeline] == ["view", "order"]
    assert detail.churn.probability == 0.9 and detail.purchase.probability == pytest.approx(0.1)
    assert detail.last_order_at == AS_OF - timedelta(days=120)


def test_segment_detail_counts_live_members_and_previews_them(shop, scored):
    segment = SegmentFactory(shop=shop, filters={"churn_min": 50})
    detail = segment_detail(shop=shop, segment_id=segment.pk)
    assert detail.size == 3
    assert [r.external_id for r in detail.preview] == ["B", "A", "D"]
    # the planner plans on the segment's own order, the preview's
    probabilities = dict(CustomerScore.objects.filter(scoring_run=detail.run, task="churn",
                                                      customer__external_id__in=["B", "A", "D"])
                         .values_list("customer__external_id", "probability"))
    assert [p for p, _ in detail.planner] == [pytest.approx(probabilities[c], abs=1e-4) for c in "BAD"]
    assert detail.words == ["Chance of leaving at least 50%"]


# ---- the list columns copied onto the churn rows when a run finishes ------------------------------------

LIST_CASES = [AtRiskFilter(sort=s) for s in ("risk", "churn", "purchase", "value", "last_order")] + [
    AtRiskFilter(days_min=100), AtRiskFilter(days_max=40), AtRiskFilter(days_min=30, days_max=200, sort="last_order"),
    AtRiskFilter(bands=("high",), sort="purchase"), AtRiskFilter(country="de", sort="last_order"),
    AtRiskFilter(limit=2, sort="purchase"), AtRiskFilter(limit=3, sort="last_order"),
]


@pytest.mark.parametrize("flt", LIST_CASES, ids=lambda f: f.to_query_string() or "default")
def test_copied_columns_list_the_same_customers_in_the_same_order_as_computing_them(shop, scored, flt):
    computed = [(r.external_id, r.purchase_probability, r.last_order_at) for r in
                at_risk_page(shop=shop, flt=flt).rows]
    assert customer_score_list_columns_fill(run=scored["run"]) == 5  # churn rows
    run = ScoringRun.objects.get(pk=scored["run"].pk)
    assert list_columns_copied(run)
    copied = [(r.external_id, r.purchase_probability, r.last_order_at) for r in
              at_risk_page(shop=shop, flt=flt).rows]
    assert copied == computed


def test_fill_copies_purchase_probability_and_last_order_only_up_to_the_runs_date(shop, scored):
    a = scored["customers"]["A"]
    Order.objects.create(shop=shop, customer=a, external_id="after", placed_at=AS_OF + timedelta(days=3), total=5)
    Order.objects.create(shop=shop, customer=a, external_id="cancelled", placed_at=AS_OF - timedelta(days=2),
                         total=5, status=Order.Status.CANCELLED)
    customer_score_list_columns_fill(run=scored["run"])
    row = scored["run"].scores.get(customer=a, task="churn")
    assert row.last_order_placed_at == AS_OF - timedelta(days=120)
    assert row.purchase_probability_copy == pytest.approx(0.1)
    assert scored["run"].scores.get(customer=scored["customers"]["E"], task="churn").last_order_placed_at is None


@pytest.mark.parametrize("fill", [False, True], ids=["computed", "copied"])
def test_an_order_after_the_scores_date_does_not_change_days_since_last_order(shop, scored, fill):
    # The list agrees with the scores: both are as of the run's date, whichever path computes it.
    Order.objects.create(shop=shop, customer=scored["customers"]["A"], external_id="late",
                         placed_at=AS_OF + timedelta(days=3), total=5)
    if fill:
        customer_score_list_columns_fill(run=scored["run"])
    row = next(r for r in at_risk_page(shop=shop, flt=AtRiskFilter()).rows if r.external_id == "A")
    assert row.days_since_last_order == 120
    assert "A" in ids(AtRiskFilter(days_min=100), shop)
    assert "A" not in ids(AtRiskFilter(days_max=40), shop)


def test_unfiltered_list_takes_its_total_from_the_run_instead_of_counting(shop, scored,
                                                                           django_assert_max_num_queries):
    customer_score_list_columns_fill(run=scored["run"])
    with django_assert_max_num_queries(4):  # run, the page's rows, their customers, their orders: no COUNT
        page = at_risk_page(shop=shop, flt=AtRiskFilter())
    assert page.total == page.scored_total == 5
    filtered = at_risk_page(shop=shop, flt=AtRiskFilter(bands=("high",)))
    assert (filtered.total, filtered.scored_total) == (2, 5)


@pytest.mark.parametrize("fill", [False, True], ids=["computed", "copied"])
def test_deep_pages_hold_the_same_rows_as_slicing_the_whole_ordered_list(shop, fill):
    run = ScoringRunFactory(shop=shop)
    scored_customers(shop, run, [{"external_id": f"K{i:03d}", "p": (i % 7) / 7, "buy": (i % 5) / 5, "spend": 100}
                                 for i in range(130)])
    if fill:
        customer_score_list_columns_fill(run=run)
    everyone = {}
    for sort in ("risk", "purchase"):
        flt = AtRiskFilter(sort=sort)
        everyone[sort] = [s.customer.external_id for s in at_risk_queryset(shop=shop, run=run, flt=flt)
                          .select_related("customer")]
        paged = [r.external_id for n in (1, 2, 3) for r in at_risk_page(shop=shop, flt=flt, page=n).rows]
        assert paged == everyone[sort]
    last = at_risk_page(shop=shop, flt=AtRiskFilter(), page=99)  # out of range: the last page
    assert [r.external_id for r in last.rows] == everyone["risk"][100:]


def test_country_choices_are_the_shops_distinct_countries_sorted_without_blanks(shop, other_shop, scored):
    scored_customers(shop, scored["run"], [{"external_id": "Z", "p": 0.1, "country": ""}])
    scored_customers(other_shop, ScoringRunFactory(shop=other_shop), [{"external_id": "Q", "p": 0.1, "country": "JP"}])
    assert filter_choices(shop=shop)["countries"] == ["DE", "FR", "US", "de"]
