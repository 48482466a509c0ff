"""Ranking metrics on padded top-k arrays against sparse 0/1 targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class RankingMetrics:
    hit_rate: float
    recall: float
    ndcg: float


def relevance(items: np.ndarray, targets: sp.csr_matrix) -> np.ndarray:
    """0/1 array like `items`: is items[r, j] among row r's targets (padding -1 is never relevant)."""
    targets = sp.csr_matrix(targets)
    targets.sort_indices()
    n_cols = targets.shape[1]
    keys = np.repeat(np.arange(targets.shape[0], dtype=np.int64), np.diff(targets.indptr)) * n_cols + targets.indices
    want = np.arange(items.shape[0], dtype=np.int64)[:, None] * n_cols + items
    if len(keys) == 0:
        return np.zeros(items.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return (keys[pos] == want) & (items >= 0)


def ranking_metrics(items: np.ndarray, targets: sp.csr_matrix) -> RankingMetrics:
    """HitRate@k, Recall@k (hits / size of the held-out basket) and binary NDCG@k, averaged over rows."""
    if items.shape[0] == 0:
        return RankingMetrics(0.0, 0.0, 0.0)
    k = items.shape[1]
    rel = relevance(items, targets)
    n_targets = np.diff(sp.csr_matrix(targets).indptr).astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (rel * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.clip(n_targets.astype(int), 1, k) - 1]
    hits = rel.sum(axis=1)
    return RankingMetrics(
        hit_rate=float((hits > 0).mean()),
        recall=float((hits / np.maximum(n_targets, 1)).mean()),
        ndcg=float((dcg / ideal).mean()),
    )
