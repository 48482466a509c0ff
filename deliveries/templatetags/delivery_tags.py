"""`{% delivery_notice shop %}`: on the dashboard, the deliveries whose last run failed in the last days (a list
that did not reach its campaign tool should not wait for someone to open the Deliveries page)."""

from datetime import timedelta

from django import template
from django.utils import timezone

from ..models import DeliveryRun

register = template.Library()

NOTICE_DAYS = 3


@register.inclusion_tag("deliveries/_dashboard_notice.html")
def delivery_notice(shop):
    if shop is None:
        return {"failed": []}
    since = timezone.now() - timedelta(days=NOTICE_DAYS)
    latest: dict[int, DeliveryRun] = {}
    for run in (DeliveryRun.objects.filter(shop=shop, started_at__gte=since, delivery__active=True)
                .select_related("delivery__segment").order_by("delivery_id", "-started_at", "-id")):
        latest.setdefault(run.delivery_id, run)  # each delivery's newest run
    return {"failed": [run for run in latest.values() if run.status == DeliveryRun.Status.FAILED]}
