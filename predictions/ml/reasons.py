"""Plain-words reasons for a score: one template per feature, reading a customer's feature row.

The scoring service shows the 3 features that raised a customer's score most (predictions.ml.explain, from
the LightGBM model's Saabas path contributions, or `order_history_contributions` for a champion without one)
through these templates; a feature without one is never shown as a reason. Pure (no Django), like every module
of predictions.ml."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np
import pandas as pd


def _plural(count: float, word: str) -> str:
    c = int(round(count))
    return f"{c} {word}" if c == 1 else f"{c} {word}s"


def _days_ago(days: float) -> str:
    """"today", "yesterday", "12 days ago"."""
    d = int(days)
    return "today" if d <= 0 else "yesterday" if d == 1 else f"{d} days ago"


def _overdue(recency: float, gap: float) -> bool:
    """Whether `recency` days without an order are late against the customer's usual `gap`, in the whole days the
    reason shows: a catch-all customer ordering several times a day (gap 0.4, recency 0.9) read "no order for 0 days;
    usually every 1" as a reason to leave (an outside analyst)."""
    days, usual = int(recency), max(1, int(round(gap)))
    return days >= 1 and days >= 1.5 * usual


# "Already lapsed": a customer whose silence is past this many of their own usual gaps between orders (in the
# whole days the reasons show, as `_overdue`) has in all likelihood already stopped ordering - a win-back
# campaign's customer, not a save campaign's. 3 x: a monthly customer 4 months silent is lapsed, 2 months not.
LAPSED_GAPS = 3
# A rhythm is the customer's own from this many gaps (4 orders); before, the larger of theirs and the shop's
# typical gap: two orders a day apart are no daily habit (a second reader: lapsed 4 days later in a shop whose
# customers re-order every 20 days, a customer the simulator gave a 0.999 chance of buying).
OWN_RHYTHM_GAPS = 3
# A usual gap counts as at least a week: four orders in three days make no daily habit either (a new user's review:
# lapsed after 23 days, "ordered 23 days ago" beside the badge).
MIN_USUAL_GAP_DAYS = 7
# A customer who visited (any event, or an order: an order is a visit) in the last this many days has not lapsed: a
# customer browsing 26 times in 30 days is a save, not a win-back, whatever their orders' rhythm (the same review:
# Low risk and Lapsed on one row).
RECENT_VISIT_DAYS = 30


def lapsed_mask(X: pd.DataFrame, *, typical_gap_days: float | None, horizon_days: int,
                lookback_days: int) -> np.ndarray:
    """Which customers (rows of the feature frame `X`) have already lapsed, from the inputs of the overdue reason
    ("no order for 117 days; usually every 35"): frequency_total, recency_days, mean_gap_days.

    - A customer who never ordered (or whose only orders were cancelled) has not lapsed: there is nothing to win back.
    - A repeat customer (orders spread over a day or more) has lapsed when the whole days since their last order
      exceed LAPSED_GAPS times their usual gap (whole days); with fewer than OWN_RHYTHM_GAPS gaps, the larger of
      their gap and the shop's typical one; a usual gap counts as MIN_USUAL_GAP_DAYS at least.
    - A customer who visited in the last RECENT_VISIT_DAYS (days_since_last_event, which counts orders too) has not
      lapsed, whatever their gap.
    - A customer with a single order (or all orders within one day) has the shop's typical repeat gap instead
      (`typical_gap_days`: the median usual gap of the shop's repeat customers, `typical_repeat_gap_days`), or the
      horizon where the shop has no repeat customer.
    - A customer with no order in the `lookback_days` (not on the at-risk list: the likely buyers list's "lapsed
      ones") has lapsed whatever their gap.
    The guest customer is never scored, so never marked."""
    n = len(X)

    def column(name: str) -> np.ndarray:
        return X[name].to_numpy(dtype=np.float64, na_value=np.nan) if name in X.columns else np.full(n, np.nan)

    orders = np.nan_to_num(column("frequency_total"), nan=0.0)
    recency = np.floor(column("recency_days"))
    gap = column("mean_gap_days")
    shop_gap = typical_gap_days if typical_gap_days and typical_gap_days > 0 else float(horizon_days)
    own = (orders >= 2) & np.isfinite(gap) & (gap * np.maximum(orders - 1, 1) >= 1.0)
    rhythm = own & (orders - 1 >= OWN_RHYTHM_GAPS)
    usual = np.maximum(MIN_USUAL_GAP_DAYS,
                       np.round(np.where(rhythm, gap, np.where(own, np.fmax(gap, shop_gap), shop_gap))))
    with np.errstate(invalid="ignore"):
        visited = column("days_since_last_event") < RECENT_VISIT_DAYS  # NaN (no such column): no visit known
        late = ((recency > LAPSED_GAPS * usual) & ~visited) | (recency >= lookback_days)
    return (orders > 0) & np.isfinite(recency) & late


