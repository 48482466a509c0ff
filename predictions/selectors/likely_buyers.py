"""The likely-buyers list: who will order within the shop's horizon, likeliest first, with what to offer them.

Built on the purchase rows of the current scoring run (every customer is scored for buying, active or not),
read in the order of the `score_run_task_prob` index. The list takes the at-risk list's filter with `list=buyers`
(predictions.filters: chance of buying, value, last order, category, brand, country, reviews, top N, a segment),
matched by the same code (selectors.at_risk), so a segment saved from this page holds the customers it shows. A page
is one query plus one count; the page's customers, their last orders and their top recommendations are read in
bulk for its 50 rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.paginator import Page, Paginator

from accounts.models import Shop
from behavior.models import Customer
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun

from ..extensions import export_recommendations
from .at_risk import PAGE_SIZE, _reference_time, last_order_as_scored, matching_ordered, scoring_run_current
from .dashboard import run_figures


@dataclass(frozen=True)
class LikelyBuyerRow:
    customer_id: int
    external_id: str
    name: str
    country: str
    purchase_probability: float
    expected_orders: float | None
    spend_12m: float
    last_order_at: datetime | None
    days_since_last_order: int | None
    reasons: list[str]
    offer: list[str]  # titles of their top recommendations, best first (empty without recommendations)
    lapsed: bool = False  # already lapsed: a win-back customer (CustomerScore.lapsed, as the at-risk list's badge)

    @property
    def top_reason(self) -> str:
        return self.reasons[0] if self.reasons else ""


@dataclass(frozen=True)
class LikelyBuyersPage:
    run: ScoringRun | None
    rows: list[LikelyBuyerRow]
    page: Page | None
    total: int  # customers scored for buying who match the filter
    expected_buyers: float  # the sum of every scored customer's chance: how many are expected to order in the horizon
    scored_total: int = 0  # every customer scored for buying (what expected_buyers is of)


def likely_buyers_page(*, shop: Shop, flt: AtRiskFilter | None = None, page: int | str | None = 1,
                       per_page: int = PAGE_SIZE) -> LikelyBuyersPage:
    """One page of the likely buyers matching `flt` (a filter of the buyers list; None: everybody), highest chance
    of buying first unless the filter sorts otherwise (a page out of range gives the last)."""
    flt = flt or AtRiskFilter(list="buyers", sort="purchase")
    run = scoring_run_current(shop=shop)
    if run is None:
        return LikelyBuyersPage(run=None, rows=[], page=None, total=0, expected_buyers=0.0)
    scores = matching_ordered(shop=shop, run=run, flt=flt).only(
        "id", "customer_id", "probability", "expected_orders", "spend_12m", "reasons", "lapsed")
    paginator = Paginator(scores, per_page)
    page_obj = paginator.get_page(page)
    figures = run_figures(shop=shop, runs=[run])  # the run's headline: customers scored, expected buyers
    return LikelyBuyersPage(run=run, rows=_rows(shop=shop, run=run, scores=list(page_obj.object_list)),
                            page=page_obj, total=paginator.count,
                            expected_buyers=figures[0].expected_buyers if figures else 0.0,
                            scored_total=figures[0].scored if figures else paginator.count)


def _rows(*, shop: Shop, run: ScoringRun, scores: list[CustomerScore]) -> list[LikelyBuyerRow]:
    ids = [s.customer_id for s in scores]
    if not ids:
        return []
    ref = _reference_time(run)
    customers = Customer.objects.in_bulk(ids)
    # Each row's last order as its score saw it (the at-risk list's rule): one index probe per row of the page.
    last_orders = dict(CustomerScore.objects.filter(pk__in=[s.pk for s in scores])
                       .annotate(last=last_order_as_scored(run)).values_list("customer_id", "last"))
    offers = export_recommendations(shop_id=shop.pk)(ids)
    rows = []
    for s in scores:
        customer, last = customers[s.customer_id], last_orders.get(s.customer_id)
        rows.append(LikelyBuyerRow(
            customer_id=s.customer_id, external_id=customer.external_id, name=customer.name,
            country=customer.country, purchase_probability=s.probability, expected_orders=s.expected_orders,
            spend_12m=s.spend_12m, last_order_at=last,
            days_since_last_order=max(0, (ref - last).days) if last else None,
            reasons=list(s.reasons or []), offer=[o["title"] or o["product_id"] for o in offers.get(s.customer_id, [])],
            lapsed=s.lapsed,
        ))
    return rows
