"""The strong simple next-basket members: personal frequency, TIFU-KNN, and implicit ALS.

- personal frequency: the customer's own products by how many of their orders held them, ties by recency.
  On real grocery baskets it beats every CF method ("A Next Basket Recommendation Reality Check", Li et al.,
  2023), because most of a next basket was bought before.
- TIFU-KNN (Hu et al., SIGIR 2020): a time-decayed personal vector (recent baskets weigh more) blended with the
  mean vector of the customer's nearest neighbours (cosine on those vectors), so products the customer never
  bought can still come up.
- ALS (the `implicit` library): matrix factorisation of purchase counts. Above `als_max_interactions` purchase
  lines it is not fitted (scores nothing), which keeps builds for very large shops within their time budget.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender
from .data import InteractionData, row_normalise, top_per_row_exact, topk_csr, topk_to_csr


def basket_counts(data: InteractionData) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """customers x products: number of baskets holding the product, and days since it was last bought (+1,
    so 0 means never)."""
    p = data.purchases
    shape = (data.n_customers, data.n_items)
    if p.empty:
        return sp.csr_matrix(shape, dtype=np.float32), sp.csr_matrix(shape, dtype=np.float32)
    # one integer sort instead of a two-key group-by: millions of purchase rows in a build
    key = p["row"].to_numpy(np.int64) * data.n_items + p["col"].to_numpy(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    count = np.diff(np.r_[starts, len(key)]).astype(np.float32)
    last = np.minimum.reduceat(p["age_days"].to_numpy(np.float64)[order], starts).astype(np.float32)
    rows, cols = key[starts] // data.n_items, key[starts] % data.n_items
    counts = sp.csr_matrix((count, (rows, cols)), shape=shape)
    since = sp.csr_matrix((last + 1.0, (rows, cols)), shape=shape)
    return counts, since


class PersonalFrequencyRecommender(Recommender):
    """score = baskets holding the product + a recency tie-break below 0.5 (never reorders different counts)."""

    name = "personal_frequency"

    def fit(self, data: InteractionData) -> PersonalFrequencyRecommender:
        super().fit(data)
        self.counts, since = basket_counts(data)
        tie = since.copy()
        tie.data = (0.5 / (1.0 + tie.data / 30.0)).astype(np.float32)
        self.scores = sp.csr_matrix(self.counts + tie, dtype=np.float32)
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return self.scores[rows]

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The number of the customer's orders that held the product."""
        return np.asarray(self.counts[rows, items]).ravel().astype(np.int64) if len(rows) else np.zeros(0, np.int64)

    def reason_text(self, code: int) -> str:
        return f"in {code} of their orders" if code > 1 else "bought this before"


class TifuKnnRecommender(Recommender):
    """alpha * own decayed vector + (1 - alpha) * mean of the `tifu_neighbours` nearest customers' vectors.

    Own vector: each basket's products weigh decay ** (baskets after it), summed and divided by the number of
    baskets (TIFU's group decay collapsed to one level). Neighbours use a capped inverted index as in user_knn;
    above `tifu_neighbours_max_customers` customers only the own vector is used (build time budget).
    """

    name = "tifu_knn"

    def fit(self, data: InteractionData, *, neighbours: bool | None = None) -> TifuKnnRecommender:
        """`neighbours`: whether to use them (default: when `data` has at most `tifu_neighbours_max_customers`
        customers; a partition of a shop passes the shop's answer, see partitioned.py)."""
        super().fit(data)
        cfg = self.config
        shape = (data.n_customers, data.n_items)
        p = data.purchases
        if p.empty:
            self.own = sp.csr_matrix(shape, dtype=np.float32)
        else:
            # a basket's place from the customer's latest (0) by its time; one lexsort instead of group-bys
            row, age = p["row"].to_numpy(np.int64), p["age_days"].to_numpy(np.float64)
            order = np.lexsort((age, row))
            r, a = row[order], age[order]
            new_row = np.r_[True, r[1:] != r[:-1]]
            new_basket = new_row | np.r_[True, a[1:] != a[:-1]]
            index = np.cumsum(new_basket) - 1
            back = index - np.maximum.accumulate(np.where(new_row, index, 0))
            n_baskets = np.bincount(r, weights=new_basket, minlength=data.n_customers)
            weight = np.power(cfg.tifu_decay, back) / n_baskets[r]
            self.own = sp.csr_matrix((weight.astype(np.float32), (r, p["col"].to_numpy(np.int64)[order])),
                                     shape=shape)
            self.own.sum_duplicates()
        self.normalised = row_normalise(self.own)
        if neighbours is None:
            neighbours = data.n_customers <= cfg.tifu_neighbours_max_customers
        self.neighbours = neighbours and cfg.tifu_alpha < 1
        if self.neighbours:
            self.query = topk_to_csr(topk_csr(self.normalised, cfg.user_top_items * 2), data.n_items)
            self.postings = top_per_row_exact(self.normalised.T, cfg.user_posting_cap * 2)
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows)
        cfg = self.config
        if not self.neighbours:
            return self.normalised[rows]
        sims = sp.csr_matrix(self.query[rows] @ self.postings).tocoo()
        keep = sims.col != rows[sims.row]
        sims = sp.csr_matrix((sims.data[keep], (sims.row[keep], sims.col[keep])), shape=sims.shape)
        neighbours = topk_to_csr(topk_csr(sims, cfg.tifu_neighbours), self.data.n_customers)
        neighbours.data[:] = 1.0
        counts = np.maximum(np.diff(neighbours.indptr), 1).astype(np.float32)
        mean = sp.diags(1.0 / counts) @ (neighbours @ self.normalised)
        return sp.csr_matrix(cfg.tifu_alpha * self.normalised[rows] + (1 - cfg.tifu_alpha) * mean)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """1: the customer bought it; 0: customers like them did."""
        if not len(rows):
            return np.zeros(0, np.int64)
        return (np.asarray(self.own[rows, items]).ravel() > 0).astype(np.int64)

    def reason_text(self, code: int) -> str:
        return "buys this regularly" if code else "customers who shop like them buy this"