def lapsed_first(reasons: list[list[str]], X: pd.DataFrame, rows: np.ndarray) -> None:
    """Put why a lapsed customer lapsed first among the reasons of `rows` (positions in `X` and `reasons`, changed
    in place): "no order for 96 days; usually every 13", or "no order for 120 days" for a single order. The
    attribution's first reason of such a row was often "no product viewed in the last 30 days" (a new user's
    review); a shorter "no order for …" it held goes, the list keeps three."""
    if not len(rows):
        return
    picked = X.iloc[rows]  # one take, not a row lookup per customer (a scoring chunk's lapsed rows: thousands)
    recency = picked["recency_days"].to_numpy(dtype=np.float64)
    gap = (picked["mean_gap_days"].to_numpy(dtype=np.float64, na_value=np.nan) if "mean_gap_days" in picked.columns
           else np.full(len(rows), np.nan))
    for i, days, usual in zip(rows.tolist(), recency.tolist(), gap.tolist(), strict=True):
        text = _overdue_text(days, usual)
        reasons[i] = [text or f"no order for {int(days)} days",
                      *[r for r in reasons[i] if not r.startswith("no order for")]][:3]


def _reason_overdue(row: pd.Series) -> str | None:
    return _overdue_text(row.get("recency_days"), row.get("mean_gap_days"))


def _overdue_text(recency, gap) -> str | None:
    if pd.isna(gap) or pd.isna(recency) or gap <= 0 or not _overdue(recency, gap):
        return None
    return f"no order for {int(recency)} days; usually every {max(1, int(round(gap)))}"


def _reason_recency(row: pd.Series) -> str | None:
    recency = row.get("recency_days")
    if pd.isna(recency):
        return None
    if row.get("frequency_total", 0) <= 0:
        return f"has never ordered (first seen {_days_ago(recency)})"
    gap = row.get("mean_gap_days")
    # A recency the customer's own rhythm does not call late reads as staying, however long: "ordered 40 days ago"
    # of a customer who orders every 60 days, never "no order for 40 days" as a reason to leave.
    if recency < 30 or (not pd.isna(gap) and gap > 0 and not _overdue(recency, gap)):
        return f"ordered {_days_ago(recency)}"
    return f"no order for {int(recency)} days"


def _reason_carts(row: pd.Series) -> str | None:
    carts = row.get("carts_without_purchase_30d", 0)
    if pd.isna(carts) or carts < 1:
        return None
    return f"{_plural(carts, 'cart')} abandoned in the last 30 days"


def _reason_trend(row: pd.Series) -> str | None:
    trend = row.get("trend_orders_90d_vs_prev", 0)
    if pd.isna(trend) or trend == 0:
        return None
    return "fewer orders than the 90 days before" if trend < 0 else "more orders than the 90 days before"


def _reason_frequency(row: pd.Series) -> str | None:
    freq = row.get("frequency_total", 0)
    if pd.isna(freq):
        return None
    if freq == 0:
        return "no order yet"
    if freq == 1:
        return "a single order so far"
    return f"{_plural(freq, 'order')} so far"


def _reason_orders_365(row: pd.Series) -> str | None:
    orders = row.get("orders_365d", 0)
    if pd.isna(orders):
        return None
    return "no order in the last 12 months" if orders == 0 else f"{_plural(orders, 'order')} in the last 12 months"


def _reason_views(row: pd.Series) -> str | None:
    views = row.get("views_30d", 0)
    if pd.isna(views):
        return None
    if views == 0 and row.get("orders_30d", 0) > 0:
        # An order in the window whose views the shop's tracker did not send (orders from the shop system, phone
        # or marketplace orders): "no product viewed" would read against "ordered today" (a new user's review).
        return None
    return "no product viewed in the last 30 days" if views == 0 else f"{_plural(views, 'product view')} in 30 days"


def _reason_sessions(row: pd.Series) -> str | None:
    sessions = row.get("sessions_30d", 0)
    if pd.isna(sessions):
        return None
    return "no visit in the last 30 days" if sessions == 0 else f"{_plural(sessions, 'visit')} in the last 30 days"


def _reason_refunds(row: pd.Series) -> str | None:
    rate = row.get("refund_rate", 0)
    if pd.isna(rate) or rate <= 0:
        return None
    return f"{int(round(100 * rate))} % of orders refunded"


def _reason_spend(row: pd.Series, currency: str = "") -> str | None:
    spend = row.get("spend_365d", 0)
    if pd.isna(spend) or spend <= 0:
        return None
    return f"spent {spend:,.0f}{' ' + currency if currency else ''} in the last 12 months"


