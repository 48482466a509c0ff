"""Whether a customer's score is older than their data: what the pages, the API and exports mark (issue 18 §1).

A score saw the customer's history up to its `history_until` (set when re-scored after new data arrived; else
the run's as_of). A customer "ordered since scoring" when they have a non-cancelled order placed after it: the
score does not know that order yet (the worker re-scores them within a minute or two, see
predictions.services.rescoring). `scored_at` is the time the row was written."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, DateTimeField, F, OuterRef, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from behavior.models import Order

from ..models import CustomerScore, ScoringRun


def history_end_sql(score: str, *, as_of: str) -> str:
    """SQL: where the history the score row `score` (a table alias) saw ends: its history_until (re-scored after
    new orders or events), else `as_of` (the run's as_of). The one rule for "the customer's data as scored":
    whether they ordered since (below), their last order on the lists (selectors.at_risk), who counts as active on
    the dashboard (selectors.dashboard)."""
    return f"COALESCE({score}.history_until, {as_of})"


def history_end(run: ScoringRun, *, outer: bool = False):
    """history_end_sql as an ORM expression on a score row of `run` (the outer query's row with `outer`, in a
    subquery)."""
    return Coalesce(OuterRef("history_until") if outer else F("history_until"), Value(run.as_of),
                    output_field=DateTimeField())


def ordered_since_scoring_sql(score: str, *, as_of: str) -> str:
    """SQL true when the customer of the score row `score` (a table alias) has a non-cancelled order placed after
    the history the score saw (history_end_sql): one index probe (order_customer_time), for a page of rows, not a
    whole run."""
    return (f"EXISTS (SELECT 1 FROM behavior_order o WHERE o.customer_id = {score}.customer_id"
            f" AND o.placed_at > {history_end_sql(score, as_of=as_of)} AND o.status <> '{Order.Status.CANCELLED}')")


def with_ordered_since_scoring(scores: QuerySet[CustomerScore], *, run: ScoringRun) -> QuerySet[CustomerScore]:
    """`scores` (rows of `run`) annotated with `ordered_since_scoring` (ordered_since_scoring_sql): one index
    probe per row returned, so apply it to a page of rows."""
    rule = ordered_since_scoring_sql(CustomerScore._meta.db_table, as_of="%s")
    return scores.annotate(ordered_since_scoring=RawSQL(rule, (run.as_of,), output_field=BooleanField()))


def customers_ordered_since_scoring(*, run: ScoringRun) -> set[int]:
    """Ids of the run's scored customers with an order placed after their score's as_of (for exports: leave
    them out and say how many). Reads only the orders placed after the run's as_of (order_shop_time index)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT o.customer_id FROM behavior_order o"
            " JOIN predictions_customerscore s ON s.scoring_run_id = %(run)s AND s.customer_id = o.customer_id"
            " WHERE o.shop_id = %(shop)s AND o.placed_at > %(as_of)s AND o.status <> 'cancelled'"
            f" AND o.placed_at > {history_end_sql('s', as_of='%(as_of)s')}",
            {"run": run.pk, "shop": run.shop_id, "as_of": run.as_of})
        return {row[0] for row in cursor.fetchall()}
