"""The at-risk list: the current scoring run, the list's rows, filters and pages, and the filter form's choices.

Every read takes the shop and never trusts an id from the URL without it. The "current" scores of a
shop are those of its latest succeeded ScoringRun. The at-risk list is built on the churn rows of
that run (churn is scored for customers still active), with the purchase probability and the last
order date joined in as correlated subqueries: PostgreSQL evaluates them for the 50 rows of a page
only (after the LIMIT), so a page is one query plus one count, whatever the shop's size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Exists, F, FilteredRelation, FloatField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Shop
from behavior.ingest.values import country_canonical, country_label
from behavior.models import Customer, Order, Review
from catalog.models import Category
from catalog.selectors import category_find
from ecomsight.errors import UserError
from predictions.filters import LAPSED_CHOICES, SORTS, AtRiskFilter, FilterError
from predictions.models import CustomerInterest, CustomerScore, ScoringRun, Segment, Task
from predictions.selectors.consent import consent_given
from predictions.selectors.freshness import history_end, with_ordered_since_scoring

PAGE_SIZE = 50
# Shares are stored as floats: "at least 30 %" keeps a share computed as 0.29999999999999993.
SHARE_TOLERANCE = 1e-9

# Order of the list per sort key; `id` last keeps pages stable when values tie. Each order matches an
# index of CustomerScore exactly (plain columns, same NULLS placement), so a page is a top-N index scan.
_ORDERINGS = {
    # Churn scores always carry revenue at risk, so no NULLS LAST: the order matches the index exactly.
    "risk": [F("revenue_at_risk").desc(), F("probability").desc(), "id"],
    "churn": [F("probability").desc(), "id"],
    # These two match the PostgreSQL-only indexes of migration 0003 exactly (NULLS LAST / FIRST).
    "purchase": [F("purchase_probability_copy").desc(nulls_last=True), "id"],
    "value": [F("spend_12m").desc(), "id"],
    "last_order": [F("last_order_placed_at").asc(nulls_first=True), "id"],
}
# The same orders on runs finished before the copied columns existed (computed per row: slower).
_ORDERINGS_COMPUTED = {
    **_ORDERINGS,
    "purchase": [F("purchase_probability").desc(nulls_last=True), "id"],
    "last_order": [F("last_order_at").asc(nulls_first=True), "id"],
}
# The likely buyers list's orders (its purchase rows carry no copied columns): "purchase" is the row's own probability,
# read through the (run, task, probability) index.
# "last_order": customers who never ordered (new sign-ups, everywhere on this list) last, not first, as lapsed buyers
# are what "longest ago" looks for (a second reader).
_ORDERINGS_BUYERS = {**_ORDERINGS_COMPUTED, "purchase": [F("probability").desc(), "id"],
                     "last_order": [F("last_order_at").asc(nulls_last=True), "id"]}
# ScoringRun.summary key written by `customer_score_list_columns_mark` (predictions.services.score_columns): the
# churn rows carry their purchase probability and last order, and how many churn rows the run has (the list's
# "of N scored").
LIST_COLUMNS = "list_columns"


# ---- current run ---------------------------------------------------------------------------------


def scoring_runs_succeeded(*, shop: Shop) -> QuerySet[ScoringRun]:
    """The shop's succeeded scoring runs, the current one first: the latest by as_of, then by id. The one place
    that says which run is current (a backfill of an earlier date, finished later, is not); SCORING_RUN_CURRENT_SQL
    below is the same rule for statements written in SQL (a test checks they agree)."""
    return ScoringRun.objects.filter(shop=shop, status=ScoringRun.Status.SUCCEEDED).order_by("-as_of", "-id")


# The current run's id in SQL (a subquery taking %(shop)s): scoring_runs_succeeded's rule for statements written in
# SQL, and what scoring_run_current reads.
SCORING_RUN_CURRENT_SQL = ("SELECT run.id FROM predictions_scoringrun run WHERE run.shop_id = %(shop)s"
                           f" AND run.status = '{ScoringRun.Status.SUCCEEDED}' ORDER BY run.as_of DESC, run.id DESC"
                           " LIMIT 1")


_SCORING_RUN_COLUMNS = ", ".join(field.column for field in ScoringRun._meta.concrete_fields)


def scoring_run_current(*, shop: Shop) -> ScoringRun | None:
    """The shop's current scoring run: its latest succeeded one (None before the first one). Read through
    SCORING_RUN_CURRENT_SQL: every API read asks for it, and building the same query with the ORM cost about a
    tenth of an at-risk call's CPU (measured in process)."""
    # The columns named (not *): a prepared statement whose result columns change after a migration would fail.
    runs = ScoringRun.objects.raw(f"SELECT {_SCORING_RUN_COLUMNS} FROM predictions_scoringrun "
                                  f"WHERE id = ({SCORING_RUN_CURRENT_SQL})", {"shop": shop.pk})
    return next(iter(runs), None)


