"""Reads about a segment's exports: the background files being prepared, and each campaign's measured lift.

An export that kept a control group is an experiment: the customers in the file were targeted, the
ones held back were not. Once the horizon has passed, the share of each group that bought in
(export time, export time + horizon] — at least one order that was not cancelled, the same rule as the
purchase label — says what the campaign changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from accounts.models import Job, Shop
from behavior.models import Order
from predictions.models import Segment, SegmentExport

# Below this many customers held back, a few purchases either way move the control's rate by whole
# points: say so instead of presenting the difference as settled.
SMALL_CONTROL = 100
# The segment page reports the latest experiments only: each finished one costs a query.
CAMPAIGNS_SHOWN = 10


def _rate_text(rate: float) -> str:
    """A rate as a marketer reads it: "31 %", "2.5 %" (one decimal only where it matters)."""
    value = round(100 * rate, 1)
    return f"{value:.0f} %" if value == int(value) else f"{value:.1f} %"


def _points(diff: float) -> str:
    value = round(abs(100 * diff), 1)
    text = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{text} point{'' if value == 1 else 's'}"


def _people(n: int) -> str:
    return f"{n:,} customer{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class CampaignLift:
    """One export with a control group: sizes, and once its horizon has passed, who bought in each group."""

    export_id: int
    exported_at: datetime
    horizon_days: int
    due_at: datetime  # exported_at + horizon: when the result is final
    targeted: int  # customers written to the file
    control: int  # customers held back
    targeted_buyers: int | None  # None until due
    control_buyers: int | None
    files: int = 1  # the segment's exports this campaign is made of (see segment_campaigns)
    # when the first of its later files that held nobody back was made (None: every file kept a control group)
    uncontrolled_at: datetime | None = None

    @property
    def ready(self) -> bool:
        return self.targeted_buyers is not None

    @property
    def targeted_rate(self) -> float | None:
        return self.targeted_buyers / self.targeted if self.ready and self.targeted else None

    @property
    def control_rate(self) -> float | None:
        return self.control_buyers / self.control if self.ready and self.control else None

    @property
    def targeted_rate_text(self) -> str:
        return _rate_text(self.targeted_rate) if self.targeted_rate is not None else "—"

    @property
    def control_rate_text(self) -> str:
        return _rate_text(self.control_rate) if self.control_rate is not None else "—"

    @property
    def lift_points(self) -> float | None:
        """Targeted rate minus control rate, in percentage points."""
        if self.targeted_rate is None or self.control_rate is None:
            return None
        return 100 * (self.targeted_rate - self.control_rate)

    @property
    def relative_lift(self) -> float | None:
        """How much more (or less) the targeted bought than the control, as a share of the control's rate."""
        if self.lift_points is None or not self.control_rate:
            return None
        return (self.targeted_rate - self.control_rate) / self.control_rate

    @property
    def p_value(self) -> float | None:
        """Two-sided two-proportion z-test: the chance of a difference this large if the campaign did nothing."""
        if self.lift_points is None:
            return None
        pooled = (self.targeted_buyers + self.control_buyers) / (self.targeted + self.control)
        se = math.sqrt(pooled * (1 - pooled) * (1 / self.targeted + 1 / self.control))
        if se == 0:  # everyone or no one bought in both groups: no evidence of any difference
            return 1.0
        z = (self.targeted_rate - self.control_rate) / se
        return math.erfc(abs(z) / math.sqrt(2))

    @property
    def interval_points(self) -> tuple[float, float] | None:
        """95 % interval of the lift in points (normal approximation, unpooled)."""
        if self.lift_points is None:
            return None
        t, c = self.targeted_rate, self.control_rate
        se = math.sqrt(t * (1 - t) / self.targeted + c * (1 - c) / self.control)
        return (self.lift_points - 196 * se, self.lift_points + 196 * se)

    @property
    def too_few(self) -> bool:
        return self.control < SMALL_CONTROL

    @property
    def summary(self) -> str:
        """The result in one or two sentences, e.g. "Of the 450 customers you targeted, 31 % bought …"."""
        if not self.ready:
            due = timezone.localtime(self.due_at)
            return (f"{_people(self.targeted)} targeted, {self.control:,} held back. The result will be ready on "
                    f"{due.day} {due:%b %Y}, {self.horizon_days} days after the export.")
        if self.targeted_rate is None or self.control_rate is None:
            return "One of the groups is empty, so there is nothing to compare."
        head = (f"Of the {_people(self.targeted)} you targeted, {_rate_text(self.targeted_rate)} bought within "
                f"{self.horizon_days} days; of the {self.control:,} held back, {_rate_text(self.control_rate)} did")
        diff = self.targeted_rate - self.control_rate
        if round(100 * diff, 1) == 0:
            return head + ": the campaign made no difference to purchases."
        if diff > 0:
            tail = f": the campaign lifted purchases by {_points(diff)}"
            if self.relative_lift is not None:
                tail += f" ({_rate_text(self.relative_lift)} more buyers than without it)"
            return head + tail + "."
        return head + f": those targeted bought less, by {_points(diff)}."

    @property
    def later_files(self) -> str:
        """What the campaign's later files mean for its result (empty when it is one file)."""
        if self.files < 2:
            return ""
        text = (f"This campaign is {self.files} files of this segment, made within {self.horizon_days} days of the "
                "first; it is measured on the first file's groups.")
        if self.uncontrolled_at is not None:
            made = timezone.localtime(self.uncontrolled_at)
            text += (f" A later file (on {made.day} {made:%b %Y}) held nobody back and may have reached customers "
                     "held back here, so the difference is if anything an understatement.")
        return text

    @property
    def caution(self) -> str:
        """Why the difference may be chance (empty when the test says it is unlikely to be)."""
        if not self.ready or self.lift_points is None:
            return ""
        if self.too_few:
            return (f"Only {self.control:,} customers were held back — too few to be sure: a handful of purchases "
                    f"either way changes the comparison. Hold back at least {SMALL_CONTROL} next time.")
        if round(self.lift_points, 1) == 0:  # "no difference" needs no warning that the difference may be chance
            return ""
        if self.p_value is not None and self.p_value >= 0.05:
            return "A difference this size could be chance: the groups would need to be larger to be sure."
        return ""


