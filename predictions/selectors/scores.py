"""A customer's scores as the API shows them: every score in a succeeded run (the history, paged by the view)
and the scores of the shop's current run, read in one SQL statement (see ecomsight.db.SqlRows for why)."""

from __future__ import annotations

import json

from django.db import connection

from accounts.models import Shop
from ecomsight.db import SqlRows
from predictions.models import CustomerScore, ScoringRun

from .at_risk import SCORING_RUN_CURRENT_SQL
from .freshness import history_end_sql, ordered_since_scoring_sql

# The columns of a score as the API shows it (ScoreOutputSerializer's fields). Its `as_of` is the end of the data the
# score saw (freshness.history_end_sql: a re-scored customer's history_until, else the run's as_of), what the customer
# page says ("from their data up to 7 Dec"): the run's as_of (6 Dec) beside reasons such as "ordered today" (of 7 Dec)
# told a re-scored score's reader another day.
_SELECT = ("SELECT s.id, s.task, s.probability, s.risk_band, s.decile, s.reasons, s.expected_orders, s.p_alive,"
           " s.spend_12m, s.revenue_at_risk, s.scored_at, s.scoring_run_id, s.model_version_id,"
           f" {history_end_sql('s', as_of='run.as_of')} AS as_of, s.lapsed")
# The shop's customer by their own id, with their scores and each score's run.
_FROM = (" FROM predictions_customerscore s"
         " JOIN behavior_customer c ON c.id = s.customer_id"
         " JOIN predictions_scoringrun run ON run.id = s.scoring_run_id"
         " WHERE c.shop_id = %(shop)s AND c.external_id = %(customer)s")


def customer_score_history(*, shop: Shop, customer_id: str, task: str | None = None,
                           current: list | None = None) -> SqlRows:
    """Every score of the shop's customer `customer_id` (their own id) in a succeeded run, only `task`'s when
    given, as dicts with the `as_of` of the data each saw (empty for an unknown customer). The caller orders (by
    scored_at, id) and pages it; score_row shapes a row. With `current` (a list): the statement that reads the page
    also reads the customer's scores in the shop's current run (scoring_run_current) into it, whatever `task`, each with
    `ordered_since_scoring` (the customer ordered after the history the score saw: re-scoring is pending);
    scores_by_task shapes them."""
    where = f" AND run.status = '{ScoringRun.Status.SUCCEEDED}'" + (" AND s.task = %(task)s" if task else "")
    also = None
    if current is not None:
        also = (f"{_SELECT}, {ordered_since_scoring_sql('s', as_of='run.as_of')} AS ordered_since_scoring,"
                f" true AS _also{_FROM} AND s.scoring_run_id = ({SCORING_RUN_CURRENT_SQL})")
    page = _SELECT + (", NULL::boolean AS ordered_since_scoring, false AS _also" if also else "")
    return SqlRows(page + _FROM + where, {"shop": shop.pk, "customer": customer_id, "task": task},
                   columns={"scored_at": "s.scored_at", "id": "s.id"}, model=CustomerScore, also=also,
                   also_rows=current)


def scores_by_task(rows: list[dict]) -> dict[str, dict | None]:
    """customer_score_history's `current` rows as each task's score (None where there is none)."""
    by_task = {row["task"]: {**score_row(row), "ordered_since_scoring": row["ordered_since_scoring"]} for row in rows}
    return {task: by_task.get(task) for task in ("churn", "purchase")}


def score_row(row: dict) -> dict:
    """A score dict from the selectors above in ScoreOutputSerializer's shape."""
    reasons = row["reasons"]
    return {"task": row["task"], "probability": row["probability"], "risk_band": row["risk_band"],
            "decile": row["decile"], "reasons": json.loads(reasons) if isinstance(reasons, str) else reasons,
            "expected_orders": row["expected_orders"], "p_alive": row["p_alive"], "spend_12m": row["spend_12m"],
            "revenue_at_risk": row["revenue_at_risk"], "scored_at": row["scored_at"], "as_of": row["as_of"],
            "scoring_run": row["scoring_run_id"], "model_version": row["model_version_id"],
            "lapsed": row["lapsed"]}


def customer_lapsed_current(*, shop: Shop, customer_pk: int) -> bool | None:
    """Whether the shop's customer had already lapsed by the shop's current scores (CustomerScore.lapsed: one mark
    per customer, on both of their rows; a customer silent beyond the churn lookback has a purchase row only), None
    when the current run did not score them or the shop has no run yet. One indexed query: a customer's record
    (`GET customers/{id}/`) says it beside their scores' own."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT s.lapsed FROM predictions_customerscore s WHERE s.customer_id = %(customer)s"
                       f" AND s.scoring_run_id = ({SCORING_RUN_CURRENT_SQL}) ORDER BY s.task LIMIT 1",
                       {"shop": shop.pk, "customer": customer_pk})
        row = cursor.fetchone()
    return row[0] if row else None
