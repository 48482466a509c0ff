"""Who a scoring run covers: every customer is scored for buying, only active ones for leaving.

The at-risk list says so with these counts ("3,465 of the shop's 5,000 customers"), so that a marketer does
not read the customers left out as safe."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Shop
from behavior.selectors import customer_counted_list
from predictions.models import ScoringRun

from .at_risk import run_scored_count


@dataclass(frozen=True)
class Coverage:
    customers: int  # all the shop's customers (behavior.selectors.customer_counted_list: not its guest customer)
    churn_scored: int  # active customers: scored for leaving, on the at-risk list
    lookback_days: int  # "active": at least one order in this many days before the scores' date

    @property
    def left_out(self) -> int:
        return max(0, self.customers - self.churn_scored)


def scored_coverage(*, shop: Shop, run: ScoringRun | None) -> Coverage | None:
    """How many customers the run scored for leaving, of how many; None before the first run. Two counts."""
    if run is None:
        return None
    return Coverage(customers=customer_counted_list(shop=shop).count(), churn_scored=run_scored_count(run=run),
                    lookback_days=shop.churn_lookback_days)