# How many of the segment's latest exports are read to form its latest campaigns.
EXPORTS_READ = 100


@dataclass(frozen=True)
class SegmentCampaigns:
    """The segment's measured campaigns, and the files that are not measured because they held nobody back."""

    campaigns: list[CampaignLift]  # latest first
    unmeasured: list[datetime]  # when each file without a control group outside every campaign was made, latest first

    @property
    def unmeasured_text(self) -> str:
        """The files not measured, in words (empty when there are none)."""
        if not self.unmeasured:
            return ""
        days = [timezone.localtime(at) for at in self.unmeasured[:UNMEASURED_NAMED]]
        named = ", ".join(f"{d.day} {d:%b %Y}" for d in days)
        more = len(self.unmeasured) - len(days)
        if more:
            named += f" and {more} earlier"
        n = len(self.unmeasured)
        return (f"Not measured: {n} file{'' if n == 1 else 's'} held nobody back ({named}). Only a file with a "
                "control group starts a measurement; a file without one is not compared with anyone.")


UNMEASURED_NAMED = 3


def segment_campaigns(*, shop: Shop, segment: Segment, now: datetime | None = None) -> SegmentCampaigns:
    """The segment's campaigns, latest first, with the measured lift of those whose horizon has passed, and the files
    not measured: one query for the exports, then one set-based count of buyers per finished campaign.

    A campaign starts with an export that held back a control group and takes in the segment's later files made
    within that export's horizon: a second file of the same segment then (another column preset, another control
    share, a file downloaded again, one without a control) is the same campaign, not a second experiment on the
    same customers. It is measured on its first file's targeted and held back customers (intention to treat), from
    that export to the end of its horizon. A file without a control group outside every campaign starts none: it is
    listed as not measured (a test download with no control does not swallow the files after it). An earlier file
    without a control does not spoil a later campaign's comparison: the control is drawn at random from the members,
    so both groups were in it alike, and the difference is what the campaign added to it."""
    now = now or timezone.now()
    # The files' dates first; the customer ids (up to every member of a big segment per file) of the shown
    # campaigns' first files only.
    exports = list(
        SegmentExport.objects.filter(shop=shop, segment=segment)
        .order_by("-created_at", "-id")
        .only("id", "created_at", "horizon_days", "control_pct")[:EXPORTS_READ]
    )
    groups: list[list[SegmentExport]] = []
    unmeasured: list[datetime] = []
    for export in reversed(exports):  # oldest first
        first = groups[-1][0] if groups else None
        if first is not None and export.created_at < first.created_at + timedelta(days=first.horizon_days):
            groups[-1].append(export)
        elif export.control_pct:
            groups.append([export])
        else:
            unmeasured.append(export.created_at)
    campaigns = groups[-CAMPAIGNS_SHOWN:]
    ids = {e.pk: e for e in SegmentExport.objects.filter(pk__in=[files[0].pk for files in campaigns]).only(
        "id", "control_customer_ids", "targeted_customer_ids")} if campaigns else {}
    out = []
    for files in reversed(campaigns):  # latest first
        first = files[0]
        uncontrolled = [f for f in files if not f.control_pct]
        # The first file's groups, whatever the later files did (intention to treat): who is in a later file depends
        # on who bought since (a buyer leaves the segment), so groups rebuilt from later files are biased — taking
        # the controls held back from every file kept the control's non-buyers and dropped its buyers (a second
        # reader: 0 % of the held back "bought" where half of both groups did). A later file that reaches the first
        # one's control can only shrink the difference.
        lists = ids.get(first.pk)
        targeted = set(lists.targeted_customer_ids) if lists is not None else set()
        control = set(lists.control_customer_ids) if lists is not None else set()
        due_at = first.created_at + timedelta(days=first.horizon_days)
        targeted_buyers = control_buyers = None
        if due_at <= now and control:
            buyers = set(
                Order.objects.filter(shop=shop, customer_id__in=targeted | control, placed_at__gt=first.created_at,
                                     placed_at__lte=due_at)
                .filter(~Q(status=Order.Status.CANCELLED))
                .values_list("customer_id", flat=True).distinct()
            )
            targeted_buyers, control_buyers = len(buyers & targeted), len(buyers & control)
        out.append(CampaignLift(export_id=first.pk, exported_at=first.created_at, horizon_days=first.horizon_days,
                                due_at=due_at, targeted=len(targeted), control=len(control),
                                targeted_buyers=targeted_buyers, control_buyers=control_buyers, files=len(files),
                                uncontrolled_at=uncontrolled[0].created_at if uncontrolled else None))
    return SegmentCampaigns(campaigns=out, unmeasured=unmeasured[::-1])