def scoring_run_for_list(*, shop: Shop, run_id: int | None) -> ScoringRun | None:
    """The run a paged list reads: the one its cursor names (None when that is not a succeeded run of the
    shop), else the shop's current run."""
    if run_id is None:
        return scoring_run_current(shop=shop)
    return scoring_runs_succeeded(shop=shop).filter(pk=run_id).first()


def _reference_time(run: ScoringRun | None) -> datetime:
    # Days since the last order count up to the scores' date, so the list agrees with the scores.
    return run.as_of if run is not None else timezone.now()


# ---- at-risk list --------------------------------------------------------------------------------


def last_order_as_scored(run: ScoringRun) -> Subquery:
    """The placed_at of the customer's last non-cancelled order as the score row (of `run`) saw it: up to the end
    of its history (freshness.history_end: history_until for a customer re-scored after new orders or events,
    else the run's as_of). The one rule of every list's last order: the churn rows' copied last_order_placed_at
    holds the same (scoring.scores_compute writes it with the row, cut at the same date); this computes it where
    no copy exists (the likely buyers' purchase rows, runs from before the copy). Up to the run's as_of alone, a
    customer re-scored after ordering today read "last order 387 days ago" beside their reason "ordered today"."""
    return Subquery(
        Order.objects.filter(customer_id=OuterRef("customer_id"), placed_at__lte=history_end(run, outer=True))
        .exclude(status=Order.Status.CANCELLED)
        .order_by("-placed_at")
        .values("placed_at")[:1]
    )


def _orders_since(since: datetime | None, *, run: ScoringRun, strict: bool, until: datetime | None = None):
    """The customer's non-cancelled orders as their score saw them (up to last_order_as_scored's bound) placed after
    `since` (from it, unless `strict`; None: all); only those up to `until` (at most the run's as_of, never after
    that bound: a constant bound PostgreSQL hashes the orders against) when given."""
    placed = {} if since is None else {"placed_at__gt": since} if strict else {"placed_at__gte": since}
    placed["placed_at__lte"] = until if until is not None else history_end(run, outer=True)
    return Order.objects.filter(customer_id=OuterRef("customer_id"), **placed).exclude(status=Order.Status.CANCELLED)


def list_columns_copied(run: ScoringRun) -> bool:
    """Whether the run's churn rows carry their purchase probability and last order (see LIST_COLUMNS)."""
    return bool((run.summary or {}).get(LIST_COLUMNS))


def category_ids_below(*, shop: Shop, category_id: int) -> list[int]:
    """The category and every category under it in the tree (empty when it is not the shop's)."""
    root = Category.objects.filter(shop=shop, pk=category_id).values_list("path", flat=True).first()
    if root is None:
        return []
    return list(
        Category.objects.filter(shop=shop)
        .filter(Q(path=root) | Q(path__startswith=f"{root} > "))
        .values_list("pk", flat=True)
    )


# How deep segments built on segments go (services.segments refuses deeper ones, and loops, when saved).
MAX_SEGMENT_DEPTH = 5


