"""Reviews tied to churn: the at-risk filter (page, API, saved segment) and the customer page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict

from behavior.models import Review
from predictions.filters import AtRiskFilter
from predictions.selectors.at_risk import at_risk_queryset, filter_in_words
from tests.accounts.factories import UserFactory
from tests.predictions.factories import ScoringRunFactory, scored_customers

pytestmark = pytest.mark.django_db
AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


@pytest.fixture
def scored(shop):
    run = ScoringRunFactory(shop=shop, as_of=AS_OF)
    customers = scored_customers(shop, run, [{"external_id": f"C{i}", "p": 0.9 - 0.1 * i, "buy": 0.1}
                                             for i in range(4)])
    reviews = [("C0", "negative", 10), ("C1", "negative", 60), ("C2", "positive", 5), ("C3", "negative", -3)]
    Review.objects.bulk_create([
        Review(shop=shop, external_id=f"R{i}", customer=customers[c], sentiment=s, rating=1 if s == "negative" else 5,
               text="Delivery took ages" if s == "negative" else "Lovely", aspects=["delivery"],
               created_at=AS_OF - timedelta(days=days)) for i, (c, s, days) in enumerate(reviews)])
    return run


def test_negative_review_filter_keeps_customers_with_one_in_the_window_before_the_scores_date(shop, scored):
    flt = AtRiskFilter.from_query(QueryDict("negative_review_days=30"))
    assert AtRiskFilter.from_query(QueryDict(flt.to_query_string())) == flt == AtRiskFilter.from_dict(flt.to_dict())
    ids = {s.customer.external_id for s in at_risk_queryset(shop=shop, run=scored, flt=flt)}
    # C1's review is older than 30 days, C2's positive, C3's written after the scores' date.
    assert ids == {"C0"}
    wider = at_risk_queryset(shop=shop, run=scored, flt=AtRiskFilter(negative_review_days=90))
    assert {s.customer.external_id for s in wider} == {"C0", "C1"}
    assert "Left a negative review in the last 30 days" in filter_in_words(shop=shop, flt=flt)


def test_api_at_risk_filters_by_negative_review(clients, shop, scored):
    body = clients["marketer"].get("/api/v1/at-risk/?negative_review_days=30").json()
    assert [row["customer_id"] for row in body["results"]] == ["C0"]
    assert clients["marketer"].get("/api/v1/at-risk/?negative_review_days=0").status_code == 400


def test_customer_page_shows_the_customers_reviews_with_sentiment(client, shop, scored):
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    html = client.get("/customers/C0/").content.decode()
    assert "customer-reviews" in html and "Delivery took ages" in html and "Negative" in html
    other = client.get("/customers/C2/").content.decode()
    assert "Lovely" in other and "Delivery took ages" not in other  # only the customer's own reviews
