"""One chance of leaving and one of buying per active customer, complements of each other.

For a customer active at T, churn (no order in (T, T+H]) and purchase (at least one) are complementary events.
The churn and purchase champions are trained and calibrated separately, each on its own population, so their
figures for the same customer need not add up to 1 (0.018 apart on average on the CD shop, 0.035 on the
simulated one; more than 0.10 for 1.9 % and 7.6 % of active customers: bench/coherence.py).
Scoring shows, for active customers, the mean of the two models' views of the same event as the chance of
leaving and its complement as the chance of buying; customers who are not active keep the purchase champion's
figure. The rule is fixed (no weight is fitted), measured in bench/coherence.py against each model alone.
"""

from __future__ import annotations

import numpy as np


def reconcile(*, churn: np.ndarray, purchase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(leave), P(buy)) for active customers from the churn champion's P(leave) and the purchase champion's
    P(buy), in the same order; where the purchase figure is missing (NaN) the churn model's stands alone."""
    churn = np.asarray(churn, dtype=np.float64)
    purchase = np.asarray(purchase, dtype=np.float64)
    leave = np.where(np.isnan(purchase), churn, (churn + (1.0 - purchase)) / 2.0)
    return leave, 1.0 - leave
