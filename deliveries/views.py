"""The Deliveries page: schedule a segment for a webhook or a bucket, send now, and read each delivery's log."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import can_view_personal_data, permission_required_403, role_required
from accounts.selectors import shop_for_request, user_may
from ecomsight.errors import UserError
from ecomsight.query import known_parameters
from predictions.models import Segment

from . import selectors
from .forms import DeliveryForm
from .services import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    delivery_create,
    delivery_delete,
    delivery_run_busy,
    preset_label,
)
from .tasks import delivery_run_task


def _may_send(request, shop) -> bool:
    return user_may(user=request.user, shop=shop, permission="export_segments")


@role_required("marketer")
@require_http_methods(["GET", "POST"])
@known_parameters("segment")
def delivery_list_page(request: HttpRequest) -> HttpResponse:
    """The shop's deliveries with their last run; the form to schedule one (export permission)."""
    shop = shop_for_request(request)
    may_send = _may_send(request, shop)
    show_personal = can_view_personal_data(request.user, shop)
    segments = list(Segment.objects.filter(shop=shop))
    form = DeliveryForm(request.POST or None, segments=segments, personal_data=show_personal,
                        initial={"segment": request.GET.get("segment")})
    if request.method == "POST":
        if not may_send:
            raise PermissionDenied("Your role may not export segments.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                delivery = delivery_create(
                    shop=shop, segment=next(s for s in segments if s.pk == data["segment"]), user=request.user,
                    kind=data["kind"], frequency=data["frequency"], weekday=data["weekday"] or 0,
                    preset=data["preset"], pseudonymise=data["pseudonymise"], url=data["url"],
                    endpoint_url=data["endpoint_url"], region=data["region"], bucket=data["bucket"],
                    prefix=data["prefix"], access_key_id=data["access_key_id"],
                    secret_access_key=data["secret_access_key"])
            except UserError as exc:
                messages.error(request, exc.message)
            else:
                when = delivery.get_frequency_display().lower()
                messages.success(request, f"“{delivery.segment.name}” will be delivered {when}.")
                return redirect("deliveries:detail", delivery_id=delivery.pk)
        else:
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return render(request, "deliveries/list.html", {
        "shop": shop, "deliveries": selectors.delivery_list(shop=shop), "form": form, "may_send": may_send,
        "segments": segments, "show_personal": show_personal,
    })


@role_required("marketer")
def delivery_page(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """One delivery: where it goes, how to check its signatures, and its log (runs and every try)."""
    shop = shop_for_request(request)
    delivery = selectors.delivery_get(shop=shop, delivery_id=delivery_id)
    return render(request, "deliveries/detail.html", {
        "shop": shop, "delivery": delivery, "runs": selectors.delivery_log(delivery=delivery),
        "may_send": _may_send(request, shop), "preset_label": preset_label(delivery.preset),
        "signature_header": SIGNATURE_HEADER, "timestamp_header": TIMESTAMP_HEADER,
    })


@permission_required_403("accounts.export_segments")
@require_POST
def delivery_send_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Send a delivery now, outside its schedule (a worker does it; the night's scheduled run still goes). Not
    while a run of it is sending, nor twice within a minute (a double click): the worker checks again."""
    delivery = selectors.delivery_get(shop=shop_for_request(request), delivery_id=delivery_id)
    busy = delivery_run_busy(delivery=delivery, manual=True)
    if busy is not None:
        messages.info(request, f"Not sent again: a run of this delivery started at {busy.started_at:%H:%M:%S} UTC "
                               f"({busy.get_status_display().lower()}). Its log is below.")
        return redirect("deliveries:detail", delivery_id=delivery.pk)
    transaction.on_commit(lambda: delivery_run_task.delay(delivery.pk, manual=True), robust=True)
    messages.success(request, "Sending now: the log below shows each try as it happens. Tonight's scheduled "
                              "run still goes, with the night's scores.")
    return redirect("deliveries:detail", delivery_id=delivery.pk)


@permission_required_403("accounts.export_segments")
@require_POST
def delivery_delete_view(request: HttpRequest, delivery_id: int) -> HttpResponse:
    shop = shop_for_request(request)
    delivery = selectors.delivery_get(shop=shop, delivery_id=delivery_id)
    delivery_delete(shop=shop, delivery=delivery, user=request.user)
    messages.success(request, "The delivery was removed.")
    return redirect("deliveries:list")
