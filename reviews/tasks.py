"""Celery entry points of the reviews app (routed to the "ml" queue): thin wrappers around one service each."""

from celery import shared_task

from accounts.models import Shop
from behavior.models import Review

from .services import reviews_nightly, reviews_score_new

# A full analysis of a big shop (training, scoring a million reviews) may take a while: a longer limit.
ANALYSIS_SOFT_LIMIT = 2 * 3600


@shared_task
def reviews_score_new_task(shop_id: int) -> int:
    """Score the shop's reviews that arrived since its analysis with the saved model (enqueued once per debounce
    window by reviews.services.reviews_score_schedule); safe to run twice."""
    return reviews_score_new(shop=Shop.objects.get(pk=shop_id))


@shared_task(soft_time_limit=ANALYSIS_SOFT_LIMIT, time_limit=ANALYSIS_SOFT_LIMIT + 300)
def reviews_shop_nightly_task(shop_id: int) -> dict:
    """One shop's nightly sentiment work: train again when due, else score what is left unscored."""
    return reviews_nightly(shop=Shop.objects.get(pk=shop_id))


@shared_task
def reviews_nightly_task() -> int:
    """Nightly (beat, before the night's scoring, which reads the negative reviews): one task per shop with
    reviews. Returns the shops enqueued."""
    shops = list(Review.objects.values_list("shop_id", flat=True).distinct().order_by("shop_id"))
    for shop_id in shops:
        reviews_shop_nightly_task.delay(shop_id)
    return len(shops)
