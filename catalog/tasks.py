"""Celery entry points of the catalogue: index a shop's product pictures (fetch, hash, embed, neighbours)."""

from celery import shared_task

from accounts.models import Shop

from .selectors import shops_with_picture_changes
from .services import product_images_index


@shared_task(soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300)
def product_images_index_task(shop_id: int, images_dir: str | None = None, files_wait: bool = False) -> dict:
    return product_images_index(shop=Shop.objects.get(pk=shop_id), images_dir=images_dir,
                                files_wait_for_directory=files_wait).as_json()


@shared_task
def product_images_pending_task() -> list[int]:
    """Every few minutes (beat): queue a pass for each shop whose products' pictures changed by any route (web
    uploads, the API), not only after `import_data`."""
    shops = shops_with_picture_changes()
    for shop_id in shops:
        product_images_index_task.delay(shop_id, None, True)
    return shops