def at_risk_queryset(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter) -> QuerySet[CustomerScore]:
    """The churn scores of `run` that match `flt`, annotated and ordered for the list and exports.

    Annotations: purchase_probability, last_order_at (the last non-cancelled order as the score saw it:
    last_order_as_scored),
    value_at_risk (revenue at risk, computed as churn probability × 12-month spend when the scorer left it
    empty). A saved segment named by the filter is applied as well (one level deep: a segment's own
    segment reference is ignored)."""
    return _display(_matching(shop=shop, run=run, flt=flt, depth=0), run=run, flt=flt).order_by(*_ordering(run, flt))


def matching_ordered(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter) -> QuerySet[CustomerScore]:
    """The scores of `run` that match `flt`, in its sort order, without the list's display columns: what a
    list with columns of its own (the likely buyers page) pages through."""
    return _matching(shop=shop, run=run, flt=flt, depth=0).order_by(*_ordering(run, flt))


def _ordering(run: ScoringRun, flt: AtRiskFilter) -> list:
    if flt.buyers:
        return _ORDERINGS_BUYERS[flt.sort]
    return (_ORDERINGS if list_columns_copied(run) else _ORDERINGS_COMPUTED)[flt.sort]


def _copied(run: ScoringRun, flt: AtRiskFilter) -> bool:
    """Whether the rows `flt` lists carry the copied list columns (the churn rows of a run that copied them)."""
    return not flt.buyers and list_columns_copied(run)


def _matching(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter, depth: int) -> QuerySet[CustomerScore]:
    """The rows matching `flt` (churn rows; purchase rows for the likely buyers list), with only what the sort
    needs: cheap to count and to page through."""
    # The run is the shop's: no shop filter.
    qs = CustomerScore.objects.filter(scoring_run=run, task=Task.PURCHASE if flt.buyers else Task.CHURN)
    if isinstance(flt.category, str):  # a path the page or API did not resolve (filter_resolved): nobody if unknown
        flt = filter_resolved(shop=shop, flt=flt)
        if flt.errors:
            return qs.none()
    if flt.buyers:
        if flt.sort == "last_order":
            qs = qs.annotate(last_order_at=last_order_as_scored(run))
    elif not list_columns_copied(run):
        if flt.sort == "purchase":
            # Sorting on the purchase probability needs it for every row: one hash join beats 200,000 lookups.
            qs = qs.annotate(purchase_score=FilteredRelation(
                "customer__scores",
                condition=Q(customer__scores__scoring_run=run, customer__scores__task=Task.PURCHASE),
            )).annotate(purchase_probability=F("purchase_score__probability"))
        elif flt.sort == "last_order":
            qs = qs.annotate(last_order_at=last_order_as_scored(run))
    qs = _apply_filter(qs, shop=shop, run=run, flt=flt, depth=depth)
    if flt.limit:
        # "The top N": keep the first N in this sort order, still filterable, countable and pageable.
        qs = qs.filter(pk__in=Subquery(qs.order_by(*_ordering(run, flt)).values("pk")[:flt.limit]))
    return qs


def _display(qs: QuerySet[CustomerScore], *, run: ScoringRun, flt: AtRiskFilter) -> QuerySet[CustomerScore]:
    """The columns a row shows. Computed ones are correlated subqueries: PostgreSQL evaluates them for the
    rows returned only (after the LIMIT), so apply this to a page's rows, not to what is paged through."""
    if flt.buyers:
        return _display_buyers(qs, run=run)
    qs = qs.annotate(churn_probability=F("probability"), band=F("risk_band"))
    if list_columns_copied(run):
        qs = qs.annotate(purchase_probability=F("purchase_probability_copy"), last_order_at=F("last_order_placed_at"))
    else:
        purchase = CustomerScore.objects.filter(
            scoring_run_id=run.pk, task=Task.PURCHASE, customer_id=OuterRef("customer_id")
        ).values("probability")[:1]
        # The computed sorts annotate these already (the purchase one from a join): keep theirs.
        if "purchase_probability" not in qs.query.annotations:
            qs = qs.annotate(purchase_probability=Subquery(purchase, output_field=FloatField()))
        if "last_order_at" not in qs.query.annotations:
            qs = qs.annotate(last_order_at=last_order_as_scored(run))
    qs = qs.annotate(value_at_risk=Coalesce(F("revenue_at_risk"), F("probability") * F("spend_12m")))
    return with_ordered_since_scoring(qs, run=run).only(*_ROW_SCORE_FIELDS)


