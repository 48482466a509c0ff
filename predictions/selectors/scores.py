"""A customer's scores as the API shows them: every score in a succeeded run (the history, paged by the view)
and the scores of the shop's current run."""

from __future__ import annotations

from django.db.models import F, QuerySet

from accounts.models import Shop
from predictions.models import CustomerScore, ScoringRun

from .at_risk import scoring_run_current_id

# The columns of a score as the API shows it (ScoreOutputSerializer's fields), read with values().
_SCORE_COLUMNS = ("id", "task", "probability", "risk_band", "decile", "reasons", "expected_orders", "p_alive",
                  "spend_12m", "revenue_at_risk", "scored_at", "scoring_run_id", "model_version_id")


def _customer_scores(*, shop: Shop, customer_id: str) -> QuerySet[CustomerScore]:
    return CustomerScore.objects.filter(customer__shop=shop, customer__external_id=customer_id)


def customer_score_history(*, shop: Shop, customer_id: str, task: str | None = None) -> QuerySet:
    """Every score of the shop's customer `customer_id` (their own id) in a succeeded run, only `task`'s when
    given, as dicts with the run's `as_of` (empty for an unknown customer). The caller orders and pages it."""
    qs = _customer_scores(shop=shop, customer_id=customer_id).filter(scoring_run__status=ScoringRun.Status.SUCCEEDED)
    if task:
        qs = qs.filter(task=task)
    return qs.values(*_SCORE_COLUMNS, as_of=F("scoring_run__as_of"))


def customer_scores_current(*, shop: Shop, customer_id: str) -> dict[str, dict | None]:
    """The customer's score of each task in the shop's current run (scoring_run_current), None where there is
    none: one query."""
    current = scoring_run_current_id(shop=shop)
    rows = (_customer_scores(shop=shop, customer_id=customer_id).filter(scoring_run_id=current)
            .values(*_SCORE_COLUMNS, as_of=F("scoring_run__as_of")))
    by_task = {row["task"]: score_row(row) for row in rows}
    return {task: by_task.get(task) for task in ("churn", "purchase")}


def score_row(row: dict) -> dict:
    """A score dict from the selectors above in ScoreOutputSerializer's shape."""
    return {"task": row["task"], "probability": row["probability"], "risk_band": row["risk_band"],
            "decile": row["decile"], "reasons": row["reasons"], "expected_orders": row["expected_orders"],
            "p_alive": row["p_alive"], "spend_12m": row["spend_12m"], "revenue_at_risk": row["revenue_at_risk"],
            "scored_at": row["scored_at"], "as_of": row["as_of"], "scoring_run": row["scoring_run_id"],
            "model_version": row["model_version_id"]}
