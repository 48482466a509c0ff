"""The Forecast page (history and forecast with its band, per level; accuracy in words), its CSV, and Alerts."""

from __future__ import annotations

import csv

import pandas as pd
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import role_required
from accounts.selectors import role_allows, shop_for_request, user_has_role, user_role
from ecomsight.csvsafe import neutralise
from ecomsight.errors import UserError
from ecomsight.query import known_parameters

from .alert_words import metric_words, segment_words
from .charts import forecast_chart
from .ml.series import LEVELS, MEASURES
from .models import Alert, AlertWebhook, CustomerFlag, MonitorMute
from .selectors import (
    alert_row_list,
    forecast_key_at_other_level,
    forecast_key_choices,
    forecast_key_find,
    forecast_keys,
    forecast_run_in_progress,
    forecast_run_latest,
    forecast_value_list,
    history_series_frame,
)
from .services.alerts import alert_acknowledge, monitor_mute, monitor_unmute
from .services.webhooks import alert_webhook_remove, alert_webhook_set
from .templatetags.forecast_tags import model_words

# The pickers in words (the URL keeps the codes: links from alerts and bookmarks go on working).
LEVEL_WORDS = {"shop": "Whole shop", "category": "Category", "country": "Country", "product": "Product (top sellers)"}
MEASURE_WORDS = {"orders": "Orders", "revenue": "Revenue", "units": "Units sold"}
SERIES_WORDS = {"category": "Category", "country": "Country", "product": "Product"}


FREQ_WORDS = {"week": "week", "day": "day"}
PICKERS = (("level", "For", LEVEL_WORDS, "shop"), ("measure", "What", MEASURE_WORDS, "orders"),
           ("freq", "Per", FREQ_WORDS, "week"))
SHOWN = 40  # characters of a value not understood echoed back


def _shown(value: str) -> str:
    clean = "".join(ch if ch.isprintable() else "?" for ch in value)
    return clean[:SHOWN] + ("…" if len(clean) > SHOWN else "")


def _pickers(request: HttpRequest, *, page: bool = True) -> tuple[dict[str, str], list[str]]:
    """The level, measure and frequency the query asks for, and a notice per value not understood, saying what the
    page shows instead (a new user's `?measure=refunds` showed orders without a word) or, for a file (`page`
    False), that none is made. Left out or empty: the default."""
    chosen, notices = {}, []
    for name, label, words, default in PICKERS:
        value = request.GET.get(name) or default
        if value not in words:
            options = list(words.values())
            notices.append(f"{label}: “{_shown(value)}” is not understood (it is one of {', '.join(options[:-1])} "
                           f"or {options[-1]}); " + (f"showing {words[default]} instead." if page else
                                                     "no file is made."))
            value = default
        chosen[name] = value
    return chosen, notices


@role_required("marketer")
@known_parameters("level", "measure", "freq", "key", "alert")
def forecast_page(request: HttpRequest) -> HttpResponse:
    """One series of the latest run: its history, forecast and band, and how accurate validation found it. From an
    alert's link (`alert`): which day was alerted and its value, and whether the chart's history reaches it (it ends
    at the forecast's cutoff)."""
    shop = shop_for_request(request)
    run = forecast_run_latest(shop_id=shop.pk)
    alert_id = request.GET.get("alert", "")
    known = alert_id.isascii() and alert_id.isdigit() and len(alert_id) < 12  # not '²' (isdigit, yet no int)
    alert = Alert.objects.filter(shop=shop, pk=int(alert_id)).first() if known else None
    chosen, notices = _pickers(request)
    level, measure, freq = chosen["level"], chosen["measure"], chosen["freq"]
    context = {"shop": shop, "run": run, "level": level, "measure": measure, "freq": freq, "notices": notices,
               "levels": [(lv, LEVEL_WORDS.get(lv, lv)) for lv in LEVELS],
               "measures": [(m, MEASURE_WORDS.get(m, m)) for m in MEASURES],
               "series_word": SERIES_WORDS.get(level, "Series"),
               # Model names are for analysts; a marketer reads what the model does, in words.
               "show_model_names": user_has_role(user=request.user, shop=shop, roles=("analyst",)),
               "in_progress": forecast_run_in_progress(shop_id=shop.pk) if run is None else None,
               "alert": alert, "alert_after_history": alert is not None and run is not None
               and alert.end > run.cutoff}
    if run is not None:
        keys = forecast_keys(run=run, level=level, measure=measure, freq=freq)
        wanted = request.GET.get("key") or ""
        key = forecast_key_find(keys=keys, wanted=wanted, level=level) if wanted else None
        choices = forecast_key_choices(shop_id=shop.pk, keys=keys, level=level)
        if key is None and keys:
            key = keys[0]
            if wanted and not forecast_key_at_other_level(run=run, level=level, key=wanted):
                shown = next(c.label for c in choices if c.key == key)
                notices.append(f"{SERIES_WORDS.get(level, 'Series')}: “{_shown(wanted)}” is not understood (this "
                               f"forecast has no such {SERIES_WORDS.get(level, 'series').lower()}); showing "
                               f"{shown} instead.")
        values = forecast_value_list(run=run, level=level, measure=measure, freq=freq, key=key) if key else []
        history = history_series_frame(run=run, level=level, measure=measure, freq=freq, key=key) if key else \
            pd.DataFrame(columns=["date", "value"])
        info = run.summary.get("levels", {}).get(level, {}).get(measure, {}).get(freq)
        chart = forecast_chart(history, values, measure=measure, freq=freq, currency=shop.currency)
        context.update({"keys": choices, "key": key, "values": values, "chart": chart, "info": info,
                        "key_label": next((c.label for c in choices if c.key == key), key),
                        "total": sum(v.point for v in values), "skipped": run.summary.get("skipped", []),
                        # The bins' days: a 30-day horizon is 5 whole weeks on the weekly page (35 days), which
                        # the page counts in weeks ("91 days" beside the dashboard's 90 read as a second horizon).
                        "span_days": len(values) * (7 if freq == "week" else 1),
                        "span_words": f"{len(values)} {freq}{'' if len(values) == 1 else 's'}"})
    return render(request, "forecasts/forecast.html", context)


