"""Item-item collaborative filtering: shrunk cosine on the decayed matrix, top-N neighbours per item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender, strongest_contributor
from .data import KIND_VERBS, InteractionData, top_n_similarity


def contributor_codes(data: InteractionData, rows: np.ndarray, contributor: np.ndarray) -> np.ndarray:
    """Reason codes naming the contributing product and the customer's verb for it: 1 + product * 8 + verb (0: none)."""
    out = np.zeros(len(rows), dtype=np.int64)
    ok = contributor >= 0
    if ok.any():
        verbs = np.asarray(data.kinds[rows[ok], contributor[ok]]).ravel().astype(np.int64)
        out[ok] = 1 + contributor[ok].astype(np.int64) * 8 + verbs
    return out


def contributor_text(data: InteractionData, code: int, template: str, fallback: str) -> str:
    """`template` formatted with the label and verb of a `contributor_codes` code."""
    if code <= 0:
        return fallback
    product, verb = divmod(code - 1, 8)
    return template.format(label=data.labels[product], verb=KIND_VERBS.get(verb, "viewed"))


class ItemKNNRecommender(Recommender):
    """sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrinkage) over customers; score(u) = x_u @ S."""

    name = "item_knn"

    def fit(self, data: InteractionData, *, similarity: sp.csr_matrix | None = None) -> ItemKNNRecommender:
        """`similarity` (items x items neighbours): the shop's, when `data` holds one partition of its customers
        (partitioned.item_similarity); default: from `data`."""
        super().fit(data)
        if similarity is not None:
            self.similarity = sp.csr_matrix(similarity, dtype=np.float32)
            return self
        items = sp.csr_matrix(data.weights.T)
        norms = np.sqrt(np.asarray(items.multiply(items).sum(axis=1)).ravel()).astype(np.float32)
        shrink = self.config.item_shrinkage

        def shrunk_cosine(block_rows, product):
            # in place on the csr data: rebuilding via coo would sort millions of indices per block
            row_norms = np.repeat(norms[block_rows], np.diff(product.indptr))
            product.data = (product.data / (row_norms * norms[product.indices] + shrink)).astype(np.float32)
            return product

        self.similarity = top_n_similarity(
            items, items, n=self.config.item_neighbours, block=self.config.block_size, denominator=shrunk_cosine
        )
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.data.weights[rows] @ self.similarity)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        contributor = strongest_contributor(self.data.weights, self.similarity, rows, items)
        return contributor_codes(self.data, rows, contributor)

    def reason_text(self, code: int) -> str:
        return contributor_text(self.data, code, "because they {verb} {label}",
                                "customers who bought similar items bought this")
