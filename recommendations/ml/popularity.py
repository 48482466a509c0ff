"""Popularity over a recent, decayed window — globally and per category ("popular in Y")."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender
from .data import InteractionData, topk_csr, topk_to_csr


def most_bought_count(data: InteractionData) -> int:
    """The most distinct products any one customer of `data` bought (0: no purchases)."""
    counts = np.diff(data.purchased.indptr)
    return int(counts.max()) if len(counts) else 0


class PopularityRecommender(Recommender):
    """score(u, i) = pop(i) * (1 + boost * share of u's activity in i's category); pop(i) max-scaled to 1.

    Customers without history get plain global popularity. Only the top `candidates` products globally
    and per category are candidates, so blocks stay sparse.
    """

    name = "popularity"

    def fit(self, data: InteractionData, *, popularity: np.ndarray | None = None,
            most_bought: int | None = None) -> PopularityRecommender:
        """`popularity` (per product, max-scaled) and `most_bought` (the most products one customer bought): the
        shop's, when `data` holds one partition of its customers (see partitioned.py); default: from `data`."""
        super().fit(data)
        cfg = self.config
        self.popularity = self._popularity(data) if popularity is None else np.asarray(popularity, np.float32)
        # enough global items that exclusions cannot empty a list; the shop's figure, not the block's, so a
        # customer's candidates do not depend on which customers share their block or partition
        self.extra = int(most_bought_count(data) if most_bought is None else most_bought)

        self.category_names, self.item_category = np.unique(data.categories.astype(str), return_inverse=True)
        n_cat = len(self.category_names)
        onehot = sp.csr_matrix(
            (np.ones(data.n_items, np.float32), (np.arange(data.n_items), self.item_category)),
            shape=(data.n_items, n_cat),
        )
        affinity = sp.csr_matrix(data.weights @ onehot)
        totals = np.asarray(affinity.sum(axis=1)).ravel()
        totals[totals == 0] = 1.0
        self.shares = sp.csr_matrix(sp.diags(1.0 / totals) @ affinity, dtype=np.float32)
        # the categories a customer bought in: "popular in Y" is only their category when they bought there (a
        # single view of a Skincare product 18 months ago made a pet and book buyer's reason "popular in Skincare")
        self.bought = sp.csr_matrix(sp.csr_matrix(data.purchased) @ onehot > 0, dtype=np.float32)
        per_cat = sp.csr_matrix(onehot.T.multiply(self.popularity[None, :]))
        self.category_top = topk_to_csr(topk_csr(per_cat, cfg.candidates), data.n_items)
        self.global_order = np.argsort(-self.popularity, kind="stable")
        self.global_order = self.global_order[self.popularity[self.global_order] > 0]
        return self

    def _popularity(self, data: InteractionData) -> np.ndarray:
        cfg = self.config
        frame = data.interactions
        recent = frame[frame["age_days"] <= cfg.popularity_window_days]
        if recent.empty:
            recent = frame  # a shop whose last months are quiet still has a best-seller list
        code_weight = {4: cfg.kind_weights.get("purchase", 5.0), 3: cfg.kind_weights.get("cart", 2.0),
                       2: cfg.kind_weights.get("wishlist", 1.5), 1: cfg.kind_weights.get("view", 1.0)}
        value = recent["code"].map(code_weight).to_numpy() * np.power(
            0.5, recent["age_days"].to_numpy() / cfg.popularity_half_life_days
        )
        pop = np.bincount(recent["col"].to_numpy(), weights=value, minlength=data.n_items)
        pop = pop * data.active
        popularity = (pop / pop.max() if pop.max() > 0 else pop).astype(np.float32)
        # a product nobody touched still gets a tiny score so new customers always get k items
        return np.where(data.active & (popularity == 0), 1e-6, popularity).astype(np.float32)

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows)
        top = self.global_order[: self.config.candidates + self.extra]
        glob = sp.csr_matrix(
            (np.tile(self.popularity[top], len(rows)), np.tile(top, len(rows)), np.arange(len(rows) + 1) * len(top)),
            shape=(len(rows), self.data.n_items),
        )
        boost = self.config.popularity_category_boost * (self.shares[rows] @ self.category_top)
        return sp.csr_matrix(glob + boost)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """0: popular right now; c + 1: popular in category c, where the customer bought before; n + c + 1 (n
        categories): popular in c, which the customer only browsed (viewed, carted, wished for, never bought)."""
        cats = self.item_category[items]
        if len(rows):
            share = np.asarray(self.shares[rows, cats]).ravel()
            bought = np.asarray(self.bought[rows, cats]).ravel() > 0
        else:
            share, bought = np.zeros(0), np.zeros(0, dtype=bool)
        named = (share > 0) & (self.category_names[cats] != "")
        browsed = named & ~bought
        codes = np.where(named, cats + 1, 0) + np.where(browsed, len(self.category_names), 0)
        return codes.astype(np.int64)

    def reason_text(self, code: int) -> str:
        if code <= 0:
            return "popular right now"
        n = len(self.category_names)
        if code > n:
            return f"popular in {self.category_names[code - n - 1]}, which they browsed"
        return f"popular in {self.category_names[code - 1]}"