def _display_buyers(qs: QuerySet[CustomerScore], *, run: ScoringRun) -> QuerySet[CustomerScore]:
    """The likely buyers list's columns on its purchase rows: the chance of leaving, risk band and revenue at risk
    come from the customer's churn row, which only customers still active have (None, "" and None otherwise)."""
    churn = CustomerScore.objects.filter(scoring_run_id=run.pk, task=Task.CHURN, customer_id=OuterRef("customer_id"))
    qs = qs.annotate(
        purchase_probability=F("probability"),
        churn_probability=Subquery(churn.values("probability")[:1], output_field=FloatField()),
        band=Coalesce(Subquery(churn.values("risk_band")[:1]), Value("")),
        value_at_risk=Subquery(churn.annotate(at_risk=Coalesce(F("revenue_at_risk"), F("probability") * F("spend_12m")))
                               .values("at_risk")[:1], output_field=FloatField()),
    )
    if "last_order_at" not in qs.query.annotations:
        qs = qs.annotate(last_order_at=last_order_as_scored(run))
    return with_ordered_since_scoring(qs, run=run).only(*_ROW_SCORE_FIELDS)


# What at_risk_rows reads of a score (the rest of a row is annotated above or the customer's): the other columns
# are never shown, so they are not read (a small saving: about 3 % of an at-risk call's CPU, measured in process).
_ROW_SCORE_FIELDS = ("id", "customer_id", "spend_12m", "reasons", "scored_at", "lapsed")
_ROW_CUSTOMER_FIELDS = ("external_id", "email", "name", "country")
# A row as at_risk_rows reads it from a display queryset: plain values, no model instances (building a score
# and a customer instance per row was about a quarter of an at-risk call's CPU, measured in process).
_ROW_VALUES = (*_ROW_SCORE_FIELDS, "churn_probability", "band", "purchase_probability", "last_order_at",
               "value_at_risk", "ordered_since_scoring")


def filter_resolved(*, shop: Shop, flt: AtRiskFilter) -> AtRiskFilter:
    """`flt` with its category as the shop's category id: a path ("Home > Kitchen", as the Reviews page takes it)
    becomes its id (one lookup, catalog.selectors.category_find, the one the Reviews page uses); a path or id the
    shop has not is an error on `category` (the page's notice, the API's 400). What the lists and the API call on a
    filter typed in: saved segments hold ids, and one whose category is gone says so (filter_in_words)."""
    if flt.category is None:
        return flt
    try:
        category = category_find(shop_id=shop.pk, value=flt.category)
    except UserError as exc:
        return replace(flt, category=None, category_min=None,
                       errors=(*flt.errors, FilterError(exc.message, field="category")))
    return flt if category.pk == flt.category else replace(flt, category=category.pk)


def _interested(run: ScoringRun, percent_min: int, **key):
    """Customer ids whose interest share in `run` for the category or brand `key` names is at least `percent_min`."""
    return CustomerInterest.objects.filter(scoring_run_id=run.pk, share__gte=percent_min / 100 - SHARE_TOLERANCE,
                                           **key).values("customer_id")


def _buyers(shop: Shop, **line_filter):
    """Customer ids of the shop's orders (cancelled ones left out) holding a line that matches `line_filter`."""
    return (Order.objects.filter(shop=shop, **line_filter).exclude(status=Order.Status.CANCELLED)
            .values("customer_id"))