class AlsRecommender(Recommender):
    """implicit's ALS on basket counts (confidence 1 + `als_alpha` * count); each customer's top
    `candidates` products by factor score, turned positive with exp(score - best).

    One OpenMP thread: builds fork worker processes afterwards, and GNU OpenMP used with a thread pool before a
    fork can hang in the child."""

    name = "als"

    def fit(self, data: InteractionData) -> AlsRecommender:
        super().fit(data)
        cfg = self.config
        self.model = None
        self.user_items = sp.csr_matrix(data.purchased.shape, dtype=np.float32)
        # purchase lines, as validation_hybrid counts them, so both fits agree on whether ALS takes part
        if 0 < len(data.purchases) <= cfg.als_max_interactions and min(data.purchased.shape) > 1:
            counts, _ = basket_counts(data)
            self.user_items = sp.csr_matrix(counts, dtype=np.float32)
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits

            factors = int(min(cfg.als_factors, max(2, min(counts.shape) - 1)))
            # One BLAS thread while it is built and fitted: implicit checks the BLAS threads when it is built
            # and warns on stderr (a RuntimeWarning every evaluate_recommendations printed) unless it is one.
            with threadpool_limits(1, "blas"):
                model = AlternatingLeastSquares(factors=factors, regularization=cfg.als_regularization,
                                                alpha=cfg.als_alpha, iterations=cfg.als_iterations,
                                                random_state=cfg.seed, num_threads=1)
                model.fit(self.user_items, show_progress=False)
            self.model = model
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows, dtype=np.int64)
        shape = (len(rows), self.data.n_items)
        if self.model is None or not len(rows):
            return sp.csr_matrix(shape, dtype=np.float32)
        known = np.diff(self.user_items.indptr)[rows] > 0  # no purchases: no factor worth ranking by
        if not known.any():
            return sp.csr_matrix(shape, dtype=np.float32)
        n = min(self.config.candidates, self.data.n_items)
        ids = np.full((len(rows), n), -1, dtype=np.int64)
        scores = np.zeros((len(rows), n))
        found, found_scores = self.model.recommend(rows[known], self.user_items[rows[known]], N=n,
                                                   filter_already_liked_items=False)
        ids[known] = np.asarray(found, dtype=np.int64).reshape(int(known.sum()), -1)
        scores[known] = np.asarray(found_scores, dtype=np.float64).reshape(int(known.sum()), -1)
        ok = ids >= 0
        best = np.where(ok, scores, -np.inf).max(axis=1, keepdims=True)
        value = np.exp(np.clip(scores - best, -30, 0)) + 1e-6
        r, c = np.nonzero(ok)
        return sp.csr_matrix((value[r, c].astype(np.float32), (r, ids[r, c])), shape=shape)

    def reason_text(self, code: int) -> str:
        return "matches their taste"
