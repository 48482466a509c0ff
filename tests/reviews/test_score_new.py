"""Reviews arriving after an analysis are scored with its saved model (no training), soon after they arrive; the
night trains again only when the model is old or the rated reviews grew."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache

from behavior.ingest import services as ingest_services
from behavior.models import Review
from ecomsight.errors import UserError
from reviews.models import ReviewAnalysis
from reviews.services import reviews_analyze, reviews_nightly, reviews_retrain_reason, reviews_score_new
from tests.reviews.test_services import FAST, stored  # noqa: F401

pytestmark = pytest.mark.django_db
BATCH = "/api/v1/reviews/batch/"


@pytest.fixture
def analysed(shop, stored):  # noqa: F811
    cache.delete(f"reviews:score:scheduled:{shop.pk}")
    return reviews_analyze(shop=shop, config=FAST).analysis


def test_a_review_posted_after_the_analysis_gets_a_sentiment_without_retraining(
        clients, shop, analysed, django_capture_on_commit_callbacks):
    assert (Path(analysed.artifact_path) / "metadata.json").exists()
    items = [{"review_id": "NEW-1", "text": "delivery was late by two weeks, very disappointed"},
             {"review_id": "NEW-2", "text": "质量很好，非常满意"},
             {"review_id": "NEW-3", "rating": 1, "text": "works great"}]
    with django_capture_on_commit_callbacks(execute=True):  # the debounced task (eager in the tests) runs
        assert clients["analyst"].post(BATCH, items, format="json").json()["stored"] == 3
    new = {r.external_id: r for r in Review.objects.filter(shop=shop, external_id__startswith="NEW-")}
    assert all(r.analyzed_at and r.positive_probability is not None for r in new.values())
    assert new["NEW-1"].sentiment == "negative" and "delivery" in new["NEW-1"].aspects
    assert new["NEW-2"].sentiment == "positive" and new["NEW-2"].language == "zh"  # guessed and stored
    assert new["NEW-3"].sentiment == "negative"  # the customer's stars decide the class
    assert ReviewAnalysis.objects.filter(shop=shop).count() == 1  # nothing was trained again


def test_a_changed_review_in_an_imported_file_is_scored_again(shop, analysed, tmp_path,
                                                              django_capture_on_commit_callbacks):
    first = Review.objects.filter(shop=shop, rating__isnull=True).order_by("id").first()
    path = tmp_path / "later.csv"
    path.write_text(f"review_id,text\n{first.external_id},box arrived crushed and damaged\n"
                    "LATER-1,\"great quality, love it\"\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        job = ingest_services.import_job_create(shop=shop, kind="reviews", path=path)
        result = ingest_services.import_job_run(import_job_id=job.pk)
    assert (result.inserted, result.updated) == (1, 1)
    changed = Review.objects.get(pk=first.pk)
    assert changed.analyzed_at > first.analyzed_at and changed.sentiment == "negative"
    assert "packaging" in changed.aspects
    assert Review.objects.get(shop=shop, external_id="LATER-1").sentiment == "positive"
    assert reviews_score_new(shop=shop, config=FAST) == 0  # nothing left: safe to run again


def test_a_lexicon_shop_scores_new_english_reviews_with_the_lexicon(shop):
    Review.objects.create(shop=shop, external_id="A", text="I love it", rating=5)
    assert reviews_analyze(shop=shop, config=FAST).analysis.method == "lexicon"
    Review.objects.create(shop=shop, external_id="B", text="Awful. Broken and useless.", language="en")
    assert reviews_score_new(shop=shop, config=FAST) == 1
    assert Review.objects.get(shop=shop, external_id="B").sentiment == "negative"


def test_the_night_trains_again_only_when_due_and_otherwise_scores_what_is_left(shop, analysed, settings):
    assert reviews_retrain_reason(shop=shop) == ""
    Review.objects.create(shop=shop, external_id="LEFT", text="broke after two days, poor quality")
    assert reviews_nightly(shop=shop) == {"retrained": "", "reviews": 1}
    assert Review.objects.get(shop=shop, external_id="LEFT").sentiment == "negative"
    assert ReviewAnalysis.objects.filter(shop=shop).count() == 1

    rated = analysed.metrics["rated"]
    grown = int(rated * settings.REVIEWS_RETRAIN_GROWTH) + 1
    Review.objects.bulk_create([Review(shop=shop, external_id=f"G{i}", text="great quality, love it", rating=5)
                                for i in range(grown)])
    assert "grew" in reviews_retrain_reason(shop=shop)
    Review.objects.filter(external_id__startswith="G").delete()
    ReviewAnalysis.objects.filter(pk=analysed.pk).update(
        created_at=analysed.created_at - timedelta(days=settings.REVIEWS_RETRAIN_DAYS))
    assert "days old" in reviews_retrain_reason(shop=shop)


def test_old_models_are_pruned_and_a_missing_one_is_a_clear_error(shop, analysed):
    later = [reviews_analyze(shop=shop, config=FAST).analysis for _ in range(2)]
    kept = [a.artifact_path for a in ReviewAnalysis.objects.filter(shop=shop).exclude(artifact_path="")]
    assert sorted(kept) == sorted(a.artifact_path for a in later) and not Path(analysed.artifact_path).exists()
    Review.objects.create(shop=shop, external_id="LATE", text="fits perfectly")
    for path in kept:
        (Path(path) / "arrays.npz").unlink()
        (Path(path) / "metadata.json").unlink()
        Path(path).rmdir()
    with pytest.raises(UserError, match="Run analyze_reviews again"):
        reviews_score_new(shop=shop, config=FAST)
    assert reviews_retrain_reason(shop=shop) == "saved model missing"
