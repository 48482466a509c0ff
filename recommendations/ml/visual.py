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

    def fit(self, data: InteractionData, *, similarity: sp.csr_matrix | None = None,
            touched: np.ndarray | None = None) -> VisualRecommender:
        """`similarity`: a `visual_similarity` of the same products frame (None: no pictures, no candidates).
        `touched` (per product: anyone interacted with it): the shop's, when `data` holds one partition of its
        customers; default: from `data`."""
        super().fit(data)
        n = data.n_items
        similarity = similarity if similarity is not None else sp.csr_matrix((n, n), dtype=np.float32)
        self.similarity = similarity  # the whole matrix: reasons name the bought look-alike
        if touched is None:
            touched = np.diff(sp.csc_matrix(data.weights).indptr) > 0
        self.cold = ~touched
        self.cold_similarity = sp.csr_matrix(similarity @ sp.diags(self.cold.astype(np.float32)))
        self._strong = {}
        return self

    @property
    def has_candidates(self) -> bool:
        return self.cold_similarity.nnz > 0

    def strong_cold(self, min_similarity: float) -> sp.csr_matrix:
        """`cold_similarity` without the pairs below `min_similarity` (computed once per threshold)."""
        cache = self._strong
        if min_similarity not in cache:
            strong = self.cold_similarity.copy()
            strong.data[strong.data < min_similarity] = 0.0
            strong.eliminate_zeros()
            cache[min_similarity] = strong
        return cache[min_similarity]

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(self.data.weights[rows] @ self.cold_similarity)

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        contributor = strongest_contributor(self.data.weights, self.similarity, rows, items)
        return contributor_codes(self.data, rows, contributor)

    def reason_text(self, code: int) -> str:
        return contributor_text(self.data, code, "looks like {label} they {verb}", "looks like products they liked")


def cold_start_merge(coded, visual: VisualRecommender, block: np.ndarray, exclude: sp.csr_matrix | None, *,
                     slots: int, min_similarity: float, source: int):
    """Give up to `slots` places at the end of each customer's list (empty places first) to cold products that
    look like what the customer interacted with: picture cosine with one of their products at least
    `min_similarity`, best first, not already listed. The places keep the scores they replace, so the list stays
    ordered; `source` is the index of "visual" in `coded.names`. Returns a new coded top-k (same class)."""
    if slots <= 0 or not visual.has_candidates or not len(block):
        return coded
    strong = visual.strong_cold(min_similarity)
    if not strong.nnz:
        return coded
    raw = sp.csr_matrix(visual.data.weights[block] @ strong)
    raw.data[~visual.data.active[raw.indices]] = 0.0
    if exclude is not None and exclude.nnz:
        raw = sp.csr_matrix(raw - raw.multiply(exclude[block]))
    raw.eliminate_zeros()
    if not raw.nnz:
        return coded
    items, scores = coded.items.copy(), coded.scores.copy()
    sources, reasons = coded.sources.copy(), coded.reasons.copy()
    k = items.shape[1]
    picked_rows, picked_items, places = [], [], []
    for row in np.flatnonzero(np.diff(raw.indptr)):
        start, end = raw.indptr[row], raw.indptr[row + 1]
        order = np.argsort(-raw.data[start:end], kind="stable")
        listed = set(items[row][items[row] >= 0].tolist())
        fresh = [int(item) for item in raw.indices[start:end][order] if int(item) not in listed][:slots]
        if not fresh:
            continue
        filled = int((items[row] >= 0).sum())
        chosen = list(range(filled, k))[:len(fresh)]  # empty places first, then the last filled ones
        extra = len(fresh) - len(chosen)
        chosen += list(range(max(filled - extra, 0), filled))
        for item, place in zip(fresh, chosen, strict=False):
            picked_rows.append(row)
            picked_items.append(item)
            places.append(place)
    if not picked_rows:
        return coded
    rows, picked, where = np.array(picked_rows), np.array(picked_items), np.array(places)
    floor = np.where(where > 0, scores[rows, np.maximum(where - 1, 0)], 1.0)
    scores[rows, where] = np.where(items[rows, where] >= 0, scores[rows, where], floor * 0.999)
    items[rows, where] = picked
    sources[rows, where] = source
    reasons[rows, where] = visual.reason_codes(block[rows], picked)
    return type(coded)(items, scores, sources, reasons, coded.names)