def _apply_filter(qs: QuerySet, *, shop: Shop, run: ScoringRun, flt: AtRiskFilter, depth: int) -> QuerySet:
    if flt.bands:
        qs = qs.filter(risk_band__in=flt.bands)
    if flt.churn_min is not None:
        qs = qs.filter(probability__gte=flt.churn_min / 100)
    if flt.churn_max is not None:
        qs = qs.filter(probability__lte=flt.churn_max / 100)
    if flt.value_min is not None:
        qs = qs.filter(spend_12m__gte=flt.value_min)
    if flt.value_max is not None:
        qs = qs.filter(spend_12m__lte=flt.value_max)
    if flt.buy_min is not None:
        qs = qs.filter(probability__gte=flt.buy_min / 100)  # the buyers list's rows are purchase rows
    if flt.buy_max is not None:
        qs = qs.filter(probability__lte=flt.buy_max / 100)
    if flt.lapsed is not None:
        qs = qs.filter(lapsed=flt.lapsed)
    ref = _reference_time(run)
    copied = _copied(run, flt)
    # Days since the last order (as the score saw it: last_order_as_scored), up to the run's as_of. The at-risk
    # list holds active customers, who ordered; a customer there without an order (none in real data) has gone
    # "forever" without one and matches any minimum.
    # The likely buyers list holds everyone scored, new sign-ups included: there a customer who never ordered has
    # no last order and matches no days filter ("last order at least 400 days ago" listed mostly sign-ups of the
    # last weeks, where a win-back campaign wants lapsed buyers).
    if flt.days_min is not None:
        since = ref - timedelta(days=flt.days_min)
        if copied:
            qs = qs.filter(Q(last_order_placed_at__lte=since) | Q(last_order_placed_at__isnull=True))
        else:
            # NOT EXISTS: PostgreSQL runs it as one hash anti-join over the orders, where a filter on the
            # last-order subquery would run one lookup per scored customer.
            # Split at the run's as_of: the orders up to it keep a constant bound (one hash anti-join, as before the
            # re-scored rows' history_until joined the rule), those after it are few (a re-scored row's new ones).
            qs = qs.filter(~Exists(_orders_since(since, run=run, strict=True, until=run.as_of)))
            qs = qs.filter(~Exists(_orders_since(max(since, run.as_of), run=run, strict=True)))
            if flt.buyers:
                qs = qs.filter(Exists(_orders_since(None, run=run, strict=False)))
    if flt.days_max is not None:
        since = ref - timedelta(days=flt.days_max)
        if copied:
            qs = qs.filter(last_order_placed_at__gte=since)
        else:
            qs = qs.filter(Exists(_orders_since(since, run=run, strict=False)))
    if flt.category is not None and flt.category_min is not None:
        # The run's interest profile: one range of the (run, category, share) index, a semi-join on the churn rows.
        # The category's share already holds those below it (predictions.ml.interests), so no tree walk here.
        qs = qs.filter(customer_id__in=_interested(run, flt.category_min, category_id=flt.category))
    elif flt.category is not None:
        qs = qs.filter(customer_id__in=_buyers(
            shop, lines__product__category_id__in=category_ids_below(shop=shop, category_id=flt.category)))
    if flt.brand and flt.brand_min is not None:
        # Brand rows: at most five per customer (InterestConfig.top_brands).
        qs = qs.filter(customer_id__in=_interested(run, flt.brand_min, kind=CustomerInterest.Kind.BRAND,
                                                   brand__iexact=flt.brand))
    elif flt.brand:
        qs = qs.filter(customer_id__in=_buyers(shop, lines__product__brand__iexact=flt.brand))
    if flt.country:
        qs = qs.filter(customer_id__in=Customer.objects.filter(
            shop=shop, country__iexact=country_canonical(flt.country)).values("pk"))  # "Germany" is DE
    if flt.negative_review_days is not None:
        qs = qs.filter(customer_id__in=Review.objects.filter(
            shop=shop, sentiment=Review.Sentiment.NEGATIVE, created_at__lte=ref,
            created_at__gt=ref - timedelta(days=flt.negative_review_days)).values("customer_id"))
    if flt.segment is not None:
        segment = Segment.objects.filter(shop=shop, pk=flt.segment).first()
        if segment is None or depth > MAX_SEGMENT_DEPTH:
            # a deleted or foreign segment, or a loop of segments (refused when saved), matches nobody rather
            # than everybody
            return qs.none()
        inner = AtRiskFilter.from_dict(segment.filters)  # with its own segment, if it names one
        if inner.broken:
            return qs.none()  # a saved filter that no longer validates matches nobody, never everybody
        # A segment never holds customers without consent (selectors.consent).
        members = _matching(shop=shop, run=run, flt=inner, depth=depth + 1).filter(
            consent_given(shop=shop)).values("customer_id")
        qs = qs.filter(customer_id__in=members)
    return qs


