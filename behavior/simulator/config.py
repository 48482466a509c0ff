"""What to simulate and what came out: the config and summary types, the model's constants, the CSV
columns and the random streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

DEFAULT_END_DATE = date(2026, 6, 30)
BURN_DAYS = 180  # simulated before the window so that early customers arrive with a history
FADE_DAYS = 42
FADE_SCALE = 14.0
CANCEL_RATE = 0.03
REFUND_RATE = 0.03
CYCLE_SIGMA = 0.2
TRUTH_HORIZONS = (30, 90)
CURRENCY = "EUR"

COLUMNS = {
    "customers": ["customer_id", "email", "name", "country", "signup_at"],
    "products": ["product_id", "title", "description", "category", "brand", "price", "active"],
    "orders": ["order_id", "customer_id", "placed_at", "total", "currency", "status", "item_count"],
    "order_lines": ["order_id", "product_id", "quantity", "unit_price"],
    "events": ["event_id", "customer_id", "type", "product_id", "occurred_at", "session_id", "properties"],
    "truth": ["customer_id", "p_purchase_30", "p_purchase_90", "alive"],
}
EVENT_TYPES = ["view", "add_to_cart", "remove_from_cart", "wishlist", "search", "review", "login"]
VIEW, CART, UNCART, WISH, SEARCH, REVIEW, LOGIN = range(7)
STATUSES = np.array(["placed", "cancelled", "refunded"])

# Random streams: every part of the simulation draws from its own, so parts stay independent.
_S_CATALOG, _S_CUSTOMERS, _S_DAY, _S_ORDERS, _S_FUTURE, _S_EVENTS, _S_DIRTY, _S_SIGNUP, _S_REVIEWS = range(9)


def _rng(seed: int, stream: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, *more])


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Data covers the `days` days ending with `end_date` (inclusive)."""

    customers: int
    products: int
    days: int
    seed: int
    end_date: date = DEFAULT_END_DATE
    future_days: int = 0
    dirty: bool = False

    def __post_init__(self):
        for name in ("customers", "products", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.seed < 0:
            raise ValueError("seed must be 0 or more")
        if self.future_days < 0:
            raise ValueError("future_days must be 0 or more")


@dataclass(frozen=True)
class SimulationSummary:
    """Counts of what was written (clean rows, before any injected faults) and where."""

    out_dir: Path
    customers: int
    products: int
    orders: int
    order_lines: int
    events: int
    future_orders: int
    future_order_lines: int
    dead_customers: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
