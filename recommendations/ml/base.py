"""What every recommender shares: sparse score blocks, masking of what may not be shown, top-k."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .config import RecommenderConfig
from .data import InteractionData, TopK, topk_csr


def category_matches(categories: np.ndarray, path: str) -> np.ndarray:
    """Products whose category is `path` or below it ("Food" matches "Food > Cat food")."""
    cats = np.asarray(categories, dtype=object).astype(str)
    return (cats == path) | np.char.startswith(cats, path + " > ") | np.char.startswith(cats, path + "/")


def rebuy_allowed(data: InteractionData, config: RecommenderConfig) -> np.ndarray:
    """Per product: may a customer who bought it be shown it again? Longer category paths override shorter ones."""
    allowed = np.full(data.n_items, config.allow_rebuy, dtype=bool)
    for path in sorted(config.rebuy_by_category, key=len):
        allowed[category_matches(data.categories, path)] = bool(config.rebuy_by_category[path])
    return allowed


def exclusion_matrix(data: InteractionData, config: RecommenderConfig) -> sp.csr_matrix:
    """customers x products 0/1: bought products whose rebuy is not allowed."""
    blocked = ~rebuy_allowed(data, config)
    if not blocked.any():
        return sp.csr_matrix(data.purchased.shape, dtype=np.float32)
    return sp.csr_matrix(data.purchased @ sp.diags(blocked.astype(np.float32)))


class Recommender:
    """Base class. Subclasses implement `fit`, `score` (sparse, non-negative, 0 = no candidate, each (row, product)
    at most once: products of sparse matrices, sums, and matrices built from (data, (rows, cols)) — which scipy
    sums — all are) and `reasons`."""

    name = "base"

    def __init__(self, config: RecommenderConfig):
        self.config = config
        self.data: InteractionData | None = None

    def fit(self, data: InteractionData) -> Recommender:
        self.data = data
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        """Scores of every product for customers at matrix rows `rows` (sparse block)."""
        raise NotImplementedError

    def reasons(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Reason text for each (customer row, product position) pair."""
        return self.reason_texts(self.reason_codes(rows, items))

    def reason_codes(self, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
        """An int64 code per (customer row, product position) pair; `reason_text` turns a code into words.

        Codes keep reasons cheap: a build formats each distinct code once, not each of millions of rows."""
        return np.zeros(len(rows), dtype=np.int64)

    def reason_text(self, code: int) -> str:
        """The words of one reason code."""
        return ""

    def reason_texts(self, codes: np.ndarray) -> np.ndarray:
        """Words for many codes (object array), formatting each distinct code once."""
        codes = np.asarray(codes, dtype=np.int64)
        if not len(codes):
            return np.zeros(0, dtype=object)
        unique, inverse = np.unique(codes, return_inverse=True)
        texts = np.array([self.reason_text(int(code)) for code in unique] + [None], dtype=object)[:-1]
        return texts[inverse]

    def masked_score(self, rows: np.ndarray, exclude: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """`score` with inactive products and the customer's excluded products removed; like `score`, no (row,
        product) twice, so its top-k skips the index sort that merging duplicates needs (`topk_csr(unique=True)`:
        about a sixth of `recommend_coded`'s time on the 200,000-customer bench shop)."""
        block = sp.csr_matrix(self.score(rows), dtype=np.float32)
        block.data[~self.data.active[block.indices]] = 0.0
        if exclude is not None and exclude.nnz:
            block = block - block.multiply(exclude[rows])
            block = sp.csr_matrix(block)
        block.eliminate_zeros()
        return block

    def recommend(self, rows, k: int, exclude: sp.csr_matrix | None = None) -> TopK:
        """Top-k products for customer rows, in blocks; `exclude` is a customers x products 0/1 matrix."""
        rows = np.asarray(rows, dtype=np.int64)
        parts = [
            topk_csr(self.masked_score(rows[s : s + self.config.block_size], exclude), k, unique=True)
            for s in range(0, len(rows), self.config.block_size)
        ]
        if not parts:
            return TopK(np.empty((0, k), np.int64), np.empty((0, k), np.float32))
        return TopK(np.vstack([p.items for p in parts]), np.vstack([p.scores for p in parts]))


def strongest_contributor(
    profile: sp.csr_matrix, similarity: sp.csr_matrix, rows: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """For each (row, item) pair: the product j in the customer's profile maximising profile[row, j] * sim[j, item].

    Vectorised: expands each pair over the customer's profile items and looks up sim by sorted keys. -1 if none.
    """
    result = np.full(len(rows), -1, dtype=np.int64)
    if len(rows) == 0:
        return result
    profile = sp.csr_matrix(profile)
    counts = np.diff(profile.indptr)[rows]
    pair = np.repeat(np.arange(len(rows)), counts)
    starts = np.repeat(profile.indptr[rows], counts)
    offsets = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
    source = profile.indices[starts + offsets]
    weight = profile.data[starts + offsets]
    sim = sp.csr_matrix(similarity)
    sim.sort_indices()
    n = sim.shape[1]
    sim_keys = np.repeat(np.arange(sim.shape[0], dtype=np.int64), np.diff(sim.indptr)) * n + sim.indices
    want = source.astype(np.int64) * n + items[pair]
    pos = np.searchsorted(sim_keys, want)
    pos_clipped = np.minimum(pos, max(len(sim_keys) - 1, 0))
    found = (pos < len(sim_keys)) & (sim_keys[pos_clipped] == want) if len(sim_keys) else np.zeros(len(want), bool)
    contribution = np.where(found, weight * (sim.data[pos_clipped] if len(sim_keys) else 0), 0.0)
    contribution[source == items[pair]] = 0.0
    if not len(contribution):
        return result
    order = np.lexsort((-contribution, pair))
    first = np.r_[True, pair[order][1:] != pair[order][:-1]]
    best = order[first]
    ok = contribution[best] > 0
    result[pair[best][ok]] = source[best][ok]
    return result
