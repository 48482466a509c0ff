"""Writes for segments: save a filter under a name, rename, delete, and record an export.

An export is decided here (who, which members, pseudonymised or not, which control group) and
written to SegmentExport and the audit log in one transaction; `predictions.services.exports` then streams
the file for exactly the customers recorded as targeted. An export with more rows than the caller's
`stream_max_rows` is written to a file by a background job instead (`predictions.tasks.segment_export_task`),
and downloading that file is audited too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accounts.jobs import job_create, job_progress
from accounts.models import AuditLog, Job, Shop
from accounts.permissions import can_view_personal_data
from ecomsight.errors import UserError
from predictions.extensions import excluded_customers
from predictions.filters import AtRiskFilter
from predictions.models import ScoringRun, Segment, SegmentExport
from predictions.selectors.at_risk import MAX_SEGMENT_DEPTH, scoring_run_current
from predictions.selectors.freshness import customers_ordered_since_scoring
from predictions.selectors.segments import rows_after_control, segment_consent_refused_count, segment_queryset
from predictions.services.export_presets import preset_get

MAX_CONTROL_PCT = 50


class SegmentNameTaken(UserError):
    code = "segment_name_taken"


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise UserError("Give the segment a name.", field="name")
    if len(name) > 200:
        raise UserError("A segment name can be at most 200 characters.", field="name")
    return name


def _name_taken_error(name: str) -> SegmentNameTaken:
    return SegmentNameTaken(f"There is already a segment called “{name}”. Choose another name.", field="name")


@transaction.atomic
def segment_create(*, shop: Shop, user: AbstractBaseUser | None, name: str, flt: AtRiskFilter) -> Segment:
    """Save `flt` as a segment named `name` (unique per shop, case-insensitively). A filter with errors is
    refused: saved, it would quietly mean a wider list than the one asked for."""
    name = _clean_name(name)
    if flt.errors:
        raise UserError(f"The filter cannot be saved: {flt.errors[0]}", field=f"filters.{flt.errors[0].field}")
    _reference_check(shop=shop, flt=flt)
    if Segment.objects.filter(shop=shop, name__iexact=name).exists():
        raise _name_taken_error(name)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                shop=shop, name=name, filters=flt.to_dict(), created_by=user if user and user.pk else None
            )
    except IntegrityError:  # a concurrent save of the same name
        raise _name_taken_error(name) from None
    AuditLog.objects.create(shop=shop, user=_user(user), action="segment.create", target=name,
                            details={"filters": segment.filters})
    return segment


def _reference_check(*, shop: Shop, flt: AtRiskFilter, segment: Segment | None = None) -> None:
    """A filter naming a segment must name one of the shop's, and the segments it leads to must not come back to
    `segment` nor go deeper than MAX_SEGMENT_DEPTH: such a filter would match nobody (never everybody)."""
    seen = {segment.pk} if segment is not None else set()
    reference, depth = flt.segment, 0
    while reference is not None:
        if reference in seen:
            raise UserError("The filter's segment leads back to this segment: a segment cannot contain itself.",
                            field="filters")
        other = Segment.objects.filter(shop=shop, pk=reference).first()
        if other is None:
            raise UserError(f"No segment {reference} in this shop: the filter can only name one of its segments.",
                            field="filters")
        seen.add(reference)
        depth += 1
        if depth > MAX_SEGMENT_DEPTH:
            raise UserError(f"Segments built on segments go at most {MAX_SEGMENT_DEPTH} deep.", field="filters")
        reference = AtRiskFilter.from_dict(other.filters or {}).segment


@transaction.atomic
def segment_rename(*, shop: Shop, segment: Segment, user: AbstractBaseUser | None, name: str) -> Segment:
    """Rename the shop's segment; the name must stay unique within the shop."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    name = _clean_name(name)
    if Segment.objects.filter(shop=shop, name__iexact=name).exclude(pk=segment.pk).exists():
        raise _name_taken_error(name)
    old = segment.name
    segment.name = name
    try:
        with transaction.atomic():
            segment.save(update_fields=["name", "updated_at"])
    except IntegrityError:
        raise _name_taken_error(name) from None
    AuditLog.objects.create(shop=shop, user=_user(user), action="segment.rename", target=name,
                            details={"from": old})
    return segment