@role_required("marketer")
@known_parameters("level", "measure", "freq")
def forecast_csv(request: HttpRequest) -> HttpResponse:
    """The latest run's values of a level and measure as CSV (every series; only the header before any run). A
    value not understood makes no file (400, the notice): a file of orders named for refunds would pass for them."""
    shop = shop_for_request(request)
    chosen, notices = _pickers(request, page=False)
    if notices:
        return render(request, "forecasts/forecast_csv_refused.html", {"notices": notices}, status=400)
    level, measure, freq = chosen["level"], chosen["measure"], chosen["freq"]
    run = forecast_run_latest(shop_id=shop.pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="forecast-{level}-{measure}-{freq}.csv"'
    writer = csv.writer(response)
    # `model` keeps the code integrators read (as the API and `forecast --json` do); `forecast_by` is the page's words.
    writer.writerow(["level", "key", "measure", "freq", "date", "model", "point", "lo80", "hi80", "lo95", "hi95",
                     "forecast_by"])
    for v in forecast_value_list(run=run, level=level, measure=measure, freq=freq) if run else []:
        writer.writerow([level, neutralise(v.key), measure, freq, v.date.isoformat(), v.model, round(v.point, 3),
                         *("" if b is None else round(b, 3) for b in (v.lo80, v.hi80, v.lo95, v.hi95)),
                         model_words(v.model)])
    return response


@role_required("marketer")
@known_parameters()
def alert_list(request: HttpRequest) -> HttpResponse:
    """Open and acknowledged alerts, newest first, with the muted monitors."""
    shop = shop_for_request(request)
    alerts = alert_row_list(shop_id=shop.pk)
    mutes = MonitorMute.objects.filter(shop=shop).order_by("metric", "segment")
    flags = CustomerFlag.objects.filter(shop=shop).select_related("customer")[:200]
    role = user_role(user=request.user, shop=shop)
    is_admin = role == "admin"
    return render(request, "forecasts/alerts.html", {
        "shop": shop, "alerts": alerts, "mutes": mutes, "flags": flags, "is_admin": is_admin,
        # acknowledging and muting need an analyst: a marketer is not offered buttons that answer 403
        "may_act": user_has_role(user=request.user, shop=shop, roles=("analyst",)),
        # an import is how a check is started from the app (a marketer may not import)
        "may_import": role_allows(role, "import_data"),
        # the signing secret is shown to admins only
        "webhook": AlertWebhook.objects.filter(shop=shop).first() if is_admin else None})


@require_POST
@role_required("admin")
def alert_webhook_view(request: HttpRequest) -> HttpResponse:
    """POST url: send new alerts there (signed JSON); POST remove: stop."""
    shop = shop_for_request(request)
    if request.POST.get("remove"):
        alert_webhook_remove(shop=shop, user=request.user)
        messages.success(request, "Alerts are no longer sent to a webhook.")
        return redirect("forecasts:alerts")
    try:
        alert_webhook_set(shop=shop, user=request.user, url=request.POST.get("url", ""))
    except UserError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "New alerts will be sent to this webhook.")
    return redirect("forecasts:alerts")


@require_POST
@role_required("analyst")
def alert_acknowledge_view(request: HttpRequest) -> HttpResponse:
    """POST alert_id: mark that alert of the caller's shop as seen (another shop's id answers 404)."""
    shop = shop_for_request(request)
    try:
        alert_acknowledge(shop=shop, alert_id=int(request.POST.get("alert_id", "")))
    except (Alert.DoesNotExist, ValueError):
        raise Http404("no such alert") from None
    return redirect("forecasts:alerts")


@require_POST
@role_required("analyst")
def monitor_mute_view(request: HttpRequest) -> HttpResponse:
    shop = shop_for_request(request)
    metric = (request.POST.get("metric") or "").strip()[:64]
    segment = (request.POST.get("segment") or "").strip()[:200]
    if not metric:
        messages.error(request, "Say which metric to mute.")
    else:
        what = f"{metric_words(metric)}, {segment_words(segment) if segment else 'everywhere'}"
        if request.POST.get("unmute"):
            monitor_unmute(shop=shop, metric=metric, segment=segment)
            messages.success(request, f"{what}: unmuted.")
        else:
            monitor_mute(shop=shop, metric=metric, segment=segment)
            messages.success(request, f"{what}: muted, no new alerts.")
    return redirect("forecasts:alerts")
