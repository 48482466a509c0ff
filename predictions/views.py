"""The marketer's pages: dashboard, at-risk list, customer page, segments and their CSV export.

Thin views: parse the request, call one selector or service, render. The shop always comes from
`shop_for_request` (never from the URL), so another shop's ids answer 404.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, time

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Job
from accounts.permissions import can_view_personal_data, permission_required_403, role_required
from accounts.selectors import shop_for_request, user_may
from catalog.selectors import product_thumbnails
from ecomsight.errors import UserError
from ecomsight.query import known_parameters, unknown_parameters, unknown_parameters_page
from predictions.filters import BANDS, BUYERS_SORTS, DEFAULT_SORT, QUERY_NAMES, SORTS, AtRiskFilter
from predictions.forms import ExportForm, SegmentNameForm
from predictions.run_labels import run_labels
from predictions.selectors import at_risk as at_risk_sel
from predictions.selectors import campaigns
from predictions.selectors import coverage as coverage_sel
from predictions.selectors import customers as customers_sel
from predictions.selectors import dashboard as dashboard_sel
from predictions.selectors import likely_buyers as likely_buyers_sel
from predictions.selectors import segments as segments_sel
from predictions.services import exports
from predictions.services.export_presets import PRESETS, file_format
from predictions.services.segments import (
    export_create,
    export_download_record,
    segment_create,
    segment_delete,
    segment_rename,
)
from reviews.selectors import review_list

# The export form's fields (the GET link and the POST form of a large segment take these and nothing else).
EXPORT_FIELDS = tuple(ExportForm.base_fields)

# ---- small server-side charts ---------------------------------------------------------------------
# Text stays in HTML around the SVG (not inside it): SVG text shrinks with the chart on a phone.


@dataclass(frozen=True)
class Bar:
    """One column of the risk histogram, sized in percent of the tallest column."""

    label: str  # "70–80 %"
    count: int
    height_pct: float
    band: str  # "low", "medium" or "high": the colour of the bucket

    @property
    def y_pct(self) -> float:
        return 100.0 - self.height_pct

    @property
    def range(self) -> str:
        return self.label.removesuffix(" %")


@dataclass(frozen=True)
class LineChart:
    points: str  # the polyline's "x,y x,y ..."
    dots: list[tuple[float, float, str]]  # x, y, tooltip
    first_label: str
    last_label: str
    y_max_label: str
    y_min_label: str
    width: int
    height: int
    latest: str  # the last value, formatted
    change: str  # "up 12 since 24 May" / "" with a single value


@dataclass(frozen=True)
class TimelineRow:
    """A timeline item and whether it carries a real time of day (imports with a date only land at midnight UTC)."""

    item: customers_sel.TimelineItem
    date_only: bool


CHART_W, CHART_H = 600, 160
TREND_H = 90


def _bars(counts: list[int]) -> list[Bar]:
    if not counts:
        return []
    top = max(counts) or 1
    n = len(counts)
    bars = []
    for i, count in enumerate(counts):
        low, high = i * 100 // n, (i + 1) * 100 // n
        band = "high" if low >= 60 else "medium" if low >= 30 else "low"
        # A bucket with a few customers still shows a sliver, so "few" never reads as "none".
        height = 0.0 if count == 0 else max(2.0, round(100 * count / top, 1))
        bars.append(Bar(label=f"{low}–{high} %", count=count, height_pct=height, band=band))
    return bars


def _line(values: list[float], labels: list[str], *, y_max: float | None = None, fmt=lambda v: f"{v:.0%}",
          height: int = CHART_H) -> LineChart | None:
    if not values:
        return None
    top = y_max if y_max is not None else (max(values) or 1.0)
    step = CHART_W / max(1, len(values) - 1)
    pts = []
    for i, v in enumerate(values):
        x = i * step if len(values) > 1 else CHART_W / 2
        y = height - 6 - (height - 12) * (v / top if top else 0)
        pts.append((round(x, 1), round(y, 1), f"{labels[i]}: {fmt(v)}"))
    change = ""
    if len(values) > 1:
        delta = values[-1] - values[-2]
        if fmt(abs(delta)) == fmt(0) or fmt(values[-1]) == fmt(values[-2]):  # the two shown alike: no change
            change = f"no change since {labels[-2]}"
        else:
            change = f"{'up' if delta > 0 else 'down'} {fmt(abs(delta))} since {labels[-2]}"
    return LineChart(points=" ".join(f"{x},{y}" for x, y, _ in pts), dots=pts, first_label=labels[0],
                     last_label=labels[-1], y_max_label=fmt(top), y_min_label=fmt(0), width=CHART_W,
                     height=height, latest=fmt(values[-1]), change=change)


def _date_only(at) -> bool:
    return at.astimezone(UTC).time() == time(0)


# ---- dashboard -----------------------------------------------------------------------------------


@role_required("marketer")
def dashboard(request: HttpRequest) -> HttpResponse:
    """Headline figures, risk distribution, trend over runs, model quality in words, last jobs."""
    shop = shop_for_request(request)
    data = dashboard_sel.dashboard_get(shop=shop)
    labels = run_labels([(f.as_of, f.ran_at) for f in data.trend])
    money = lambda v: f"{v:,.0f} {shop.currency}"  # noqa: E731
    count = lambda v: f"{v:,.0f}"  # noqa: E731
    trend = [
        ("Customers expected to leave", _line([f.expected_churners for f in data.trend], labels, fmt=count,
                                              height=TREND_H)),
        ("Revenue at risk", _line([f.revenue_at_risk for f in data.trend], labels, fmt=money, height=TREND_H)),
        (f"Expected buyers, next {shop.horizon_days} days",
         _line([f.expected_buyers for f in data.trend], labels, fmt=count, height=TREND_H)),
    ] if len(data.trend) > 1 else []
    return render(request, "predictions/dashboard.html", {
        "shop": shop, "d": data, "bars": _bars(data.histogram), "trend": trend,
        "scores_run": data.run,
    })


# ---- at-risk list --------------------------------------------------------------------------------


@role_required("marketer")
@known_parameters(*QUERY_NAMES, "page")
def at_risk_list(request: HttpRequest) -> HttpResponse:
    """Every scored customer, filtered and sorted by the URL's query; 50 a page."""
    shop = shop_for_request(request)
    flt = at_risk_sel.filter_resolved(shop=shop, flt=AtRiskFilter.from_query(request.GET))  # a category path → id
    if flt.buyers:  # a buyers filter (a segment's "see all", a shared link) is the likely buyers page's
        return redirect(f"{reverse('predictions:likely_buyers')}?{request.GET.urlencode()}")
    result = at_risk_sel.at_risk_page(shop=shop, flt=flt, page=request.GET.get("page"))
    sort_links = {key: flt.to_query_string(sort=key) for key in SORTS}
    return render(request, "predictions/at_risk.html", {
        "shop": shop, "flt": flt, "result": result, "page": result.page, "typed": request.GET,
        "choices": at_risk_sel.filter_choices(shop=shop, flt=flt),
        "bands": BANDS, "sorts": SORTS, "default_sort": DEFAULT_SORT, "sort_links": sort_links,
        "query": flt.to_query_string(),
        "words": at_risk_sel.filter_in_words(shop=shop, flt=flt), "save_form": SegmentNameForm(),
        "show_personal": can_view_personal_data(request.user, shop),
        "top50_query": flt.to_query_string(limit=50),
        "coverage": coverage_sel.scored_coverage(shop=shop, run=result.run),
        "scores_run": result.run,
    }, status=400 if flt.errors else 200)  # a bad value lists nothing (ecomsight/query.py says why)


