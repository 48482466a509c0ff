"""A segment as CSV rows for a campaign tool: safe to open in a spreadsheet, personal data only when allowed.

Each row holds the customer's id, email and name, chances of leaving and buying, risk band, revenue at risk (the
three churn columns empty for a lapsed customer of a likely buyers segment, who is scored for buying only),
reasons, their top 3 recommended products (id, title, page URL, picture URL each) and offer_id (the offer the
current offer policy gives the customer, drawn and logged when the export runs: see the offers app). The
export's column preset (`export_presets`: generic, Klaviyo, Mailchimp, Braze, spreadsheet) names and orders the
columns as the campaign tool expects, and says how the file is written (`FileFormat`: the spreadsheet preset's
file is UTF-16 with a byte-order mark and tabs, every other preset's UTF-8 CSV). A pseudonymised file has no
email or name columns but a pseudonym column:
"anon-" + the first 20 hex digits of HMAC-SHA256(SECRET_KEY, "<shop id>:<lower-cased email>") — stable
from one export to the next (a campaign tool can deduplicate and join on it) but not reversible
without the server's key. Customers without an email get an empty cell.

Formula injection: any text cell starting with =, +, -, @, a tab or a carriage return gets a leading
single quote, so a spreadsheet shows it as text instead of evaluating it. Numbers are written as
numbers (a negative number is not text, and is not touched).

Small exports stream straight to the browser (`export_stream`) and keep a copy of what was sent; large ones
are written by a worker (`export_file_write`) from the same rows. Either way the file stays at
`EXPORT_DIR/<shop slug>/<export id>.csv`, downloadable again from the export's page until FILE_RETENTION_DAYS
removes it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.text import slugify

from accounts.jobs import job_progress
from accounts.models import Job
from behavior.models import Customer
from ecomsight.csvsafe import neutralise  # noqa: F401  (tests import it from here)
from ecomsight.files import Removed, old_files_remove
from predictions.extensions import export_offers, export_recommendations
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun, SegmentExport, Task
from predictions.services.export_presets import REC_PARTS, RECS, _Echo, name_split, preset_get
from predictions.services.segments import ExportPlan

CHUNK = 2000
_NO_REC = dict.fromkeys(REC_PARTS, "")


def pseudonym(*, shop_id: int, email: str) -> str:
    """A stable, non-reversible stand-in for an email (empty for an empty email)."""
    email = (email or "").strip().lower()
    if not email:
        return ""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{shop_id}:{email}".encode(), hashlib.sha256).hexdigest()
    return f"anon-{digest[:20]}"


def export_rows(*, plan: ExportPlan) -> Iterator[list]:
    """The header, then one row per targeted customer in the plan's order; reads in chunks of 2,000."""
    preset = preset_get(plan.export.preset, pseudonymised=plan.pseudonymised)
    yield preset.header(pseudonymised=plan.pseudonymised)
    for _, rows in _row_chunks(plan):
        yield from rows


def _row_chunks(plan: ExportPlan) -> Iterator[tuple[int, list[list]]]:
    """(customers covered so far, their rows in the export's preset) per chunk of the plan's customers."""
    preset = preset_get(plan.export.preset, pseudonymised=plan.pseudonymised)
    fields = preset.fields(pseudonymised=plan.pseudonymised)
    for done, records in record_chunks(plan):
        yield done, [[preset.cell(f, record[f]) for f in fields] for record in records]


def record_chunks(plan: ExportPlan) -> Iterator[tuple[int, list[dict]]]:
    """(customers covered so far, a record of every export field per customer) per chunk of the plan's
    customers, a few queries a chunk. A pseudonymised plan's records hold no email or name. Values are raw
    (not neutralised): CSV writers neutralise them, JSON deliveries send them as they are."""
    if plan.run is None or not plan.customer_ids:
        return
    shop_id = plan.export.shop_id
    # A likely buyers segment's file gives everyone's reasons for buying, as its page does; others the churn reasons.
    segment = plan.export.segment
    buying_reasons = segment is not None and AtRiskFilter.from_dict(segment.filters or {}).buyers
    top_recommendations = export_recommendations(shop_id=shop_id)  # the build active now, for every chunk
    offers_for = export_offers(shop_id=shop_id)
    for start in range(0, len(plan.customer_ids), CHUNK):
        ids = plan.customer_ids[start:start + CHUNK]
        churn = {s.customer_id: s for s in CustomerScore.objects.filter(
            shop_id=shop_id, scoring_run=plan.run, task=Task.CHURN, customer_id__in=ids).select_related("customer")}
        purchase = {customer_id: (probability, reasons, was_lapsed) for customer_id, probability, reasons, was_lapsed
                    in CustomerScore.objects
                    .filter(shop_id=shop_id, scoring_run=plan.run, task=Task.PURCHASE, customer_id__in=ids)
                    .values_list("customer_id", "probability", "reasons", "lapsed")}
        # A likely buyers segment holds lapsed customers too: scored for buying only (their churn columns empty).
        lapsed = Customer.objects.in_bulk([i for i in ids if i in purchase and i not in churn])
        recs = top_recommendations(ids)
        offers = offers_for([i for i in ids if i in churn or i in lapsed])
        records = []
        for customer_id in ids:
            score = churn.get(customer_id)
            customer = score.customer if score is not None else lapsed.get(customer_id)
            if customer is None:  # scores replaced since the export was recorded: nothing to say about them
                continue
            if plan.pseudonymised:
                personal = {"email": "", "name": "", "first_name": "", "last_name": "",
                            "pseudonym": pseudonym(shop_id=shop_id, email=customer.email)}
            else:
                first, last = name_split(customer.name)
                personal = {"email": customer.email, "name": customer.name, "first_name": first, "last_name": last,
                            "pseudonym": ""}
            at_risk = None
            if score is not None:
                at_risk = score.revenue_at_risk
                if at_risk is None:
                    at_risk = score.probability * score.spend_12m
            p_buy, buy_reasons, buy_lapsed = purchase.get(customer_id, (None, None, False))
            top = recs.get(customer_id, [])
            record = {"customer_id": customer.external_id, **personal,
                      "churn_probability": round(score.probability, 4) if score is not None else "",
                      "purchase_probability": round(p_buy, 4) if p_buy is not None else "",
                      "risk_band": score.risk_band if score is not None else "",
                      "revenue_at_risk": round(at_risk, 2) if at_risk is not None else "",
                      "reasons": "; ".join((score.reasons if score is not None and not buying_reasons
                                            else buy_reasons) or []),
                      "offer_id": offers.get(customer_id, ""),
                      "lapsed": bool(score.lapsed if score is not None else buy_lapsed)}
            for i in range(RECS):
                rec = top[i] if i < len(top) else _NO_REC
                record.update({f"rec_{i + 1}_{part}": rec[part] for part in REC_PARTS})
            records.append(record)
        yield start + len(ids), records


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    """Comma-separated text, one line at a time (the generic preset's lines, before encoding)."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def export_filename(*, export: SegmentExport) -> str:
    """The name a browser saves the file under: "<segment>-<yyyymmdd>-<export id>.csv"."""
    name = slugify(export.segment.name) if export.segment_id else ""
    return f"{name or 'segment'}-{export.created_at:%Y%m%d}-{export.pk}.csv"


def export_file_path(*, export: SegmentExport) -> Path:
    """Where a background export's file lives: EXPORT_DIR/<shop slug>/<export id>.csv."""
    return Path(settings.EXPORT_DIR) / export.shop.slug / f"{export.pk}.csv"


