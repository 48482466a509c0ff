"""A simulator of offers with a known, customer-dependent response (for tests and bench/offers.py).

Customers have a frequency (orders in the last year), a recency (days since the last order), an average
order value, and model scores derived from them; three segments arise from them: *loyal* (frequent, recent),
*occasional* and *lapsed*. The true conversion probability of offer a for customer x is
sigmoid(base(x) + lift_a(x)): loyal customers answer product recommendations, occasional ones discounts,
lapsed ones a gift, free shipping helps a little everywhere, and no offer is the baseline. Conversions bring
an order worth the customer's average order value (less the discount), minus the offer's cost: the net revenue.

Because μ(x, a) — the expected reward — is known, every policy's true value is known exactly (averaged over
a large population), and so are the oracle's (the best offer per customer) and each single offer's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURES = ("recency_days", "frequency_365", "monetary_365", "avg_order_value", "tenure_days",
            "churn_probability", "purchase_probability", "noise")
OFFERS = ("none", "discount_10", "free_shipping", "recommendation", "gift")
KINDS = ("none", "discount_pct", "free_shipping", "recommendation", "gift")
COSTS = np.array([0.0, 2.0, 4.0, 0.5, 6.0])
DISCOUNT = np.array([0.0, 0.10, 0.0, 0.0, 0.0])
SEGMENTS = ("loyal", "occasional", "lapsed")


@dataclass(frozen=True)
class Population:
    """Customers' features (n, len(FEATURES)), their segment, and the true expected rewards per offer."""

    x: np.ndarray
    segment: np.ndarray  # index into SEGMENTS
    conversion: np.ndarray  # (n, K) true conversion probability
    revenue: np.ndarray  # (n, K) true expected net revenue

    def mu(self, reward: str) -> np.ndarray:
        """True expected reward of every offer for every customer."""
        return self.conversion if reward == "conversion" else self.revenue


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def population_draw(*, n: int, seed: int) -> Population:
    """Draw `n` customers with their true responses to every offer."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(3, size=n, p=[0.3, 0.5, 0.2])
    rate = np.array([8.0, 2.0, 0.6])[segment] * rng.gamma(4, 0.25, size=n)
    frequency = rng.poisson(rate).astype(float)
    recency = np.where(segment == 0, rng.exponential(25, n),
                       np.where(segment == 1, rng.exponential(90, n), 200 + rng.exponential(150, n)))
    aov = rng.lognormal(np.log(60), 0.4, n)
    tenure = recency + rng.exponential(400, n)
    churn = _sigmoid(-2 + recency / 80 - 0.3 * frequency + rng.normal(0, 0.3, n))
    purchase = _sigmoid(-1.5 - recency / 100 + 0.35 * frequency + rng.normal(0, 0.3, n))
    x = np.column_stack([recency, frequency, frequency * aov, aov, tenure, churn, purchase, rng.normal(size=n)])
    u = np.log1p(frequency)  # 0 .. ~3
    v = recency / 100
    base = -2.4 + 0.6 * u - 0.35 * v
    lifts = np.column_stack([
        np.zeros(n),
        1.0 - 0.55 * u,  # discount: occasional and infrequent buyers
        0.25 + 0.0 * u,  # free shipping: a little for everyone
        1.4 * (u - 1.3),  # recommendation: frequent buyers only
        0.6 * (v - 1.6),  # gift: the long lapsed
    ])
    conversion = _sigmoid(base[:, None] + lifts)
    revenue = conversion * (aov[:, None] * (1 - DISCOUNT) - COSTS)
    return Population(x=x, segment=segment, conversion=conversion, revenue=revenue)


@dataclass(frozen=True)
class Logs:
    """Logged assignments: features, the logged action and its propensity, the realised rewards."""

    x: np.ndarray
    segment: np.ndarray
    action: np.ndarray
    propensity: np.ndarray
    conversion: np.ndarray
    revenue: np.ndarray
    population: Population

    def reward(self, name: str) -> np.ndarray:
        return self.conversion if name == "conversion" else self.revenue


def logging_probabilities(x: np.ndarray) -> np.ndarray:
    """The logging policy: half uniform, half a marketer's heuristic (discounts to the lapsed, recommendations
    to the frequent) — known and context-dependent, so propensities vary between 0.1 and 0.5."""
    n = len(x)
    frequency, recency = x[:, 1], x[:, 0]
    scores = np.column_stack([np.zeros(n), recency / 100, np.full(n, 0.3), np.log1p(frequency) - 1,
                              np.full(n, -0.5)])
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    return 0.5 / len(OFFERS) + 0.5 * soft


def logs_draw(*, n: int, seed: int, probabilities: np.ndarray | None = None,
              population: Population | None = None) -> Logs:
    """Customers, the logging policy's choices (default `logging_probabilities`) and the realised outcomes."""
    rng = np.random.default_rng(seed + 1_000_003)
    population = population or population_draw(n=n, seed=seed)
    probs = logging_probabilities(population.x) if probabilities is None else probabilities
    cumulative = np.cumsum(probs, axis=1)
    action = np.minimum((rng.random(n)[:, None] * cumulative[:, -1:] > cumulative).sum(axis=1), len(OFFERS) - 1)
    rows = np.arange(n)
    converted = (rng.random(n) < population.conversion[rows, action]).astype(float)
    aov = population.x[:, 3]
    order = aov * rng.lognormal(-0.02, 0.2, n)
    revenue = converted * (order * (1 - DISCOUNT[action]) - COSTS[action])
    return Logs(x=population.x, segment=population.segment, action=action, propensity=probs[rows, action],
                conversion=converted, revenue=revenue, population=population)


