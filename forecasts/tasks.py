"""Celery entry points of forecasts (routed to the `ml` queue): a forecast run, and the nightly run per shop."""

import logging

from celery import shared_task

from accounts.models import Shop
from ecomsight.errors import UserError

from .services.runs import forecast_run_create

logger = logging.getLogger("ecomsight.nightly")
FORECAST_SOFT_LIMIT = 2 * 3600


@shared_task(soft_time_limit=FORECAST_SOFT_LIMIT, time_limit=FORECAST_SOFT_LIMIT + 300)
def forecast_run_task(shop_id: int, horizon_days: int = 91) -> int:
    """Forecast one shop; returns the run id."""
    return forecast_run_create(shop=Shop.objects.get(pk=shop_id), horizon_days=horizon_days).pk


@shared_task(soft_time_limit=FORECAST_SOFT_LIMIT, time_limit=FORECAST_SOFT_LIMIT + 300)
def nightly_forecasts() -> None:
    """Nightly: every shop's forecast, then its anomaly check (alerts and their emails)."""
    from .services.alerts import anomalies_detect_and_alert

    for shop in Shop.objects.all():
        try:
            forecast_run_create(shop=shop)
            anomalies_detect_and_alert(shop=shop)
        except UserError as exc:
            logger.info("nightly forecast skipped for %s: %s", shop.slug, exc.message)