# ---- customer page -------------------------------------------------------------------------------


@role_required("marketer")
def customer_page(request: HttpRequest, external_id: str) -> HttpResponse:
    """One customer: why they are at risk, their value, history, timeline and what to offer them."""
    shop = shop_for_request(request)
    detail = customers_sel.customer_detail(shop=shop, external_id=external_id)
    history = _line([h.probability for h in detail.history],
                    run_labels([(h.as_of, h.scored_at) for h in detail.history], with_year=True),
                    y_max=1.0) if len(detail.history) > 1 else None
    timeline = [TimelineRow(item=item, date_only=_date_only(item.at)) for item in detail.timeline]
    shown = {r.product_id for r in detail.recommendations} | {s.similar_id for s in detail.similar}
    return render(request, "predictions/customer.html", {
        "shop": shop, "c": detail, "customer": detail.customer, "history": history, "timeline": timeline,
        "thumbs": product_thumbnails(shop_id=shop.pk, product_ids=shown) if shown else {},
        "show_personal": can_view_personal_data(request.user, shop),
        "scores_run": detail.run,
        "reviews": list(review_list(shop=shop, customer=detail.customer.external_id)[:10]),
        "back": _customer_back_link(shop=shop, came_from=request.GET.get("from", ""), detail=detail),
    })