def policy_value(*, population: Population, probabilities: np.ndarray, reward: str) -> float:
    """A policy's true value on `population`: the mean over customers of Σ_a π(a|x) μ(x, a)."""
    return float(np.mean(np.sum(probabilities * population.mu(reward), axis=1)))


@dataclass(frozen=True)
class ShopTables:
    """The simulated logs as a shop's import files: offers, orders (history and outcomes), assignments."""

    offers: object  # pandas DataFrames with the import columns
    orders: object
    assignments: object


def shop_tables(*, logs: Logs, start: str = "2025-01-01", spread_days: int = 60, seed: int = 0) -> ShopTables:
    """Turn `logs` into import files: each customer's past orders reproduce their frequency and recency at
    the assignment, a conversion is one order 1–25 days after it (its total net of the discount), and some
    customers who did not convert order 40–80 days later (outside a 30-day attribution window)."""
    import pandas as pd

    rng = np.random.default_rng(seed + 17)
    n = len(logs.action)
    origin = pd.Timestamp(start, tz="UTC")
    assigned = origin + pd.to_timedelta(np.sort(rng.uniform(0, spread_days, n)), unit="D")
    order = np.argsort(rng.random(n))  # customers in random order of assignment time
    assigned = pd.DatetimeIndex(assigned[np.argsort(order)])
    recency, frequency, aov = logs.x[:, 0], logs.x[:, 1], logs.x[:, 3]
    rows = []
    for i in range(n):
        customer = f"c{i}"
        at = assigned[i]
        rows.append((f"h{i}-0", customer, at - pd.Timedelta(days=float(recency[i])), round(float(aov[i]), 2),
                     "placed"))
        extra = int(frequency[i]) - 1
        if extra > 0 and recency[i] < 364:
            days = rng.uniform(recency[i] + 0.01, 365, extra)
            for k, d in enumerate(days):
                rows.append((f"h{i}-{k + 1}", customer, at - pd.Timedelta(days=float(d)),
                             round(float(aov[i] * rng.lognormal(0, 0.2)), 2), "placed"))
        if logs.conversion[i] > 0:
            total = logs.revenue[i] + COSTS[logs.action[i]]
            rows.append((f"o{i}", customer, at + pd.Timedelta(days=float(rng.uniform(1, 25))), round(float(total), 2),
                         "placed"))
        elif rng.random() < 0.3:
            rows.append((f"late{i}", customer, at + pd.Timedelta(days=float(rng.uniform(40, 80))),
                         round(float(aov[i]), 2), "placed"))
        if rng.random() < 0.05:  # a cancelled order inside the window never counts as a conversion
            rows.append((f"x{i}", customer, at + pd.Timedelta(days=float(rng.uniform(1, 25))), 10.0, "cancelled"))
    orders = pd.DataFrame(rows, columns=["order_id", "customer_id", "placed_at", "total", "status"])
    orders["placed_at"] = orders["placed_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    offers = pd.DataFrame({"offer_id": OFFERS, "name": [o.replace("_", " ").title() for o in OFFERS],
                           "kind": KINDS, "value": [None, 10, None, None, None], "cost_per_redemption": COSTS})
    assignments = pd.DataFrame({
        "assignment_id": [f"a{i}" for i in range(n)], "customer_id": [f"c{i}" for i in range(n)],
        "offer_id": np.array(OFFERS)[logs.action], "assigned_at": assigned.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "propensity": np.round(logs.propensity, 6)})
    return ShopTables(offers=offers, orders=orders, assignments=assignments)
