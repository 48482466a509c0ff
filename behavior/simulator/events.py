"""Events around the orders and in browsing sessions, and the signup times that precede them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .catalog import _Catalog, _pick_in_category
from .config import CART, LOGIN, REVIEW, SEARCH, UNCART, VIEW, WISH
from .grid import _Grid, _time_of_day
from .history import _History
from .orders import _Orders, _pick_category
from .people import _People


@dataclass(frozen=True)
class _Events:
    time: np.ndarray
    cust: np.ndarray
    type: np.ndarray
    product: np.ndarray  # -1: none
    session: np.ndarray  # dense session number, in order of first event
    prop: np.ndarray  # index into props
    props: list[str]


class _EventBuffer:
    def __init__(self):
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, time_, cust, type_, product, session, prop=None) -> None:
        size = np.asarray(time_).size
        self.parts.append((
            np.asarray(time_, dtype=np.int64), np.asarray(cust, dtype=np.int64),
            np.broadcast_to(np.asarray(type_, dtype=np.int8), (size,)),
            np.broadcast_to(np.asarray(product, dtype=np.int64), (size,)),
            np.asarray(session, dtype=np.int64),
            np.broadcast_to(np.asarray(0 if prop is None else prop, dtype=np.int64), (size,)),
        ))

    def column(self, i: int) -> np.ndarray:
        return np.concatenate([p[i] for p in self.parts])


def _make_events(history: _History, orders: _Orders, grid: _Grid, people: _People, catalog: _Catalog,
                 rng: np.random.Generator) -> _Events:
    """Funnel sessions before each order, reviews after some, and browsing sessions (the data's bulk)."""
    props = ["", *[f'{{"quantity": {q}}}' for q in range(1, 7)], *[f'{{"rating": {r}}}' for r in range(1, 6)]]
    queries = sorted(set(catalog.nouns))
    props += [json.dumps({"query": q}) for q in queries]
    query_prop = {q: 12 + i for i, q in enumerate(queries)}
    noun_prop = np.array([query_prop[w] for w in catalog.nouns], dtype=np.int64)
    buf = _EventBuffer()
    n = orders.cust.size
    base = 0

    # Purchase session: the products of the order viewed and (mostly) put in the cart before it.
    start = orders.time - rng.integers(120, 1800, n)
    lo = orders.l_order
    view_t = start[lo] + (rng.random(lo.size) * 0.6 * (orders.time - start)[lo]).astype(np.int64)
    cart_t = view_t + (rng.uniform(0.1, 0.9, lo.size) * (orders.time[lo] - view_t)).astype(np.int64)
    buf.add(view_t, orders.cust[lo], VIEW, orders.l_product, base + lo)
    carted = rng.random(lo.size) < 0.92
    buf.add(cart_t[carted], orders.cust[lo][carted], CART, orders.l_product[carted], base + lo[carted],
            np.minimum(orders.l_qty[carted], 6))
    first_line = np.searchsorted(lo, np.arange(n))
    first_product = orders.l_product[np.minimum(first_line, lo.size - 1)] if lo.size else np.zeros(n, np.int64)
    day = (orders.time - grid.epoch0) // 86400
    alt_o = np.repeat(np.arange(n), rng.poisson(0.8, n))
    alt_p = _pick_in_category(catalog, catalog.cat[first_product[alt_o]], day[alt_o], rng)
    alt_t = start[alt_o] + (rng.random(alt_o.size) * (orders.time - start)[alt_o]).astype(np.int64)
    buf.add(alt_t, orders.cust[alt_o], VIEW, alt_p, base + alt_o)
    login = np.flatnonzero(rng.random(n) < 0.3)
    buf.add(start[login] - 5, orders.cust[login], LOGIN, -1, base + login)
    base += n

    # Research session a few days before a regular order: the same products and alternatives.
    research = ~orders.rebuy & (rng.random(n) < 0.4)
    r_start = orders.time - rng.integers(86400, 6 * 86400, n)
    r_lines = np.flatnonzero(research[lo] & (rng.random(lo.size) < 0.85))
    buf.add(r_start[lo[r_lines]] + rng.integers(0, 1200, r_lines.size), orders.cust[lo[r_lines]], VIEW,
            orders.l_product[r_lines], base + lo[r_lines])
    r_alt = np.repeat(np.flatnonzero(research), rng.poisson(1.2, int(research.sum())))
    buf.add(r_start[r_alt] + rng.integers(0, 1200, r_alt.size), orders.cust[r_alt], VIEW,
            _pick_in_category(catalog, catalog.cat[first_product[r_alt]], day[r_alt], rng), base + r_alt)
    wish = np.flatnonzero(research & (rng.random(n) < 0.1))
    buf.add(r_start[wish] + 1230, orders.cust[wish], WISH, first_product[wish], base + wish)
    base += n

    # Reviews some days after delivery.
    reviewed = np.flatnonzero((orders.status != 1) & (rng.random(n) < 0.06))
    rating = 1 + np.searchsorted(np.cumsum([0.04, 0.05, 0.11, 0.3, 0.5]), rng.random(reviewed.size), side="right")
    buf.add(orders.time[reviewed] + rng.integers(5 * 86400, 25 * 86400, reviewed.size), orders.cust[reviewed],
            REVIEW, first_product[reviewed], base + reviewed, 6 + np.minimum(rating, 5))
    base += n

    # Browsing sessions: views in preferred categories, searches, logins, abandoned carts.
    s_cust, s_day = history.s_cust, history.s_day
    m = s_cust.size
    s_start = grid.seconds(s_day) + _time_of_day(rng, m)
    n_views = rng.geometric(0.38, m)
    v_s = np.repeat(np.arange(m), n_views)
    v_p = _pick_in_category(catalog, _pick_category(people, s_cust[v_s], rng), s_day[v_s], rng)
    first_v = np.cumsum(n_views) - n_views
    last_v = np.cumsum(n_views) - 1
    gaps = rng.integers(15, 200, v_s.size)
    elapsed = np.cumsum(gaps)
    v_t = s_start[v_s] + elapsed - np.repeat(elapsed[first_v] - gaps[first_v], n_views)
    buf.add(v_t, s_cust[v_s], VIEW, v_p, base + v_s)
    searched = np.flatnonzero(rng.random(m) < 0.35)
    buf.add(s_start[searched] - rng.integers(5, 30, searched.size), s_cust[searched], SEARCH, -1, base + searched,
            noun_prop[v_p[first_v[searched]]])
    logged = np.flatnonzero(rng.random(m) < 0.25)
    buf.add(s_start[logged] - 40, s_cust[logged], LOGIN, -1, base + logged)
    cart = np.flatnonzero(rng.random(m) < 0.12)
    cart_t = v_t[last_v[cart]] + rng.integers(10, 120, cart.size)
    buf.add(cart_t, s_cust[cart], CART, v_p[last_v[cart]], base + cart, 1)
    removed = rng.random(cart.size) < 0.35
    buf.add(cart_t[removed] + rng.integers(30, 600, int(removed.sum())), s_cust[cart[removed]], UNCART,
            v_p[last_v[cart[removed]]], base + cart[removed])
    wished = np.flatnonzero(rng.random(m) < 0.05)
    buf.add(v_t[first_v[wished]] + 5, s_cust[wished], WISH, v_p[first_v[wished]], base + wished)

    time_, cust, type_ = buf.column(0), buf.column(1), buf.column(2)
    product, session, prop = buf.column(3), buf.column(4), buf.column(5)
    joined = grid.seconds(people.join[cust])
    keep = (time_ >= grid.window_start) & (time_ < grid.window_end) & (time_ >= joined)
    time_, cust, type_, product, session, prop = (a[keep] for a in (time_, cust, type_, product, session, prop))
    order = np.lexsort((cust, time_))
    time_, cust, type_, product, session, prop = (a[order] for a in (time_, cust, type_, product, session, prop))
    session = pd.factorize(session)[0].astype(np.int64)
    return _Events(time=time_, cust=cust, type=type_, product=product, session=session, prop=prop, props=props)


def _signup_times(people: _People, grid: _Grid, orders: _Orders, events: _Events,
                  rng: np.random.Generator) -> np.ndarray:
    """Signup on the join day, and never after the customer's first order or event in the files."""
    signup = grid.seconds(people.join) + rng.integers(0, 12 * 3600, people.join.size)
    first = np.full(people.join.size, np.iinfo(np.int64).max)
    np.minimum.at(first, orders.cust, orders.time)
    np.minimum.at(first, events.cust, events.time)
    return np.minimum(signup, first - rng.integers(60, 1800, people.join.size))