def campaign_lift_list(*, shop: Shop, segment: Segment, now: datetime | None = None) -> list[CampaignLift]:
    """The segment's measured campaigns, latest first (see segment_campaigns)."""
    return segment_campaigns(shop=shop, segment=segment, now=now).campaigns


@dataclass(frozen=True)
class RecentExport:
    """A background export of the segment, for the segment page's "files being prepared / ready" list."""

    export: SegmentExport
    status: str  # the job's status: pending, running, succeeded, failed
    percent: int


RECENT_DAYS = 7


def segment_exports_recent(*, shop: Shop, segment: Segment, limit: int = 5) -> list[RecentExport]:
    """The segment's exports of the last week with a file to download again (background ones, and streamed
    ones whose copy was written in full), latest first."""
    since = timezone.now() - timedelta(days=RECENT_DAYS)
    exports = (SegmentExport.objects.filter(Q(job__isnull=False) | ~Q(file_path=""), shop=shop, segment=segment,
                                            created_at__gte=since)
               .select_related("job", "created_by")
               .defer("control_customer_ids", "targeted_customer_ids")
               .order_by("-created_at", "-id")[:limit])
    return [RecentExport(export=e, status=e.job.status if e.job else Job.Status.SUCCEEDED,
                         percent=job_percent(e.job) if e.job else 100) for e in exports]


def job_percent(job: Job) -> int:
    """A job's progress in whole percent (100 once it succeeded, whatever its counts say)."""
    if job.status == Job.Status.SUCCEEDED:
        return 100
    if not job.progress_total:
        return 0
    return min(100, int(100 * job.progress_done / job.progress_total))


def segment_export_get(*, shop: Shop, export_id: int) -> SegmentExport:
    """The shop's export (with its job and segment), or 404: another shop's export does not exist for this user."""
    export = (SegmentExport.objects.filter(shop=shop, pk=export_id)
              .select_related("job", "segment", "created_by", "shop")
              .defer("control_customer_ids", "targeted_customer_ids").first())
    if export is None:
        raise Http404("No such export")
    return export