class _Rows:
    """What the paginator pages through: the count (stored by the run when nothing filters) and, per page,
    the matching rows' ids read in sort order from an index, then only those rows with their display
    columns. Deep pages (OFFSET 10,000) then skip index entries, not 10,000 rows' subqueries."""

    def __init__(self, *, matching: QuerySet[CustomerScore], run: ScoringRun, flt: AtRiskFilter, total: int | None):
        self._matching, self._run, self._flt, self._total = matching, run, flt, total

    def count(self) -> int:
        if self._total is None:
            self._total = self._matching.count()
        return self._total

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, window: slice) -> list[AtRiskRow]:
        return at_risk_rows(_window(self._matching, run=self._run, flt=self._flt, window=window), run=self._run)


def _window(matching: QuerySet[CustomerScore], *, run: ScoringRun, flt: AtRiskFilter,
            window: slice) -> QuerySet[CustomerScore]:
    ordering = _ordering(run, flt)
    ids = matching.order_by(*ordering).values("pk")[window]
    rows = CustomerScore.objects.filter(pk__in=Subquery(ids))
    if flt.buyers and flt.sort == "last_order":
        rows = rows.annotate(last_order_at=last_order_as_scored(run))  # what the ordering reads
    return _display(rows, run=run, flt=flt).order_by(*ordering)


# From this row on, at_risk_window reads ids first. Measured on 200,000 scored customers (bench/api.py's shop),
# one query against ids first: offset 0 1.35 -> 2.03 ms, 500 5.2 -> 1.6 ms, 100,000 204 -> 10 ms (vacuumed).
_IDS_FIRST_FROM = 250


def at_risk_window(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter, start: int,
                   stop: int) -> QuerySet[CustomerScore]:
    """Rows start to stop - 1 of at_risk_queryset(flt). Past the first few pages they are read as the web
    page reads them: the window's ids in sort order first (from an index), then only those rows with their
    display columns, so a window deep in the list skips index entries instead of joining every skipped row
    to its customer. The first pages are one query: cheaper there (the figures above)."""
    if start < _IDS_FIRST_FROM:
        return at_risk_queryset(shop=shop, run=run, flt=flt)[start:stop]
    return _window(_matching(shop=shop, run=run, flt=flt, depth=0), run=run, flt=flt, window=slice(start, stop))


def at_risk_window_rows(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter, start: int, stop: int) -> list[AtRiskRow]:
    """Rows start to stop - 1 of the at-risk list in `run` (at_risk_window), as AtRiskRow: what the API pages."""
    return at_risk_rows(at_risk_window(shop=shop, run=run, flt=flt, start=start, stop=stop), run=run)


@dataclass(frozen=True)
class AtRiskRow:
    """One line of the at-risk list (and of an export)."""

    score_id: int
    customer_id: int
    external_id: str
    email: str
    name: str
    country: str
    churn_probability: float | None  # None on the likely buyers list for a customer no longer active
    purchase_probability: float | None
    risk_band: str  # "" where churn_probability is None
    spend_12m: float
    revenue_at_risk: float | None  # None where churn_probability is None
    last_order_at: datetime | None
    days_since_last_order: int | None
    reasons: list[str]
    scored_at: datetime | None = None  # when this score was written (the run, or a re-scoring after new data)
    ordered_since_scoring: bool = False  # an order placed after the history this score saw: re-scoring pending
    lapsed: bool = False  # already lapsed: a win-back customer rather than one to save (CustomerScore.lapsed)

    @property
    def top_reason(self) -> str:
        return self.reasons[0] if self.reasons else ""


