"""Saved segments: one segment, its live members, the segment list and a segment's page (size, preview,
filter in words, planner data). Members are the rows of the segment's list (the at-risk list; the likely buyers
list for a filter with `list=buyers`) matching the segment's filter."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Shop
from predictions.extensions import excluded_customers
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun, Segment

from .at_risk import (
    AtRiskRow,
    at_risk_queryset,
    at_risk_rows,
    at_risk_window,
    filter_in_words,
    scoring_run_current,
    scoring_run_for_list,
)
from .at_risk_pages import AtRiskWindow
from .consent import consent_given, consent_missing
from .freshness import customers_ordered_since_scoring


def segment_get(*, shop: Shop, segment_id: int) -> Segment:
    """The shop's segment, or 404 (another shop's segment does not exist for this user)."""
    segment = Segment.objects.filter(shop=shop, pk=segment_id).first()
    if segment is None:
        raise Http404("No such segment.")
    return segment


def segment_queryset(*, shop: Shop, segment: Segment, run: ScoringRun) -> QuerySet[CustomerScore]:
    """The segment's members in the current run, in the segment's sort order."""
    flt = AtRiskFilter.from_dict(segment.filters)
    if flt.broken:  # see segment_problems: nobody, never the whole list (same columns, no rows)
        return at_risk_queryset(shop=shop, run=run, flt=AtRiskFilter()).none()
    return _consenting(shop, at_risk_queryset(shop=shop, run=run, flt=flt))


def _consenting(shop: Shop, queryset: QuerySet[CustomerScore]) -> QuerySet[CustomerScore]:
    """Segments feed campaigns: customers without consent are never members (selectors.consent)."""
    return queryset.filter(consent_given(shop=shop))


def segment_size(*, shop: Shop, segment: Segment) -> int | None:
    """How many members the segment has in the current run (None before any scores)."""
    run = scoring_run_current(shop=shop)
    return segment_queryset(shop=shop, segment=segment, run=run).count() if run else None


def consent_refused_ids(*, shop: Shop, customer_ids) -> set[int]:
    """Which of `customer_ids` refused marketing now (the rule segments apply): a delivery sending later than
    its export was decided checks again."""
    return set(consent_missing(shop=shop).filter(pk__in=customer_ids).values_list("pk", flat=True))


def segment_consent_refused_count(*, shop: Shop, segment: Segment, run: ScoringRun | None) -> int:
    """How many customers the segment's filter matches who are left out because they refused marketing."""
    flt = AtRiskFilter.from_dict(segment.filters or {})
    if run is None or flt.broken:
        return 0
    return at_risk_queryset(shop=shop, run=run, flt=flt).exclude(consent_given(shop=shop)).count()


def segment_window(*, shop: Shop, segment: Segment, run: ScoringRun, start: int, stop: int) -> QuerySet[CustomerScore]:
    """Members start to stop - 1 of segment_queryset, past the first pages read ids first (see at_risk_window)."""
    flt = AtRiskFilter.from_dict(segment.filters)
    if flt.broken:
        return at_risk_window(shop=shop, run=run, flt=AtRiskFilter(), start=start, stop=stop).none()
    if consent_missing(shop=shop).exists():
        return _consenting(shop, at_risk_queryset(shop=shop, run=run, flt=flt))[start:stop]
    return at_risk_window(shop=shop, run=run, flt=flt, start=start, stop=stop)


def segment_list_window(*, shop: Shop, segment: Segment, run_id: int | None, start: int, stop: int) -> AtRiskWindow:
    """Members start to stop - 1 (segment_window) as the at-risk list's rows, in the run `run_id` names (None: the
    shop's current run, scoring_run_for_list): what the API pages."""
    run = scoring_run_for_list(shop=shop, run_id=run_id)
    if run is None:
        return AtRiskWindow(run=None, rows=[])
    return AtRiskWindow(run=run, rows=at_risk_rows(segment_window(shop=shop, segment=segment, run=run, start=start,
                                                                  stop=stop), run=run))


def segment_list_length(*, shop: Shop, segment: Segment, run_id: int) -> int:
    """How many members the segment has in the run `run_id` names (0 without one): read only for a cursor past the
    members' end, whose `previous` link leads back to their last page (ecomsight.api.pagination)."""
    run = scoring_run_for_list(shop=shop, run_id=run_id)
    return segment_queryset(shop=shop, segment=segment, run=run).order_by().count() if run else 0


def segment_problems(*, segment: Segment) -> tuple[str, ...]:
    """Why a saved filter no longer validates (empty when it does). A broken segment has no members, cannot
    be exported, and its pages say so: saved filters are checked by the same validator as the at-risk page
    and the API, and one stored before a bound existed (days_min=10**23) must not fail every page. A segment
    built on a segment since deleted (saved before deleting one was refused) matches nobody too, and says so."""
    flt = AtRiskFilter.from_dict(segment.filters or {})
    if flt.errors:
        return flt.errors
    if flt.segment is not None and not Segment.objects.filter(shop_id=segment.shop_id, pk=flt.segment).exists():
        return (f"It is built on segment {flt.segment}, which no longer exists: it matches nobody.",)
    return ()


