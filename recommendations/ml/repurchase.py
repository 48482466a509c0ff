"""Re-purchase from the customer's own history, timed by how often they re-buy each product."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .data import InteractionData


@dataclass(frozen=True)
class RepurchasePairs:
    """One entry per (customer row, product column) bought: baskets `n`, age of the last in days, mean gap
    between baskets (NaN when bought once)."""

    rows: np.ndarray
    cols: np.ndarray
    n: np.ndarray
    last: np.ndarray
    gap: np.ndarray


def repurchase_pairs(data: InteractionData) -> RepurchasePairs | None:
    """Per (customer, product) bought: basket count, last purchase age and mean cycle (None: no purchases)."""
    p = data.purchases
    if p.empty:
        return None
    # baskets -> one row per (customer, product) with count, first and last purchase ages
    per_basket = p.groupby(["row", "col", "basket"], sort=False)["age_days"].min().reset_index()
    stats = per_basket.groupby(["row", "col"], sort=False)["age_days"].agg(["count", "min", "max"]).reset_index()
    n = stats["count"].to_numpy(np.float64)
    last = stats["min"].to_numpy(np.float64)
    gap = np.where(n > 1, (stats["max"].to_numpy() - last) / np.maximum(n - 1, 1), np.nan)
    gap = np.where(gap < 0.5, 0.5, gap)  # several baskets on one day: treat as a very short cycle
    return RepurchasePairs(rows=stats["row"].to_numpy(), cols=stats["col"].to_numpy(), n=n, last=last, gap=gap)


def typical_cycles(cols: np.ndarray, gaps: np.ndarray, n_items: int) -> np.ndarray:
    """Per product, the median of its re-buyers' cycles (NaN where nobody re-bought it)."""
    typical = np.full(n_items, np.nan)
    if len(cols):
        item_gap = pd.DataFrame({"col": cols, "gap": gaps}).groupby("col")["gap"].median()
        typical[item_gap.index.to_numpy()] = item_gap.to_numpy()
    return typical


class RepurchaseRecommender(Recommender):
    """Score peaks when a product is "due": days since last purchase ≈ the customer's mean gap for it.

    score = confidence(n) * (0.1 + 0.9 * exp(-log(days_since / gap)^2 / (2 sigma^2))), confidence rising with the
    number of baskets n. Products bought once use the product's global re-buy propensity and its typical gap.
    """

    name = "repurchase"

    def fit(self, data: InteractionData, *, propensity: np.ndarray | None = None,
            typical: np.ndarray | None = None) -> RepurchaseRecommender:
        """`propensity` / `typical` (per product: smoothed re-buy share, median cycle in days, NaN: none): the
        shop's, when `data` holds one partition of its customers (see partitioned.py); default: from `data`."""
        super().fit(data)
        shape = (data.n_customers, data.n_items)
        stats = repurchase_pairs(data)
        if stats is None:
            self.scores = sp.csr_matrix(shape, dtype=np.float32)
            self.gaps = sp.csr_matrix(shape, dtype=np.float32)
            return self
        n, last, gap, cols = stats.n, stats.last, stats.gap, stats.cols
        if propensity is None:
            rebuyer = (n > 1).astype(np.float64)
            buyers = np.bincount(cols, minlength=data.n_items).astype(np.float64)
            rebuyers = np.bincount(cols, weights=rebuyer, minlength=data.n_items)
            propensity = (rebuyers + 0.05) / (buyers + 5.0)  # smoothed: one lucky re-buy is not a pattern
        if typical is None:
            typical = typical_cycles(cols[n > 1], gap[n > 1], data.n_items)

        sigma = self.config.repurchase_sigma
        own = n > 1
        cycle = np.where(own, gap, typical[cols])
        ratio = np.maximum(last, 0.5) / cycle
        known = ~np.isnan(ratio)
        bump = np.where(known, np.exp(-np.log(np.where(known, ratio, 1.0)) ** 2 / (2 * sigma**2)), 0.0)
        timing = 0.1 + 0.9 * bump
        score = np.where(own, (1.0 - 0.5 / n) * timing, 0.5 * propensity[cols] * timing)
        rows = stats.rows
        self.scores = sp.csr_matrix((score.astype(np.float32), (rows, cols)), shape=shape)
        self.gaps = sp.csr_matrix((np.where(own, gap, 0).astype(np.float32), (rows, cols)), shape=shape)
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.scores[rows]

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """0: bought before; d >= 1: the customer's own cycle in days."""
        gaps = np.asarray(self.gaps[rows, items]).ravel() if len(rows) else np.zeros(0)
        return np.where(gaps > 0, np.maximum(np.rint(gaps), 1), 0).astype(np.int64)

    def reason_text(self, code: int) -> str:
        if code <= 0:
            return "bought this before"
        return f"buys this about every {code} days" if code > 1 else "buys this about every day"
