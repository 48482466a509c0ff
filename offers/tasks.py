"""Celery entry points of offers: the nightly policy training, one task per shop with logged assignments."""

from celery import shared_task

from accounts.models import Shop
from ecomsight.errors import UserError

from .models import Assignment
from .services import offer_policy_train

TRAIN_SOFT_LIMIT = 3600


@shared_task
def offer_policy_nightly_task() -> list[int]:
    """Enqueue the training of every shop that has logged assignments (beat: every night)."""
    shop_ids = sorted(set(Assignment.objects.values_list("shop_id", flat=True).distinct()))
    for shop_id in shop_ids:
        offer_policy_train_task.delay(shop_id)
    return shop_ids


@shared_task(soft_time_limit=TRAIN_SOFT_LIMIT, time_limit=TRAIN_SOFT_LIMIT + 300)
def offer_policy_train_task(shop_id: int, reward: str = "conversion") -> dict:
    """Train (and promote only if surely better) the shop's offer policy; too few logs is not an error."""
    try:
        return offer_policy_train(shop=Shop.objects.get(pk=shop_id), reward=reward).report
    except UserError as exc:
        return {"skipped": exc.message}
