"""Writes of the reviews app: the analysis (sentiment and aspects of every review, in bulk) and the CSV export.

One bridge: `reviews_frame` (one read) → `reviews.ml` (pure) → one bulk write of the results."""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Shop
from behavior.models import Review
from ecomsight.csvsafe import neutralise
from ecomsight.db import bulk_insert

from .ml.aspects import AspectConfig, aspects_find
from .ml.sentiment import SentimentConfig, sentiment_fit_score, star_labels
from .models import ReviewAnalysis
from .selectors import reviews_frame

_SCORES = "reviews_scores_stage"


@dataclass(frozen=True)
class AnalysisOutcome:
    """What `reviews_analyze` did: the analysis row, the reviews written, and how long it took."""

    analysis: ReviewAnalysis
    reviews: int
    seconds: float

    def as_json(self) -> dict:
        """The document `analyze_reviews --json` prints."""
        a = self.analysis
        return {"analysis_id": a.pk, "reviews": self.reviews, "method": a.method, "statement": a.statement,
                "metrics": a.metrics, "learned_terms": a.learned_terms, "themes": a.themes,
                "seconds": round(self.seconds, 2)}


def reviews_analyze(*, shop: Shop, config: SentimentConfig = SentimentConfig(),
                    aspect_config: AspectConfig = AspectConfig()) -> AnalysisOutcome:
    """Learn sentiment from the shop's stars, find every review's aspects, and write both onto the reviews.

    Every review is rewritten (sentiment, probabilities, aspects, a guessed language where none was given);
    the analysis row keeps the cross-validated metrics and the statement analysts read."""
    started = time.monotonic()
    frame = reviews_frame(shop=shop)
    if frame.empty:
        analysis = ReviewAnalysis.objects.create(shop=shop, method="none", reviews=0,
                                                 statement="No reviews yet: import some with import_data reviews.",
                                                 seconds=time.monotonic() - started)
        return AnalysisOutcome(analysis=analysis, reviews=0, seconds=analysis.seconds)
    result = sentiment_fit_score(frame, config=config)
    texts = (frame["title"] + " " + frame["text"]).str.strip().tolist()
    labels = star_labels(frame["rating"])
    # Unrated reviews join the themes by the model's verdict (where it is confident).
    labels = np.where(np.isnan(labels) & (result.sentiment == "negative"), 0.0, labels)
    labels = np.where(np.isnan(labels) & (result.sentiment == "positive"), 1.0, labels)
    aspects = aspects_find(texts, list(result.language), labels=labels, config=aspect_config)
    with transaction.atomic():
        count = _scores_write(frame["id"].to_numpy(), result, aspects.aspects, given=frame["language"].to_numpy())
        analysis = ReviewAnalysis.objects.create(
            shop=shop, method=result.method, reviews=count, metrics=result.metrics, statement=result.statement,
            learned_terms=aspects.learned, themes=aspects.themes, seconds=time.monotonic() - started)
    return AnalysisOutcome(analysis=analysis, reviews=count, seconds=time.monotonic() - started)


def _scores_write(ids: np.ndarray, result, aspects: list[list[str]], *, given: np.ndarray) -> int:
    now = timezone.now()
    probability = result.positive_probability
    language = np.where(given == "", result.language, given)
    rows = ((int(i), s, None if np.isnan(p) else round(float(p), 4), None if np.isnan(p) else round(1 - float(p), 4),
             json.dumps(a), lang[:16])
            for i, s, p, a, lang in zip(ids, result.sentiment, probability, aspects, language, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_SCORES} (id bigint, sentiment text, positive double precision, "
                       "negative double precision, aspects jsonb, language text) ON COMMIT DROP")
        bulk_insert(_SCORES, ("id", "sentiment", "positive", "negative", "aspects", "language"), rows)
        cursor.execute(
            f"UPDATE behavior_review r SET sentiment = s.sentiment, positive_probability = s.positive, "
            f"negative_probability = s.negative, aspects = s.aspects, language = s.language, analyzed_at = %s "
            f"FROM {_SCORES} s WHERE r.id = s.id", [now])
        count = cursor.rowcount
        cursor.execute(f"DROP TABLE {_SCORES}")
    return count


def reviews_export(*, shop: Shop, path: str | os.PathLike) -> int:
    """Write the CSV `review_id, sentiment, positive_probability, aspects` (aspects joined by ";") of every
    review of the shop, streamed; values are written formula-safe. Returns the rows written."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "sentiment", "positive_probability", "aspects"])
        reviews = (Review.objects.filter(shop=shop).order_by("id")
                   .values_list("external_id", "sentiment", "positive_probability", "aspects"))
        for external_id, sentiment, probability, aspects in reviews.iterator(chunk_size=20_000):
            writer.writerow([neutralise(external_id), sentiment, "" if probability is None else f"{probability:.4f}",
                             ";".join(aspects or [])])
            count += 1
    return count
