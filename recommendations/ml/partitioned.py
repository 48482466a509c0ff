"""Item-side statistics of a build, accumulated over customer partitions (issue 23, item 3: the first part).

The build today fits every recommender on one matrix of every customer, so its memory grows with the shop.
The item-side members need only sums over customers, which can be computed one customer partition at a
time and added up: the partial statistics of a partition are bounded by the catalogue, not by the shop.

    parts = [item_statistics_partial(data_p, config) for data_p in partitions]   # each: one partition's rows
    stats = item_statistics_merge(parts)
    similarity = item_similarity(stats, config)      # == ItemKNNRecommender(config).fit(all).similarity
    popularity = item_popularity(stats, active)      # == PopularityRecommender(config).fit(all).popularity

Every partition's `InteractionData` must be built with the same `as_of` (the shop's last interaction) and the
same products frame, so ages and columns agree. Sums are kept in float64 so the order of partitions does not
change the result beyond float32 rounding.

user_knn's and TIFU-KNN's neighbours come from a `NeighbourIndex` merged the same way (a top-`cap` per product
is mergeable: the top of the partitions' tops), holding at most products x cap customers' vectors.

Not covered yet (see docs/status/issue-23-recs.md): ALS (to be trained on a customer sample), the ranker's
context, and the Celery tasks that write each partition's lists with these statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .base import Recommender
from .config import RecommenderConfig
from .content import ContentRecommender
from .data import InteractionData, _drop_diagonal, row_normalise, top_per_row_exact, topk_csr, topk_to_csr
from .item_knn import ItemKNNRecommender
from .personal import PersonalFrequencyRecommender, TifuKnnRecommender
from .popularity import PopularityRecommender, most_bought_count
from .repurchase import RepurchaseRecommender, repurchase_pairs, typical_cycles
from .user_knn import UserKNNRecommender
from .visual import VisualRecommender


@dataclass(frozen=True)
class ItemStatistics:
    """Sums over customers, per product (or product pair).

    gram: items x items float64, sum over customers of w_ui * w_uj (the decayed, kind-weighted matrix).
    popularity_recent / popularity_all: decayed popularity inside the window / over all time (unscaled).
    recent_interactions: how many interactions fell inside the popularity window (0: use all time).
    buyers / rebuyers: customers who bought each product once or more / in two baskets or more.
    interactions_per_item: interactions with each product (0: nobody touched it; the visual cold start).
    rebuy_cols / rebuy_gaps: one entry per (customer, product) bought in two baskets or more, with its mean cycle
    in days; their per-product median is repurchase's typical cycle (a median is not a sum: these are kept, one
    float per re-bought pair, the one part that grows with the shop, far slower than interactions).
    most_bought: the most distinct products one customer bought (popularity's extra global candidates)."""

    gram: sp.csr_matrix
    popularity_recent: np.ndarray
    popularity_all: np.ndarray
    recent_interactions: int
    buyers: np.ndarray
    rebuyers: np.ndarray
    interactions_per_item: np.ndarray
    rebuy_cols: np.ndarray
    rebuy_gaps: np.ndarray
    most_bought: int
    customers: int

    @property
    def n_items(self) -> int:
        return self.gram.shape[0]


def item_statistics_partial(data: InteractionData, config: RecommenderConfig) -> ItemStatistics:
    """The statistics of one customer partition (`data` holds only its customers' interactions)."""
    weights = sp.csr_matrix(data.weights, dtype=np.float64)
    gram = sp.csr_matrix(weights.T @ weights)

    frame = data.interactions
    code_weight = np.zeros(5)  # popularity's own defaults when a kind has no weight in the config
    for code, kind, default in ((4, "purchase", 5.0), (3, "cart", 2.0), (2, "wishlist", 1.5), (1, "view", 1.0)):
        code_weight[code] = config.kind_weights.get(kind, default)
    age = frame["age_days"].to_numpy(np.float64)
    cols = frame["col"].to_numpy(np.int64)
    value = code_weight[frame["code"].to_numpy(np.int64)] * np.power(0.5, age / config.popularity_half_life_days)
    recent = age <= config.popularity_window_days
    popularity_recent = np.bincount(cols[recent], weights=value[recent], minlength=data.n_items)
    popularity_all = np.bincount(cols, weights=value, minlength=data.n_items)

    pairs = repurchase_pairs(data)
    buyers, rebuyers = np.zeros(data.n_items), np.zeros(data.n_items)
    rebuy_cols, rebuy_gaps = np.zeros(0, np.int64), np.zeros(0)
    if pairs is not None:
        again = pairs.n > 1
        buyers = np.bincount(pairs.cols, minlength=data.n_items).astype(np.float64)
        rebuyers = np.bincount(pairs.cols, weights=again.astype(np.float64), minlength=data.n_items)
        rebuy_cols, rebuy_gaps = pairs.cols[again].astype(np.int64), pairs.gap[again]
    return ItemStatistics(gram=gram, popularity_recent=popularity_recent, popularity_all=popularity_all,
                          recent_interactions=int(recent.sum()), buyers=buyers, rebuyers=rebuyers,
                          interactions_per_item=np.bincount(cols, minlength=data.n_items),
                          rebuy_cols=rebuy_cols, rebuy_gaps=rebuy_gaps, most_bought=most_bought_count(data),
                          customers=data.n_customers)


def item_statistics_merge(parts: list[ItemStatistics]) -> ItemStatistics:
    """The statistics of the union of disjoint customer partitions: every field is a sum."""
    if not parts:
        raise ValueError("no partitions to merge")
    gram = parts[0].gram.copy()
    for part in parts[1:]:
        gram = gram + part.gram
    return ItemStatistics(
        gram=sp.csr_matrix(gram),
        popularity_recent=np.sum([p.popularity_recent for p in parts], axis=0),
        popularity_all=np.sum([p.popularity_all for p in parts], axis=0),
        recent_interactions=sum(p.recent_interactions for p in parts),
        buyers=np.sum([p.buyers for p in parts], axis=0),
        rebuyers=np.sum([p.rebuyers for p in parts], axis=0),
        interactions_per_item=np.sum([p.interactions_per_item for p in parts], axis=0),
        rebuy_cols=np.concatenate([p.rebuy_cols for p in parts]),
        rebuy_gaps=np.concatenate([p.rebuy_gaps for p in parts]),
        most_bought=max(p.most_bought for p in parts),
        customers=sum(p.customers for p in parts),
    )


def item_similarity(stats: ItemStatistics, config: RecommenderConfig) -> sp.csr_matrix:
    """item_knn's neighbours from the merged statistics: top `item_neighbours` of the shrunk cosine
    g_ij / (|x_i| |x_j| + shrinkage), diagonal dropped, in row blocks (the same as ItemKNNRecommender.fit)."""
    gram = sp.csr_matrix(stats.gram)
    n = gram.shape[0]
    norms = np.sqrt(np.maximum(gram.diagonal(), 0.0))
    parts = []
    for start in range(0, n, config.block_size):
        stop = min(start + config.block_size, n)
        block = sp.csr_matrix(gram[start:stop], dtype=np.float64)
        row_norms = np.repeat(norms[start:stop], np.diff(block.indptr))
        block.data = (block.data / (row_norms * norms[block.indices] + config.item_shrinkage)).astype(np.float32)
        block = sp.csr_matrix(block, dtype=np.float32)
        block = _drop_diagonal(block, start)
        parts.append(topk_to_csr(topk_csr(block, config.item_neighbours, unique=True), n))
    if not parts:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(parts, format="csr", dtype=np.float32)


def item_popularity(stats: ItemStatistics, active: np.ndarray) -> np.ndarray:
    """popularity's max-scaled score per product (the same as PopularityRecommender.fit's `popularity`)."""
    pop = stats.popularity_recent if stats.recent_interactions else stats.popularity_all
    pop = pop * active
    scaled = (pop / pop.max() if pop.max() > 0 else pop).astype(np.float32)
    return np.where(active & (scaled == 0), 1e-6, scaled).astype(np.float32)


def repurchase_propensity(stats: ItemStatistics) -> np.ndarray:
    """Share of a product's buyers who bought it again, smoothed (repurchase's `propensity`)."""
    return (stats.rebuyers + 0.05) / (stats.buyers + 5.0)


@dataclass(frozen=True)
class NeighbourIndex:
    """user_knn's (or TIFU-KNN's) capped inverted index over the whole shop: for every product its `cap`
    strongest customers (row-normalised vectors), and those customers' vectors. At most products x cap
    customers whatever the shop's size.

    customer_ids: the posted customers, ascending. postings: products x len(customer_ids). rows:
    len(customer_ids) x products. Ties between customers go to the lower id (a fit over every customer breaks
    them by matrix row: the same when its customers frame is in id order)."""

    customer_ids: np.ndarray
    postings: sp.csr_matrix
    rows: sp.csr_matrix


def neighbour_index_partial(normalised: sp.csr_matrix, customer_ids: np.ndarray, *, cap: int) -> NeighbourIndex:
    """One partition's candidates: per product its `cap` strongest customers of the partition (rows of
    `normalised`, whose ids are `customer_ids`), with their exact values and vectors."""
    normalised = sp.csr_matrix(normalised, dtype=np.float32)
    top = top_per_row_exact(normalised.T, cap).tocoo()  # products x partition rows
    ids = np.asarray(customer_ids, np.int64)
    return _index(top.row, ids[top.col], top.data, normalised.shape[1], ids=ids, vectors=normalised)


def neighbour_index_merge(parts: list[NeighbourIndex], *, cap: int) -> NeighbourIndex:
    """The shop's index from its disjoint partitions' candidates: per product the `cap` strongest overall."""
    if not parts:
        raise ValueError("no partitions to merge")
    items, ids, values = [], [], []
    for part in parts:
        coo = part.postings.tocoo()
        items.append(coo.row)
        ids.append(part.customer_ids[coo.col])
        values.append(coo.data)
    item, cid, value = np.concatenate(items), np.concatenate(ids), np.concatenate(values)
    order = np.lexsort((cid, -value, item))
    item, cid, value = item[order], cid[order], value[order]
    starts = np.searchsorted(item, item, side="left")
    keep = np.arange(len(item)) - starts < cap
    all_ids = np.concatenate([part.customer_ids for part in parts])
    vectors = sp.vstack([part.rows for part in parts], format="csr", dtype=np.float32)
    return _index(item[keep], cid[keep], value[keep], parts[0].postings.shape[0], ids=all_ids, vectors=vectors)


def _index(item, cid, value, n_items, *, ids, vectors) -> NeighbourIndex:
    posted = np.unique(cid)
    column = np.searchsorted(posted, cid)
    postings = sp.csr_matrix((value.astype(np.float32), (item, column)), shape=(n_items, len(posted)))
    by_id = np.argsort(ids, kind="stable")
    rows = sp.csr_matrix(vectors[by_id[np.searchsorted(ids, posted, sorter=by_id)]], dtype=np.float32) \
        if len(posted) else sp.csr_matrix((0, n_items), dtype=np.float32)
    return NeighbourIndex(customer_ids=posted, postings=postings, rows=rows)


def _neighbours(query: sp.csr_matrix, index: NeighbourIndex, own_ids: np.ndarray, n: int) -> sp.csr_matrix:
    """Each query row's top-n most similar posted customers (itself excluded), as a sparse rows x posted."""
    sims = sp.csr_matrix(query @ index.postings).tocoo()
    keep = index.customer_ids[sims.col] != own_ids[sims.row]
    sims = sp.csr_matrix((sims.data[keep], (sims.row[keep], sims.col[keep])), shape=sims.shape)
    return topk_to_csr(topk_csr(sims, n), len(index.customer_ids))


class PartitionUserKNN(UserKNNRecommender):
    """user_knn for one partition's customers, neighbours from the shop's `NeighbourIndex`."""

    def fit(self, data: InteractionData, *, index: NeighbourIndex) -> PartitionUserKNN:
        Recommender.fit(self, data)
        self.normalised = row_normalise(data.weights)
        self.query = topk_to_csr(topk_csr(self.normalised, self.config.user_top_items), data.n_items)
        self.index = index
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows)
        neighbours = _neighbours(self.query[rows], self.index, self.data.customer_ids[rows],
                                 self.config.user_neighbours)
        return sp.csr_matrix(neighbours @ self.index.rows)


