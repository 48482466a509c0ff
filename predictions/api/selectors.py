"""Reads the API needs beyond predictions.selectors.scores: a run named by a cursor, and at-risk rows
as plain dicts (the page's customers in one extra query, personal data only when allowed)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import Shop
from behavior.models import Customer
from predictions.filters import AtRiskFilter
from predictions.models import CustomerScore, ScoringRun, Segment
from predictions.selectors.scores import at_risk_queryset, scoring_run_current, segment_queryset


def scoring_run_for_list(*, shop: Shop, run_id: int | None) -> ScoringRun | None:
    """The run a paged list reads: the one its cursor names (None if that is not a succeeded run of
    the shop), else the shop's current run."""
    if run_id is None:
        return scoring_run_current(shop=shop)
    return ScoringRun.objects.filter(shop=shop, pk=run_id, status=ScoringRun.Status.SUCCEEDED).first()


def at_risk_list_queryset(*, shop: Shop, run: ScoringRun, flt: AtRiskFilter) -> QuerySet[CustomerScore]:
    return at_risk_queryset(shop=shop, run=run, flt=flt)


def segment_members_queryset(*, shop: Shop, segment: Segment, run: ScoringRun) -> QuerySet[CustomerScore]:
    return segment_queryset(shop=shop, segment=segment, run=run)


def at_risk_rows(*, scores: list[CustomerScore], run: ScoringRun, personal: bool) -> list[dict]:
    """One dict per score of an at-risk page, in page order."""
    customers = Customer.objects.only("id", "external_id", "email", "name", "country").in_bulk(
        [s.customer_id for s in scores])
    ref: datetime = run.as_of
    rows = []
    for s in scores:
        customer = customers[s.customer_id]
        last = s.last_order_at
        rows.append({
            "customer_id": customer.external_id,
            "email": customer.email if personal else None,
            "name": customer.name if personal else None,
            "country": customer.country,
            "churn_probability": s.probability,
            "purchase_probability": s.purchase_probability,
            "risk_band": s.risk_band,
            "spend_12m": s.spend_12m,
            "revenue_at_risk": s.value_at_risk or 0.0,
            "last_order_at": last,
            "days_since_last_order": max(0, (ref - last).days) if last else None,
            "reasons": list(s.reasons or []),
        })
    return rows