def export_files_expire(*, before: float, dry_run: bool = False) -> Removed:
    """Remove export files under EXPORT_DIR last changed before `before` (Unix time), except those of exports
    still being written. The SegmentExport rows stay (the audit, the campaign's control group): the
    export's page then says the file is no longer available."""
    active = SegmentExport.objects.filter(job__status__in=[Job.Status.PENDING, Job.Status.RUNNING])
    return old_files_remove(settings.EXPORT_DIR, before=before, keep=active.values_list("file_path", flat=True),
                            dry_run=dry_run)


@dataclass(frozen=True)
class ExportFile:
    """A background export's written file: where it is and how many customer rows it holds."""

    export_id: int
    path: str
    rows: int

    def to_dict(self) -> dict:
        return {"export_id": self.export_id, "file_path": self.path, "rows": self.rows}


def export_file_write(*, export_id: int, job_id: int | None = None) -> ExportFile:
    """Write a recorded export's CSV to its file in chunks, reporting customers done / total to the job.

    The customers, the scores' run and pseudonymisation are those recorded when the export was decided
    (`export_create`), so the file holds the rows the streamed download would have held. Safe to run
    twice: the file is written beside its final name and moved into place, then `file_path` and `rows`
    are recorded on the export."""
    export = SegmentExport.objects.select_related("shop", "job").get(pk=export_id)
    run_id = export.job.params.get("scoring_run_id") if export.job else None
    run = ScoringRun.objects.filter(pk=run_id, shop=export.shop).first() if run_id else None
    plan = ExportPlan(export=export, run=run, customer_ids=list(export.targeted_customer_ids),
                      pseudonymised=export.pseudonymised)
    total = len(plan.customer_ids)
    if job_id:
        job_progress(job_id=job_id, done=0, total=total, message=f"Writing {total:,} customers")
    written = None
    for done, _lines in _file_chunks(plan):
        if isinstance(done, ExportFile):
            written = done
        elif job_id and done:  # done 0: the header line
            job_progress(job_id=job_id, done=done, message=f"{done:,} of {total:,} customers written")
    return written


def export_stream(*, plan: ExportPlan) -> Iterator[bytes]:
    """The file of a streamed export, as bytes in the preset's format (`FileFormat`), chunk by chunk, keeping a
    copy in the export's file as it goes: once the last line is sent the export can be downloaded again from its
    page (until FILE_RETENTION_DAYS). A download cut short leaves no file."""
    for _, lines in _file_chunks(plan):
        yield from lines


def _file_chunks(plan: ExportPlan) -> Iterator[tuple]:
    """Write the plan's file to its path (beside its final name, moved into place at the end: a reader never
    sees half a file), yielding (customers done, [the bytes just written]) per chunk, then
    (ExportFile, []) once `file_path` and `rows` are recorded on the export. The bytes are encoded here, once,
    in the preset's format: the file and the response hold the same bytes."""
    export = plan.export
    path = export_file_path(export=export)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.part")
    preset = preset_get(export.preset, pseudonymised=plan.pseudonymised)
    line = preset.file.line_writer()
    rows = 0
    try:
        with partial.open("wb") as f:
            data = preset.file.encode(line(preset.header(pseudonymised=plan.pseudonymised)), first=True)
            f.write(data)
            yield 0, [data]
            for done, chunk in _row_chunks(plan):
                data = preset.file.encode("".join(line(row) for row in chunk))
                f.write(data)
                rows += len(chunk)
                yield done, [data]
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    SegmentExport.objects.filter(pk=export.pk).update(file_path=str(path), rows=rows)
    yield ExportFile(export_id=export.pk, path=str(path), rows=rows), []