def at_risk_rows(scores: QuerySet[CustomerScore], *, run: ScoringRun | None) -> list[AtRiskRow]:
    """The rows of the at-risk list (web page, API, segment pages, previews) for a window of scores of `run` read
    with the list's display columns (a slice of at_risk_queryset, at_risk_window or segment_window): the one place
    a row is built. Two statements, read as plain values: the window's scores, then their customers."""
    values = list(scores.values(*_ROW_VALUES))
    # Customers in a second small query: joining them into the page query would stop PostgreSQL from
    # using a bounded (top-N) sort, and the sort would then spill 200,000 rows to disk.
    customers = {row[0]: row[1:] for row in Customer.objects.filter(
        pk__in=[v["customer_id"] for v in values]).values_list("pk", *_ROW_CUSTOMER_FIELDS)} if values else {}
    ref = _reference_time(run)
    return [_row(v, customers[v["customer_id"]], ref) for v in values]


def _row(score: dict, customer: tuple, ref: datetime) -> AtRiskRow:
    last = score["last_order_at"]
    external_id, email, name, country = customer
    return AtRiskRow(
        score_id=score["id"],
        customer_id=score["customer_id"],
        external_id=external_id,
        email=email,
        name=name,
        country=country,
        churn_probability=score["churn_probability"],
        purchase_probability=score["purchase_probability"],
        risk_band=score["band"],
        spend_12m=score["spend_12m"],
        # None for a lapsed customer of the likely buyers list (no churn score, as the export's empty cell)
        revenue_at_risk=None if score["churn_probability"] is None else score["value_at_risk"] or 0.0,
        last_order_at=last,
        days_since_last_order=max(0, (ref - last).days) if last else None,
        reasons=list(score["reasons"] or []),
        scored_at=score["scored_at"],
        ordered_since_scoring=score["ordered_since_scoring"],
        lapsed=bool(score["lapsed"]),
    )


@dataclass(frozen=True)
class AtRiskPage:
    run: ScoringRun | None
    rows: list[AtRiskRow]
    page: Page | None
    total: int
    scored_total: int  # all scored customers of the run, before filtering


def at_risk_page(*, shop: Shop, flt: AtRiskFilter, page: int | str | None = 1, per_page: int = PAGE_SIZE) -> AtRiskPage:
    """One page of the at-risk list (a page number out of range gives the last page)."""
    run = scoring_run_current(shop=shop)
    if run is None:
        return AtRiskPage(run=None, rows=[], page=None, total=0, scored_total=0)
    stored = _stored_churn_count(run)
    rows = _Rows(matching=_matching(shop=shop, run=run, flt=flt, depth=0), run=run, flt=flt,
                 total=stored if flt.is_empty and not flt.buyers else None)
    paginator = Paginator(rows, per_page)
    page_obj = paginator.get_page(page)
    page_rows = list(page_obj.object_list)  # _Rows gives AtRiskRow
    scored_total = paginator.count if flt.is_empty else run_scored_count(run=run)
    return AtRiskPage(run=run, rows=page_rows, page=page_obj, total=paginator.count, scored_total=scored_total)


def _stored_churn_count(run: ScoringRun) -> int | None:
    return ((run.summary or {}).get(LIST_COLUMNS) or {}).get("churn_scored")


def run_scored_count(*, run: ScoringRun) -> int:
    """How many customers the run scored for churn (stored by the run when it finished, else counted)."""
    stored = _stored_churn_count(run)
    if stored is not None:
        return stored
    return CustomerScore.objects.filter(scoring_run=run, task=Task.CHURN).count()


def filter_choices(*, shop: Shop, flt: AtRiskFilter | None = None) -> dict:
    """What the filter form offers: the shop's categories, countries and segments; with `flt`, which country the
    form shows chosen ("Germany" in a link is the DE of the list) and a country of the link that no customer has
    ("XX": the list is empty, and the form must say why rather than show "Any country" and drop it on Apply)."""
    countries = shop_countries(shop=shop)
    wanted = country_canonical(flt.country).lower() if flt is not None and flt.country else ""
    chosen = next((c for c in countries if c.lower() == wanted), "")
    return {
        "categories": list(Category.objects.filter(shop=shop).values("id", "path")),
        "countries": countries,
        # The select's options: (code, "Germany (DE)"), by name (the API and the link keep the codes).
        "country_options": sorted(((c, country_label(c)) for c in countries), key=lambda o: (o[1].casefold(), o[0])),
        "country_chosen": chosen,
        "country_unlisted": flt.country if wanted and not chosen else "",
        "segments": list(Segment.objects.filter(shop=shop).values("id", "name")),
    }


