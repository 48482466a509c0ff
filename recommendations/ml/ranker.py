"""The learned ranker of the hybrid: LightGBM lambdarank over the union of the members' candidates.

Each (customer, product) candidate gets: every member's score (divided by the customer's best) and rank in
that member's list, the customer's number of baskets holding the product, days since they last bought it,
that count over their baskets, their number of baskets and distinct products, the product's buyers and its
interactions in the last 30 days, its price and the customer's share of purchases in its category. The ranker
is trained on a validation split carved from the training data only (see evaluate.validation_hybrid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import InteractionData
from .personal import basket_counts

CONTEXT_FEATURES = ("count", "days_since", "count_share", "baskets", "distinct", "buyers", "recent",
                    "price", "category_share")


@dataclass(frozen=True)
class RankerContext:
    """What the candidate features read besides the members' scores, computed once per fitted data."""

    counts: sp.csr_matrix
    since: sp.csr_matrix
    baskets: np.ndarray
    distinct: np.ndarray
    buyers: np.ndarray
    recent: np.ndarray
    price: np.ndarray
    item_category: np.ndarray
    category_share: sp.csr_matrix


def ranker_context(data: InteractionData) -> RankerContext:
    """Per-customer and per-product statistics of `data` for candidate features."""
    counts, since = basket_counts(data)
    p = data.purchases
    baskets = np.zeros(data.n_customers)
    if not p.empty:
        per = p.groupby("row")["basket"].nunique()
        baskets[per.index.to_numpy()] = per.to_numpy()
    distinct = np.diff(sp.csr_matrix(data.purchased).indptr).astype(np.float64)
    buyers = np.bincount(sp.csr_matrix(data.purchased).indices, minlength=data.n_items).astype(np.float64)
    inter = data.interactions
    recent = np.bincount(inter["col"].to_numpy()[inter["age_days"].to_numpy() < 30],
                         minlength=data.n_items).astype(np.float64)
    price = (pd.to_numeric(data.products["price"], errors="coerce").to_numpy(np.float64)
             if "price" in data.products else np.full(data.n_items, np.nan))
    codes, uniques = pd.factorize(pd.Series(data.categories).astype(str))
    onehot = sp.csr_matrix((np.ones(data.n_items, np.float32), (np.arange(data.n_items), codes)),
                           shape=(data.n_items, max(len(uniques), 1)))
    by_category = sp.csr_matrix(counts @ onehot)
    totals = np.asarray(by_category.sum(axis=1)).ravel()
    totals[totals == 0] = 1.0
    share = sp.csr_matrix(sp.diags(1.0 / totals) @ by_category)
    return RankerContext(counts, since, baskets, distinct, buyers, recent, price, codes.astype(np.int64), share)


def values_at(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for every i (0 where absent), by one sorted-key lookup."""
    matrix = sp.csr_matrix(matrix)
    matrix.sum_duplicates()
    out = np.zeros(len(rows), dtype=np.float64)
    if matrix.nnz == 0 or len(rows) == 0:
        return out
    n = matrix.shape[1]
    keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * n + matrix.indices
    want = np.asarray(rows, dtype=np.int64) * n + np.asarray(cols, dtype=np.int64)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    found = keys[pos] == want
    out[found] = matrix.data[pos[found]]
    return out


def rank_matrix(scores: sp.csr_matrix) -> sp.csr_matrix:
    """Same pattern as `scores`, values 1 = the row's best, 2 = the next..."""
    scores = sp.csr_matrix(scores)
    counts = np.diff(scores.indptr)
    rows = np.repeat(np.arange(scores.shape[0]), counts)
    order = np.lexsort((-scores.data, rows))
    rank = np.empty(scores.nnz, dtype=np.float32)
    rank[order] = np.arange(scores.nnz) - np.repeat(scores.indptr[:-1], counts) + 1
    return sp.csr_matrix((rank, scores.indices.copy(), scores.indptr.copy()), shape=scores.shape)


def candidate_features(
    cands: dict[str, sp.csr_matrix], block: np.ndarray, context: RankerContext, names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local rows, products, feature matrix) of the union of the members' candidates for customer rows `block`.

    Rows come out sorted by local row (every customer's candidates together, as lambdarank groups need)."""
    union = None
    for matrix in cands.values():
        pattern = sp.csr_matrix(matrix, copy=True)
        pattern.data[:] = 1.0
        union = pattern if union is None else union + pattern
    union = sp.csr_matrix(union)
    union.sum_duplicates()
    union.sort_indices()
    local = np.repeat(np.arange(union.shape[0]), np.diff(union.indptr))
    items = union.indices.astype(np.int64)
    columns = []
    width = max(max((np.diff(sp.csr_matrix(m).indptr).max(initial=0) for m in cands.values()), default=0), 1)
    for name in names:
        matrix = cands.get(name)
        if matrix is None:
            columns += [np.zeros(len(items)), np.full(len(items), width + 1.0)]
            continue
        columns.append(values_at(matrix, local, items))
        rank = values_at(rank_matrix(matrix), local, items)
        columns.append(np.where(rank > 0, rank, width + 1.0))
    rows = block[local]
    count = values_at(context.counts, rows, items)
    since = values_at(context.since, rows, items)
    baskets = context.baskets[rows]
    columns += [
        count,
        np.where(since > 0, since - 1.0, np.nan),
        count / np.maximum(baskets, 1.0),
        baskets,
        context.distinct[rows],
        np.log1p(context.buyers[items]),
        np.log1p(context.recent[items]),
        context.price[items],
        values_at(context.category_share, rows, context.item_category[items]),
    ]
    return local, items, np.column_stack(columns).astype(np.float32)


def feature_names(names: tuple[str, ...]) -> list[str]:
    """Column names of `candidate_features`' matrix, in order."""
    return [f"{name}_{part}" for name in names for part in ("score", "rank")] + list(CONTEXT_FEATURES)


def train_ranker(X: np.ndarray, y: np.ndarray, groups: np.ndarray, *, rounds: int, seed: int, k: int = 10,
                 leaves: int = 7, min_leaf: int = 100):
    """A LightGBM lambdarank booster on candidate rows (`groups`: rows per customer, in order).

    Small trees with many rows per leaf: validation splits of small shops hold a few hundred customers, and a
    bigger ranker learns their noise (on a real grocery shop, 31 leaves lost 0.02 NDCG@10 out of fold). One
    thread: the training sets are small, and OpenMP threads spinning on a busy machine cost more than they give."""
    import lightgbm as lgb

    params = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [k], "learning_rate": 0.05,
              "num_leaves": leaves, "min_data_in_leaf": min_leaf, "feature_fraction": 0.8,
              "bagging_fraction": 0.8, "bagging_freq": 1, "lambdarank_truncation_level": max(2 * k, 20),
              "seed": seed, "deterministic": True, "num_threads": 1, "verbose": -1}
    dataset = lgb.Dataset(X, label=y, group=groups, free_raw_data=True)
    return lgb.train(params, dataset, num_boost_round=rounds)


def ranker_scores(booster, X: np.ndarray) -> np.ndarray:
    """Positive scores (1 + sigmoid of the ranker's output): order-preserving, and never dropped as zeros."""
    raw = booster.predict(X, num_threads=1) if len(X) else np.zeros(0)
    return 1.0 + 1.0 / (1.0 + np.exp(-np.clip(raw, -30, 30)))
