"""Making a level add up to the shop (a documented simple reconciliation instead of MinTrace).

Countries partition the customers, so their series add up to the shop's for every measure: each bin's country
forecasts (points and bands) are scaled by shop / sum of countries. Categories partition order lines, so revenue
and units add up to the lines' share of the shop's: scaled by shop x share / sum of categories, where `share` is
the categories' part of the shop's total over the history. Orders do not add up over categories (an order may hold
several), so category orders are left as forecast. hierarchicalforecast's MinTrace would weight the levels by
their errors; it declares pandas<3 and polars, so the simpler proportional (top-down on the champion of the shop)
reconciliation is used.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .models import Forecast


def reconcile_to_total(level: Forecast, total: np.ndarray, *, share: float = 1.0) -> Forecast:
    """Scale every key's forecast, bin by bin, so the keys add up to `share` x `total` (1 x h)."""
    sums = level.mean.sum(axis=0)
    factor = np.where(sums > 0, share * np.asarray(total).ravel() / np.where(sums > 0, sums, 1.0), 1.0)

    def scale(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a * factor[None, :]

    return replace(level, mean=scale(level.mean), lo80=scale(level.lo80), hi80=scale(level.hi80),
                   lo95=scale(level.lo95), hi95=scale(level.hi95))