_COUNTRIES_SQL = """
WITH RECURSIVE c(country) AS (
    SELECT MIN(country) FROM behavior_customer WHERE shop_id = %(shop)s AND country > ''
    UNION ALL
    SELECT (SELECT MIN(country) FROM behavior_customer WHERE shop_id = %(shop)s AND country > c.country)
    FROM c WHERE c.country IS NOT NULL
)
SELECT country FROM c WHERE country IS NOT NULL
"""


def shop_countries(*, shop: Shop) -> list[str]:
    """The distinct non-empty countries of the shop's customers, sorted. One index probe per country
    (a loose index scan on customer_shop_country) instead of reading 200,000 customers for a handful."""
    with connection.cursor() as cursor:
        cursor.execute(_COUNTRIES_SQL, {"shop": shop.pk})
        return [row[0] for row in cursor.fetchall()]


def filter_in_words(*, shop: Shop, flt: AtRiskFilter, list_named: bool = True) -> list[str]:
    """The filter as short phrases a marketer reads ("High or medium risk", "Bought in Kitchen"), in its list's words;
    without `list_named`, no phrase names the list (on the list's own page)."""
    words: list[str] = []
    if flt.buyers and list_named:
        words.append("Likely buyers (every scored customer, active or lapsed)")
    if flt.buy_min is not None or flt.buy_max is not None:
        words.append(f"Chance of buying {_range(flt.buy_min, flt.buy_max, '%')}")
    if flt.bands:
        words.append(" or ".join(b for b in flt.bands).capitalize() + " risk")
    if flt.churn_min is not None or flt.churn_max is not None:
        words.append(f"Chance of leaving {_range(flt.churn_min, flt.churn_max, '%')}")
    if flt.value_min is not None or flt.value_max is not None:
        words.append(f"12-month spend {_range(flt.value_min, flt.value_max, ' ' + shop.currency)}")
    if flt.days_min is not None or flt.days_max is not None:
        words.append(f"Last order {_range(flt.days_min, flt.days_max, ' days')} ago")
    if isinstance(flt.category, str):
        flt = filter_resolved(shop=shop, flt=flt)
    if flt.category is not None:
        path = Category.objects.filter(shop=shop, pk=flt.category).values_list("path", flat=True).first()
        if flt.category_min is not None:
            words.append(f"Interest in {path} at least {flt.category_min} %" if path
                         else "Interest in a category that no longer exists")
        else:
            words.append(f"Bought in {path}" if path else "Bought in a category that no longer exists")
    if flt.brand:
        words.append(f"Interest in brand {flt.brand} at least {flt.brand_min} %" if flt.brand_min is not None
                     else f"Bought brand {flt.brand}")
    if flt.country:
        words.append(f"Country {country_label(country_canonical(flt.country))}")
    if flt.lapsed is not None:
        words.append(LAPSED_CHOICES[flt.list][flt.lapsed])  # the list's select's own words
    if flt.negative_review_days is not None:
        words.append(f"Left a negative review in the last {flt.negative_review_days} days")
    if flt.limit:
        words.append(f"Only the top {flt.limit:,} by {SORTS[flt.sort].split(' (')[0].lower()}")
    if flt.segment is not None:
        name = Segment.objects.filter(shop=shop, pk=flt.segment).values_list("name", flat=True).first()
        words.append(f"In segment “{name}”" if name else "In a segment that no longer exists")
    return words


def _range(low, high, unit: str) -> str:
    def fmt(v):
        return f"{v:g}{unit}"

    if low is not None and high is not None:
        return f"{fmt(low)} to {fmt(high)}"
    if low is not None:
        return f"at least {fmt(low)}"
    return f"at most {fmt(high)}"