@transaction.atomic
def segment_filters_update(*, shop: Shop, segment: Segment, user: AbstractBaseUser | None,
                           flt: AtRiskFilter) -> Segment:
    """Replace the shop's segment's filter. Audited as "segment.update" with the old and new filters."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    if flt.errors:
        raise UserError(f"The filter cannot be saved: {flt.errors[0]}", field=f"filters.{flt.errors[0].field}")
    _reference_check(shop=shop, flt=flt, segment=segment)
    personal = [d for d in _deliveries_fed(shop=shop, segment=segment) if not d.pseudonymised]
    if personal and not (user is not None and can_view_personal_data(user, shop)):
        raise UserError(f"This segment feeds a delivery of email addresses and names (to {personal[0].target}): "
                        "only a user who may see personal data can change who it holds.", field="filters")
    old = segment.filters
    segment.filters = flt.to_dict()
    segment.save(update_fields=["filters", "updated_at"])
    AuditLog.objects.create(shop=shop, user=_user(user), action="segment.update", target=segment.name,
                            details={"from": old, "to": segment.filters})
    return segment


def _deliveries_fed(*, shop: Shop, segment: Segment) -> list:
    """The deliveries (deliveries app, through the reverse relation) that send `segment` or a segment built on it."""
    fed, added = {segment.pk}, True
    others = [(other.pk, AtRiskFilter.from_dict(other.filters or {}).segment)
              for other in Segment.objects.filter(shop=shop).exclude(pk=segment.pk)]
    while added:
        added = False
        for pk, reference in others:
            if reference in fed and pk not in fed:
                fed.add(pk)
                added = True
    return list(segment.deliveries.model.objects.filter(shop=shop, segment_id__in=fed))


@transaction.atomic
def segment_delete(*, shop: Shop, segment: Segment, user: AbstractBaseUser | None) -> None:
    """Delete the shop's segment. Its past exports stay (their segment becomes empty) for the audit trail."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    users = [other.name for other in Segment.objects.filter(shop=shop).exclude(pk=segment.pk).order_by("name")
             if AtRiskFilter.from_dict(other.filters or {}).segment == segment.pk]
    if users:
        raise UserError(f"The segment “{segment.name}” is part of the filter of {', '.join(f'“{n}”' for n in users)}: "
                        "change those first (deleted, it would leave them matching nobody).", field="segment")
    deliveries = list(segment.deliveries.all())
    if deliveries:
        raise UserError(f"The segment “{segment.name}” is sent by {len(deliveries)} scheduled "
                        f"deliver{'y' if len(deliveries) == 1 else 'ies'} (to {deliveries[0].target}): remove "
                        f"{'it' if len(deliveries) == 1 else 'them'} on the Deliveries page first.", field="segment")
    AuditLog.objects.create(shop=shop, user=_user(user), action="segment.delete", target=segment.name,
                            details={"filters": segment.filters})
    segment.delete()


@dataclass(frozen=True)
class ExportPlan:
    """What one export writes: the recorded export, the scores' run and the customers in file order.

    `job` is set when the file is written in the background (more rows than `stream_max_rows`)."""

    export: SegmentExport
    run: ScoringRun | None
    customer_ids: list[int]
    pseudonymised: bool
    job: Job | None = None
    left_out_no_consent: int = 0  # matched by the segment's filter, left out: they refused marketing
    # members left out because they ordered after their score was computed (a win-back file must not reach
    # someone who bought today); kept with include_ordered_since_scoring
    left_out_ordered_since_scoring: int = 0
    # members left out because they are flagged (refund abuse, bot-like sessions); kept with include_flagged
    left_out_flagged: int = 0


def control_group_draw(*, segment_id: int, members: list[int], size: int) -> set[int]:
    """The `size` members held back: those first by a hash of (segment, customer). Random-like across customers,
    but the same on every export of the segment (a second download, or one file per campaign tool, would
    otherwise put part of the control group into the campaign), a smaller share within a larger one, and a
    member who joins or leaves moves at most one other across the line."""
    def rank(customer_id: int) -> bytes:
        return hashlib.blake2b(f"{segment_id}:{customer_id}".encode(), digest_size=8).digest()

    return set(sorted(members, key=rank)[:size])