class PartitionTifuKnn(TifuKnnRecommender):
    """TIFU-KNN for one partition's customers: own vectors from the partition, neighbours (when the shop is
    small enough to use them, `index` given) from the shop's `NeighbourIndex` of TIFU vectors."""

    def fit(self, data: InteractionData, *, index: NeighbourIndex | None) -> PartitionTifuKnn:
        super().fit(data, neighbours=False)
        self.index = index
        self.neighbours = index is not None and self.config.tifu_alpha < 1
        if self.neighbours:
            self.query = topk_to_csr(topk_csr(self.normalised, self.config.user_top_items * 2), data.n_items)
        return self

    def score(self, rows: np.ndarray) -> sp.csr_matrix:
        rows = np.asarray(rows)
        cfg = self.config
        if not self.neighbours:
            return self.normalised[rows]
        neighbours = _neighbours(self.query[rows], self.index, self.data.customer_ids[rows], cfg.tifu_neighbours)
        neighbours.data[:] = 1.0
        counts = np.maximum(np.diff(neighbours.indptr), 1).astype(np.float32)
        mean = sp.diags(1.0 / counts) @ (neighbours @ self.index.rows)
        return sp.csr_matrix(cfg.tifu_alpha * self.normalised[rows] + (1 - cfg.tifu_alpha) * mean)