def _reason_tenure(row: pd.Series) -> str | None:
    tenure = row.get("tenure_days")
    if pd.isna(tenure):
        return None
    if tenure < 60:
        return f"new customer (first seen {_days_ago(tenure)})"
    return f"customer for {tenure / 365.25:.1f} years" if tenure >= 365 else f"customer for {int(tenure / 30)} months"


def _reason_breadth(row: pd.Series) -> str | None:
    breadth = row.get("category_breadth", 0)
    if pd.isna(breadth) or breadth <= 0:
        return None
    return f"buys in {_plural(breadth, 'category')}".replace("categorys", "categories")


# The order of reviews.ml.aspects.ASPECTS (the frames carry an index into it; tests check they agree).
REVIEW_ASPECT_WORDS = ("delivery", "quality", "price", "size or fit", "packaging", "customer service")
RECENT_REVIEW_DAYS = 90


def _reason_negative_review(row: pd.Series) -> str | None:
    days = row.get("days_since_negative_review")
    if pd.isna(days) or days > RECENT_REVIEW_DAYS:
        return None
    stars = row.get("negative_review_stars")
    aspect = row.get("negative_review_aspect")
    what = "a negative review" if pd.isna(stars) else f"a {int(stars)}-star review"
    if not pd.isna(aspect) and 0 <= aspect < len(REVIEW_ASPECT_WORDS):
        what += f" about {REVIEW_ASPECT_WORDS[int(aspect)]}"
    when = "today" if days < 1 else f"{int(days)} day{'s' if int(days) != 1 else ''} ago"
    return f"left {what} {when}"


REASON_TEMPLATES: dict[str, Callable[[pd.Series], str | None]] = {
    "days_since_negative_review": _reason_negative_review,
    "negative_reviews_90d": _reason_negative_review,
    "negative_review_stars": _reason_negative_review,
    "overdue_ratio": _reason_overdue,
    "mean_gap_days": _reason_overdue,
    "recency_days": _reason_recency,
    "carts_without_purchase_30d": _reason_carts,
    "carts_30d": _reason_carts,
    "trend_orders_90d_vs_prev": _reason_trend,
    "frequency_total": _reason_frequency,
    "bgnbd_x": _reason_frequency,
    "orders_365d": _reason_orders_365,
    "views_30d": _reason_views,
    "sessions_30d": _reason_sessions,
    "events_30d": _reason_sessions,
    "refund_rate": _reason_refunds,
    "spend_365d": _reason_spend,
    "spend_total": _reason_spend,
    "tenure_days": _reason_tenure,
    "category_breadth": _reason_breadth,
}


def reason_templates(*, currency: str = "") -> dict[str, Callable[[pd.Series], str | None]]:
    """REASON_TEMPLATES with money in the shop's currency ("spent 4,845 EUR in the last 12 months")."""
    if not currency:
        return REASON_TEMPLATES
    spend = functools.partial(_reason_spend, currency=currency)
    return {name: spend if template is _reason_spend else template for name, template in REASON_TEMPLATES.items()}


# How each text reads for a customer's chance of leaving: +1 as a sign they may leave, -1 as a sign they stay,
# 0 a plain fact either way ("3 orders so far"). Reasons shown under a heading ("Why the risk is low") must
# not read against it; for the chance of buying, the signs flip. Money spent in the last 12 months reads as a sign
# of staying (the template writes it only when above 0): a marketer read "Spent 4,365 EUR in the last 12 months" as
# why a customer's chance of buying was low, and after one more order "Spent 4,424 EUR" as why their chance of
# leaving was high (a browser review, session 21). Tenure the same way: "new customer" is a sign of leaving (a
# first order is the least settled), "customer for 1.5 years" a sign of staying, so a long relationship never
# explains a high risk or a low chance of buying ("customer for 29.9 years" as why buying was low: a new user).
_LEAVING = re.compile(r"^(no order for |has never ordered|no order yet|a single order so far|fewer orders than"
                      r"|no order in the last 12 months|no product viewed|no visit in|left a "
                      r"|\d+ % of orders refunded|new customer)")
_STAYING = re.compile(r"^(ordered (today|yesterday|\d+ days ago)|more orders than|\d+ (product views?|visits?) in"
                      r"|spent [0-9,.]+.* in the last 12 months|customer for )")


_ORDERS_SO_FAR = re.compile(r"^([0-9,]+) orders so far")
# From this many orders, "N orders so far" reads as a habit, a sign of staying: a high-risk customer's main reason
# read "16 orders so far" (an outside review); the model's attribution there is the history, not a warning.
HABIT_ORDERS = 10


