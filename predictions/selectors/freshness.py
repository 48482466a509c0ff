"""Whether a customer's score is older than their data: what the pages, the API and exports mark (issue 18 §1).

A score saw the customer's history up to its `history_until` (set when re-scored after new data arrived; else
the run's as_of). A customer "ordered since scoring" when they have a non-cancelled order placed after it: the
score does not know that order yet (the worker re-scores them within a minute or two, see
predictions.services.rescoring). `scored_at` is the time the row was written."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Exists, Max, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from behavior.models import Order

from ..models import CustomerScore, ScoringRun


def scores_with_freshness(queryset: QuerySet[CustomerScore]) -> QuerySet[CustomerScore]:
    """`queryset` of scores annotated with `score_as_of` (the end of the history the score saw) and
    `ordered_since_scoring` (a non-cancelled order of the customer placed after it): one index probe per row
    (order_customer_time), for a page of rows, not a whole run."""
    annotated = queryset.annotate(score_as_of=Coalesce("history_until", "scoring_run__as_of"))
    later = Order.objects.filter(customer_id=OuterRef("customer_id"), placed_at__gt=OuterRef("score_as_of")).exclude(
        status=Order.Status.CANCELLED)
    return annotated.annotate(ordered_since_scoring=Exists(later))


def customers_ordered_since_scoring(*, run: ScoringRun) -> set[int]:
    """Ids of the run's scored customers with an order placed after their score's as_of (for exports: leave
    them out and say how many). Reads only the orders placed after the run's as_of (order_shop_time index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT o.customer_id FROM behavior_order o"
            " JOIN predictions_customerscore s ON s.scoring_run_id = %(run)s AND s.customer_id = o.customer_id"
            " WHERE o.shop_id = %(shop)s AND o.placed_at > %(as_of)s AND o.status <> 'cancelled'"
            " AND o.placed_at > COALESCE(s.history_until, %(as_of)s)",
            {"run": run.pk, "shop": run.shop_id, "as_of": run.as_of})
        return {row[0] for row in cursor.fetchall()}


def ordered_after(seen_until: dict[int, datetime]) -> set[int]:
    """Which customers (id → the end of the history their score saw) have a non-cancelled order placed after
    it: one query for a page of rows."""
    if not seen_until:
        return set()
    last = (Order.objects.filter(customer_id__in=list(seen_until), placed_at__gt=min(seen_until.values()))
            .exclude(status=Order.Status.CANCELLED).values("customer_id").annotate(last=Max("placed_at")))
    return {row["customer_id"] for row in last if row["last"] > seen_until[row["customer_id"]]}
