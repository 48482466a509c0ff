"""Writes of the reviews app: the analysis (sentiment and aspects of every review, in bulk), the scoring of
reviews that arrive after it with the saved model, and the CSV export.

One bridge: `reviews_frame` (one read) → `reviews.ml` (pure) → one bulk write of the results.

Reviews arriving later (import_data reviews, POST /api/v1/reviews/batch/) are scored without training again:
1. The batch writer clears a stored or changed review's `analyzed_at` and sends behavior.signals.reviews_changed
   in its transaction; `reviews_changed_record` schedules, after the commit, one `reviews_score_new_task` per
   shop and window of RESCORE_DEBOUNCE_SECONDS (a Redis SET NX key, the pattern of predictions' re-scoring), when
   the shop has been analysed.
2. `reviews_score_new` takes the reviews without `analyzed_at` in id order, REVIEWS chunk by chunk, scores them
   with the latest analysis' saved model (or its lexicon), finds their aspects with the seeds and the terms that
   analysis learned, and writes them in bulk.
3. Nightly (`reviews_nightly`, beat, queue ml): the model is trained again (a full `reviews_analyze`) when it is
   REVIEWS_RETRAIN_DAYS old or the rated reviews grew by REVIEWS_RETRAIN_GROWTH since; otherwise any review left
   unscored is scored with the saved model."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Shop
from behavior.models import Review
from ecomsight.artifacts import artifact_folder, artifact_write
from ecomsight.csvsafe import neutralise
from ecomsight.db import bulk_insert
from ecomsight.errors import UserError

from .ml.aspects import AspectConfig, aspect_clauses, aspects_find, aspects_match
from .ml.sentiment import (
    SentimentConfig,
    SentimentModel,
    SentimentScorer,
    sentiment_fit_score,
    sentiment_score,
    star_labels,
)
from .models import ReviewAnalysis
from .selectors import reviews_frame

logger = logging.getLogger("ecomsight.reviews")
# Analyses whose saved model is kept (the newest ones); older artifacts are deleted.
ARTIFACTS_KEPT = 2
# The schedule key outlives the countdown by this much (as predictions.services.rescoring).
SCHEDULE_GRACE_SECONDS = 60

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
                    aspect_config: AspectConfig = AspectConfig(),
                    progress: Callable[[str], None] | None = None) -> AnalysisOutcome:
    """Learn sentiment from the shop's stars, find every review's aspects, and write both onto the reviews.

    Every review is rewritten (sentiment, probabilities, aspects, a guessed language where none was given);
    the analysis row keeps the cross-validated metrics and the statement analysts read. `progress` hears each
    step (a few minutes on a big shop)."""
    say = progress or (lambda _message: None)
    started = time.monotonic()
    frame = reviews_frame(shop=shop)
    if frame.empty:
        analysis = ReviewAnalysis.objects.create(shop=shop, method="none", reviews=0,
                                                 statement="No reviews yet: import some with import_data reviews.",
                                                 seconds=time.monotonic() - started)
        return AnalysisOutcome(analysis=analysis, reviews=0, seconds=analysis.seconds)
    rated = int(frame["rating"].notna().sum())
    say(f"learning sentiment from {rated:,} rated reviews (cross-validated) and scoring all {len(frame):,}")
    result = sentiment_fit_score(frame, config=config)
    say("finding each review's aspects (delivery, quality, price, …)")
    texts = (frame["title"] + " " + frame["text"]).str.strip().tolist()
    labels = star_labels(frame["rating"])
    # Unrated reviews join the themes by the model's verdict (where it is confident).
    labels = np.where(np.isnan(labels) & (result.sentiment == "negative"), 0.0, labels)
    labels = np.where(np.isnan(labels) & (result.sentiment == "positive"), 1.0, labels)
    aspects = aspects_find(texts, list(result.language), labels=labels, config=aspect_config)
    artifact = ""
    if result.model is not None:  # saved before the row that points at it
        run_key = f"{timezone.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        artifact = str(artifact_write(artifact_folder(shop_slug=shop.slug, task="sentiment", run_key=run_key,
                                                      algorithm="sentiment"), result.model.save))
    say("judging each aspect on the clauses that mention it")
    judged = _aspect_sentiments(texts, list(result.language), aspects.aspects, aspects.learned, result.sentiment,
                                model=result.model, config=config)
    say("writing the verdicts onto the reviews")
    with transaction.atomic():
        count = _scores_write(frame["id"].to_numpy(), result, aspects.aspects, judged,
                              given=frame["language"].to_numpy())
        analysis = ReviewAnalysis.objects.create(
            shop=shop, method=result.method, reviews=count, metrics=result.metrics, statement=result.statement,
            learned_terms=aspects.learned, themes=aspects.themes, seconds=time.monotonic() - started,
            artifact_path=artifact)
    _artifacts_prune(shop=shop)
    return AnalysisOutcome(analysis=analysis, reviews=count, seconds=time.monotonic() - started)


def _artifacts_prune(*, shop: Shop) -> None:
    """Delete the saved models of all but the shop's ARTIFACTS_KEPT newest analyses."""
    old = ReviewAnalysis.objects.filter(shop=shop).exclude(artifact_path="").order_by("-created_at", "-id")
    for analysis in old[ARTIFACTS_KEPT:]:
        shutil.rmtree(Path(analysis.artifact_path).parent, ignore_errors=True)  # the run's folder
        ReviewAnalysis.objects.filter(pk=analysis.pk).update(artifact_path="")


