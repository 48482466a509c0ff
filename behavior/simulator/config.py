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


YEARLY_CURVES = ("general", "grocery", "fashion")


@dataclass(frozen=True)
class ShopProfile:
    """How the shop's customers behave: the knobs a preset (`presets.py`) turns. The defaults are the
    general-merchandise shop the simulator always made (same draws, byte-identical files).

    Customers: `cohort_days` > 0 makes a closed acquisition cohort (everyone joins in the window's first
    `cohort_days` days) and `first_order_on_join` gives every customer an order on their join day (a cohort
    defined by first purchase, like CDNOW's). Order rate lam ~ Gamma(`lam_shape`, mean `lam_mean` a day);
    fading hazard mu ~ Gamma(2, mean `mu_mean` a day); dropout after a purchase ~ Beta(`p_drop_a`, `p_drop_b`).
    Re-buys: a `consumer_share` of customers re-buy every ~cycle days, cycle ~ lognormal(median
    `cycle_median`, sigma `cycle_spread`) clipped to `cycle_clip`, each interval cycle * lognormal(`cycle_sigma`).
    Baskets: `basket` "mixed" (regular orders of 1 + Poisson(`extra_items`) items, capped at 6, re-buys of the
    favourite) or "repertoire" (every order a basket of ~`basket_mean` items, a `repertoire_pick` share of them
    from the customer's own staples, `repertoire_size` of them, the rest explored by category and popularity;
    orders.py `_basket_lines`). Catalogue: `categories` (sub category names of catalog._SUBS, None: the default 29),
    `collection_days` > 0 launches products in seasonal collections that leave the shop after
    `collection_life` days. `refund_rate`; `yearly` names the seasonality curve (grid.py)."""

    cohort_days: int = 0
    first_order_on_join: bool = False
    lam_shape: float = 0.8
    lam_mean: float = 9.0 / 365
    mu_mean: float = 1 / 1100
    p_drop_a: float = 1.0
    p_drop_b: float = 18.0
    consumer_share: float = 0.45
    cycle_median: float = 30.0
    cycle_spread: float = 0.35
    cycle_clip: tuple[float, float] = (7.0, 120.0)
    cycle_sigma: float = CYCLE_SIGMA
    basket: str = "mixed"
    extra_items: float = 0.5
    basket_mean: float = 10.0
    repertoire_size: tuple[int, int] = (15, 45)
    repertoire_pick: float = 0.7
    categories: tuple[str, ...] | None = None
    collection_days: int = 0
    collection_life: int = 240
    refund_rate: float = REFUND_RATE
    yearly: str = "general"

    def __post_init__(self):
        if self.basket not in ("mixed", "repertoire"):
            raise ValueError(f"basket must be 'mixed' or 'repertoire', not {self.basket!r}")
        if self.yearly not in YEARLY_CURVES:
            raise ValueError(f"yearly must be one of {', '.join(YEARLY_CURVES)}, not {self.yearly!r}")


DEFAULT_PROFILE = ShopProfile()


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
    profile: ShopProfile = DEFAULT_PROFILE
    preset: str | None = None  # the preset's name the profile came from (for the record only)

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