@transaction.atomic
def export_create(
    *, shop: Shop, segment: Segment, user: AbstractBaseUser | None, pseudonymise: bool = False, control_pct: int = 0,
    stream_max_rows: int | None = None, preset: str = "generic", audit: dict | None = None,
    include_ordered_since_scoring: bool = False, include_flagged: bool = False,
) -> ExportPlan:
    """Record an export of `segment`: SegmentExport row and AuditLog("segment.export"), then the file's members.

    Users who may not see personal data always get a pseudonymised file. `control_pct` percent of the
    members (the segment's own holdout: `control_group_draw`) are held back: recorded in
    `control_customer_ids`, never written to the file. `preset` names the columns for a
    campaign tool (export_presets; Mailchimp refuses a pseudonymised file). `user` None: an export the
    system makes (a scheduled delivery, deliveries app): `pseudonymise` as configured; `audit` adds to the
    audit entry's details (which delivery). Members who ordered after their score was computed are left out
    (and counted) unless `include_ordered_since_scoring`: their score does not know that order yet. Flagged
    members (refund abuse, bot-like sessions: predictions.extensions) are left out (and counted) the same way
    unless `include_flagged`.

    With `stream_max_rows` set and more targeted customers than that, the file is left to a background
    job: the plan carries a `Job` (kind "export"), the targeted ids are recorded so that the worker writes
    exactly these customers, and `segment_export_task` is enqueued once this transaction commits."""
    if segment.shop_id != shop.pk:
        raise UserError("No such segment.")
    problems = AtRiskFilter.from_dict(segment.filters or {}).errors
    if problems:
        raise UserError(f"This segment's saved filter is broken ({problems[0]}): save the filter again from "
                        "the at-risk list before exporting.", field="filters")
    if not 0 <= control_pct <= MAX_CONTROL_PCT:
        raise UserError(f"The control group must be between 0 and {MAX_CONTROL_PCT} %.", field="control")
    pseudonymised = bool(pseudonymise) or (user is not None and not can_view_personal_data(user, shop))
    preset = preset_get(preset, pseudonymised=pseudonymised).key
    run = scoring_run_current(shop=shop)
    members = list(segment_queryset(shop=shop, segment=segment, run=run).values_list("customer_id", flat=True)) \
        if run else []
    # Left out of campaign files unless asked for, each counted: flagged customers (refund abuse, bot-like
    # sessions: predictions.extensions), then those who ordered since their score.
    members, flagged_out = _left_out(
        members, lambda: set() if include_flagged else excluded_customers(shop_id=shop.pk))
    members, ordered_since = _left_out(
        members, lambda: set() if include_ordered_since_scoring else customers_ordered_since_scoring(run=run))
    export = SegmentExport.objects.create(
        shop=shop, segment=segment, created_by=_user(user), pseudonymised=pseudonymised, control_pct=control_pct,
        horizon_days=shop.horizon_days, preset=preset,
    )
    refused = segment_consent_refused_count(shop=shop, segment=segment, run=run)
    control: set[int] = set()
    if control_pct and members:
        size = len(members) - rows_after_control(members=len(members), control_pct=control_pct)
        control = control_group_draw(segment_id=segment.pk, members=members, size=size)
    targeted = [c for c in members if c not in control]
    background = stream_max_rows is not None and len(targeted) > stream_max_rows
    export.rows = len(targeted)
    export.control_customer_ids = sorted(control)
    # Targeted ids matter to compare against a control group later, and to the worker that writes a
    # background file (the segment's members may change before it runs); skip the bulk otherwise.
    export.targeted_customer_ids = targeted if control_pct or background else []
    job = None
    if background:
        job = job_create(shop=shop, kind=Job.Kind.EXPORT, user=user, message="waiting for a worker",
                         params={"export_id": export.pk, "segment_id": segment.pk,
                                 "scoring_run_id": run.pk if run else None, "rows": len(targeted)})
        job_progress(job_id=job.pk, total=len(targeted))
        job.progress_total = len(targeted)
        export.job = job
    export.save(update_fields=["rows", "control_customer_ids", "targeted_customer_ids", "job"])
    AuditLog.objects.create(
        shop=shop, user=_user(user), action="segment.export", target=segment.name,
        details={**(audit or {}), "rows": len(targeted), "user": user.get_username() if user else "",
                 "export_id": export.pk,
                 "pseudonymised": pseudonymised, "preset": preset, "control_pct": control_pct,
                 "control_rows": len(control), "scoring_run": run.pk if run else None, "background": background,
                 "left_out_no_consent": refused, "flagged_left_out": flagged_out, "include_flagged": include_flagged,
                 "left_out_ordered_since_scoring": ordered_since},
    )
    if job is not None:
        from predictions.tasks import segment_export_task  # tasks import the services: import here, not at the top

        export_id, job_id = export.pk, job.pk
        transaction.on_commit(lambda: segment_export_task.delay(export_id, job_id), robust=True)
    return ExportPlan(export=export, run=run, customer_ids=targeted, pseudonymised=pseudonymised, job=job,
                      left_out_no_consent=refused, left_out_ordered_since_scoring=ordered_since,
                      left_out_flagged=flagged_out)


def _left_out(members: list[int], read_ids) -> tuple[list[int], int]:
    """`members` without the ids `read_ids()` names (read only when there are members), and how many that was."""
    ids = read_ids() if members else set()
    kept = [c for c in members if c not in ids] if ids else members
    return kept, len(members) - len(kept)


def export_download_record(*, shop: Shop, export: SegmentExport, user: AbstractBaseUser) -> None:
    """Audit a download of a background export's file (AuditLog "segment.export.download")."""
    if export.shop_id != shop.pk:
        raise UserError("No such export.")
    AuditLog.objects.create(
        shop=shop, user=_user(user), action="segment.export.download",
        target=export.segment.name if export.segment_id else "",
        details={"export_id": export.pk, "rows": export.rows, "user": user.get_username(),
                 "pseudonymised": export.pseudonymised},
    )


def _user(user):
    return user if user is not None and getattr(user, "pk", None) else None
