"""User-based collaborative filtering: cosine between customers, neighbours' products, in sparse blocks."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender
from .data import InteractionData, row_normalise, top_per_row_exact, topk_csr, topk_to_csr


class UserKNNRecommender(Recommender):
    """score(u) = sum over u's top-N most similar customers v of cos(u, v) * x_v (x row-normalised).

    To keep blocks sparse at 200k customers, similarities use each customer's `user_top_items` strongest
    products and each product's `user_posting_cap` strongest customers (capped inverted index): the cosine is
    exact on the kept entries; very popular products stop pulling every customer into every neighbourhood.
    """

    name = "user_knn"

    def fit(self, data: InteractionData) -> UserKNNRecommender:
        super().fit(data)
        cfg = self.config
        self.normalised = row_normalise(data.weights)
        self.query = topk_to_csr(topk_csr(self.normalised, cfg.user_top_items), data.n_items)
        self.postings = top_per_row_exact(self.normalised.T, cfg.user_posting_cap)  # items x customers
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows)
        sims = sp.csr_matrix(self.query[rows] @ self.postings).tocoo()
        keep = sims.col != rows[sims.row]
        sims = sp.csr_matrix((sims.data[keep], (sims.row[keep], sims.col[keep])), shape=sims.shape)
        neighbours = topk_to_csr(topk_csr(sims, self.config.user_neighbours), self.data.n_customers)
        return sp.csr_matrix(neighbours @ self.normalised)

    def reason_text(self, code: int) -> str:
        return "customers with similar taste bought this"