def reviews_score_new(*, shop: Shop, config: SentimentConfig = SentimentConfig()) -> int:
    """Score the shop's reviews stored or changed since their analysis (no `analyzed_at`) with the latest
    analysis' saved model, `config.chunk` reviews at a time read from the database and written back in bulk, the
    scoring spread over `config.workers` processes. Nothing is trained. Returns the reviews scored (0 when the
    shop was never analysed: its nightly analysis scores them).

    Raises `UserError` when the saved model is missing (the nightly run trains again)."""
    cache.delete(_schedule_key(shop.pk))  # reviews arriving from now on schedule the next window's task
    analysis = ReviewAnalysis.objects.filter(shop=shop).first()
    if analysis is None:
        return 0
    model = _model_load(analysis)
    done, after = 0, 0
    with SentimentScorer(model, workers=config.workers, part=config.part) if model else nullcontext() as scorer:
        while not (frame := reviews_frame(shop=shop, unscored_after=after, limit=config.chunk)).empty:
            result = sentiment_score(frame, model, config=config, scorer=scorer)
            texts = (frame["title"] + " " + frame["text"]).str.strip().tolist()
            aspects = aspects_match(texts, list(result.language), analysis.learned_terms or {})
            judged = _aspect_sentiments(texts, list(result.language), aspects, analysis.learned_terms or {},
                                        result.sentiment, model=model, config=config, scorer=scorer)
            with transaction.atomic():
                done += _scores_write(frame["id"].to_numpy(), result, aspects, judged,
                                      given=frame["language"].to_numpy())
            after = int(frame["id"].iloc[-1])
    if done:
        logger.info("scored %d new reviews of %s with analysis %d", done, shop.slug, analysis.pk)
    return done


def _model_load(analysis: ReviewAnalysis) -> SentimentModel | None:
    """The analysis' saved model; None for an analysis without one (lexicon, or no reviews)."""
    if analysis.method != "model":
        return None
    path = Path(analysis.artifact_path) if analysis.artifact_path else None
    if path is None or not path.exists():
        raise UserError(f"The sentiment model of review analysis {analysis.pk} is missing ({path or 'pruned'}). "
                        "Run analyze_reviews again.")
    return SentimentModel.load(path)


def _schedule_key(shop_id: int) -> str:
    return f"reviews:score:scheduled:{shop_id}"


def reviews_changed_record(*, shop_id: int, **kwargs) -> bool:
    """After the writer's commit, schedule the scoring of the shop's new reviews, once per debounce window, when
    the shop has been analysed (receives behavior.signals.reviews_changed). Returns whether it was scheduled."""
    if not ReviewAnalysis.objects.filter(shop_id=shop_id).exists():
        return False
    transaction.on_commit(lambda: reviews_score_schedule(shop_id=shop_id), robust=True)
    return True


def reviews_score_schedule(*, shop_id: int) -> bool:
    """Enqueue the shop's scoring task RESCORE_DEBOUNCE_SECONDS from now unless one waits for this window."""
    debounce = settings.RESCORE_DEBOUNCE_SECONDS
    if not cache.add(_schedule_key(shop_id), 1, timeout=debounce + SCHEDULE_GRACE_SECONDS):
        return False
    from .tasks import reviews_score_new_task

    reviews_score_new_task.apply_async((shop_id,), countdown=debounce)
    return True


