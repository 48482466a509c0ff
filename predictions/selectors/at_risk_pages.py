"""Windows of the at-risk list: rows start to stop - 1 in one scoring run, as the API pages through them (the API
keeps the first page of some filters in the cache: predictions.api.pages)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Shop
from predictions.filters import AtRiskFilter
from predictions.models import ScoringRun

from .at_risk import AtRiskRow, at_risk_queryset, at_risk_window_rows, scoring_run_for_list


def at_risk_pages_generation_key(shop_id: int) -> str:
    """The cache key of the shop's page generation: the API's kept first pages (predictions.api.pages) count only
    under the one they name; predictions.services.at_risk_pages replaces it."""
    return f"at-risk-pages:{shop_id}"


@dataclass(frozen=True)
class AtRiskWindow:
    """Rows start to stop - 1 of the at-risk list in `run` (None: the shop has no such run, no rows)."""

    run: ScoringRun | None
    rows: list[AtRiskRow]


def at_risk_list_window(*, shop: Shop, flt: AtRiskFilter, run_id: int | None, start: int, stop: int) -> AtRiskWindow:
    """Rows start to stop - 1 of the at-risk list (at_risk_window_rows) in the run `run_id` names (None: the
    shop's current run, scoring_run_for_list)."""
    run = scoring_run_for_list(shop=shop, run_id=run_id)
    if run is None:
        return AtRiskWindow(run=None, rows=[])
    return AtRiskWindow(run=run, rows=at_risk_window_rows(shop=shop, run=run, flt=flt, start=start, stop=stop))


def at_risk_list_length(*, shop: Shop, flt: AtRiskFilter, run_id: int) -> int:
    """How many rows the at-risk list holds in the run `run_id` names (0 without one): read only for a cursor past
    the list's end, whose `previous` link leads back to its last page (ecomsight.api.pagination)."""
    run = scoring_run_for_list(shop=shop, run_id=run_id)
    return at_risk_queryset(shop=shop, run=run, flt=flt).order_by().count() if run else 0