@dataclass(frozen=True)
class BackLink:
    url: str
    label: str


def _customer_back_link(*, shop, came_from: str, detail) -> BackLink:
    """Where the customer page's "←" leads: the list or segment it was opened from (`from=buyers`, `at-risk`,
    `segment:<id>`, which the lists add to their links), else the at-risk list (the likely buyers for a customer
    with only a chance of buying)."""
    if came_from == "buyers" or (not came_from and detail.purchase and not detail.churn):
        return BackLink(reverse("predictions:likely_buyers"), "Likely buyers")
    kind, _, pk = came_from.partition(":")
    if kind == "segment" and pk.isascii() and pk.isdigit() and len(pk) < 12:
        try:
            segment = segments_sel.segment_get(shop=shop, segment_id=int(pk))
        except Http404:  # deleted since, or another shop's: the default link
            pass
        else:
            return BackLink(reverse("predictions:segment", args=[segment.pk]), segment.name)
    return BackLink(reverse("predictions:at_risk"), "At-risk customers")


# ---- segments ------------------------------------------------------------------------------------


@role_required("marketer")
@require_http_methods(["GET", "POST"])
@known_parameters()
def segment_list(request: HttpRequest) -> HttpResponse:
    """The shop's segments with their live size; POST saves the at-risk list's filter as a new one."""
    shop = shop_for_request(request)
    form = SegmentNameForm(request.POST or None)
    if request.method == "POST":
        # Back to the list with the filter that was being saved, whatever went wrong: the list without it would
        # offer to save every customer under the next name typed.
        params = QueryDict(str(request.POST.get("query") or ""))
        flt = at_risk_sel.filter_resolved(shop=shop, flt=AtRiskFilter.from_query(params))
        page = reverse("predictions:likely_buyers" if flt.buyers else "predictions:at_risk")
        back = f"{page}?{params.urlencode()}" if params else page
        if not form.is_valid():
            messages.error(request, "Give the segment a name.")
            return redirect(back)
        try:
            segment = segment_create(shop=shop, user=request.user, name=form.cleaned_data["name"], flt=flt)
        except UserError as exc:
            messages.error(request, exc.message)
            return redirect(back)
        messages.success(request, f"Saved “{segment.name}”. You can export it as CSV below.")
        return redirect("predictions:segment", segment_id=segment.pk)
    # Each segment's filter in words, so that the list says who is in it (segments are few: a query or two each).
    segments = [(item, at_risk_sel.filter_in_words(shop=shop, flt=AtRiskFilter.from_dict(item.segment.filters)))
                for item in segments_sel.segment_summaries(shop=shop)]
    return render(request, "predictions/segments.html", {"shop": shop, "segments": segments})


@role_required("marketer")
@known_parameters()
def segment_page(request: HttpRequest, segment_id: int) -> HttpResponse:
    """A segment: live size, first 20 members, its filter in words, export and the campaign planner."""
    shop = shop_for_request(request)
    detail = segments_sel.segment_detail(shop=shop, segment_id=segment_id)
    flt = AtRiskFilter.from_dict(detail.segment.filters)
    can_export = user_may(user=request.user, shop=shop, permission="export_segments")
    return render(request, "predictions/segment.html", {
        "shop": shop, "s": detail, "segment": detail.segment,
        "list_query": AtRiskFilter(segment=detail.segment.pk, sort=flt.sort, list=flt.list).to_query_string(),
        "list_url": reverse("predictions:likely_buyers" if flt.buyers else "predictions:at_risk"),
        "list_name": "likely buyers list" if flt.buyers else "at-risk list", "buyers": flt.buyers,
        # The planner targets the segment's first N in its own order: its list cut at N.
        "planner_order": SORTS[flt.sort].replace(" (", ", ").rstrip(")").lower(),
        "rename_form": SegmentNameForm(initial={"name": detail.segment.name}),
        "export_form": ExportForm(), "show_personal": can_view_personal_data(request.user, shop),
        "can_export": can_export,
        # The rows the file will hold per control group choice (flagged customers and the control left out).
        "export_choices": segments_sel.segment_export_choices(shop=shop, detail=detail) if can_export else [],
        # Above the threshold the form POSTs and the file is prepared by a worker (progress page, then a link).
        "export_in_background": detail.size > settings.EXPORT_STREAM_MAX_ROWS,
        "recent_exports": campaigns.segment_exports_recent(shop=shop, segment=detail.segment) if can_export else [],
        "results": campaigns.segment_campaigns(shop=shop, segment=detail.segment),
        "planner_json": json.dumps(detail.planner), "scores_run": detail.run,
    })


