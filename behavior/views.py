"""The analyst's data pages: CSV imports (upload, map columns, watch progress, rejected rows) and data quality.

Thin views: the import itself is `behavior.services`; the quality figures are `behavior.selectors`. The shop
always comes from `shop_for_request` (never from the URL), so another shop's import answers 404.
An uploaded file is stored under IMPORT_DIR/<shop>/<uuid>.csv: its own name is only ever shown, never used
as a path. Between the upload and the mapping step it is a `PendingUpload` of the user and shop
(`behavior.ingest.uploads`), so a new login finds it again.
"""

from __future__ import annotations

import csv
import itertools
import os
from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from django.views.decorators.http import require_GET, require_http_methods

from accounts.permissions import role_required
from accounts.selectors import shop_for_request
from behavior.forms import KIND_LABELS, ColumnMapForm, UploadForm, kind_guess, size_in_words, upload_max_bytes
from behavior.ingest.formats import SPECS, plan_build
from behavior.models import ImportJob
from behavior.selectors import quality_report
from behavior.services import (
    import_jobs_stale_fail,
    pending_upload_create,
    pending_upload_get,
    pending_upload_start,
    pending_uploads_list,
    upload_message_readable,
)
from catalog.selectors import DUPLICATE_GROUPS_SHOWN, duplicate_image_groups_detail
from ecomsight.csvsafe import as_written, neutralise
from ecomsight.errors import UserError

RECENT_IMPORTS = 25
_RUNNING = (ImportJob.Status.PENDING, ImportJob.Status.RUNNING)


# ---- imports: list and upload ---------------------------------------------------------------------


