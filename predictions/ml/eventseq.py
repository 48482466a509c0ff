"""Each customer's last individual events and orders as of a cutoff, built in bulk (no loop over customers).

One step per order (placed / cancelled / refunded are three step types) or event (view, add_to_cart, ...), in
time order; the last `steps` steps of each customer are kept, right-aligned (padding first). Per step:
- type: a small fixed vocabulary (0 padding, 1-3 order statuses, the known event types, then TYPE_BUCKETS hash
  buckets for any other event type a shop sends: crc32, so the code is the same in every process);
- category: the order's first line's category, or the event's product's category (the product -> category map
  comes from the order lines; events carry no category), hashed into CATEGORY_BUCKETS (0 unknown);
- numeric: log1p(days to the next step, or to the cutoff for the last one), log1p(the order's amount; 0 for
  events), log1p(days from the step to the cutoff).
Leakage rule as in features.py: nothing stamped after the cutoff is read.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from predictions.ml.base import EventSequences, ShopFrames
from predictions.ml.features import _order_values, days_before

DEFAULT_STEPS = 64
ORDER_TYPES = {"placed": 1, "cancelled": 2, "refunded": 3}
KNOWN_EVENT_TYPES = ("view", "product_view", "page_view", "add_to_cart", "cart", "remove_from_cart", "wishlist",
                     "search", "checkout", "login", "session_start", "review")
TYPE_BUCKETS = 16
N_TYPES = 4 + len(KNOWN_EVENT_TYPES) + TYPE_BUCKETS
CATEGORY_BUCKETS = 127  # category codes 1..127, 0 unknown
NUMERIC_CHANNELS = ("log_gap_next_days", "log_amount", "log_age_days")


def type_codes(types: pd.Series) -> np.ndarray:
    """Integer code of each event type string (orders use ORDER_TYPES)."""
    known = {t: 4 + i for i, t in enumerate(KNOWN_EVENT_TYPES)}
    first = 4 + len(KNOWN_EVENT_TYPES)
    unique = pd.unique(types.astype(str))
    mapping = {t: known.get(t, first + zlib.crc32(t.encode()) % TYPE_BUCKETS) for t in unique}
    return types.astype(str).map(mapping).to_numpy(dtype=np.int64)


def _category_codes(category: np.ndarray) -> np.ndarray:
    cat = np.asarray(category, dtype=np.float64)
    out = np.zeros(len(cat), dtype=np.int64)
    known = np.isfinite(cat)
    out[known] = 1 + (cat[known].astype(np.int64) % CATEGORY_BUCKETS)
    return out


def empty_sequences(n: int, steps: int = DEFAULT_STEPS) -> EventSequences:
    return EventSequences(types=np.zeros((n, steps), dtype=np.int64), categories=np.zeros((n, steps), dtype=np.int64),
                          numeric=np.zeros((n, steps, len(NUMERIC_CHANNELS)), dtype=np.float32))


def build_event_sequences(frames: ShopFrames, *, cutoff: pd.Timestamp, customer_ids: np.ndarray,
                          steps: int = DEFAULT_STEPS) -> EventSequences:
    """The last `steps` steps of each of `customer_ids` (rows in that order) as of `cutoff`."""
    ids = np.asarray(customer_ids, dtype=np.int64)
    out = empty_sequences(len(ids), steps)
    if len(ids) == 0:
        return out
    index = pd.Index(ids)
    parts = []
    orders, lines = frames.orders, frames.order_lines
    if len(orders):
        amount, _ = _order_values(orders, lines)
        status = orders["status"].astype(str).map(ORDER_TYPES).fillna(1).to_numpy(dtype=np.int64)
        category = np.full(len(orders), np.nan)
        if len(lines) and "category_id" in lines:
            first = lines.groupby("order_id")["category_id"].first()
            category = first.reindex(orders["order_id"].to_numpy()).to_numpy(dtype=np.float64)
        parts.append((orders["customer_id"].to_numpy(dtype=np.int64), days_before(orders["placed_at"], cutoff),
                      status, category, np.maximum(np.nan_to_num(amount, nan=0.0), 0.0)))
    events = frames.events
    if len(events):
        category = np.full(len(events), np.nan)
        if len(lines) and "category_id" in lines and "product_id" in events:
            by_product = lines.drop_duplicates("product_id").set_index("product_id")["category_id"]
            category = by_product.reindex(events["product_id"].to_numpy()).to_numpy(dtype=np.float64)
        parts.append((events["customer_id"].to_numpy(dtype=np.int64), days_before(events["occurred_at"], cutoff),
                      type_codes(events["type"]), category, np.zeros(len(events))))
    if not parts:
        return out
    cust, age, typ, cat, amt = (np.concatenate(column) for column in zip(*parts, strict=True))
    pos = index.get_indexer(cust)
    keep = (pos >= 0) & (age >= 0)
    pos, age, typ, cat, amt = pos[keep], age[keep], typ[keep], cat[keep], amt[keep]
    if len(pos) == 0:
        return out
    # Oldest first within a customer: sort by customer, then by age descending (stable: input order on ties).
    order = np.lexsort((-age, pos))
    pos, age, typ, cat, amt = pos[order], age[order], typ[order], cat[order], amt[order]
    counts = np.bincount(pos, minlength=len(ids))
    ends = np.cumsum(counts)  # one past each customer's last step
    from_end = ends[pos] - np.arange(len(pos))  # 1 for the customer's last step
    # Gap to the next step of the same customer; the last step's gap runs to the cutoff.
    next_age = np.empty_like(age)
    next_age[:-1] = age[1:]
    last = from_end == 1
    next_age[last] = 0.0
    gap = np.maximum(age - next_age, 0.0)
    sel = from_end <= steps
    rows, cols = pos[sel], steps - from_end[sel]
    out.types[rows, cols] = typ[sel]
    out.categories[rows, cols] = _category_codes(cat[sel])
    out.numeric[rows, cols] = np.column_stack([np.log1p(gap[sel]), np.log1p(amt[sel]), np.log1p(age[sel])])
    return out
