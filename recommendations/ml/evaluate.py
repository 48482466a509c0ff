"""Offline evaluation of every recommender side by side on a leakage-free temporal holdout.

Design: one global cutoff T (the `validation_quantile` of order times). Training data is every interaction
strictly before T, for all customers, and the models are built as of T. Evaluated customers are those with
>= 2 orders whose last order is at or after T; that last order (all its products) is the holdout. Nothing at or
after T is trained on, so neither a customer's own future nor other customers' later co-purchases or popularity
leak in. The hybrid's weights are fit by applying the same split again *inside* the training data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import exclusion_matrix
from .config import RECOMMENDER_NAMES, RecommenderConfig
from .data import InteractionData, build_interaction_data
from .hybrid import HybridRecommender, fit_recommenders, fit_weights, holdout_targets
from .metrics import ranking_metrics
from .split import temporal_split
from .visual import visual_similarity

ALL_NAMES = (*RECOMMENDER_NAMES, "hybrid")


@dataclass(frozen=True)
class RecommenderMetrics:
    hit_rate: float
    recall: float
    ndcg: float
    coverage: float
    popularity_bias: float


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics@k per recommender (popularity, repurchase, item_knn, user_knn, content, hybrid)."""

    k: int
    customers: int
    metrics: dict[str, RecommenderMetrics]
    weights: dict[str, float] = field(default_factory=dict)
    cutoff: pd.Timestamp | None = None

    def to_dict(self) -> dict:
        """JSON-safe: {"k", "customers", "<name>": {"hit_rate", "recall", "ndcg", "coverage", "popularity_bias"}}."""
        out: dict = {"k": self.k, "customers": self.customers}
        for name, m in self.metrics.items():
            out[name] = {key: round(float(getattr(m, key)), 6) for key in RecommenderMetrics.__dataclass_fields__}
        return out


def validation_weights(
    train: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    k: int,
    config: RecommenderConfig,
    content_similarity: sp.csr_matrix | None = None,
    visual_similarity: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """Hybrid weights fit on a split carved from `train` only (its own cutoff, its last orders as targets).

    Falls back to equal weights when the training data has no returning customers to validate on.
    `content_similarity` (of `products`) is reused instead of refitting TF-IDF: it does not depend on interactions.
    """
    split = temporal_split(train, quantile=config.validation_quantile)
    default = {name: 1.0 for name in RECOMMENDER_NAMES}
    if split.cutoff is None or split.holdout.empty:
        return default
    rng = np.random.default_rng(config.seed)
    holdout = split.holdout
    buyers = holdout["customer_id"].unique()
    if len(buyers) > config.validation_customers:
        buyers = rng.choice(buyers, config.validation_customers, replace=False)
        holdout = holdout[holdout["customer_id"].isin(buyers)]
    train = split.train
    others = np.setdiff1d(train["customer_id"].unique(), buyers)
    if len(others) + len(buyers) > config.validation_train_customers:
        # a customer sample keeps the CF structure and bounds the cost of fitting a second time
        keep = rng.choice(others, max(config.validation_train_customers - len(buyers), 0), replace=False)
        train = train[train["customer_id"].isin(np.concatenate([buyers, keep]))]
    data = build_interaction_data(train, products, customers, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, holdout)
    if len(rows) == 0:
        return default
    components = fit_recommenders(data, config, content_similarity=content_similarity,
                                  visual_similarity=visual_similarity)
    return fit_weights(components, rows=rows, targets=targets, k=k, config=config,
                       exclude=exclusion_matrix(data, config))


def popularity_ranks(data: InteractionData) -> np.ndarray:
    """1 = the product with most training interactions."""
    counts = np.bincount(data.interactions["col"].to_numpy(), minlength=data.n_items)
    ranks = np.empty(data.n_items, dtype=np.float64)
    ranks[np.argsort(-counts, kind="stable")] = np.arange(1, data.n_items + 1)
    return ranks


def evaluate_recommenders(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    k: int = 10,
    as_of: pd.Timestamp | None = None,
    config: RecommenderConfig,
    visual_pairs: pd.DataFrame | None = None,
) -> EvaluationResult:
    """HitRate/Recall/NDCG@k, catalogue coverage and popularity bias for every recommender (see module doc).

    `visual_pairs`: the pictures' neighbours (product_id, similar_id, score) for the visual source."""
    if as_of is not None:
        interactions = interactions[interactions["ts"] <= as_of]
    split = temporal_split(interactions, quantile=config.validation_quantile)
    empty = RecommenderMetrics(0.0, 0.0, 0.0, 0.0, 0.0)
    if split.cutoff is None or split.holdout.empty:
        return EvaluationResult(k, 0, {name: empty for name in ALL_NAMES})
    data = build_interaction_data(split.train, products, customers, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, split.holdout)
    exclude = exclusion_matrix(data, config)
    visual = visual_similarity(products.reset_index(drop=True), visual_pairs)
    components = fit_recommenders(data, config, visual_similarity=visual)
    weights = validation_weights(split.train, products, customers, k=k, config=config,
                                 content_similarity=components["content"].similarity, visual_similarity=visual)
    recommenders = {**components, "hybrid": HybridRecommender(config, weights, components).fit(data)}
    pop_rank = popularity_ranks(data)
    n_active = max(int(data.active.sum()), 1)
    metrics = {}
    for name in ALL_NAMES:
        items = recommenders[name].recommend(rows, k, exclude).items
        ranking = ranking_metrics(items, targets)
        shown = items[items >= 0]
        metrics[name] = RecommenderMetrics(
            hit_rate=ranking.hit_rate,
            recall=ranking.recall,
            ndcg=ranking.ndcg,
            coverage=len(np.unique(shown)) / n_active,
            popularity_bias=float(pop_rank[shown].mean()) if len(shown) else 0.0,
        )
    return EvaluationResult(k, len(rows), metrics, weights, split.cutoff)
