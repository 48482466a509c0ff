"""analyze_reviews / export_reviews / the reviews API and page, on PostgreSQL with small synthetic reviews."""

import csv
import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from behavior.models import Customer, Review
from catalog.models import Category, Product
from reviews.ml.sentiment import SentimentConfig
from reviews.models import ReviewAnalysis
from reviews.selectors import negative_reviews_frame, review_list, review_summary
from reviews.services import reviews_analyze
from tests.reviews.data import reviews

pytestmark = pytest.mark.django_db
FAST = SentimentConfig(folds=3, knn_k=5)
NOW = datetime(2026, 6, 30, tzinfo=UTC)


@pytest.fixture
def stored(shop):
    """120 synthetic reviews (60 % rated) on two products of one category, by six customers, over 3 months."""
    home = Category.objects.create(shop=shop, path="Home", name="Home")  # imports create every ancestor
    category = Category.objects.create(shop=shop, path="Home > Kitchen", name="Kitchen", parent=home)
    products = [Product.objects.create(shop=shop, external_id=f"P{i}", category=category) for i in range(2)]
    customers = [Customer.objects.create(shop=shop, external_id=f"C{i}") for i in range(6)]
    frame = reviews(120)
    Review.objects.bulk_create([
        Review(shop=shop, external_id=row.review_id, text=row.text, language="",
               rating=None if np.isnan(row.rating) else int(row.rating), product=products[i % 2],
               customer=customers[i % 6], created_at=NOW - timedelta(days=i))
        for i, row in enumerate(frame.itertuples())])
    return frame


def test_analysis_writes_every_review_and_keeps_its_metrics(shop, stored):
    outcome = reviews_analyze(shop=shop, config=FAST)
    assert outcome.reviews == 120 and outcome.analysis.method == "model"
    rows = {r.external_id: r for r in Review.objects.filter(shop=shop)}
    assert all(r.sentiment in ("positive", "neutral", "negative") and r.analyzed_at for r in rows.values())
    truth = dict(zip(stored.review_id, stored.truth, strict=True))
    unrated = [r for r in rows.values() if r.rating is None and r.sentiment != "neutral"]
    correct = sum((r.sentiment == "positive") == bool(truth[r.external_id]) for r in unrated)
    assert correct / len(unrated) > 0.9
    guessed = {r.external_id: r.language for r in rows.values()}  # guessed and stored
    for r in stored.itertuples():  # short English texts without function words stay unknown ("")
        assert guessed[r.review_id] in ({"zh"} if r.language == "zh" else {"en", ""})
    assert any("delivery" in r.aspects for r in rows.values())
    document = outcome.as_json()
    assert document["metrics"]["cv"]["roc_auc"] > 0.9 and ReviewAnalysis.objects.get().metrics == document["metrics"]
    again = reviews_analyze(shop=shop, config=FAST)  # re-running rewrites, never duplicates
    assert again.reviews == 120 and Review.objects.count() == 120


def test_analyze_and_export_commands_keep_their_names_columns_and_keys(shop, stored, tmp_path):
    out = StringIO()
    call_command("analyze_reviews", "--json", stdout=out, stderr=StringIO())
    document = json.loads(out.getvalue())
    assert {"reviews", "method", "statement", "metrics"} <= set(document)
    assert {"accuracy", "roc_auc"} <= set(document["metrics"]["cv"])
    path = tmp_path / "reviews.csv"
    call_command("export_reviews", "--out", str(path), stdout=StringIO())
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["review_id", "sentiment", "positive_probability", "aspects"]
    assert len(rows) == 120 and all(0 <= float(r["positive_probability"]) <= 1 for r in rows)
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_reviews", "--out", str(tmp_path / "missing" / "x.csv"), stdout=StringIO())


def test_analysis_of_a_shop_without_reviews_says_so(shop):
    outcome = reviews_analyze(shop=shop, config=FAST)
    assert outcome.reviews == 0 and "No reviews yet" in outcome.analysis.statement


def test_summary_ranks_aspects_by_negative_share_with_quotes(shop, stored):
    reviews_analyze(shop=shop, config=FAST)
    summary = review_summary(reviews=review_list(shop=shop, category="Home"))
    assert summary.total == 120 and sum(summary.by_sentiment.values()) == 120
    shares = [a.negative_share for a in summary.aspects]
    assert shares == sorted(shares, reverse=True)
    worst = summary.aspects[0]
    assert worst.quotes and all(q for q in worst.quotes)
    assert sum(m["negative"] for m in summary.months) == summary.by_sentiment["negative"]
    assert review_list(shop=shop, product="P0", sentiment="negative").count() == \
        Review.objects.filter(product__external_id="P0", sentiment="negative").count()


