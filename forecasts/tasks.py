"""Celery entry points of forecasts (routed to the `ml` queue): a forecast run, and the nightly run per shop."""

import logging

from celery import shared_task
from django.conf import settings

from accounts.models import Shop
from ecomsight.errors import UserError

from .services.alerts import anomalies_check
from .services.runs import forecast_run_create
from .services.webhooks import alert_webhook_send

logger = logging.getLogger("ecomsight.nightly")
FORECAST_SOFT_LIMIT = 2 * 3600


@shared_task(soft_time_limit=FORECAST_SOFT_LIMIT, time_limit=FORECAST_SOFT_LIMIT + 300)
def forecast_run_task(shop_id: int, horizon_days: int | None = None) -> int:
    """Forecast one shop (by default over its horizon setting); returns the run id."""
    return forecast_run_create(shop=Shop.objects.get(pk=shop_id), horizon_days=horizon_days).pk


@shared_task(soft_time_limit=600, time_limit=900)
def anomalies_check_task(shop_id: int) -> int:
    """After new orders or events (debounced): check the shop's monitors, store and notify new alerts."""
    return len(anomalies_check(shop_id=shop_id))


@shared_task(bind=True, queue="default", max_retries=None)
def alert_webhook_task(self, shop_id: int, alert_ids: list[int]) -> bool:
    """POST new alerts to the shop's webhook; retried with the deliveries' back-off while worth it. Network work:
    the default queue, like deliveries."""
    outcome = alert_webhook_send(shop_id=shop_id, alert_ids=alert_ids, attempt=self.request.retries + 1)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in, max_retries=settings.DELIVERY_MAX_ATTEMPTS - 1)
    return outcome.ok


@shared_task(soft_time_limit=FORECAST_SOFT_LIMIT, time_limit=FORECAST_SOFT_LIMIT + 300)
def nightly_forecasts() -> None:
    """Nightly: every shop's forecast, then its anomaly check (alerts and their emails)."""
    from .services.alerts import anomalies_detect_and_alert

    for shop in Shop.objects.all():
        # Each on its own: a shop whose forecast cannot run (events and no orders yet) still has its monitors.
        try:
            forecast_run_create(shop=shop)
        except UserError as exc:
            logger.info("nightly forecast skipped for %s: %s", shop.slug, exc.message)
        try:
            anomalies_detect_and_alert(shop=shop)
        except UserError as exc:
            logger.info("nightly anomaly check skipped for %s: %s", shop.slug, exc.message)