def churn_tone(text: str) -> int:
    """+1 when `text` reads as a sign of leaving, -1 as a sign of staying, 0 for a plain fact."""
    if _LEAVING.match(text):
        return 1
    if _STAYING.match(text):
        return -1
    orders = _ORDERS_SO_FAR.match(text)
    return -1 if orders and int(orders[1].replace(",", "")) >= HABIT_ORDERS else 0


def purchase_tone(text: str) -> int:
    """How `text` reads for the chance of buying: the opposite of `churn_tone`."""
    return -churn_tone(text)


# What `order_history_contributions` weighs: the overdue ratio (recency against the customer's own usual gap) leads,
# then the order count against the habit threshold, then recency against a month (where "ordered N days ago" turns
# into "no order for N days").
_RECENCY_PIVOT_DAYS = 30
_ORDER_COUNT_WEIGHT = 0.3
_RECENCY_WEIGHT = 0.5


def order_history_contributions(X: pd.DataFrame) -> np.ndarray:
    """How each feature of `X` pushes a customer's chance of leaving, by rules on their order history alone: a
    [rows, columns of X] matrix for `explain.top_reasons` (+ towards leaving, - towards staying, 0 not a reason),
    for a champion that has no LightGBM attribution (a short history's BG/NBD or Pareto/NBD: they read only the
    order count, recency and the span between first and last order). Negate it for the chance of buying.

    - overdue_ratio: log(recency / usual gap): twice the usual gap +0.69, half of it -0.69 ("no order for 85 days;
      usually every 21"; the template shows it from 1.5 times the gap).
    - frequency_total: 0.3 · log(HABIT_ORDERS / orders): a single order +0.69, ten or more read as a habit (< 0).
    - recency_days: 0.5 · log((days + 1) / 31): "no order for 85 days" above a month, "ordered 5 days ago" below;
      a customer who never ordered +1.
    - orders_365d: +1 for a buyer with no order in the last 12 months.
    Other columns (spend, visits, carts, reviews: what those models do not read) are 0."""
    n = len(X)
    out = np.zeros((n, X.shape[1]), dtype=np.float64)
    columns = [str(c) for c in X.columns]

    def column(name: str) -> np.ndarray:
        return X[name].to_numpy(dtype=np.float64, na_value=np.nan) if name in columns else np.full(n, np.nan)

    orders = np.nan_to_num(column("frequency_total"), nan=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        signals = {
            "overdue_ratio": np.log(column("overdue_ratio")),
            "frequency_total": _ORDER_COUNT_WEIGHT * np.log(HABIT_ORDERS / np.maximum(orders, 1.0)),
            "recency_days": np.where(orders > 0, _RECENCY_WEIGHT * np.log(
                (np.maximum(column("recency_days"), 0.0) + 1.0) / (_RECENCY_PIVOT_DAYS + 1)), 1.0),
            "orders_365d": np.where((orders > 0) & (column("orders_365d") == 0), 1.0, 0.0),
        }
    for name, signal in signals.items():
        if name in columns:
            out[:, columns.index(name)] = np.where(np.isfinite(signal), signal, 0.0)
    return out


# What a row explained as a risk (or a good chance of buying) may fall back on when the model's attribution gave it
# no reason, in this order after the order history's rules; a text that reads against the heading is still dropped.
FALLBACK_ORDER = ("overdue_ratio", "recency_days", "orders_365d", "frequency_total", "trend_orders_90d_vs_prev",
                  "carts_without_purchase_30d", "days_since_negative_review", "refund_rate", "sessions_30d",
                  "views_30d", "tenure_days", "spend_365d")


def fallback_contributions(X: pd.DataFrame, *, leaving: bool = True) -> np.ndarray:
    """Contributions for `explain.top_reasons` that give a row a true reason from its own features when the model's
    attribution gave it none: the order history's rules (`order_history_contributions`, for the chance of leaving,
    or read back for buying when `leaving` is False) where they push the wanted way, then every templated feature of
    FALLBACK_ORDER with a small positive weight, first ones first.

    An outside analyst found High and Medium risk customers with no reason at all (274 of 1,769; a customer 117
    days silent against a usual gap of 35). Where most customers leave, the model's average is already a high risk:
    a customer scored high but below it has every attribution pushing down (1,365 of 1,605 at-risk rows of a shop
    where most leave); a LightGBM beside a label-free champion may disagree with it, or push up only through texts
    that read as staying ("spent 4,365 EUR"), which the tone filter drops."""
    history = order_history_contributions(X) * (1.0 if leaving else -1.0)
    out = np.where(history > 0, history + 1.0, 0.0)
    columns = [str(c) for c in X.columns]
    for rank, name in enumerate(FALLBACK_ORDER):
        if name in columns:
            j = columns.index(name)
            out[:, j] = np.where(out[:, j] > 0, out[:, j], (len(FALLBACK_ORDER) - rank) * 1e-3)
    return out
