"""Orders from the sampled history: times, statuses, lines, quantities and prices."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalog import _Catalog, _pick_in_category
from .config import ShopProfile
from .grid import _Grid, _time_of_day
from .history import _History
from .people import _People


@dataclass(frozen=True)
class _Orders:
    cust: np.ndarray
    time: np.ndarray  # epoch seconds
    status: np.ndarray  # index into STATUSES
    total_cents: np.ndarray
    item_count: np.ndarray
    rebuy: np.ndarray
    l_order: np.ndarray
    l_product: np.ndarray
    l_qty: np.ndarray
    l_cents: np.ndarray
    id_offset: int


def _pick_category(people: _People, cust: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(cust.size, dtype=np.int64)
    for lo in range(0, cust.size, 200_000):
        c = cust[lo:lo + 200_000]
        col = (people.prefs_cum[c] < rng.random(c.size)[:, None]).sum(axis=1)
        out[lo:lo + 200_000] = people.present[np.minimum(col, people.present.size - 1)]
    return out


def _no_durable_again(catalog: _Catalog, people: _People, cust: np.ndarray, day: np.ndarray, products: np.ndarray,
                      rng: np.random.Generator, *, tries: int = 8) -> np.ndarray:
    """Lines (in time order) whose durable product the customer already bought in an earlier line get
    another product: nobody buys the same jacket or phone case every few weeks. The first tries stay in
    the category, later ones draw the category again from the customer's preferences (a small category
    runs out). Consumables may repeat. A repeat left after `tries` draws stays (very rare)."""
    products = products.copy()
    durable = ~catalog.consumable[catalog.cat]
    for attempt in range(tries + 1):
        key = cust * np.int64(catalog.ids.size) + products
        _, first = np.unique(key, return_index=True)
        again = np.ones(key.size, dtype=bool)
        again[first] = False
        again &= durable[products]
        if not again.any():
            break
        idx = np.flatnonzero(again)
        cats = catalog.cat[products[idx]] if attempt < tries // 2 else _pick_category(people, cust[idx], rng)
        products[idx] = _pick_in_category(catalog, cats, day[idx], rng)
    return products


def _basket_lines(people: _People, catalog: _Catalog, cust: np.ndarray, day: np.ndarray, profile: ShopProfile,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """"repertoire" orders: each of the customer's staples is in the basket with its own chance (times the
    order's size factor, Gamma with mean 1: some shops are big, some are top-ups); a staple off sale is
    replaced by exploring. Explored items, Poisson with mean `basket_mean * (1 - repertoire_pick)` times the
    size factor (at least one item an order): a category by the customer's preferences, a product by
    popularity. Returns line order, product, quantity (before merging a product drawn twice)."""
    n = cust.size
    factor = rng.gamma(2.0, 0.5, n)
    parts_order, parts_product = [], []
    for a in range(0, n, 20_000):
        rows = np.arange(a, min(a + 20_000, n))
        chance = np.minimum(people.repertoire_chance[cust[rows]] * factor[rows, None], 0.95)
        o, slot = np.nonzero(rng.random(chance.shape) < chance)
        parts_order.append(rows[o])
        parts_product.append(people.repertoire[cust[rows[o]], slot])
    s_order = np.concatenate(parts_order) if parts_order else np.zeros(0, np.int64)
    s_product = np.concatenate(parts_product) if parts_product else np.zeros(0, np.int64)
    on_sale = catalog.available(s_product, day[s_order])
    staples = np.bincount(s_order[on_sale], minlength=n)
    n_explore = rng.poisson(profile.basket_mean * (1 - profile.repertoire_pick) * factor)
    n_explore += np.bincount(s_order[~on_sale], minlength=n)
    n_explore = np.where(staples + n_explore == 0, 1, n_explore)
    e_order = np.repeat(np.arange(n), n_explore)
    e_product = _pick_in_category(catalog, _pick_category(people, cust[e_order], rng), day[e_order], rng)
    o_idx = np.concatenate([s_order[on_sale], e_order])
    products = np.concatenate([s_product[on_sale], e_product])
    u = rng.random(o_idx.size)
    qty = 1 + (u > 0.85) + (u > 0.97)
    return o_idx, products, qty


def _make_orders(history: _History, mask: np.ndarray, grid: _Grid, people: _People, catalog: _Catalog,
                 rng: np.random.Generator, *, id_offset: int, profile: ShopProfile) -> _Orders:
    cust, day = history.o_cust[mask], history.o_day[mask]
    rebuy, cancelled = history.o_rebuy[mask], history.o_cancelled[mask]
    when = grid.seconds(day) + _time_of_day(rng, cust.size)
    order = np.lexsort((cust, when))
    cust, day, rebuy, cancelled, when = cust[order], day[order], rebuy[order], cancelled[order], when[order]
    n = cust.size
    status = np.where(cancelled, 1, np.where(rng.random(n) < profile.refund_rate, 2, 0))

    if profile.basket == "repertoire":
        line_order, line_product, line_qty = _basket_lines(people, catalog, cust, day, profile, rng)
    else:
        n_regular = np.where(rebuy, (rng.random(n) < 0.25).astype(np.int64),
                             1 + np.minimum(rng.poisson(profile.extra_items, n), 5))
        o_idx = np.repeat(np.arange(n), n_regular)
        products = _no_durable_again(catalog, people, cust[o_idx], day[o_idx],
                                     _pick_in_category(catalog, _pick_category(people, cust[o_idx], rng),
                                                       day[o_idx], rng), rng)
        u = rng.random(o_idx.size)
        qty = 1 + (u > 0.85) + (u > 0.97)
        re_idx = np.flatnonzero(rebuy)
        fav = people.favourite[cust[re_idx]]
        fav = np.where(catalog.available(fav, day[re_idx]), fav, catalog.anchor[catalog.cat[fav]])
        re_qty = 1 + (rng.random(re_idx.size) < 0.35)
        line_order = np.concatenate([o_idx, re_idx])
        line_product = np.concatenate([products, fav])
        line_qty = np.concatenate([qty, re_qty])
    # One line per (order, product): a product drawn twice adds to its quantity.
    key = line_order * np.int64(catalog.ids.size) + line_product
    keys, inverse = np.unique(key, return_inverse=True)
    l_qty = np.bincount(inverse, weights=line_qty).astype(np.int64)
    l_order, l_product = keys // catalog.ids.size, keys % catalog.ids.size
    discount = np.where(rng.random(keys.size) < 0.1, rng.uniform(0.7, 0.9, keys.size), 1.0)
    l_cents = np.round(catalog.price_cents[l_product] * discount).astype(np.int64)
    gross = np.bincount(l_order, weights=l_qty * l_cents, minlength=n)
    coupon = np.where(rng.random(n) < 0.05, 0.9, 1.0)
    return _Orders(
        cust=cust, time=when, status=status, total_cents=np.round(gross * coupon).astype(np.int64),
        item_count=np.bincount(l_order, weights=l_qty, minlength=n).astype(np.int64), rebuy=rebuy,
        l_order=l_order, l_product=l_product, l_qty=l_qty, l_cents=l_cents, id_offset=id_offset,
    )