@role_required("marketer")
@require_POST
def segment_rename_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    shop = shop_for_request(request)
    segment = segments_sel.segment_get(shop=shop, segment_id=segment_id)
    form = SegmentNameForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the segment a name.")
    else:
        try:
            segment_rename(shop=shop, segment=segment, user=request.user, name=form.cleaned_data["name"])
            messages.success(request, f"Renamed to “{segment.name}”.")
        except UserError as exc:
            messages.error(request, exc.message)
    return redirect("predictions:segment", segment_id=segment_id)


@role_required("marketer")
@require_http_methods(["GET", "POST"])
def segment_delete_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """GET asks to confirm; POST deletes."""
    shop = shop_for_request(request)
    segment = segments_sel.segment_get(shop=shop, segment_id=segment_id)
    if request.method == "POST":
        name = segment.name
        try:
            segment_delete(shop=shop, segment=segment, user=request.user)
        except UserError as exc:
            messages.error(request, exc.message)
            return redirect("predictions:segment", segment_id=segment.pk)
        messages.success(request, f"Deleted the segment “{name}”.")
        return redirect("predictions:segments")
    return render(request, "predictions/segment_delete.html", {"shop": shop, "segment": segment})


@permission_required_403("accounts.export_segments")
@require_GET
@known_parameters(*EXPORT_FIELDS)
def segment_export(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The segment as CSV, streamed. `?pseudonymise=1` and `?control=10` (percent held back) are optional.

    Always streams, whatever the size: a GET starts no background job (the large-segment form POSTs instead)."""
    return _export(request, segment_id, request.GET, stream_max_rows=None)


@permission_required_403("accounts.export_segments")
@require_POST
def segment_export_start(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The export form of a large segment: above EXPORT_STREAM_MAX_ROWS rows, start the background file and
    show its progress page; a segment that shrank below it since the page was drawn streams at once."""
    return _export(request, segment_id, request.POST, stream_max_rows=settings.EXPORT_STREAM_MAX_ROWS)


def _export(request: HttpRequest, segment_id: int, data: QueryDict, *, stream_max_rows: int | None) -> HttpResponse:
    shop = shop_for_request(request)
    segment = segments_sel.segment_get(shop=shop, segment_id=segment_id)
    if request.method == "POST":  # the form's fields only: a mistyped one must not make a file of everyone
        unknown = unknown_parameters(request.GET, ()) + unknown_parameters(data, (*EXPORT_FIELDS,
                                                                                 "csrfmiddlewaretoken"))
        if unknown:
            return unknown_parameters_page(request, unknown=unknown, known=frozenset(EXPORT_FIELDS))
    form = ExportForm(data)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("predictions:segment", segment_id=segment_id)
    try:
        plan = export_create(
            shop=shop, segment=segment, user=request.user, pseudonymise=form.cleaned_data["pseudonymise"],
            control_pct=form.cleaned_data["control"] or 0, stream_max_rows=stream_max_rows,
            preset=form.cleaned_data["preset"] or "generic",
            include_ordered_since_scoring=form.cleaned_data["include_ordered_since_scoring"],
            include_flagged=form.cleaned_data["include_flagged"],
        )
    except UserError as exc:  # a broken saved filter, Mailchimp without emails
        messages.error(request, exc.message)
        return redirect("predictions:segment", segment_id=segment_id)
    if plan.job is not None:
        return redirect("predictions:export", export_id=plan.export.pk)
    response = StreamingHttpResponse(exports.export_stream(plan=plan),
                                     content_type=file_format(plan.export.preset).content_type)
    response["Content-Disposition"] = f'attachment; filename="{exports.export_filename(export=plan.export)}"'
    response["X-Left-Out-No-Consent"] = str(plan.left_out_no_consent)  # refused marketing: not in the file
    # ordered after their score was computed: not in a campaign file unless asked for
    response["X-Left-Out-Ordered-Since-Scoring"] = str(plan.left_out_ordered_since_scoring)
    response["X-Left-Out-Flagged"] = str(plan.left_out_flagged)  # refund abuse, bot-like: unless asked for
    return response


# ---- background exports: progress, then the file ---------------------------------------------------

_RUNNING = (Job.Status.PENDING, Job.Status.RUNNING)


def _file_ready(export) -> bool:
    """The export's file is there to download: written in full (a streamed export keeps its copy too: no job)
    and not yet removed by FILE_RETENTION_DAYS."""
    return ((export.job is None or export.job.status == Job.Status.SUCCEEDED) and bool(export.file_path)
            and os.path.isfile(export.file_path))


@permission_required_403("accounts.export_segments")
@require_GET
def export_page(request: HttpRequest, export_id: int) -> HttpResponse:
    """An export: a background one's progress bar that updates itself, then the download link (a streamed
    export's copy can be downloaded again here too)."""
    shop = shop_for_request(request)
    export = campaigns.segment_export_get(shop=shop, export_id=export_id)
    job = export.job
    return render(request, "predictions/export.html", {
        "shop": shop, "export": export, "job": job, "segment": export.segment,
        "running": job is not None and job.status in _RUNNING,
        "percent": campaigns.job_percent(job) if job else 100, "ready": _file_ready(export),
        "may_download": export.pseudonymised or can_view_personal_data(request.user, shop),
        "filename": exports.export_filename(export=export), "preset": PRESETS.get(export.preset),
        "retention_days": settings.FILE_RETENTION_DAYS,
    })


@permission_required_403("accounts.export_segments")
@require_GET
def export_status(request: HttpRequest, export_id: int) -> JsonResponse:
    """The poller's view of a background export (see static/js/poll.js)."""
    shop = shop_for_request(request)
    export = campaigns.segment_export_get(shop=shop, export_id=export_id)
    job = export.job
    if job is None:
        raise Http404("This export was streamed: it has no background job.")
    percent = campaigns.job_percent(job)
    return JsonResponse({
        "status": job.status, "done": job.status not in _RUNNING,
        "fields": {"status": job.get_status_display(), "percent": f"{percent} %",
                   "done": f"{job.progress_done:,}", "total": f"{job.progress_total:,}"},
        "bars": {"export": percent},
    })


@permission_required_403("accounts.export_segments")
@require_GET
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    """An export's file, streamed from disk; every download is written to the audit log."""
    shop = shop_for_request(request)
    export = campaigns.segment_export_get(shop=shop, export_id=export_id)
    # A file with email and name, made by an admin, must not reach a user who may not see personal data.
    if not export.pseudonymised and not can_view_personal_data(request.user, shop):
        raise PermissionDenied("This file holds email addresses and names, which your role may not see.")
    if export.job is not None and export.job.status in _RUNNING:
        messages.info(request, "The file is still being prepared. The link appears here when it is ready.")
        return redirect("predictions:export", export_id=export.pk)
    if not _file_ready(export):
        raise Http404("This export has no file to download.")
    export_download_record(shop=shop, export=export, user=request.user)
    return FileResponse(open(export.file_path, "rb"), as_attachment=True,  # FileResponse closes it
                        filename=exports.export_filename(export=export),
                        content_type=file_format(export.preset).content_type)




# ---- likely buyers -------------------------------------------------------------------------------


@role_required("marketer")
@known_parameters(*QUERY_NAMES, "page")
def likely_buyers_list(request: HttpRequest) -> HttpResponse:
    """Who will buy within the shop's horizon, likeliest first, with what to offer them, filtered by the URL's
    query (the at-risk list's filter with `list=buyers`: predictions.filters); 50 a page."""
    shop = shop_for_request(request)
    query = request.GET.copy()
    query["list"] = "buyers"
    flt = at_risk_sel.filter_resolved(shop=shop, flt=AtRiskFilter.from_query(query))
    result = likely_buyers_sel.likely_buyers_page(shop=shop, flt=flt, page=request.GET.get("page"))
    return render(request, "predictions/likely_buyers.html", {
        "shop": shop, "flt": flt, "result": result, "page": result.page, "scores_run": result.run, "typed": query,
        "show_personal": can_view_personal_data(request.user, shop),
        "choices": at_risk_sel.filter_choices(shop=shop, flt=flt), "sorts": {k: SORTS[k] for k in BUYERS_SORTS},
        "default_sort": "purchase", "query": flt.to_query_string(),
        "sort_links": {key: flt.to_query_string(sort=key) for key in BUYERS_SORTS},
        "words": at_risk_sel.filter_in_words(shop=shop, flt=flt, list_named=False),
        "save_form": SegmentNameForm(), "top50_query": flt.to_query_string(limit=50),
    }, status=400 if flt.errors else 200)
