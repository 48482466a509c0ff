"""Celery entry points of the catalogue: index a shop's product pictures (fetch, hash, embed, neighbours)."""

from celery import shared_task

from accounts.models import Shop

from .services import product_images_index


@shared_task(soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300)
def product_images_index_task(shop_id: int, images_dir: str | None = None) -> dict:
    return product_images_index(shop=Shop.objects.get(pk=shop_id), images_dir=images_dir).as_json()