@dataclass(frozen=True)
class SegmentSummary:
    segment: Segment
    size: int | None  # None before any scores
    problems: tuple[str, ...] = ()  # a broken saved filter (see segment_problems)


def segment_summaries(*, shop: Shop) -> list[SegmentSummary]:
    """The shop's segments with their live size (one count per segment: shops keep a handful)."""
    run = scoring_run_current(shop=shop)
    out = []
    for segment in Segment.objects.filter(shop=shop):
        size = segment_queryset(shop=shop, segment=segment, run=run).count() if run else None
        out.append(SegmentSummary(segment=segment, size=size, problems=segment_problems(segment=segment)))
    return out


@dataclass(frozen=True)
class SegmentDetail:
    segment: Segment
    run: ScoringRun | None
    size: int
    preview: list[AtRiskRow]
    words: list[str]
    planner: list[tuple[float, float]]  # (churn probability, 12-month spend) in the segment's own order
    problems: tuple[str, ...] = ()  # a broken saved filter (see segment_problems)
    left_out_no_consent: int = 0  # matched by the filter, left out for consent (selectors.consent)
    unknown_consent: int = 0  # members whose consent is unknown (kept: the shop does not require opt-in)
    # members with an order placed after their score: left out of files by default
    ordered_since_scoring_ids: frozenset[int] = frozenset()
    # members flagged (refund abuse, bot-like sessions: predictions.extensions): left out of files by default
    flagged_ids: frozenset[int] = frozenset()

    @property
    def ordered_since_scoring(self) -> int:
        return len(self.ordered_since_scoring_ids)

    @property
    def flagged(self) -> int:
        return len(self.flagged_ids)


PLANNER_CAP = 5000


def segment_detail(*, shop: Shop, segment_id: int, preview: int = 20) -> SegmentDetail:
    """A segment's live size, its first members, its filter in words and the planner's data."""
    segment = segment_get(shop=shop, segment_id=segment_id)
    flt = AtRiskFilter.from_dict(segment.filters)
    words = filter_in_words(shop=shop, flt=flt) or ["Every scored customer"]
    problems = segment_problems(segment=segment)
    if problems:
        words = ["Nobody: the saved filter is broken"]
    run = scoring_run_current(shop=shop)
    if run is None:
        return SegmentDetail(segment=segment, run=None, size=0, preview=[], words=words, planner=[],
                             problems=problems)
    qs = segment_queryset(shop=shop, segment=segment, run=run)
    rows = at_risk_rows(qs[:preview], run=run)
    # The planner weighs the chance of leaving against an offer's cost: a likely buyers segment has no such trade-off.
    # It plans on the segment's own order, so its first N are the first N of the list below, of "Only the top N"
    # and of the file (by chance of leaving, it showed 537 EUR saved for 10 where the segment's own first 10 by
    # revenue at risk, the default, gave 1,120: that order puts the most revenue saved first).
    planner = [] if flt.buyers else [
        (round(p, 4), round(v, 2)) for p, v in qs.values_list("probability", "spend_12m")[:PLANNER_CAP]
    ]

    def members_among(ids: set[int]) -> frozenset[int]:
        return frozenset(qs.filter(customer_id__in=ids).values_list("customer_id", flat=True)) if ids else frozenset()

    return SegmentDetail(segment=segment, run=run, size=qs.count(), preview=rows, words=words, planner=planner,
                         problems=problems,
                         left_out_no_consent=segment_consent_refused_count(shop=shop, segment=segment, run=run),
                         unknown_consent=0 if shop.marketing_consent_required else qs.filter(
                             customer__marketing_consent__isnull=True).count(),
                         ordered_since_scoring_ids=members_among(customers_ordered_since_scoring(run=run)),
                         flagged_ids=members_among(excluded_customers(shop_id=shop.pk)))


def segment_member_ids(*, shop: Shop, segment: Segment) -> list[int]:
    """Customer ids of the segment's members, in the segment's order (empty before any scores)."""
    run = scoring_run_current(shop=shop)
    if run is None:
        return []
    return list(segment_queryset(shop=shop, segment=segment, run=run).values_list("customer_id", flat=True))


@dataclass(frozen=True)
class ExportChoice:
    """A control group the export form offers, and how many rows the file then holds."""

    control_pct: int
    rows: int


EXPORT_CONTROL_CHOICES = (0, 5, 10, 20)


def rows_after_control(*, members: int, control_pct: int) -> int:
    """How many of `members` customers a file holds once `control_pct` percent are held back (the rule
    export_create draws by)."""
    return members - round(members * control_pct / 100)


def segment_export_choices(*, shop: Shop, detail: SegmentDetail) -> list[ExportChoice]:
    """Per control group offered, the rows the export file will really hold by default: the segment's members
    less those flagged out of campaign files (predictions.extensions) and those who ordered since their score
    (both left out unless the export includes them), less the control group drawn by export_create."""
    members = detail.size - len(detail.flagged_ids | detail.ordered_since_scoring_ids)
    return [ExportChoice(control_pct=pct, rows=rows_after_control(members=members, control_pct=pct))
            for pct in EXPORT_CONTROL_CHOICES]