def user_index_partial(data: InteractionData, config: RecommenderConfig) -> NeighbourIndex:
    """user_knn's partial index of one partition."""
    return neighbour_index_partial(row_normalise(data.weights), data.customer_ids, cap=config.user_posting_cap)


def tifu_index_partial(data: InteractionData, config: RecommenderConfig) -> NeighbourIndex:
    """TIFU-KNN's partial index of one partition (its own decayed basket vectors; `config` already tuned)."""
    own = TifuKnnRecommender(config).fit(data, neighbours=False)
    return neighbour_index_partial(own.normalised, data.customer_ids, cap=config.user_posting_cap * 2)


# Members whose lists for a partition's customers need only those customers' rows plus `ItemStatistics`.
PARTITIONED_MEMBERS = ("popularity", "repurchase", "item_knn", "user_knn", "content", "visual",
                       "personal_frequency", "tifu_knn")


def partition_components(
    data: InteractionData, stats: ItemStatistics, config: RecommenderConfig, *,
    content_similarity: sp.csr_matrix | None = None, visual_similarity: sp.csr_matrix | None = None,
    similarity: sp.csr_matrix | None = None, users: NeighbourIndex, tifu: NeighbourIndex | None,
) -> dict[str, Recommender]:
    """The PARTITIONED_MEMBERS fitted on one partition's `data` with the shop's item-side statistics: for the
    partition's customers they score (and explain) exactly as members fitted on every customer would.

    `similarity`: `item_similarity(stats, config)` when the caller already has it (one per build, not per
    partition). `users` / `tifu`: the merged neighbour indexes (`tifu` None: the shop is above
    `tifu_neighbours_max_customers`, TIFU-KNN keeps only the own vector). ALS and the ranker are not covered yet
    (module doc)."""
    if similarity is None:
        similarity = item_similarity(stats, config)
    return {
        "popularity": PopularityRecommender(config).fit(data, popularity=item_popularity(stats, data.active),
                                                        most_bought=stats.most_bought),
        "repurchase": RepurchaseRecommender(config).fit(
            data, propensity=repurchase_propensity(stats),
            typical=typical_cycles(stats.rebuy_cols, stats.rebuy_gaps, stats.n_items)),
        "item_knn": ItemKNNRecommender(config).fit(data, similarity=similarity),
        "user_knn": PartitionUserKNN(config).fit(data, index=users),
        "content": ContentRecommender(config).fit(data, similarity=content_similarity),
        "visual": VisualRecommender(config).fit(data, similarity=visual_similarity,
                                                touched=stats.interactions_per_item > 0),
        "personal_frequency": PersonalFrequencyRecommender(config).fit(data),
        "tifu_knn": PartitionTifuKnn(config).fit(data, index=tifu),
    }
