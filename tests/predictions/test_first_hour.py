"""The numbers a marketer reads in the first hour explain themselves: likely buyers, what "chance of leaving"
means, who the at-risk list covers, the lift's baselines, and runs told apart by time (issue 18 §3)."""

import datetime as dt

import pytest

from behavior.models import Customer
from predictions.models import CustomerScore, ScoringRun
from predictions.run_labels import run_labels
from predictions.selectors.likely_buyers import likely_buyers_page
from recommendations.models import Recommendation, RecommenderVersion
from tests.accounts.factories import UserFactory
from tests.predictions.factories import (
    ModelVersionFactory,
    OrderFactory,
    ProductFactory,
    ScoringRunFactory,
    scored_customers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(shop):
    shop.horizon_days = 60
    shop.save(update_fields=["horizon_days"])
    run = ScoringRunFactory(shop=shop, finished_at=dt.datetime(2024, 6, 2, 7, 12, tzinfo=dt.UTC))
    cs = scored_customers(shop, run, [
        {"external_id": "ALICE", "p": 0.83, "buy": 0.12, "spend": 1234},
        {"external_id": "BOB", "p": 0.08, "buy": 0.7, "spend": 50, "reasons": ["25 orders so far"]},
    ])
    # Gone quiet: scored for buying only (no churn row), so on the likely buyers but not on the at-risk list.
    quiet = Customer.objects.create(shop=shop, external_id="QUIET", name="Quiet One")
    CustomerScore.objects.create(shop=shop, scoring_run=run, customer=quiet, task="purchase", probability=0.4,
                                 risk_band="medium", decile=3, spend_12m=0, scored_at=run.as_of,
                                 reasons=["ordered 400 days ago"])
    OrderFactory(shop=shop, customer=cs["BOB"], placed_at=dt.datetime(2024, 5, 20, 10, tzinfo=dt.UTC), total=30)
    return {"run": run, "customers": {**cs, "QUIET": quiet}}


@pytest.fixture
def marketer_client(client, shop):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    return client


def test_likely_buyers_come_likeliest_first_including_customers_gone_quiet(shop, scored):
    page = likely_buyers_page(shop=shop)
    assert [r.external_id for r in page.rows] == ["BOB", "QUIET", "ALICE"]
    assert page.total == 3
    assert page.expected_buyers == pytest.approx(0.7 + 0.4 + 0.12)
    bob = page.rows[0]
    assert bob.last_order_at == dt.datetime(2024, 5, 20, 10, tzinfo=dt.UTC)
    assert page.rows[1].days_since_last_order is None and page.rows[1].top_reason == "ordered 400 days ago"


def test_likely_buyers_carry_their_top_recommendations_in_rank_order(shop, scored):
    bob = scored["customers"]["BOB"]
    active = RecommenderVersion.objects.create(shop=shop, status=RecommenderVersion.Status.ACTIVE)
    for rank, title in ((2, "Mug"), (1, "Coffee beans")):
        Recommendation.objects.create(shop=shop, version=active, customer=bob, rank=rank, score=1 / rank,
                                      product=ProductFactory(shop=shop, title=title), source="repurchase",
                                      reason="buys this about every 30 days")
    rows = {r.external_id: r for r in likely_buyers_page(shop=shop).rows}
    assert rows["BOB"].offer == ["Coffee beans", "Mug"]
    assert rows["ALICE"].offer == []


def test_likely_buyers_page_is_linked_from_the_menu_and_shows_cards(marketer_client, scored):
    body = marketer_client.get("/buyers/").content.decode()
    assert 'href="/buyers/"' in body  # the nav link
    assert "Likely buyers" in body and "next 60 days" in body
    assert body.index("QUIET") < body.index("ALICE")
    assert 'data-label="What to offer"' in body and "No recommendation yet" in body
    assert "Scores from <time" in body and ">2 Jun 2024, 07:12 UTC</time>" in body


def test_likely_buyers_before_any_scores_says_so(marketer_client):
    assert "No scores yet" in marketer_client.get("/buyers/").content.decode()


def test_at_risk_list_says_it_covers_active_customers_only_with_counts(marketer_client, scored):
    body = marketer_client.get("/customers/").content.decode()
    assert "active customers only" in body
    assert "2 of the shop's 3 customers" in body and "The other 1 have gone quiet already" in body
    # "Chance of leaving" is defined with the shop's horizon, not a fixed 90 days.
    assert "no order in the next 60 days" in body


def test_a_low_risk_customers_reason_is_labelled_as_why_the_risk_is_low(marketer_client, scored):
    body = marketer_client.get("/customers/").content.decode()
    bob_row = body[body.index(">BOB<"):]
    bob_row = bob_row[:bob_row.index("</tr>")]
    assert 'data-label="Why low risk"' in bob_row and "Low risk: </span>25 orders so far" in bob_row
    alice_row = body[body.index(">ALICE<"):]
    assert 'data-label="Main reason"' in alice_row[:alice_row.index("</tr>")]


def test_dashboard_puts_the_lift_beside_random_picking_and_the_best_possible(marketer_client, shop, scored):
    # 1,000 validated customers, 250 of whom left: the top 100 can hold at most 100 / 250 = 40 %.
    metrics = {"captured_top_decile": 0.31, "lift_top_decile": 3.1, "base_rate": 0.25, "n": 1000, "positives": 250}
    ModelVersionFactory(shop=shop, task="churn", algorithm="lgbm", metrics=metrics)
    body = marketer_client.get("/").content.decode()
    assert "hold <strong>31 %</strong> of those who left within 60 days" in body
    assert "picking 10 % of customers at random would hold 10 %; the best possible here is 40 %" in body
    assert "no order in the next 60 days" in body  # the histogram says what the chance means


def test_dashboard_header_and_footer_name_the_same_run_the_same_way(marketer_client, scored):
    body = marketer_client.get("/").content.decode()
    assert "scores from 2 Jun 2024, 07:12 UTC" in body  # header
    assert "Scores from <time" in body and ">2 Jun 2024, 07:12 UTC</time>" in body  # footer


def test_runs_sharing_a_data_day_are_labelled_with_their_time():
    day = dt.datetime(2024, 6, 1, 23, 59, 59, tzinfo=dt.UTC)
    runs = [(day - dt.timedelta(days=1), dt.datetime(2024, 6, 1, 2, 0, tzinfo=dt.UTC)),
            (day, dt.datetime(2024, 6, 2, 2, 0, tzinfo=dt.UTC)),
            (day, dt.datetime(2024, 6, 2, 9, 30, tzinfo=dt.UTC))]
    assert run_labels(runs) == ["31 May", "1 Jun (run 2 Jun 02:00)", "1 Jun (run 2 Jun 09:30)"]
    same_day = [(day, dt.datetime(2024, 6, 1, 23, 0, tzinfo=dt.UTC)), (day, runs[1][1])]
    assert run_labels(same_day) == ["1 Jun (run 23:00)", "1 Jun (run 2 Jun 02:00)"]
    assert run_labels(runs[:2], with_year=True) == ["31 May 2024", "1 Jun 2024"]


def test_dashboard_trend_of_two_runs_on_one_day_shows_both_times(marketer_client, shop, scored):
    ScoringRun.objects.filter(pk=scored["run"].pk).update(summary={})
    later = ScoringRunFactory(shop=shop, finished_at=dt.datetime(2024, 6, 2, 15, 40, tzinfo=dt.UTC))
    scored_customers(shop, later, [{"external_id": "CAROL", "p": 0.5, "buy": 0.5}])
    body = marketer_client.get("/").content.decode()
    assert "1 Jun (run 2 Jun 07:12)" in body and "1 Jun (run 2 Jun 15:40)" in body


def test_a_trend_whose_two_last_points_read_alike_says_no_change():
    """A new user's review (session 15): "Down 1 since …" where both points showed 1,684."""
    from predictions.views import _line

    count = lambda v: f"{v:,.0f}"  # noqa: E731 (the dashboard's format for counts)
    assert _line([1684.4, 1683.6], ["4 Dec", "5 Dec"], fmt=count).change == "no change since 4 Dec"
    assert _line([1684.4, 1682.2], ["4 Dec", "5 Dec"], fmt=count).change == "down 2 since 4 Dec"


@pytest.mark.parametrize(("metrics", "note"), [
    # A tiny shop: 60 validated customers, 7 of whom left; its backtest said ±0.23.
    ({"roc_auc": 0.74, "n": 60, "positives": 7},
     "Take these figures with care: they were checked on only 60 customers (7 who left), and another sample of "
     "customers could move them a lot."),
    # Enough customers, but a ranking no better than chance.
    ({"roc_auc": 0.512, "n": 6000, "positives": 2000},
     "Take these figures with care: checked on 6,000 customers (2,000 who left), the model ranked them no better "
     "than chance."),
    ({"roc_auc": 0.8, "n": 10_000, "positives": 2500}, None),  # ±0.01: the percentages stand alone
])
def test_dashboard_says_when_the_models_percentages_come_from_too_few_customers(marketer_client, shop, scored,
                                                                                 metrics, note):
    """An outside analyst: a tiny shop's "How good are the predictions?" showed percentages with no word of
    uncertainty while its backtest said ±0.23."""
    ModelVersionFactory(shop=shop, task="churn", algorithm="lgbm",
                        metrics={"captured_top_decile": 0.31, "lift_top_decile": 3.1, "base_rate": 0.25, **metrics})
    body = marketer_client.get("/").content.decode()
    assert "hold <strong>31 %</strong> of those who left" in body
    if note:
        assert note in body
    else:
        assert "Take these figures with care" not in body
