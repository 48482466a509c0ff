"""The hybrid: candidates from every recommender, blended by weights fit on a validation split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender
from .config import RECOMMENDER_NAMES, RecommenderConfig
from .content import ContentRecommender
from .data import InteractionData, TopK, topk_csr, topk_to_csr
from .item_knn import ItemKNNRecommender
from .metrics import ranking_metrics
from .personal import AlsRecommender, PersonalFrequencyRecommender, TifuKnnRecommender
from .popularity import PopularityRecommender
from .ranker import CONTEXT_FEATURES, candidate_features, ranker_context, ranker_scores
from .repurchase import RepurchaseRecommender
from .sequential import SequentialRecommender
from .user_knn import UserKNNRecommender
from .visual import VisualRecommender, cold_start_merge

# popularity always contributes a little so short lists are filled with popular products
FILL_WEIGHT = 1e-3
# The members whose candidates are the customer's own purchases (their reasons say so).
OWN_HISTORY = ("repurchase", "personal_frequency")

RECOMMENDER_CLASSES: dict[str, type[Recommender]] = {
    "popularity": PopularityRecommender,
    "repurchase": RepurchaseRecommender,
    "item_knn": ItemKNNRecommender,
    "user_knn": UserKNNRecommender,
    "content": ContentRecommender,
    "visual": VisualRecommender,
    "personal_frequency": PersonalFrequencyRecommender,
    "tifu_knn": TifuKnnRecommender,
    "als": AlsRecommender,
    "seqrec": SequentialRecommender,
}


def fit_recommenders(
    data: InteractionData, config: RecommenderConfig, *, content_similarity: sp.csr_matrix | None = None,
    visual_similarity: sp.csr_matrix | None = None,
) -> dict[str, Recommender]:
    """Every single recommender, fitted on `data`, by name.

    `content_similarity` (from `content.content_similarity`) skips the TF-IDF fit: it depends on the catalogue
    only, so the validation fit and the final fit can share it without leaking anything. `visual_similarity`
    (from `visual.visual_similarity`, the pictures' neighbours) likewise; without it the visual source is empty."""
    fitted = {}
    for name in RECOMMENDER_NAMES:
        if name == "visual":
            fitted[name] = VisualRecommender(config).fit(data, similarity=visual_similarity)
        elif name == "content" and content_similarity is not None:
            fitted[name] = ContentRecommender(config).fit(data, similarity=content_similarity)
        else:
            fitted[name] = RECOMMENDER_CLASSES[name](config).fit(data)
    return fitted


@dataclass(frozen=True)
class CodedTopK:
    """Top-k with, per entry, the index in `names` of the recommender that contributed most (`sources`, -1 for
    padding) and its reason code (`Recommender.reason_codes`): small arrays, cheap to move between processes."""

    items: np.ndarray
    scores: np.ndarray
    sources: np.ndarray
    reasons: np.ndarray
    names: tuple[str, ...]


@dataclass(frozen=True)
class ExplainedTopK:
    """Top-k with, per entry, the recommender that contributed most (`sources`) and its reason text."""

    items: np.ndarray
    scores: np.ndarray
    sources: np.ndarray
    reasons: np.ndarray


class HybridRecommender(Recommender):
    """Weighted sum of per-customer max-scaled scores of each recommender's top `candidates` products; or, with
    a `ranker` (a LightGBM lambdarank booster, see ranker.py), the ranker's order of the union of every member's
    top `ranker_candidates`."""

    name = "hybrid"

    def __init__(self, config: RecommenderConfig, weights: dict[str, float] | None = None,
                 components: dict[str, Recommender] | None = None, ranker=None):
        super().__init__(config)
        self.weights = dict(weights) if weights else {name: 1.0 for name in RECOMMENDER_NAMES}
        self.components = components or {}
        self.ranker = ranker
        self.context = None

    def fit(self, data: InteractionData) -> HybridRecommender:
        super().fit(data)
        if not self.components or next(iter(self.components.values())).data is not data:
            self.components = fit_recommenders(data, self.config)
        self.context = ranker_context(data) if self.ranker is not None else None
        return self

    def candidates(
        self, rows: np.ndarray, exclude: sp.csr_matrix | None, *, names=None, top: int | None = None
    ) -> dict[str, sp.csr_matrix]:
        """Each recommender's top candidates for a block, scores divided by the customer's best score.

        `names`: only these recommenders (default: all). `top`: candidates per recommender (default: the
        config's `candidates`, or `ranker_candidates` with a ranker)."""
        if top is None:
            top = self.config.ranker_candidates if self.ranker is not None else self.config.candidates
        out = {}
        for name, rec in self.components.items():
            if names is not None and name not in names:
                continue
            best_k = topk_csr(rec.masked_score(rows, exclude), top, unique=True)
            best = np.where(best_k.scores[:, :1] > 0, best_k.scores[:, :1], 1.0)
            out[name] = topk_to_csr(TopK(best_k.items, best_k.scores / best), self.data.n_items)
        return out

    def _effective(self) -> dict[str, float]:
        if self.ranker is not None:  # every member feeds the ranker; explanations weigh them alike
            return {name: 1.0 for name in self.components}
        weights = {name: float(self.weights.get(name, 0.0)) for name in self.components}
        if "popularity" in weights:
            weights["popularity"] += FILL_WEIGHT
        return weights

    def blend(self, candidates: dict[str, sp.csr_matrix], block: np.ndarray | None = None) -> sp.csr_matrix:
        """The weighted sum of the candidates' scores, or (with a ranker and the block's customer rows) the
        ranker's scores of their union."""
        if self.ranker is not None and block is not None:
            return self.rank(candidates, block)
        weights = self._effective()
        total = None
        for name, matrix in candidates.items():
            if weights[name] > 0:
                total = matrix * weights[name] if total is None else total + matrix * weights[name]
        return sp.csr_matrix(total)

    def rank(self, candidates: dict[str, sp.csr_matrix], block: np.ndarray) -> sp.csr_matrix:
        """The ranker's (positive) scores of the union of `candidates` for customer rows `block`."""
        if self.context is None:
            self.context = ranker_context(self.data)
        local, items, X = candidate_features(candidates, block, self.context, self.ranker_members())
        scores = ranker_scores(self.ranker, X)
        return sp.csr_matrix((scores.astype(np.float32), (local, items)), shape=(len(block), self.data.n_items))

    def ranker_members(self) -> tuple[str, ...]:
        """The members whose features the ranker reads, in order. A ranker trained before a member was added
        (a build saved by an earlier version, refreshed later) reads fewer: members are only ever appended to
        RECOMMENDER_NAMES, so they are the first ones."""
        names = tuple(self.components)
        try:
            width = (int(self.ranker.num_feature()) - len(CONTEXT_FEATURES)) // 2
        except AttributeError:
            return names
        return names[:width] if 0 <= width < len(names) else names

    def active_names(self) -> tuple[str, ...]:
        """Recommenders whose weight is positive: the others cannot change a list, so they are not computed."""
        return tuple(name for name, weight in self._effective().items() if weight > 0)

    def masked_score(self, rows: np.ndarray, exclude: sp.csr_matrix | None = None) -> sp.csr_matrix:
        rows = np.asarray(rows, dtype=np.int64)
        return self.blend(self.candidates(rows, exclude, names=self.active_names()), rows)

    def recommend(self, rows, k: int, exclude: sp.csr_matrix | None = None) -> TopK:
        """The lists a build writes (`recommend_coded`, cold-start places included), without their reasons."""
        coded = self.recommend_coded(rows, k, exclude)
        return TopK(coded.items, coded.scores)

    def recommend_coded(self, rows, k: int, exclude: sp.csr_matrix | None = None) -> CodedTopK:
        """Top-k per customer row with the strongest source and its reason code of each entry (block-wise)."""
        rows = np.asarray(rows, dtype=np.int64)
        names = self.active_names()
        cold = self.components.get("visual") if self.config.cold_start_slots > 0 else None
        if cold is not None and not cold.has_candidates:
            cold = None
        if cold is not None and "visual" not in names:
            names = (*names, "visual")  # its weight may be 0: it then only fills the cold-start places
        parts = []
        for s in range(0, len(rows), self.config.block_size):
            block = rows[s : s + self.config.block_size]
            cands = self.candidates(block, exclude, names=names)
            top = topk_csr(self.blend(cands, block), k)
            coded = self._explain(block, top, cands, names)
            if cold is not None:
                coded = cold_start_merge(coded, cold, block, exclude, slots=self.config.cold_start_slots,
                                         min_similarity=self.config.cold_start_min_similarity,
                                         source=names.index("visual"))
            parts.append(coded)
        if not parts:
            empty = np.empty((0, k))
            return CodedTopK(empty.astype(np.int64), empty.astype(np.float32), empty.astype(np.int8),
                             empty.astype(np.int64), names)
        return CodedTopK(*(np.vstack([getattr(p, f) for p in parts]) for f in ("items", "scores", "sources",
                                                                              "reasons")), names)

    def recommend_explained(self, rows, k: int, exclude: sp.csr_matrix | None = None) -> ExplainedTopK:
        """Top-k per customer row with source and reason text of each recommendation (block-wise)."""
        coded = self.recommend_coded(rows, k, exclude)
        sources, reasons = self.explain_texts(coded)
        return ExplainedTopK(coded.items, coded.scores, sources, reasons)

    def explain_texts(self, coded: CodedTopK) -> tuple[np.ndarray, np.ndarray]:
        """Source names and reason words (object arrays shaped like `coded.items`; "" for padding)."""
        sources = np.full(coded.items.shape, "", dtype=object)
        reasons = np.full(coded.items.shape, "", dtype=object)
        for index, name in enumerate(coded.names):
            pick = coded.sources == index
            if pick.any():
                sources[pick] = name
                reasons[pick] = self.components[name].reason_texts(coded.reasons[pick])
        return sources, reasons

    def _explain(self, block: np.ndarray, top: TopK, cands: dict[str, sp.csr_matrix], names) -> CodedTopK:
        local, rank = np.nonzero(top.items >= 0)
        items = top.items[local, rank]
        weights = self._effective()
        contrib = np.vstack(
            [np.asarray(cands[n][local, items]).ravel() * weights[n] if len(local) else np.zeros(0) for n in names]
        ) if names else np.zeros((0, len(local)))
        strongest = contrib.argmax(axis=0) if len(names) else np.zeros(len(local), int)
        own = [i for i, name in enumerate(names) if name in OWN_HISTORY]
        if own and len(local):
            # A product the customer bought before is explained by their own history ("in 3 of their orders",
            # "buys this about every 12 days"), not by "popular right now" of a member whose score, divided by the
            # customer's best, came out higher: the ranker weighs every member alike, so the shop's best seller
            # explained the re-buys of every customer who had bought it.
            mine = contrib[own]
            strongest = np.where(mine.max(axis=0) > 0, np.asarray(own)[mine.argmax(axis=0)], strongest)
        sources = np.full(top.items.shape, -1, dtype=np.int8)
        reasons = np.zeros(top.items.shape, dtype=np.int64)
        sources[local, rank] = strongest
        for index, name in enumerate(names):
            pick = strongest == index
            if pick.any():
                reasons[local[pick], rank[pick]] = self.components[name].reason_codes(block[local[pick]], items[pick])
        return CodedTopK(top.items, top.scores, sources, reasons, tuple(names))


def holdout_targets(data: InteractionData, holdout: pd.DataFrame) -> tuple[np.ndarray, sp.csr_matrix]:
    """Matrix rows of the holdout customers and their held-out products as a 0/1 sparse matrix (row-aligned)."""
    rows = data.customer_positions(holdout["customer_id"].to_numpy())
    cols = data.product_positions(holdout["product_id"].to_numpy())
    ok = (rows >= 0) & (cols >= 0)
    unique_rows, local = np.unique(rows[ok], return_inverse=True)
    targets = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (local, cols[ok])), shape=(len(unique_rows), data.n_items)
    )
    targets.data[:] = 1.0
    return unique_rows, targets


