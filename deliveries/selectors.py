"""Reads of deliveries: the shop's schedules with their latest runs, and one delivery's log."""

from __future__ import annotations

from django.http import Http404

from accounts.models import Shop

from .models import Delivery, DeliveryAttempt, DeliveryRun

RUNS_SHOWN = 20


def delivery_list(*, shop: Shop) -> list[Delivery]:
    """The shop's deliveries, newest first, each with `last_run` (or None): two queries."""
    deliveries = list(Delivery.objects.filter(shop=shop).select_related("segment"))
    last: dict[int, DeliveryRun] = {}
    for run in DeliveryRun.objects.filter(shop=shop, delivery__in=deliveries).order_by("delivery_id", "-started_at",
                                                                                       "-id").distinct("delivery_id"):
        last[run.delivery_id] = run
    for delivery in deliveries:
        delivery.last_run = last.get(delivery.pk)
    return deliveries


def delivery_get(*, shop: Shop, delivery_id: int) -> Delivery:
    delivery = Delivery.objects.filter(shop=shop, pk=delivery_id).select_related("segment").first()
    if delivery is None:
        raise Http404("No such delivery")
    return delivery


def delivery_log(*, delivery: Delivery) -> list[DeliveryRun]:
    """The delivery's latest runs, each with `tries`: its attempts in order (the log the shop reads)."""
    runs = list(DeliveryRun.objects.filter(delivery=delivery)[:RUNS_SHOWN])
    tries: dict[int, list[DeliveryAttempt]] = {}
    for attempt in DeliveryAttempt.objects.filter(run__in=runs):
        tries.setdefault(attempt.run_id, []).append(attempt)
    for run in runs:
        run.tries = tries.get(run.pk, [])
    return runs