def reviews_retrain_reason(*, shop: Shop, now=None) -> str:
    """Why the shop's sentiment should be learned again tonight ("" when its saved model still holds): never
    analysed, the model older than REVIEWS_RETRAIN_DAYS, its artifact gone, or the rated reviews (1-2 and 4-5
    stars) grown by REVIEWS_RETRAIN_GROWTH or more since it was trained."""
    analysis = ReviewAnalysis.objects.filter(shop=shop).first()
    rated = Review.objects.filter(shop=shop, rating__in=(1, 2, 4, 5)).count()
    if analysis is None:
        return "never analysed" if Review.objects.filter(shop=shop).exists() else ""
    if analysis.method == "none" and analysis.reviews == 0:
        return "reviews arrived since an empty analysis" if Review.objects.filter(shop=shop).exists() else ""
    age = (now or timezone.now()) - analysis.created_at
    if age >= timedelta(days=settings.REVIEWS_RETRAIN_DAYS):
        return f"model {age.days} days old"
    if analysis.method == "model" and not (analysis.artifact_path and Path(analysis.artifact_path).exists()):
        return "saved model missing"
    before = int(analysis.metrics.get("rated", 0))
    if rated > before and rated >= before * (1 + settings.REVIEWS_RETRAIN_GROWTH):
        return f"rated reviews grew from {before:,} to {rated:,}"
    return ""


def reviews_nightly(*, shop: Shop) -> dict:
    """The night's sentiment work for one shop: train again when `reviews_retrain_reason` says so (which scores
    every review), else score the reviews left unscored with the saved model."""
    reason = reviews_retrain_reason(shop=shop)
    if reason:
        outcome = reviews_analyze(shop=shop)
        return {"retrained": reason, "reviews": outcome.reviews, "analysis_id": outcome.analysis.pk}
    return {"retrained": "", "reviews": reviews_score_new(shop=shop)}


def _aspect_sentiments(texts: list[str], languages: list[str], aspects: list[list[str]], learned: dict,
                       sentiment: np.ndarray, *, model: SentimentModel | None, config: SentimentConfig,
                       scorer: SentimentScorer | None = None) -> list[dict[str, str]]:
    """Per review, the sentiment of each aspect that only some of its clauses mention, read from those clauses
    alone by the same model (or lexicon) as the reviews, without stars: "Fits perfectly, but box arrived crushed"
    is positive on size / fit and negative on packaging whatever its stars. A clause it cannot judge (another
    language under the lexicon) takes the review's sentiment."""
    spans = aspect_clauses(texts, languages, aspects, learned)
    keys = [(i, aspect) for i, found in enumerate(spans) for aspect in found]
    out: list[dict[str, str]] = [{} for _ in texts]
    if not keys:
        return out
    clauses = pd.DataFrame({"title": "", "text": [spans[i][a] for i, a in keys], "rating": np.nan,
                            "language": [languages[i] for i, _ in keys]})
    verdicts = sentiment_score(clauses, model, config=config, scorer=scorer).sentiment
    for (i, aspect), verdict in zip(keys, verdicts, strict=True):
        out[i][aspect] = verdict or sentiment[i]
    return out


def _scores_write(ids: np.ndarray, result, aspects: list[list[str]], judged: list[dict[str, str]], *,
                  given: np.ndarray) -> int:
    now = timezone.now()
    probability = result.positive_probability
    language = np.where(given == "", result.language, given)
    rows = ((int(i), s, None if np.isnan(p) else round(float(p), 4), None if np.isnan(p) else round(1 - float(p), 4),
             json.dumps(a), json.dumps(j), lang[:16])
            for i, s, p, a, j, lang in zip(ids, result.sentiment, probability, aspects, judged, language, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_SCORES} (id bigint, sentiment text, positive double precision, "
                       "negative double precision, aspects jsonb, judged jsonb, language text) ON COMMIT DROP")
        bulk_insert(_SCORES, ("id", "sentiment", "positive", "negative", "aspects", "judged", "language"), rows)
        cursor.execute(
            f"UPDATE behavior_review r SET sentiment = s.sentiment, positive_probability = s.positive, "
            f"negative_probability = s.negative, aspects = s.aspects, aspect_sentiments = s.judged, "
            f"language = s.language, analyzed_at = %s FROM {_SCORES} s WHERE r.id = s.id", [now])
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