def test_negative_reviews_frame_keeps_each_customers_latest_in_the_window(shop, stored):
    reviews_analyze(shop=shop, config=FAST)
    frame = negative_reviews_frame(shop=shop, as_of=NOW, days=30)
    negatives = Review.objects.filter(sentiment="negative", created_at__gt=NOW - timedelta(days=30))
    assert set(frame["customer_id"]) == set(negatives.values_list("customer_id", flat=True))
    for row in frame.itertuples():
        latest = negatives.filter(customer_id=row.customer_id).order_by("-created_at").first()
        assert row.created_at == latest.created_at and row.aspects == latest.aspects


def test_review_list_api_filters_by_product_and_sentiment(clients, shop, stored):
    reviews_analyze(shop=shop, config=FAST)
    body = clients["marketer"].get("/api/v1/reviews/?product=P1&sentiment=negative&page_size=500").json()
    expected = Review.objects.filter(shop=shop, product__external_id="P1", sentiment="negative").count()
    assert expected and len(body["results"]) == expected
    assert all(r["product_id"] == "P1" and r["sentiment"] == "negative" for r in body["results"])
    assert clients["marketer"].get("/api/v1/reviews/?sentiment=angry").status_code == 400
    assert clients["anonymous"].get("/api/v1/reviews/").status_code in (401, 403)


def test_other_shops_reviews_never_show(other_client, shop, stored):
    assert other_client.get("/api/v1/reviews/").json()["results"] == []


def test_reviews_page_shows_the_statement_aspects_and_filtered_reviews(client, shop, stored):
    from tests.accounts.factories import UserFactory

    reviews_analyze(shop=shop, config=FAST)
    client.force_login(UserFactory(role="marketer", shops=[shop]))
    page = client.get("/reviews/?product=P0&sentiment=negative")
    assert page.status_code == 200
    html = page.content.decode()
    assert "agreed with the star rating for" in html and "Most negative aspects" in html
    assert "ROC AUC" not in html  # jargon for marketers: analysts see it
    shown = page.context["page"].object_list
    assert shown and all(r.product.external_id == "P0" and r.sentiment == "negative" for r in shown)
    refused = client.get("/reviews/?sentiment=angry")
    assert refused.status_code == 400 and "Unknown sentiment" in refused.content.decode()


def test_reviews_page_shows_the_ranking_metrics_to_analysts_only(client, shop, stored):
    from tests.accounts.factories import UserFactory

    reviews_analyze(shop=shop, config=FAST)
    client.force_login(UserFactory(role="analyst", shops=[shop]))
    html = client.get("/reviews/").content.decode()
    assert 'id="review-model-metrics"' in html and "ROC AUC" in html


def test_an_aspect_is_judged_on_its_own_clause_so_a_mixed_review_is_not_negative_on_fit(shop, stored):
    """"Size / fit 100 % negative" was illustrated by "Fits perfectly, but box arrived crushed": every aspect took
    the whole review's sentiment."""
    product = Product.objects.get(shop=shop, external_id="P0")
    mixed = Review.objects.create(shop=shop, external_id="MIXED", product=product, rating=1, created_at=NOW,
                                  text="Fits perfectly, but box arrived crushed and damaged")
    reviews_analyze(shop=shop, config=FAST)
    mixed.refresh_from_db()
    assert mixed.sentiment == "negative"  # its stars
    assert mixed.aspect_sentiments["size_fit"] == "positive" and mixed.aspect_sentiments["packaging"] == "negative"
    summary = review_summary(reviews=review_list(shop=shop, aspect="size_fit"))
    fit = next(a for a in summary.aspects if a.aspect == "size_fit")
    assert not any("box arrived crushed" in q for q in fit.quotes)
    negative_fit = Review.objects.filter(shop=shop, aspects__contains=["size_fit"], sentiment="negative").count()
    assert fit.negative == negative_fit - 1  # the mixed review no longer counts against size / fit


def test_an_aspects_quotes_are_distinct_complaints_not_one_repeated(shop):
    """Session 24's browser review: "What they say" showed the same templated review twice beside one aspect."""
    texts = ["Delivery was late. Disappointed."] * 4 + ["delivery was late. disappointed."] + \
        ["The courier lost it for days.", "Took two weeks to arrive, delivery too slow."]
    Review.objects.bulk_create([
        Review(shop=shop, external_id=f"R{i}", text=text, sentiment="negative", aspects=["delivery"],
               positive_probability=0.01 * i, created_at=NOW) for i, text in enumerate(texts)])
    summary = review_summary(reviews=review_list(shop=shop))
    [delivery] = summary.aspects
    assert delivery.quotes == ("Delivery was late. Disappointed.", "The courier lost it for days.",
                               "Took two weeks to arrive, delivery too slow.")
    assert delivery.negative == 7  # the count still counts every review
