"""Visual neighbours as a candidate source: image cold start.

score(u) = decayed profile x_u @ S_visual, restricted to *cold* products (nobody interacted with them in the
data the model is fit on). S_visual holds each product's visual neighbours (cosine of picture embeddings,
computed by the catalogue's `index_images`) made symmetric: a product nobody has bought yet is a neighbour *of*
the products it looks like, so it reaches the customers who bought those. Like content similarity, it depends
on the catalogue only, never on interactions, so the validation fit and the final fit share one matrix without
leaking anything.

Why cold products only: for a product with history, co-purchases (item_knn, user_knn) already say who wants it,
and better than its looks; the hybrid max-scales each source per customer, so a source of cold products alone
gives its best look-alike a full share of its weight, and the validation fit decides how much room new products
get (a source mixing both would hand that room to the established look-alikes of what the customer bought).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender, strongest_contributor
from .data import InteractionData
from .item_knn import contributor_codes, contributor_text


def visual_similarity(products: pd.DataFrame, pairs: pd.DataFrame | None) -> sp.csr_matrix:
    """products x products (the frame's order) from neighbour pairs (product_id, similar_id, score):
    max(S, S.T), non-negative, no diagonal. All zero without pairs (a shop without pictures)."""
    n = len(products)
    if pairs is None or pairs.empty:
        return sp.csr_matrix((n, n), dtype=np.float32)
    index = pd.Index(products["product_id"].to_numpy())
    rows = index.get_indexer(pairs["product_id"].to_numpy())
    cols = index.get_indexer(pairs["similar_id"].to_numpy())
    scores = pairs["score"].to_numpy(dtype=np.float32)
    keep = (rows >= 0) & (cols >= 0) & (rows != cols) & (scores > 0)
    matrix = sp.csr_matrix((scores[keep], (rows[keep], cols[keep])), shape=(n, n), dtype=np.float32)
    matrix.sum_duplicates()
    return sp.csr_matrix(matrix.maximum(matrix.T), dtype=np.float32)


class VisualRecommender(Recommender):
    """Products that look like what the customer interacted with (see the module doc)."""

    name = "visual"

    def fit(self, data: InteractionData, *, similarity: sp.csr_matrix | None = None) -> VisualRecommender:
        """`similarity`: a `visual_similarity` of the same products frame (None: no pictures, no candidates)."""
        super().fit(data)
        n = data.n_items
        similarity = similarity if similarity is not None else sp.csr_matrix((n, n), dtype=np.float32)
        self.similarity = similarity  # the whole matrix: reasons name the bought look-alike
        touched = np.diff(sp.csc_matrix(data.weights).indptr) > 0
        self.cold = ~touched
        self.cold_similarity = sp.csr_matrix(similarity @ sp.diags(self.cold.astype(np.float32)))
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.data.weights[rows] @ self.cold_similarity)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        contributor = strongest_contributor(self.data.weights, self.similarity, rows, items)
        return contributor_codes(self.data, rows, contributor)

    def reason_text(self, code: int) -> str:
        return contributor_text(self.data, code, "looks like {label} you {verb}", "looks like products you liked")
