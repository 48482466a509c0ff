"""Leakage-free temporal split: one global cutoff; the holdout is each returning customer's last order."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .data import basket_keys


@dataclass(frozen=True)
class TemporalSplit:
    """train: interactions strictly before `cutoff` (all customers). holdout: customer_id, product_id of the
    last order of every customer with >= 2 orders whose last order is at or after the cutoff."""

    cutoff: pd.Timestamp | None
    train: pd.DataFrame
    holdout: pd.DataFrame


def temporal_split(interactions: pd.DataFrame, *, quantile: float) -> TemporalSplit:
    """Cut at the `quantile` of order times, moved up to the day of the earliest last order it holds out.
    Nothing at or after the cutoff is trained on, so neither the
    customer's own future nor other customers' later behaviour (co-purchases, popularity) can leak in."""
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "product_id": pd.Series(dtype="int64")})
    purchases = interactions[interactions["kind"] == "purchase"]
    if purchases.empty:
        return TemporalSplit(None, interactions, empty)
    baskets = purchases.assign(basket=basket_keys(purchases).to_numpy())
    orders = baskets.groupby(["customer_id", "basket"], sort=False)["ts"].min().reset_index()
    cutoff = orders["ts"].quantile(quantile, interpolation="higher")
    counts = orders.groupby("customer_id").size()
    last = orders.sort_values(["customer_id", "ts", "basket"]).groupby("customer_id").tail(1)
    held = last.loc[last["customer_id"].map(counts).ge(2).to_numpy() & (last["ts"] >= cutoff).to_numpy(), "ts"]
    if len(held):
        # Move the cut up to the day of the earliest held-out last order: the same customers are held out, and
        # training keeps what they (and everyone else) did before it. When last orders bunch at the end (data
        # aligned on each customer's last order, a shop of regulars) that is weeks of every held-out history.
        cutoff = max(cutoff, held.min().floor("D"))
    last = last[(last["ts"] >= cutoff) & last["customer_id"].map(counts).ge(2).to_numpy()]
    if last.empty or orders["ts"].min() >= cutoff:
        return TemporalSplit(None, interactions, empty)
    holdout = baskets.merge(last[["customer_id", "basket"]], on=["customer_id", "basket"])
    holdout = holdout[["customer_id", "product_id"]].drop_duplicates().reset_index(drop=True)
    return TemporalSplit(cutoff, interactions[interactions["ts"] < cutoff], holdout)
