"""Synthetic shops with realistic structure, for tests and benchmarks (seeded, vectorised).

Customers prefer one or two categories; popularity inside a category is Zipf-like; products come in
co-purchase pairs (adjacent ids); some customers re-buy consumables on personal cycles; views precede buys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EPOCH = pd.Timestamp("2025-01-01", tz="UTC")


@dataclass(frozen=True)
class SyntheticShop:
    interactions: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame


def synthetic_shop(
    *,
    n_customers: int = 2000,
    n_products: int = 400,
    n_categories: int = 8,
    days: int = 365,
    orders_per_customer: float = 3.0,
    consumer_share: float = 0.4,
    views_per_purchase: float = 1.5,
    text: bool = True,
    seed: int = 0,
) -> SyntheticShop:
    """Interactions (with order_id), products and customers frames in the recommenders' input format."""
    rng = np.random.default_rng(seed)
    per_cat = n_products // n_categories
    n_products = per_cat * n_categories
    zipf = 1.0 / np.arange(1, per_cat + 1) ** 0.9
    cdf = np.cumsum(zipf) / zipf.sum()
    n_consumable = max(2, per_cat // 8)
    cons_cdf = np.cumsum(zipf[:n_consumable]) / zipf[:n_consumable].sum()

    cat_weights = 1.0 / np.arange(1, n_categories + 1) ** 0.5
    cat_weights /= cat_weights.sum()
    primary = rng.choice(n_categories, n_customers, p=cat_weights)
    secondary = rng.choice(n_categories, n_customers, p=cat_weights)

    # browsing orders: 1 + Poisson items from the preferred categories, partner item added often
    n_orders = rng.poisson(orders_per_customer, n_customers) + 1
    order_customer = np.repeat(np.arange(n_customers), n_orders)
    order_time = rng.uniform(0, days, len(order_customer))
    n_items = rng.poisson(0.8, len(order_customer)) + 1
    line_order = np.repeat(np.arange(len(order_customer)), n_items)
    line_customer = order_customer[line_order]
    u = rng.random(len(line_order))
    category = np.where(u < 0.7, primary[line_customer],
                        np.where(u < 0.9, secondary[line_customer], rng.integers(0, n_categories, len(line_order))))
    # the consumable slots are reserved for the cycles below; browsing picks the rest
    within = n_consumable + np.minimum(np.searchsorted(cdf[: per_cat - n_consumable] / cdf[per_cat - n_consumable - 1],
                                                       rng.random(len(line_order))), per_cat - n_consumable - 1)
    product = category * per_cat + within
    partner = category * per_cat + np.clip(within ^ 1, n_consumable, per_cat - 1)
    add_partner = rng.random(len(line_order)) < 0.6
    line_order = np.concatenate([line_order, line_order[add_partner]])
    line_customer = np.concatenate([line_customer, line_customer[add_partner]])
    product = np.concatenate([product, partner[add_partner]])
    line_time = order_time[line_order]
    order_id = line_order

    # consumables: each consumer re-buys one or two products of the primary category on a personal cycle
    consumers = np.flatnonzero(rng.random(n_customers) < consumer_share)
    habits = np.repeat(consumers, rng.integers(1, 3, len(consumers)))
    habit_product = primary[habits] * per_cat + np.searchsorted(cons_cdf, rng.random(len(habits)))
    cycle = rng.uniform(10, 60, len(habits))
    repeats = np.floor(days / cycle).astype(int)
    occ = np.repeat(np.arange(len(habits)), repeats)
    step = np.arange(len(occ)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    offset = rng.uniform(0, cycle)[occ]
    c_time = offset + step * cycle[occ] * (1 + rng.normal(0, 0.08, len(occ)))
    ok = (c_time >= 0) & (c_time < days)
    c_time, occ = c_time[ok], occ[ok]
    base_id = len(order_customer)
    c_order = base_id + np.arange(len(occ))

    customer = np.concatenate([line_customer, habits[occ]])
    product = np.concatenate([product, habit_product[occ]])
    time_days = np.concatenate([line_time, c_time])
    order_id = np.concatenate([order_id, c_order])
    purchases = pd.DataFrame({
        "customer_id": customer + 1, "product_id": product + 1,
        "ts": EPOCH + pd.to_timedelta(time_days, unit="D"), "kind": "purchase", "quantity": 1.0, "order_id": order_id,
    }).drop_duplicates(["order_id", "product_id"])

    n_views = rng.poisson(views_per_purchase * len(purchases) / max(len(purchases), 1), len(purchases))
    src = np.repeat(np.arange(len(purchases)), n_views)
    p_prod = purchases["product_id"].to_numpy()[src] - 1
    v_cat = p_prod // per_cat
    v_prod = v_cat * per_cat + np.searchsorted(cdf, rng.random(len(src)))
    v_time = time_days[purchases.index.to_numpy()[src]] - rng.uniform(0, 3, len(src))
    views = pd.DataFrame({
        "customer_id": purchases["customer_id"].to_numpy()[src], "product_id": v_prod + 1,
        "ts": EPOCH + pd.to_timedelta(np.maximum(v_time, 0), unit="D"), "kind": "view", "quantity": 1.0,
        "order_id": np.nan,
    })
    interactions = pd.concat([purchases, views], ignore_index=True)
    interactions["order_id"] = interactions["order_id"].astype("Float64")

    ids = np.arange(n_products)
    cat_of = ids // per_cat
    nouns = ["Food", "Toys", "Garden", "Books", "Tools", "Beauty", "Sport", "Music"]
    pairs = list(zip(ids, cat_of, strict=True))
    words = np.array(["organic", "classic", "premium", "mini", "family", "eco", "deluxe", "travel"])
    products = pd.DataFrame({
        "product_id": ids + 1,
        "title": [f"{nouns[c % 8]} set{c}x{(i % per_cat) // 2} {words[i % 8]}" for i, c in pairs] if text else "",
        "description": [f"line{c} family{(i % per_cat) // 2} {words[(i * 7) % 8]}" for i, c in pairs] if text else "",
        "category": [f"Cat{c}" for c in cat_of],
        "brand": [f"Brand{i % 5}" for i in ids] if text else "",
        "active": True,
        "created_at": EPOCH,
    })
    products["label"] = np.where(products["title"].astype(str) != "", products["title"].astype(str),
                                 "SKU-" + products["product_id"].astype(str))
    customers = pd.DataFrame({"customer_id": np.arange(1, n_customers + 1, dtype=np.int64)})
    return SyntheticShop(interactions, products, customers)
