"""Offline evaluation of every recommender side by side on a leakage-free temporal holdout.

Design: one global cutoff T (the `validation_quantile` of order times). Training data is every interaction
strictly before T, for all customers, and the models are built as of T. Evaluated customers are those with
>= 2 orders whose last order is at or after T; that last order (all its products) is the holdout. Nothing at or
after T is trained on, so neither a customer's own future nor other customers' later co-purchases or popularity
leak in. The hybrid's weights are fit by applying the same split again *inside* the training data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import exclusion_matrix
from .config import RECOMMENDER_NAMES, RecommenderConfig
from .content import content_similarity
from .data import InteractionData, build_interaction_data, topk_csr
from .hybrid import HybridRecommender, fit_recommenders, fit_weights, holdout_targets
from .metrics import ranking_metrics
from .personal import TifuKnnRecommender
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
    # the share of evaluated customers whose top 3 holds the one product most often in a top 3 (1.0: every list
    # shows it): how much one product fills the lists, beside what the held-out orders say of it (the NDCG)
    top3_share: float = 0.0


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics@k per recommender (every member of RECOMMENDER_NAMES, and the hybrid)."""

    k: int
    customers: int
    metrics: dict[str, RecommenderMetrics]
    weights: dict[str, float] = field(default_factory=dict)
    cutoff: pd.Timestamp | None = None
    hybrid_choice: str = "blend"
    validation: dict[str, float] = field(default_factory=dict)
    data_report: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe: {"k", "customers", "<name>": {"hit_rate", "recall", "ndcg", "coverage", "popularity_bias"}}."""
        out: dict = {"k": self.k, "customers": self.customers}
        for name, m in self.metrics.items():
            out[name] = {key: round(float(getattr(m, key)), 6) for key in RecommenderMetrics.__dataclass_fields__}
        return out


@dataclass(frozen=True)
class HybridFit:
    """What the validation split chose for the hybrid: blend `weights`, and a lambdarank `ranker` (a LightGBM
    booster) or None. `choice` is "ranker", "blend" or the name of the single member that won on validation;
    `validation` holds each option's NDCG@k on the validation customers (the ranker's out of fold)."""

    weights: dict[str, float]
    ranker: object | None = None
    choice: str = "blend"
    validation: dict[str, float] = field(default_factory=dict)
    tuned: dict[str, float] = field(default_factory=dict)

    def tuned_config(self, config: RecommenderConfig) -> RecommenderConfig:
        """`config` with the settings tuned on validation (TIFU-KNN's decay)."""
        return replace(config, **self.tuned) if self.tuned else config


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
    """Hybrid blend weights fit on a split carved from `train` only (see `validation_hybrid`)."""
    return validation_hybrid(train, products, customers, k=k, config=replace(config, ranker=False),
                             content_similarity=content_similarity, visual_similarity=visual_similarity).weights


_CANONICAL_ORDER = ("customer_id", "ts", "product_id", "kind", "quantity", "order_id")


def validation_hybrid(
    train: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    k: int,
    config: RecommenderConfig,
    content_similarity: sp.csr_matrix | None = None,
    visual_similarity: sp.csr_matrix | None = None,
) -> HybridFit:
    """Fit the hybrid on a split carved from `train` only (its own cutoff, its last orders as targets).

    Blend weights by coordinate search; then, with `config.ranker`, a lambdarank ranker over the union of the
    members' candidates, judged by two-fold cross-fitting over validation customers. The hybrid becomes whichever
    of ranker, blend and single member scores the best validation NDCG@k, so it cannot lose to a member there.
    Falls back to equal weights when the training data has no returning customers to validate on.
    `content_similarity` (of `products`) is reused instead of refitting TF-IDF: it does not depend on interactions;
    `visual_similarity` (the pictures' neighbours) likewise.
    """
    # what the full data would not fit, the validation sample does not fit either
    if len(customers) > config.ranker_max_customers:
        config = replace(config, ranker=False)
    purchase_lines = int((train["kind"] == "purchase").sum())
    if purchase_lines > config.als_max_interactions:
        config = replace(config, als_max_interactions=0)
    # the sequential member likewise; and the final fit (tuned_config) leaves it off too, as refreshes do
    capped = {}
    if purchase_lines > config.seqrec_max_interactions or len(customers) > config.seqrec_max_customers:
        capped = {"seqrec_max_interactions": 0}
        config = replace(config, **capped)
    # One row order whatever the caller's (PostgreSQL returns rows in no set order): the customers sampled below and
    # ties follow it, and the same data read twice gave other weights (a blend that changed from night to night).
    train = train.sort_values([c for c in _CANONICAL_ORDER if c in train.columns], kind="stable", ignore_index=True)
    split = temporal_split(train, quantile=config.validation_quantile)
    default = HybridFit({name: 1.0 for name in RECOMMENDER_NAMES}, tuned=capped)
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
    exclude = exclusion_matrix(data, config)
    tuned = {**_tune_tifu(components, data, rows, targets, exclude, k=k, config=config), **capped}
    config = replace(config, **tuned)
    weights = fit_weights(components, rows=rows, targets=targets, k=k, config=config, exclude=exclude)
    blend = HybridRecommender(config, weights, components)
    blend.data = data
    scores = {"blend": ranking_metrics(blend.recommend(rows, k, exclude).items, targets).ndcg}
    for name, rec in components.items():
        scores[name] = ranking_metrics(rec.recommend(rows, k, exclude).items, targets).ndcg
    ranker = None
    if config.ranker and len(rows) >= 20:
        ranker, scores["ranker"] = _fit_ranker(components, data, rows, targets, exclude, k=k, config=config)
    choice = max(scores, key=lambda name: (scores[name], name in ("ranker", "blend")))
    if choice == "ranker":
        return HybridFit(weights, ranker, "ranker", scores, tuned)
    if choice != "blend":
        weights = {name: float(name == choice) for name in components}
    return HybridFit(weights, None, choice, scores, tuned)


def _tune_tifu(components, data, rows, targets, exclude, *, k: int, config: RecommenderConfig) -> dict:
    """TIFU-KNN's basket decay with the best validation NDCG@k among `config.tifu_decays`; the winner replaces
    the fitted member in `components`. How fast a shop's baskets go stale differs from shop to shop."""
    if "tifu_knn" not in components or len(config.tifu_decays) < 2 or not components["tifu_knn"].neighbours:
        return {}
    best_decay = config.tifu_decay
    best = ranking_metrics(components["tifu_knn"].recommend(rows, k, exclude).items, targets).ndcg
    for decay in config.tifu_decays:
        if decay == config.tifu_decay:
            continue
        member = TifuKnnRecommender(replace(config, tifu_decay=decay)).fit(data)
        ndcg = ranking_metrics(member.recommend(rows, k, exclude).items, targets).ndcg
        if ndcg > best + 1e-9:
            best, best_decay, components["tifu_knn"] = ndcg, decay, member
    return {"tifu_decay": float(best_decay)}


def _fit_ranker(components, data, rows, targets, exclude, *, k: int, config: RecommenderConfig):
    """(booster trained on every validation customer, its two-fold out-of-fold NDCG@k)."""
    from .ranker import candidate_features, ranker_context, ranker_scores, train_ranker

    hybrid = HybridRecommender(config, components=components)
    hybrid.data = data
    context = ranker_context(data)
    names = tuple(components)
    parts = []
    for s in range(0, len(rows), config.block_size):
        block = rows[s : s + config.block_size]
        cands = hybrid.candidates(block, exclude, top=config.ranker_candidates)
        local, items, X = candidate_features(cands, block, context, names)
        y = _labels(targets, s + local, items)
        parts.append((s + local, items, X, y))
    local = np.concatenate([p[0] for p in parts])
    items = np.concatenate([p[1] for p in parts])
    X = np.vstack([p[2] for p in parts])
    y = np.concatenate([p[3] for p in parts])
    fold = np.random.default_rng(config.seed).integers(0, 2, len(rows))[local]
    predicted = np.zeros(len(y))
    for f in (0, 1):
        train_mask, test_mask = fold != f, fold == f
        if not train_mask.any() or not test_mask.any() or y[train_mask].max() <= 0:
            return None, -1.0
        groups = np.bincount(local[train_mask])[np.unique(local[train_mask])]
        booster = train_ranker(X[train_mask], y[train_mask], groups, rounds=config.ranker_rounds, seed=config.seed,
                               k=k, leaves=config.ranker_leaves, min_leaf=config.ranker_min_leaf)
        predicted[test_mask] = ranker_scores(booster, X[test_mask])
    matrix = sp.csr_matrix((predicted, (local, items)), shape=(len(rows), data.n_items))
    oof = ranking_metrics(topk_csr(matrix, k).items, targets).ndcg
    if y.max() <= 0:
        return None, -1.0
    booster = train_ranker(X, y, np.bincount(local)[np.unique(local)], rounds=config.ranker_rounds,
                           seed=config.seed, k=k, leaves=config.ranker_leaves, min_leaf=config.ranker_min_leaf)
    return booster, oof


def _labels(targets: sp.csr_matrix, local: np.ndarray, items: np.ndarray) -> np.ndarray:
    from .ranker import values_at

    return (values_at(targets, local, items) > 0).astype(np.float32)


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
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """HitRate/Recall/NDCG@k, catalogue coverage and popularity bias for every recommender (see module doc).

    `visual_pairs`: the pictures' neighbours (product_id, similar_id, score) for the visual source; `progress`
    hears each step's name (the whole takes from seconds to minutes)."""
    say = progress or (lambda _message: None)
    if as_of is not None:
        interactions = interactions[interactions["ts"] <= as_of]
    split = temporal_split(interactions, quantile=config.validation_quantile)
    empty = RecommenderMetrics(0.0, 0.0, 0.0, 0.0, 0.0)
    if split.cutoff is None or split.holdout.empty:
        return EvaluationResult(k, 0, {name: empty for name in ALL_NAMES})
    say(f"holding out the orders after {pd.Timestamp(split.cutoff).date()}: "
        f"{split.holdout['customer_id'].nunique():,} customers")
    data = build_interaction_data(split.train, products, customers, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, split.holdout)
    exclude = exclusion_matrix(data, config)
    similarity = content_similarity(products.reset_index(drop=True), config)
    visual = visual_similarity(products.reset_index(drop=True), visual_pairs)
    say("fitting the hybrid on a validation split of the training orders")
    fit = validation_hybrid(split.train, products, customers, k=k, config=config, content_similarity=similarity,
                            visual_similarity=visual)
    config = fit.tuned_config(config)
    say(f"fitting every recommender on the training orders (the hybrid: {fit.choice})")
    components = fit_recommenders(data, config, content_similarity=similarity, visual_similarity=visual)
    hybrid = HybridRecommender(config, fit.weights, components, ranker=fit.ranker).fit(data)
    recommenders = {**components, "hybrid": hybrid}
    pop_rank = popularity_ranks(data)
    n_active = max(int(data.active.sum()), 1)
    metrics = {}
    say(f"ranking the held-out orders' products with each of {len(ALL_NAMES)} recommenders")
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
            top3_share=top3_share(items),
        )
    return EvaluationResult(k, len(rows), metrics, fit.weights, split.cutoff, fit.choice, fit.validation,
                            holdout_report(data, split.holdout))