@role_required("analyst")
@require_http_methods(["GET", "POST"])
def import_list(request: HttpRequest) -> HttpResponse:
    """The last imports, the user's uploads still waiting for their columns, and the upload form (step 1 of 2:
    the file and its kind)."""
    shop = shop_for_request(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    file_error = ""
    if request.method == "POST" and form.is_valid():
        try:
            pending = pending_upload_create(shop=shop, user=request.user, upload=form.cleaned_data["file"],
                                            kind=form.cleaned_data["kind"])
        except UserError as exc:
            file_error = exc.message
        else:
            return redirect("behavior:import_map", token=pending.token)
    import_jobs_stale_fail(shop_id=shop.pk)
    imports = list(ImportJob.objects.filter(shop=shop).select_related("created_by")[:RECENT_IMPORTS])
    return render(request, "behavior/imports.html", {
        "shop": shop, "form": form, "file_error": file_error, "imports": imports,
        "waiting": pending_uploads_list(shop=shop, user=request.user),
        "upload_limit": size_in_words(upload_max_bytes()), "kinds": _kind_help(),
        "any_running": any(i.status in _RUNNING for i in imports),
    }, status=400 if request.method == "POST" else 200)


# What a column's values may be, shown beside its name on the Imports page where a wrong guess rejects rows.
COLUMN_HINTS = {
    ("orders", "status"): "placed, cancelled or refunded; completed, shipped, paid … count as placed",
    ("orders", "placed_at"): "date and time",
    ("customers", "marketing_consent"): "true or false",
    ("events", "type"): "view, add_to_cart, remove_from_cart, wishlist, search, review, login",
}


def _kind_help() -> list[dict]:
    return [{"kind": kind, "label": KIND_LABELS[kind],
             "columns": [{"name": c.name, "required": c.required, "hint": COLUMN_HINTS.get((kind, c.name), "")}
                         for c in spec.columns]}
            for kind, spec in SPECS.items()]


# ---- imports: map columns and start ---------------------------------------------------------------


@role_required("analyst")
@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2 of 2: the file's columns with sample values; for each field of the kind, which column holds it;
    then start the import."""
    shop = shop_for_request(request)
    pending = pending_upload_get(shop=shop, user=request.user, token=token)
    if pending is None:
        raise Http404("This upload is no longer waiting: upload the file again.")
    kind = request.POST.get("kind") or request.GET.get("kind") or pending.kind
    if kind not in SPECS:
        kind = pending.kind
    form = ColumnMapForm(request.POST if request.method == "POST" else None, kind=kind, header=pending.header,
                         samples=pending.samples)
    if request.method == "POST" and form.is_valid():
        try:
            plan_build(kind=kind, header=tuple(pending.header), column_map=form.column_map())
            import_job = pending_upload_start(pending=pending, kind=kind, column_map=form.column_map(),
                                              create_missing=form.cleaned_data["create_missing"],
                                              dry_run=form.cleaned_data["dry_run"])
        except UserError as exc:
            form.add_error(None, upload_message_readable(exc.message, path=pending.path, name=pending.name))
        else:
            return redirect("behavior:import_detail", import_id=import_job.pk)
    # Files are often uploaded under the page's default kind (customers): say when the columns are another's.
    guess, found = kind_guess(pending.header)
    looks_like = guess if guess and guess != kind and found[guess] > found[kind] else None
    return render(request, "behavior/import_map.html", {
        "shop": shop, "form": form, "pending": pending, "kind": kind, "kind_label": KIND_LABELS[kind],
        "looks_like": looks_like, "looks_like_label": KIND_LABELS.get(looks_like, ""),
        "kind_choices": list(KIND_LABELS.items()), "token": token, "size": size_in_words(pending.size),
        "preview": list(zip(pending.header, pending.samples, strict=False)),
    }, status=400 if request.method == "POST" else 200)


# ---- imports: progress, result and the rejected-rows report ---------------------------------------


def _import_get(request: HttpRequest, import_id: int) -> tuple[object, ImportJob]:
    shop = shop_for_request(request)
    import_jobs_stale_fail(shop_id=shop.pk)  # a killed import must not show "Running 46 %" for ever
    return shop, get_object_or_404(ImportJob.objects.select_related("created_by", "job"), pk=import_id, shop=shop)


def _import_progress(job: ImportJob) -> dict:
    """What the page and its poller show: percent of bytes read, rows so far, counts, a readable status."""
    if job.status == ImportJob.Status.SUCCEEDED:
        percent = 100
    else:
        percent = int(100 * job.bytes_read / job.bytes_total) if job.bytes_total else 0
    return {
        "status": job.status, "status_label": job.get_status_display(), "percent": min(100, max(0, percent)),
        "rows": job.rows_read, "inserted": job.inserted, "updated": job.updated, "duplicates": job.duplicates,
        "rejected": job.rejected, "blanked": job.blanked, "done": job.status not in _RUNNING,
        "error": upload_message_readable(job.error, path=job.file_path, name=job.source_name),
    }


@role_required("analyst")
@require_GET
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """One import: status, progress, counts, the error if any, and the rejected-rows report."""
    shop, job = _import_get(request, import_id)
    progress = _import_progress(job)
    has_report = bool(job.report_path) and os.path.isfile(job.report_path)
    return render(request, "behavior/import_detail.html", {
        "shop": shop, "imp": job, "p": progress, "has_report": has_report,
        "report_preview": _report_preview(job.report_path) if has_report else [],
        "column_map": sorted(job.column_map.items()), "kind_label": KIND_LABELS.get(job.kind, job.kind),
        "bytes_total": size_in_words(job.bytes_total), "stand_ins": _stand_in_words(job),
    })


def _stand_in_words(job: ImportJob) -> str:
    """ "It created 12 stand-in customers and 3 stand-in products for ids …" (empty when it created none): orders,
    lines, events and reviews naming unknown ids add customers and products without a name or details."""
    made = [(count, what, file) for count, what, file in (
        (job.stub_customers, "customer", "customers"), (job.stub_products, "product", "products")) if count]
    if not made:
        return ""
    counts = " and ".join(f"{count:,} stand-in {what}{'' if count == 1 else 's'}{_ids_named(job, file, count)}"
                          for count, what, file in made)
    files = " or ".join(file for _, _, file in made)
    if job.dry_run:  # each batch was rolled back: an id in several batches counts in each
        return (f"It would create at most {counts} for ids the file names that the shop does not have yet "
                f"(nothing was stored).")
    return (f"It created {counts} for ids the file named that the shop did not have yet: they have no name or "
            f"details until a {files} file brings them (Data quality counts every stand-in).")


def _ids_named(job: ImportJob, file: str, count: int) -> str:
    """ " (C00001, C00002, …)": the first few ids of the stand-ins made (a typo id is found so), with "…" when
    there were more; empty for an import from before they were kept."""
    ids = (job.stub_ids or {}).get(file) or []
    if not ids:
        return ""
    shown = [i if len(i) <= 40 else i[:40] + "…" for i in ids]
    return f" ({', '.join(shown)}{', …' if count > len(ids) else ''})"


@role_required("analyst")
@require_GET
def import_status(request: HttpRequest, import_id: int) -> JsonResponse:
    """The poller's view of an import (see static/js/poll.js)."""
    _, job = _import_get(request, import_id)
    p = _import_progress(job)
    fields = {key: f"{p[key]:,}" for key in ("rows", "inserted", "updated", "duplicates", "rejected")}
    fields["status"] = p["status_label"]
    fields["percent"] = f"{p['percent']} %"
    return JsonResponse({"status": p["status"], "done": p["done"], "fields": fields, "bars": {"import": p["percent"]}})



class _Echo:
    def write(self, value: str) -> str:
        return value


def _report_lines(path: str):
    """The report's rows with every cell made inert (again: reports are written inert, this keeps any
    report from before that rule safe too)."""
    writer = csv.writer(_Echo())
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            yield writer.writerow([neutralise(cell) for cell in row])


# The rejected rows shown on the import's page (the report keeps them all): a handful of mistakes is read there
# without a download.
REPORT_PREVIEW_ROWS = 10


def _report_preview(path: str) -> list[dict]:
    """The report's first REPORT_PREVIEW_ROWS rows (line, column, value, reason), each cell as the file wrote it:
    the report's formula guard (a leading quote) is for spreadsheets, not for this page, which escapes its HTML."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [{key: as_written(cell or "") for key, cell in row.items()}
                for row in itertools.islice(csv.DictReader(handle), REPORT_PREVIEW_ROWS)]


@role_required("analyst")
@require_GET
def import_report(request: HttpRequest, import_id: int) -> StreamingHttpResponse:
    """The rejected rows of this shop's import as CSV (line, column, value, reason), safe to open in a spreadsheet."""
    _, job = _import_get(request, import_id)
    if not job.report_path or not os.path.isfile(job.report_path):
        raise Http404("This import rejected no rows.")
    stem = get_valid_filename(Path(job.source_name).stem) if job.source_name else ""
    filename = f"{stem or 'import'}-rejected-rows-{job.pk}.csv"
    response = StreamingHttpResponse(_report_lines(job.report_path), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


# ---- data quality ------------------------------------------------------------------------------------


DATE_CHECKS = {
    "orders_before_1990": "Orders dated before 1990",
    "orders_in_future": "Orders dated in the future",
    "orders_before_signup": "Orders placed before the customer signed up",
    "events_before_1990": "Events dated before 1990",
    "events_in_future": "Events dated in the future",
    "signups_in_future": "Sign-ups dated in the future",
}
TABLE_LABELS = {"customers": "Customers", "products": "Products", "orders": "Orders", "order_lines": "Order lines",
                "events": "Events", "reviews": "Reviews", "offers": "Offers", "offer_assignments": "Offer assignments"}
# The report's columns in words (the import field names stay visible on the Imports page).
COLUMN_LABELS = {
    "customers": {"email": "Email address", "name": "Name", "country": "Country", "signup_at": "Sign-up date"},
    "products": {"title": "Title", "description": "Description", "category": "Category", "brand": "Brand",
                 "price": "Price"},
    "orders": {"total": "Order total", "currency": "Currency", "item_count": "Number of items"},
    "order_lines": {"product": "Product", "unit_price": "Unit price"},
    "events": {"product": "Product", "session_id": "Visit (session)", "properties": "Extra details (properties)"},
}


def _count_words(count: int, one: str, many: str) -> str:
    """"no stand-in products", "1 stand-in customer", "1,204 stand-in customers"."""
    if not count:
        return f"no {many}"
    return f"{count:,} {one if count == 1 else many}"


@role_required("analyst")
@require_GET
def quality(request: HttpRequest) -> HttpResponse:
    """The data quality report in tables: completeness, date ranges, duplicates, impossible dates, stand-ins, gaps."""
    shop = shop_for_request(request)
    report = quality_report(shop=shop)
    tables = []
    for name, table in report["tables"].items():
        columns = [{"name": column, "label": COLUMN_LABELS.get(name, {}).get(column, column.replace("_", " ")),
                    "percent": None if share is None else round(100 * share, 1),
                    "low": share is not None and share < 0.5}
                   for column, share in table["completeness"].items()]
        tables.append({"name": name, "label": TABLE_LABELS.get(name, name), "rows": table["rows"],
                       "columns": columns, "range": table.get("date_range")})
    dates = [{"label": DATE_CHECKS.get(key, key.replace("_", " ")), "count": count}
             for key, count in report["dates"].items()]
    gaps = [{"label": TABLE_LABELS.get(name, name), **gap} for name, gap in report["gaps"].items()]
    dup = report["duplicates"]
    picture_groups = duplicate_image_groups_detail(shop_id=shop.pk)
    return render(request, "behavior/quality.html", {
        "picture_groups": picture_groups[:DUPLICATE_GROUPS_SHOWN], "picture_groups_total": len(picture_groups),
        "shop": shop, "report": report, "tables": tables, "dates": dates, "gaps": gaps,
        "dup_orders": dup["orders_same_customer_time_total"],
        "dup_imports": sorted((TABLE_LABELS.get(kind, kind.replace("_", " ")), count)
                              for kind, count in dup["recent_imports"]["duplicate_rows_by_kind"].items()),
        "recent_imports": dup["recent_imports"]["imports"], "stubs": report["stubs"],
        "stub_words": {"products": _count_words(report["stubs"]["products"], "stand-in product",
                                                "stand-in products")},
        "empty": not any(t["rows"] for t in tables), "problems": sum(d["count"] for d in dates),
        "imports_url": reverse("behavior:imports"),
    })
