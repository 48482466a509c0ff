"""A shop's shape in a few figures, from its orders (and order lines when it has them): what a preset is
matched on, computed the same way for a simulated shop and a real one (bench/presets.py), and what the presets'
tests check.

Pure pandas; cancelled orders (where a status says so) do not count."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ShopShape:
    """`one_time_share`: of the customers with an order, those whose orders all fall on one calendar day (never
    bought again); `one_time_share_first_half`: the same over the data's first half (customers first seen then,
    orders up to the middle), for a cohort observed as long as CDNOW's 39-week calibration period.
    `median_gap_days` / `gap_1_4_weeks_share`: days between a customer's consecutive orders (median; share within
    7..28 days). `mean_basket`: distinct products per order (order lines), or the orders' item_count without
    lines. `repeat_share`: of the items in each returning customer's last order, the share that customer bought
    in an earlier order (micro-average, the "next basket" figure); `new_item_share`: of the same items, those
    nobody had bought before that order. `refund_share`: refunded orders. `seasonal_peak`: the busiest calendar
    month's orders over the mean month's (full months only). None where the data cannot say."""

    customers: int
    orders: int
    orders_per_customer: float
    one_time_share: float
    one_time_share_first_half: float | None
    median_gap_days: float | None
    gap_1_4_weeks_share: float | None
    mean_basket: float | None
    repeat_share: float | None
    new_item_share: float | None
    refund_share: float | None
    seasonal_peak: float | None

    def to_dict(self) -> dict:
        return {k: (round(float(v), 4) if isinstance(v, float | np.floating) else v) for k, v in asdict(self).items()}


def shop_shape(orders: pd.DataFrame, lines: pd.DataFrame | None = None) -> ShopShape:
    """Shape figures of a shop from `orders` (customer_id, placed_at; optional order_id, status, item_count) and
    optional `lines` (order_id, product_id)."""
    o = orders.copy()
    o["placed_at"] = pd.to_datetime(o["placed_at"], utc=True, format="ISO8601")
    status = o["status"] if "status" in o else pd.Series("placed", index=o.index)
    refund_share = float((status == "refunded").mean()) if "status" in o and len(o) else None
    o = o[status != "cancelled"]
    if "order_id" not in o:
        o["order_id"] = np.arange(len(o))
    o = o.sort_values(["customer_id", "placed_at", "order_id"], kind="stable").reset_index(drop=True)
    customers = int(o["customer_id"].nunique())
    day = o["placed_at"].dt.floor("D")
    one_day = o.assign(day=day).groupby("customer_id")["day"].nunique() == 1

    start, end = o["placed_at"].min(), o["placed_at"].max()
    middle = start + (end - start) / 2
    first = o.groupby("customer_id")["placed_at"].transform("min")
    half = o[(first <= middle) & (o["placed_at"] <= middle)]
    first_half = (float((half.assign(day=half["placed_at"].dt.floor("D")).groupby("customer_id")["day"].nunique()
                         == 1).mean()) if len(half) else None)

    same = o["customer_id"].eq(o["customer_id"].shift())
    gaps = (o["placed_at"] - o["placed_at"].shift()).dt.total_seconds()[same] / 86400
    median_gap = float(gaps.median()) if len(gaps) else None
    gap_share = float(gaps.between(7, 28).mean()) if len(gaps) else None

    mean_basket = repeat_share = new_share = None
    if lines is not None and len(lines):
        lines = lines[["order_id", "product_id"]].drop_duplicates()
        lines = lines.merge(o[["order_id", "customer_id", "placed_at"]], on="order_id")
        mean_basket = float(lines.groupby("order_id").size().reindex(o["order_id"]).fillna(0).mean())
        counts = o.groupby("customer_id")["order_id"].transform("size")
        last = o[(counts >= 2) & ~o["customer_id"].eq(o["customer_id"].shift(-1))]
        held = lines[lines["order_id"].isin(last["order_id"])]
        earlier = lines[~lines["order_id"].isin(last["order_id"])]
        if len(held):
            bought = earlier[["customer_id", "product_id"]].drop_duplicates().assign(before=True)
            marked = held.merge(bought, on=["customer_id", "product_id"], how="left")
            repeat_share = float(marked["before"].fillna(False).astype(bool).mean())
            first_sold = lines.groupby("product_id")["placed_at"].min()
            new_share = float((held["product_id"].map(first_sold) >= held["placed_at"]).mean())
    elif "item_count" in o:
        counts = pd.to_numeric(o["item_count"], errors="coerce")
        mean_basket = float(counts.mean()) if counts.notna().any() else None

    # full calendar months only: the data's first and last may be cut
    month = o["placed_at"].dt.tz_localize(None).dt.to_period("M")
    monthly = month.value_counts().sort_index()
    first_day, last_day = start.tz_localize(None).floor("D"), end.tz_localize(None).floor("D")
    full = monthly[[p.start_time >= first_day and p.end_time.floor("D") <= last_day for p in monthly.index]]
    seasonal_peak = float(full.max() / full.mean()) if len(full) >= 2 else None

    return ShopShape(
        customers=customers, orders=int(len(o)), orders_per_customer=len(o) / max(customers, 1),
        one_time_share=float(one_day.mean()) if customers else 0.0, one_time_share_first_half=first_half,
        median_gap_days=median_gap, gap_1_4_weeks_share=gap_share, mean_basket=mean_basket,
        repeat_share=repeat_share, new_item_share=new_share, refund_share=refund_share, seasonal_peak=seasonal_peak,
    )
