"""Customer flags: refund abuse (refund count, rate and amount against the shop's peers) and bot-like sessions
(event rates no person reaches). Frames in, a frame of flags out (customer_id, kind, reason)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class FlagConfig:
    """Thresholds. A refund abuser has at least `min_refunds` refunds, a refund rate at least `rate_factor` times
    the shop's (and at least `min_rate`), and refunded more money than `amount_quantile` of the refunding peers. A
    bot-like session has `session_events` events or more, or `per_minute` in one minute."""

    min_refunds: int = 3
    min_rate: float = 0.5
    rate_factor: float = 5.0
    amount_quantile: float = 0.9
    session_events: int = 300
    per_minute: int = 40


def refund_abuse_frame(orders: pd.DataFrame, *, config: FlagConfig = FlagConfig()) -> pd.DataFrame:
    """Customers whose refunds stand out from the shop's (orders: customer_id, total, status)."""
    live = orders[orders["status"].astype(str) != "cancelled"]
    if live.empty:
        return pd.DataFrame(columns=["customer_id", "kind", "reason"])
    refunded = live["status"].astype(str) == "refunded"
    per = pd.DataFrame({"orders": live.groupby("customer_id").size(),
                        "refunds": refunded.groupby(live["customer_id"]).sum(),
                        "amount": pd.to_numeric(live["total"], errors="coerce").fillna(0).where(refunded, 0)
                        .groupby(live["customer_id"]).sum()})
    shop_rate = float(refunded.mean())
    per["rate"] = per["refunds"] / per["orders"]
    refunders = per[per["refunds"] > 0]
    amount_cut = float(refunders["amount"].quantile(config.amount_quantile)) if len(refunders) else 0.0
    rate_cut = max(config.min_rate, config.rate_factor * shop_rate)
    hit = per[(per["refunds"] >= config.min_refunds) & (per["rate"] >= rate_cut) & (per["amount"] >= amount_cut)]
    reasons = [f"refunded {int(r.refunds)} of {int(r.orders)} orders ({r.rate:.0%}; the shop: {shop_rate:.0%}), "
               f"{r.amount:,.2f} in all" for r in hit.itertuples()]
    return pd.DataFrame({"customer_id": hit.index.to_numpy(), "kind": "refund_abuse", "reason": reasons})


def bot_sessions_frame(events: pd.DataFrame, *, config: FlagConfig = FlagConfig()) -> pd.DataFrame:
    """Customers with a session no person produces (events: customer_id, occurred_at, session_id)."""
    if events is None or events.empty:
        return pd.DataFrame(columns=["customer_id", "kind", "reason"])
    e = events[["customer_id", "occurred_at", "session_id"]].copy()
    e["session_id"] = e["session_id"].fillna("").astype(str)
    e = e[e["session_id"] != ""]
    if e.empty:
        return pd.DataFrame(columns=["customer_id", "kind", "reason"])
    e["minute"] = pd.to_datetime(e["occurred_at"], utc=True).dt.floor("min")
    sessions = e.groupby(["customer_id", "session_id"]).size()
    minutes = e.groupby(["customer_id", "session_id", "minute"]).size().groupby(level=[0, 1]).max()
    both = pd.DataFrame({"events": sessions, "per_minute": minutes})
    bad = both[(both["events"] >= config.session_events) | (both["per_minute"] >= config.per_minute)]
    if bad.empty:
        return pd.DataFrame(columns=["customer_id", "kind", "reason"])
    worst = bad.reset_index().sort_values("per_minute", ascending=False).drop_duplicates("customer_id")
    reasons = [f"a session of {int(r.events)} events, up to {int(r.per_minute)} in one minute"
               for r in worst.itertuples()]
    return pd.DataFrame({"customer_id": worst["customer_id"].to_numpy(), "kind": "bot_sessions", "reason": reasons})


def customer_flags_frame(orders: pd.DataFrame, events: pd.DataFrame | None, *,
                         config: FlagConfig = FlagConfig()) -> pd.DataFrame:
    """Both flags, one row per (customer, kind)."""
    parts = [refund_abuse_frame(orders, config=config), bot_sessions_frame(events, config=config)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=["customer_id", "kind", "reason"])
    return pd.concat(parts, ignore_index=True).astype({"kind": str, "reason": str}).reset_index(drop=True)


__all__ = ["FlagConfig", "bot_sessions_frame", "customer_flags_frame", "refund_abuse_frame"]
