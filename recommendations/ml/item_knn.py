"""Item-item collaborative filtering: shrunk cosine on the decayed matrix, top-N neighbours per item."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .base import Recommender, strongest_contributor
from .data import KIND_VERBS, InteractionData, top_n_similarity


def reason_from_contributor(data: InteractionData, rows: np.ndarray, contributor: np.ndarray, template: str):
    """Format `template` with the contributing product's label and the customer's verb for it."""
    out = np.full(len(rows), "", dtype=object)
    ok = contributor >= 0
    if not ok.any():
        return out
    codes = np.asarray(data.kinds[rows[ok], contributor[ok]]).ravel()
    labels = data.labels[contributor[ok]]
    out[ok] = [
        template.format(label=lbl, verb=KIND_VERBS.get(int(c), "viewed")) for lbl, c in zip(labels, codes, strict=True)
    ]
    return out


class ItemKNNRecommender(Recommender):
    """sim(i, j) = x_i . x_j / (|x_i| |x_j| + shrinkage) over customers; score(u) = x_u @ S."""

    name = "item_knn"

    def fit(self, data: InteractionData) -> ItemKNNRecommender:
        super().fit(data)
        items = sp.csr_matrix(data.weights.T)
        norms = np.sqrt(np.asarray(items.multiply(items).sum(axis=1)).ravel()).astype(np.float32)
        shrink = self.config.item_shrinkage

        def shrunk_cosine(block_rows, product):
            product = product.tocoo()
            denom = norms[block_rows][product.row] * norms[product.col] + shrink
            return sp.csr_matrix((product.data / denom, (product.row, product.col)), shape=product.shape)

        self.similarity = top_n_similarity(
            items, items, n=self.config.item_neighbours, block=self.config.block_size, denominator=shrunk_cosine
        )
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.data.weights[rows] @ self.similarity)

    def reasons(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        contributor = strongest_contributor(self.data.weights, self.similarity, rows, items)
        out = reason_from_contributor(self.data, rows, contributor, "because you {verb} {label}")
        out[out == ""] = "customers who bought similar items bought this"
        return out
