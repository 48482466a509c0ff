"""Per-customer features and weekly sequences as of a cutoff T, from the shop's frames.

Everything here is vectorised (boolean masks, `np.bincount`, pandas group-bys): there is no Python
loop over customers, so 200,000 customers with millions of events take seconds, not hours.

Leakage rule: every row with a timestamp after the cutoff is dropped before anything is counted,
so adding or changing data after T cannot change the features or sequences built at T.

Time windows are half-open on the left and closed at T: "the last 30 days" is (T - 30 d, T].
Orders: cancelled orders never count as purchases; refunded orders are purchases (the customer did
buy) whose money is given back, so they count in `frequency_*` and `refund_rate` but add nothing
to `spend_*`.

An order is a visit. The activity features (`days_since_last_event`, `events_30d` / `events_90d`, `sessions_30d`
/ `sessions_90d` and the sequences' sessions channel) read every order, whatever its status, as a step of activity
beside the events: an order placed 10 minutes after two views is one session, an order that arrived without any
event (the shop's orders come from its shop system and its events from a tracker, or it takes phone and
marketplace orders, or it sends no events at all) is a session of its own. Without this, a customer who ordered
today but whose order came without its events read as "no visit in 30 days" (the model learnt that absence as
leaving), and training and scoring would disagree on what a visit is for such shops. `views_30d` and `carts_30d`
stay what the tracker recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from predictions.ml.base import ShopFrames

DAY = pd.Timedelta(days=1)
# Two events of a customer more than 30 minutes apart belong to different sessions (the usual web
# analytics convention); the frames carry no session id, so sessions are derived from time gaps.
SESSION_GAP_DAYS = 30.0 / (24 * 60)
VIEW_TYPES = frozenset({"view", "product_view", "page_view"})
CART_TYPES = frozenset({"add_to_cart", "cart"})
SEQUENCE_CHANNELS: tuple[str, ...] = ("orders", "spend", "views", "carts", "sessions")
# Windows every model may rely on, whatever the config adds.
REQUIRED_WINDOWS = (30, 90, 180, 365)

TASKS = ("churn", "purchase")


@dataclass(frozen=True)
class FeatureConfig:
    """What to build: the churn lookback, the sequence shape and the order-count windows (days)."""

    lookback_days: int = 365
    seq_bins: int = 26
    bin_days: int = 7
    windows: tuple[int, ...] = (30, 90, 180, 365)


@dataclass(frozen=True)
class FeatureSet:
    """Features of `customer_ids` (same order in X rows and sequences)."""

    customer_ids: np.ndarray
    X: pd.DataFrame
    sequences: np.ndarray
    channels: tuple[str, ...]


def feature_names(config: FeatureConfig | None = None) -> list[str]:
    """The X columns, in their fixed order, for `config` (windows always include 30/90/180/365)."""
    windows = sorted(set((config or FeatureConfig()).windows) | set(REQUIRED_WINDOWS))
    return [
        "recency_days",
        "frequency_total",
        *[f"orders_{w}d" for w in windows],
        *[f"spend_{w}d" for w in windows],
        "spend_total",
        "avg_order_value",
        "avg_items_per_order",
        "tenure_days",
        "mean_gap_days",
        "overdue_ratio",
        "trend_orders_90d_vs_prev",
        "refund_rate",
        "cancel_rate",
        "category_breadth",
        "distinct_products",
        "events_30d",
        "events_90d",
        "views_30d",
        "carts_30d",
        "carts_without_purchase_30d",
        "sessions_30d",
        "sessions_90d",
        "days_since_last_event",
        "bgnbd_x",
        "bgnbd_t_x",
        "bgnbd_T",
        # A recent negative review (the reviews app's sentiment): how long ago, how many in 90 days, its stars
        # (NaN when unrated) and its first aspect (reasons.REVIEW_ASPECT_WORDS index, -1 none).
        "days_since_negative_review",
        "negative_reviews_90d",
        "negative_review_stars",
        "negative_review_aspect",
    ]


FEATURE_NAMES: list[str] = feature_names(FeatureConfig())

# What the features mean, beside their names: raised whenever a feature keeps its name and changes its meaning, so a
# model trained on the earlier meaning is not fed the new one (the artifact records the number it was trained with;
# `artifacts.check_meta` refuses another, and training replaces such a champion). 1: the first definitions;
# 2: an order is a visit (the activity features and the sessions channel count orders beside the tracker's events).
FEATURE_DEFINITION = 2


# ----------------------------------------------------------------------------------------- helpers
def as_utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    """A tz-aware UTC timestamp (naive input is read as UTC, as the import format says)."""
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _utc_series(s: pd.Series) -> pd.Series:
    s = pd.to_datetime(s)
    return s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")


def days_before(s: pd.Series, cutoff: pd.Timestamp) -> np.ndarray:
    """Float days from each timestamp to `cutoff` (0 at T, positive in the past, NaN for NaT)."""
    if len(s) == 0:
        return np.zeros(0, dtype=np.float64)
    return ((cutoff - _utc_series(s)) / DAY).to_numpy(dtype=np.float64, na_value=np.nan)


def _positions(index: pd.Index, ids: pd.Series | np.ndarray) -> np.ndarray:
    return index.get_indexer(np.asarray(ids, dtype=np.int64))


def _count(pos: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(pos, weights=weights, minlength=n).astype(np.float64)


def _group_min(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if len(pos):
        mins = pd.Series(values).groupby(pos).min()
        out[mins.index.to_numpy()] = mins.to_numpy()
    return out


def _group_max(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if len(pos):
        maxs = pd.Series(values).groupby(pos).max()
        out[maxs.index.to_numpy()] = maxs.to_numpy()
    return out


def _distinct_count(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    keep = ~pd.isna(values)
    if not keep.any():
        return np.zeros(n)
    pairs = pd.DataFrame({"p": pos[keep], "v": values[keep]}).drop_duplicates()
    return _count(pairs["p"].to_numpy(), n)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# ---------------------------------------------------------------------------------------- who is known
def first_seen_days(frames: ShopFrames, *, cutoff: pd.Timestamp) -> pd.Series:
    """Days from each customer's first sign of life (signup, any order, any event) up to T.

    Indexed by customer_id; only customers already known at T (value >= 0) are included.
    """
    cutoff = as_utc(cutoff)
    parts = []
    for frame, column in (
        (frames.customers, "signup_at"),
        (frames.orders, "placed_at"),
        (frames.events, "occurred_at"),
    ):
        if len(frame) == 0:
            continue
        age = days_before(frame[column], cutoff)
        ok = age >= 0  # NaN and the future drop out
        if ok.any():
            parts.append(pd.Series(age[ok], index=frame["customer_id"].to_numpy(dtype=np.int64)[ok]))
    if not parts:
        return pd.Series(dtype=np.float64)
    return pd.concat(parts).groupby(level=0).max().sort_index()


def _purchase_mask(orders: pd.DataFrame) -> np.ndarray:
    return (orders["status"].astype(str) != "cancelled").to_numpy()


def eligible_customers(frames: ShopFrames, *, cutoff: pd.Timestamp, task: str, lookback_days: int = 365) -> np.ndarray:
    """Customer ids (sorted int64) that the task scores at T.

    purchase: every customer known at T (signed up, ordered or acted by T).
    churn: customers active at T, i.e. with >= 1 non-cancelled order in (T - lookback_days, T].
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    cutoff = as_utc(cutoff)
    if task == "purchase":
        return first_seen_days(frames, cutoff=cutoff).index.to_numpy(dtype=np.int64)
    orders = frames.orders
    if len(orders) == 0:
        return np.zeros(0, dtype=np.int64)
    age = days_before(orders["placed_at"], cutoff)
    active = _purchase_mask(orders) & (age >= 0) & (age < lookback_days)
    return np.unique(orders["customer_id"].to_numpy(dtype=np.int64)[active])