def fit_weights(
    components: dict[str, Recommender],
    *,
    rows: np.ndarray,
    targets: sp.csr_matrix,
    k: int,
    config: RecommenderConfig,
    exclude: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """Coordinate search over `config.weight_grid` maximising NDCG@k of the blend on validation customers.

    The candidate sets are computed once; every trial only re-weights them, so a search costs seconds.
    """
    data = next(iter(components.values())).data
    hybrid = HybridRecommender(config, components=components)
    hybrid.data = data
    cands = {name: [] for name in components}
    for s in range(0, len(rows), config.block_size):
        for name, matrix in hybrid.candidates(rows[s : s + config.block_size], exclude).items():
            cands[name].append(matrix)
    stacked = {name: sp.vstack(parts, format="csr") for name, parts in cands.items()}

    def evaluate(weights: dict[str, float]) -> float:
        hybrid.weights = weights
        return ranking_metrics(topk_csr(hybrid.blend(stacked), k).items, targets).ndcg

    weights = {name: 1.0 for name in components}
    best = evaluate(weights)
    for _ in range(config.weight_passes):
        improved = False
        for name in components:
            for value in config.weight_grid:
                if value == weights[name]:
                    continue
                trial = {**weights, name: value}
                if not any(trial.values()):
                    continue
                result = evaluate(trial)
                if result > best + 1e-9:
                    best, weights, improved = result, trial, True
        if not improved:
            break
    return weights