def top3_share(items: np.ndarray) -> float:
    """The share of rows of `items` (top-k product positions per customer, -1 padding) whose first 3 hold the
    product that is most often among them (0 for no rows)."""
    head = np.asarray(items)[:, :3]
    rows = np.repeat(np.arange(len(head)), head.shape[1])
    flat = head.ravel()
    ok = flat >= 0
    if not ok.any():
        return 0.0
    pairs = np.unique(np.stack([rows[ok], flat[ok]]), axis=1)  # a product counts once per list
    return float(np.bincount(pairs[1]).max() / len(head))


def holdout_report(data: InteractionData, holdout: pd.DataFrame) -> dict[str, float]:
    """Shares of held-out (customer, product) pairs the customer had bought before, and of held-out products
    never seen in the training data at all (no recommender can rank those)."""
    if holdout.empty:
        return {"test_items": 0, "bought_before_share": 0.0, "never_seen_share": 0.0}
    rows = data.customer_positions(holdout["customer_id"].to_numpy())
    cols = data.product_positions(holdout["product_id"].to_numpy())
    seen_items = np.zeros(data.n_items, dtype=bool)
    seen_items[data.interactions["col"].to_numpy()] = True
    known = cols >= 0
    never = ~known | ~seen_items[np.maximum(cols, 0)]
    before = np.zeros(len(rows), dtype=bool)
    ok = known & (rows >= 0)
    if ok.any():
        before[ok] = np.asarray(data.purchased[rows[ok], cols[ok]]).ravel() > 0
    return {"test_items": int(len(holdout)), "bought_before_share": round(float(before.mean()), 6),
            "never_seen_share": round(float(never.mean()), 6)}