# ----------------------------------------------------------------------------------------- orders
def _order_values(orders: pd.DataFrame, lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Money and item count per order, filling gaps: total -> sum of lines -> item_count x unit value.

    When a shop never exports totals, an order is worth its item count times the shop's typical
    value per item (1 when unknown), so spend stays comparable between its customers.
    """
    total = orders["total"].to_numpy(dtype=np.float64, na_value=np.nan)
    items = orders["item_count"].to_numpy(dtype=np.float64, na_value=np.nan) if "item_count" in orders else None
    if items is None:
        items = np.full(len(orders), np.nan)
    if len(lines):
        amount = lines["quantity"].to_numpy(dtype=np.float64, na_value=np.nan) * lines["unit_price"].to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        by_order = pd.DataFrame({"order_id": lines["order_id"].to_numpy(), "amount": amount, "qty": lines["quantity"]})
        sums = by_order.groupby("order_id")[["amount", "qty"]].sum(min_count=1)
        order_ids = orders["order_id"].to_numpy()
        total = np.where(np.isnan(total), sums["amount"].reindex(order_ids).to_numpy(dtype=np.float64), total)
        items = np.where(np.isnan(items), sums["qty"].reindex(order_ids).to_numpy(dtype=np.float64), items)
    both = ~np.isnan(total) & (items > 0)
    unit_value = float(np.median(total[both] / items[both])) if both.any() else 1.0
    total = np.where(np.isnan(total), items * unit_value, total)
    return np.nan_to_num(total, nan=0.0), items


# ------------------------------------------------------------------------------------------- build
def build_features(
    frames: ShopFrames,
    *,
    cutoff: pd.Timestamp,
    config: FeatureConfig,
    customer_ids: np.ndarray | None = None,
) -> FeatureSet:
    """Features (X) and weekly sequences of `customer_ids` (default: every customer known at T).

    Uses only rows with timestamps <= T. X is float32 with columns `feature_names(config)`;
    sequences are float32 [customers, seq_bins, channels], log1p-scaled counts / spend per bin of
    `bin_days`, the last bin being (T - bin_days, T].
    """
    cutoff = as_utc(cutoff)
    if customer_ids is None:
        customer_ids = eligible_customers(frames, cutoff=cutoff, task="purchase")
    ids = np.asarray(customer_ids, dtype=np.int64)
    index = pd.Index(ids)
    if not index.is_unique:
        raise ValueError("customer_ids must be unique")
    n = len(ids)
    bins, bin_days = config.seq_bins, config.bin_days
    channels = SEQUENCE_CHANNELS
    n_ch = len(channels)
    seq_flat = np.zeros(n * bins * n_ch, dtype=np.float64)
    seq_span = bins * bin_days

    def add_to_sequence(pos: np.ndarray, age: np.ndarray, channel: str, weights: np.ndarray | None = None) -> None:
        keep = age < seq_span
        b = bins - 1 - np.floor(age[keep] / bin_days).astype(np.int64)
        flat = (pos[keep] * bins + b) * n_ch + channels.index(channel)
        w = None if weights is None else weights[keep]
        seq_flat[:] += np.bincount(flat, weights=w, minlength=len(seq_flat))

    f: dict[str, np.ndarray] = {}
    seen = first_seen_days(frames, cutoff=cutoff)
    f["tenure_days"] = seen.reindex(ids).to_numpy(dtype=np.float64)

    # --- orders (<= T only)
    orders = frames.orders
    o_age = days_before(orders["placed_at"], cutoff) if len(orders) else np.zeros(0)
    o_pos = _positions(index, orders["customer_id"]) if len(orders) else np.zeros(0, dtype=np.int64)
    in_scope = (o_age >= 0) & (o_pos >= 0)
    orders, o_age, o_pos = orders[in_scope], o_age[in_scope], o_pos[in_scope]
    lines = frames.order_lines
    if len(lines):
        l_age = days_before(lines["placed_at"], cutoff)
        lines = lines[l_age >= 0]
    value, items = _order_values(orders, lines) if len(orders) else (np.zeros(0), np.zeros(0))
    status = orders["status"].astype(str).to_numpy() if len(orders) else np.zeros(0, dtype=object)
    bought = status != "cancelled"
    refunded = status == "refunded"
    net = np.where(refunded, 0.0, value)

    p_pos, p_age, p_net = o_pos[bought], o_age[bought], net[bought]
    f["frequency_total"] = _count(p_pos, n)
    for w in sorted(set(config.windows) | set(REQUIRED_WINDOWS)):
        win = p_age < w
        f[f"orders_{w}d"] = _count(p_pos[win], n)
        f[f"spend_{w}d"] = _count(p_pos[win], n, p_net[win])
    f["spend_total"] = _count(p_pos, n, p_net)
    f["avg_order_value"] = _safe_div(f["spend_total"], f["frequency_total"])
    items_known = ~np.isnan(items[bought])
    f["avg_items_per_order"] = _safe_div(
        _count(p_pos[items_known], n, items[bought][items_known]), _count(p_pos[items_known], n)
    )
    last_age = _group_min(p_pos, p_age, n)
    first_age = _group_max(p_pos, p_age, n)
    has_bought = f["frequency_total"] > 0
    # Never-bought customers: recency counts from when they were first seen, so "how long have we
    # waited for something to happen" means the same thing for everyone.
    f["recency_days"] = np.where(has_bought, last_age, f["tenure_days"])
    f["mean_gap_days"] = _safe_div(first_age - last_age, f["frequency_total"] - 1)
    f["overdue_ratio"] = _safe_div(f["recency_days"], f["mean_gap_days"])
    prev_90 = _count(p_pos[(p_age >= 90) & (p_age < 180)], n)
    f["trend_orders_90d_vs_prev"] = f["orders_90d"] - prev_90
    f["refund_rate"] = np.nan_to_num(_safe_div(_count(o_pos[refunded], n), f["frequency_total"]), nan=0.0)
    f["cancel_rate"] = np.nan_to_num(_safe_div(_count(o_pos[~bought], n), _count(o_pos, n)), nan=0.0)
    add_to_sequence(p_pos, p_age, "orders")
    add_to_sequence(p_pos, p_age, "spend", p_net)

    # BG/NBD summary on distinct purchase days; day 0 is the 24 hours ending at T.
    day = np.floor(p_age)
    days = pd.DataFrame({"p": p_pos, "d": day}).drop_duplicates()
    x = _count(days["p"].to_numpy(), n) - 1
    d_first = _group_max(days["p"].to_numpy(), days["d"].to_numpy(), n)
    d_last = _group_min(days["p"].to_numpy(), days["d"].to_numpy(), n)
    f["bgnbd_x"] = np.where(has_bought, x, np.nan)
    f["bgnbd_t_x"] = d_first - d_last
    f["bgnbd_T"] = d_first

    # --- order lines (non-cancelled orders only)
    if len(lines):
        cancelled_ids = orders.loc[~bought, "order_id"].to_numpy() if len(orders) else np.zeros(0)
        lines = lines[~lines["order_id"].isin(cancelled_ids)]
        ln_pos = _positions(index, lines["customer_id"])
        ok = ln_pos >= 0
        lines, ln_pos = lines[ok], ln_pos[ok]
        f["category_breadth"] = _distinct_count(ln_pos, lines["category_id"].to_numpy(dtype=np.float64), n)
        f["distinct_products"] = _distinct_count(ln_pos, lines["product_id"].to_numpy(dtype=np.float64), n)
    else:
        ln_pos = np.zeros(0, dtype=np.int64)
        f["category_breadth"] = np.zeros(n)
        f["distinct_products"] = np.zeros(n)

    # --- activity: events, and every order (see "An order is a visit" above)
    events = frames.events
    e_age = days_before(events["occurred_at"], cutoff) if len(events) else np.zeros(0)
    e_pos = _positions(index, events["customer_id"]) if len(events) else np.zeros(0, dtype=np.int64)
    ok = (e_age >= 0) & (e_pos >= 0)
    f["days_since_last_event"] = _group_min(np.concatenate([e_pos[ok], o_pos]), np.concatenate([e_age[ok], o_age]), n)
    # Only recent events are needed below; cutting early keeps the sort for sessions small.
    recent_days = max(seq_span, 90)
    recent = ok & (e_age < recent_days)
    events, e_age, e_pos = events[recent], e_age[recent], e_pos[recent]
    e_type = events["type"].astype(str).to_numpy() if len(events) else np.zeros(0, dtype=object)
    is_view = np.isin(e_type, list(VIEW_TYPES))
    is_cart = np.isin(e_type, list(CART_TYPES))
    # Views and carts stay what the tracker recorded; events_* and sessions count orders as steps of activity.
    ro = o_age < recent_days
    a_pos, a_age = np.concatenate([e_pos, o_pos[ro]]), np.concatenate([e_age, o_age[ro]])
    w30 = e_age < 30
    f["events_30d"] = _count(a_pos[a_age < 30], n)
    f["events_90d"] = _count(a_pos[a_age < 90], n)
    f["views_30d"] = _count(e_pos[w30 & is_view], n)
    f["carts_30d"] = _count(e_pos[w30 & is_cart], n)
    add_to_sequence(e_pos[is_view], e_age[is_view], "views")
    add_to_sequence(e_pos[is_cart], e_age[is_cart], "carts")

    # Sessions: sort by customer, then time ascending (= age descending); a new session starts at a
    # customer's first step (event or order) or after a gap longer than SESSION_GAP_DAYS.
    order = np.lexsort((-a_age, a_pos))
    s_pos, s_age = a_pos[order], a_age[order]
    start = np.ones(len(s_pos), dtype=bool)
    if len(s_pos) > 1:
        start[1:] = (s_pos[1:] != s_pos[:-1]) | ((s_age[:-1] - s_age[1:]) > SESSION_GAP_DAYS)
    f["sessions_30d"] = _count(s_pos[start & (s_age < 30)], n)
    f["sessions_90d"] = _count(s_pos[start & (s_age < 90)], n)
    add_to_sequence(s_pos[start], s_age[start], "sessions")

    f["carts_without_purchase_30d"] = _carts_without_purchase(
        cart_pos=e_pos[w30 & is_cart],
        cart_age=e_age[w30 & is_cart],
        cart_product=events["product_id"].to_numpy(dtype=np.float64, na_value=np.nan)[w30 & is_cart]
        if len(events)
        else np.zeros(0),
        lines=lines,
        line_pos=ln_pos,
        cutoff=cutoff,
        last_purchase_age=last_age,
    )

    _negative_review_features(f, frames.reviews, index=index, cutoff=cutoff, n=n)

    names = feature_names(config)
    X = pd.DataFrame({name: f[name].astype(np.float32) for name in names}, index=pd.RangeIndex(n))
    sequences = np.log1p(np.maximum(seq_flat, 0.0)).reshape(n, bins, n_ch).astype(np.float32)
    return FeatureSet(customer_ids=ids, X=X, sequences=sequences, channels=channels)


def _carts_without_purchase(
    *,
    cart_pos: np.ndarray,
    cart_age: np.ndarray,
    cart_product: np.ndarray,
    lines: pd.DataFrame,
    line_pos: np.ndarray,
    cutoff: pd.Timestamp,
    last_purchase_age: np.ndarray,
) -> np.ndarray:
    """Add-to-cart events in the last 30 days not followed (by T) by a purchase of that product.

    Without a product on the cart event or without order lines in the shop, any order by the
    customer at or after the cart counts as its purchase.
    """
    n = len(last_purchase_age)
    if len(cart_pos) == 0:
        return np.zeros(n)
    # Fallback: customer-level "ordered at or after the cart" (ages shrink towards T).
    purchased = last_purchase_age[cart_pos] <= cart_age
    with_product = ~np.isnan(cart_product)
    if len(lines) and with_product.any():
        line_age = days_before(lines["placed_at"], cutoff)
        last_by_product = (
            pd.DataFrame({"p": line_pos, "prod": lines["product_id"].to_numpy(dtype=np.float64), "age": line_age})
            .groupby(["p", "prod"])["age"]
            .min()
        )
        keys = pd.MultiIndex.from_arrays([cart_pos[with_product], cart_product[with_product]])
        last = last_by_product.reindex(keys).to_numpy(dtype=np.float64)
        purchased[with_product] = last <= cart_age[with_product]  # NaN (never bought) -> False
    return _count(cart_pos[~purchased], n)


def _negative_review_features(f: dict, reviews: pd.DataFrame | None, *, index: pd.Index, cutoff: pd.Timestamp,
                              n: int) -> None:
    """Days since the customer's latest negative review up to T (NaN: none), negative reviews in the 90 days
    before T, and that latest review's stars and first aspect (NaN / -1 when none)."""
    f["days_since_negative_review"] = np.full(n, np.nan)
    f["negative_reviews_90d"] = np.zeros(n)
    f["negative_review_stars"] = np.full(n, np.nan)
    f["negative_review_aspect"] = np.full(n, -1.0)
    if reviews is None or not len(reviews):
        return
    negative = reviews[reviews["negative"].astype(bool)]
    age = days_before(negative["created_at"], cutoff)
    pos = _positions(index, negative["customer_id"])
    ok = (age >= 0) & (pos >= 0)
    if not ok.any():
        return
    age, pos = age[ok], pos[ok]
    stars = negative["stars"].to_numpy(dtype=np.float64)[ok]
    aspect = negative["aspect"].to_numpy(dtype=np.float64)[ok]
    f["negative_reviews_90d"] = _count(pos[age < 90], n)
    latest = np.lexsort((age, pos))  # per customer, the youngest first
    first = np.ones(len(latest), dtype=bool)
    first[1:] = pos[latest][1:] != pos[latest][:-1]
    chosen = latest[first]
    f["days_since_negative_review"][pos[chosen]] = age[chosen]
    f["negative_review_stars"][pos[chosen]] = stars[chosen]
    f["negative_review_aspect"][pos[chosen]] = aspect[chosen]
