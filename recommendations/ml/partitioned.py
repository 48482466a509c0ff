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

A build (recommendations.services.build) folds every partition's `partition_partials` into one
`PartitionedModel` (saved with `partitioned_model_save`), then lists each partition's customers with
`partition_hybrid`: the members above with the shop's statistics, and ALS and the sequential member fitted on the
partition itself (a sample of the shop: for a shop of one partition, the same fit as before). The ranker reads
shop-wide statistics of its own (`ranker_context`): `shop_config` turns it off for a shop of several partitions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .base import Recommender, exclusion_matrix
from .build import FittedHybrid
from .config import RECOMMENDER_NAMES, RecommenderConfig
from .content import ContentRecommender
from .data import InteractionData, _drop_diagonal, row_normalise, top_per_row_exact, topk_csr, topk_to_csr
from .hybrid import HybridRecommender
from .item_knn import ItemKNNRecommender
from .personal import AlsRecommender, PersonalFrequencyRecommender, TifuKnnRecommender
from .popularity import PopularityRecommender, most_bought_count
from .repurchase import RepurchaseRecommender, repurchase_pairs, typical_cycles
from .sequential import SequentialRecommender
from .user_knn import UserKNNRecommender
from .visual import VisualRecommender


@dataclass(frozen=True)
class ItemStatistics:
    """Sums over customers, per product (or product pair).

    gram: items x items float64, sum over customers of w_ui * w_uj (the decayed, kind-weighted matrix); only its
    upper triangle (diagonal included) is kept: it is symmetric, and it is the largest thing a build holds. A build
    does not keep it (`item_statistics_partial(..., gram=False)`: empty): it computes item_knn's neighbours in
    product blocks instead (`item_similarity_blocks`).
    sq_norms: the Gram matrix's diagonal, sum over customers of w_ui^2 (item_knn's norms, squared).
    popularity_recent / popularity_all: decayed popularity inside the window / over all time (unscaled).
    recent_interactions: how many interactions fell inside the popularity window (0: use all time).
    buyers / rebuyers: customers who bought each product once or more / in two baskets or more.
    interactions_per_item: interactions with each product (0: nobody touched it; the visual cold start).
    rebuy_cols / rebuy_gaps: one entry per (customer, product) bought in two baskets or more, with its mean cycle
    in days; their per-product median is repurchase's typical cycle (a median is not a sum: these are kept, one
    float per re-bought pair, the one part that grows with the shop, far slower than interactions).
    most_bought: the most distinct products one customer bought (popularity's extra global candidates)."""

    gram: sp.csr_matrix
    sq_norms: np.ndarray
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


def item_statistics_partial(data: InteractionData, config: RecommenderConfig, *, gram: bool = True) -> ItemStatistics:
    """The statistics of one customer partition (`data` holds only its customers' interactions). `gram=False`:
    without the Gram matrix (an empty one), for `item_similarity_blocks`."""
    weights = sp.csr_matrix(data.weights, dtype=np.float64)
    # in row order, as the product's diagonal sums them: the same float64 sums as gram.diagonal()
    sq_norms = np.bincount(weights.indices, weights=weights.data * weights.data, minlength=data.n_items)
    n = data.n_items
    gram = sp.triu(weights.T @ weights, format="csr") if gram else sp.csr_matrix((n, n), dtype=np.float64)

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
    return ItemStatistics(gram=gram, sq_norms=sq_norms, popularity_recent=popularity_recent,
                          popularity_all=popularity_all,
                          recent_interactions=int(recent.sum()), buyers=buyers, rebuyers=rebuyers,
                          interactions_per_item=np.bincount(cols, minlength=data.n_items),
                          rebuy_cols=rebuy_cols, rebuy_gaps=rebuy_gaps, most_bought=most_bought_count(data),
                          customers=data.n_customers)


def item_statistics_merge(parts: list[ItemStatistics]) -> ItemStatistics:
    """The statistics of the union of disjoint customer partitions: every field is a sum."""
    if not parts:
        raise ValueError("no partitions to merge")
    gram = parts[0].gram  # `+` makes a new matrix: no copy of the first (the largest thing a merge holds)
    for part in parts[1:]:
        gram = gram + part.gram
    return ItemStatistics(
        gram=sp.csr_matrix(gram),
        sq_norms=np.sum([p.sq_norms for p in parts], axis=0),
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
    upper = sp.csr_matrix(stats.gram)  # the upper triangle, diagonal included
    lower = sp.csr_matrix(sp.triu(upper, k=1).T)  # the rest, by rows
    n = upper.shape[0]
    norms = np.sqrt(np.maximum(upper.diagonal(), 0.0))
    parts = []
    for start in range(0, n, config.block_size):
        stop = min(start + config.block_size, n)
        block = sp.csr_matrix(upper[start:stop] + lower[start:stop], dtype=np.float64)
        row_norms = np.repeat(norms[start:stop], np.diff(block.indptr))
        block.data = (block.data / (row_norms * norms[block.indices] + config.item_shrinkage)).astype(np.float32)
        block = sp.csr_matrix(block, dtype=np.float32)
        block = _drop_diagonal(block, start)
        parts.append(topk_to_csr(topk_csr(block, config.item_neighbours, unique=True), n))
    if not parts:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(parts, format="csr", dtype=np.float32)


# Entries of co-occurrence rows one product block may hold (an upper bound, `cooccurrence_bound`): with the
# temporaries of its sum and top-n cut, a block's peak is some 40-60 bytes an entry (about 400 MB).
COOCCURRENCE_BLOCK_ENTRIES = 8_000_000


class WeightsSpill:
    """The partitions' weights matrices (customers x products, float64, CSR and CSC) written to `directory` as
    plain .npy arrays, one partition after the other, and read back memory-mapped (`load`): the statistics pass
    holds one partition's matrix at a time, and `item_similarity_blocks` reads each partition once per product
    block, touching only the pages the block needs (unmapped after it). They are customers' interactions:
    `remove` them when the similarity is computed."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, weights: sp.csr_matrix) -> None:
        rows = sp.csr_matrix(weights, dtype=np.float64)
        for kind, matrix in (("csr", rows), ("csc", rows.tocsc())):
            for name in ("data", "indices", "indptr"):
                np.save(self.directory / f"{self.count}.{kind}.{name}.npy", getattr(matrix, name))
        np.save(self.directory / f"{self.count}.shape.npy", np.asarray(rows.shape, np.int64))
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def load(self, index: int) -> tuple[sp.csc_matrix, sp.csr_matrix]:
        """Partition `index`'s matrix by columns and by rows, memory-mapped (nothing read until used)."""
        shape = tuple(int(v) for v in np.load(self.directory / f"{index}.shape.npy"))
        arrays = {(kind, name): np.load(self.directory / f"{index}.{kind}.{name}.npy", mmap_mode="r")
                  for kind in ("csr", "csc") for name in ("data", "indices", "indptr")}
        return tuple(cls((arrays[kind, "data"], arrays[kind, "indices"], arrays[kind, "indptr"]), shape=shape)
                     for kind, cls in (("csc", sp.csc_matrix), ("csr", sp.csr_matrix)))

    def remove(self) -> None:
        for path in self.directory.glob("*.npy"):
            path.unlink(missing_ok=True)
        try:
            self.directory.rmdir()
        except OSError:
            pass


def cooccurrence_bound(weights: sp.csr_matrix) -> np.ndarray:
    """Per product, an upper bound of its co-occurrence row's size in these customers: the products of every
    customer who touched it, summed (also the work of computing that row)."""
    weights = sp.csr_matrix(weights)
    counts = np.diff(weights.indptr)
    return np.bincount(weights.indices, weights=np.repeat(counts, counts).astype(np.float64),
                       minlength=weights.shape[1])


def product_blocks(bound: np.ndarray, entries: int) -> list[tuple[int, int]]:
    """Consecutive product ranges [start, stop) whose rows' `bound` (each at most the catalogue's size) sum to at
    most `entries` (at least one product each)."""
    n = len(bound)
    total = np.concatenate([[0.0], np.cumsum(np.minimum(bound, n))])
    ranges, start = [], 0
    while start < n:
        stop = int(np.searchsorted(total, total[start] + entries, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        ranges.append((start, stop))
        start = stop
    return ranges


def item_similarity_blocks(parts: WeightsSpill | list[sp.csr_matrix], sq_norms: np.ndarray,
                           config: RecommenderConfig, *, entries: int = COOCCURRENCE_BLOCK_ENTRIES,
                           progress: Callable[[int, int], None] | None = None) -> sp.csr_matrix:
    """item_knn's neighbours from the partitions' weights matrices (`parts`, in the order their statistics were
    folded; `sq_norms`: the merged `ItemStatistics.sq_norms`) without the Gram matrix: for each block of products
    (`product_blocks`, about `entries` co-occurrence entries), the rows of every partition's customers who touched
    one of its products are stacked (at most the block's bound in entries) and multiplied once, giving the block's
    rows of Wᵀ W over every customer, turned into shrunk cosines and cut to the top `item_neighbours` at once.
    Partitions in id order give the very float64 sums of one product over every customer (`item_similarity` of a
    single partition's statistics), so the same neighbours whatever the partitioning; memory: one block's
    customers, never the whole matrix. `progress(done, total)` after each block."""
    def load(index: int) -> tuple[sp.csc_matrix, sp.csr_matrix]:
        if isinstance(parts, WeightsSpill):
            return parts.load(index)
        rows = sp.csr_matrix(parts[index], dtype=np.float64)
        return rows.tocsc(), rows

    n = len(sq_norms)
    norms = np.sqrt(np.maximum(sq_norms, 0.0))
    bound = np.zeros(n)
    for index in range(len(parts)):
        bound += cooccurrence_bound(load(index)[1])
    pieces = []
    ranges = product_blocks(bound, entries)
    for done, (start, stop) in enumerate(ranges, start=1):
        touched = []  # every partition's customers with an interaction in the block, their whole rows
        for index in range(len(parts)):
            cols, rows = load(index)
            mask = np.zeros(rows.shape[0], dtype=bool)
            mask[cols[:, start:stop].indices] = True
            touched.append(rows[np.flatnonzero(mask)])
            del cols, rows
        stacked = sp.vstack(touched, format="csr", dtype=np.float64)  # at most the block's bound: <= entries
        del touched
        # rows start..stop of Wᵀ W: one sum per entry over the customers in partition (i.e. id) order, as one
        # product over every customer computes it
        block = sp.csr_matrix(stacked[:, start:stop].T @ stacked, dtype=np.float64)
        del stacked
        row_norms = np.repeat(norms[start:stop], np.diff(block.indptr))
        block.data = (block.data / (row_norms * norms[block.indices] + config.item_shrinkage)).astype(np.float32)
        block = sp.csr_matrix(block, dtype=np.float32)
        block = _drop_diagonal(block, start)
        pieces.append(topk_to_csr(topk_csr(block, config.item_neighbours, unique=True), n))
        del block
        if progress is not None:
            progress(done, len(ranges))
    if not pieces:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(pieces, format="csr", dtype=np.float32)


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


# ---- a build by partitions: caps decided for the shop, partials folded, the shared model saved, lists ------------


def shop_config(config: RecommenderConfig, *, customers: int, purchase_lines: int,
                partitions: int) -> RecommenderConfig:
    """`config` with the size caps decided by the whole shop, not by a partition or the validation sample:
    ALS and the sequential member off above their purchase-line / customer caps (the counts their own `fit`
    checks: distinct (basket, product) lines, customers), and the ranker off above `ranker_max_customers` or with
    several partitions (its features read shop-wide statistics of every customer: `ranker_context`). A shop of
    one partition below every cap keeps `config` as it is."""
    changes: dict = {}
    if purchase_lines > config.als_max_interactions:
        changes["als_max_interactions"] = 0
    if purchase_lines > config.seqrec_max_interactions or customers > config.seqrec_max_customers:
        changes["seqrec_max_interactions"] = 0
    if config.ranker and (partitions > 1 or customers > config.ranker_max_customers):
        changes["ranker"] = False
    return replace(config, **changes) if changes else config


@dataclass(frozen=True)
class PartitionPartials:
    """One partition's (or several folded partitions') contribution to a build: item statistics, user_knn's and
    TIFU-KNN's neighbour indexes (`tifu` None: the shop is too big for TIFU's neighbours), and counts."""

    stats: ItemStatistics
    users: NeighbourIndex
    tifu: NeighbourIndex | None
    interactions: int


def partition_partials(data: InteractionData, config: RecommenderConfig, *, tifu: bool,
                       gram: bool = True) -> PartitionPartials:
    """The partials of one partition (`data`: its customers only, built with the shop's `as_of` and products;
    `config` already tuned, as TIFU's vectors depend on the tuned decay). `gram=False`: without the Gram matrix
    (the caller computes item_knn's neighbours with `item_similarity_blocks`)."""
    return PartitionPartials(stats=item_statistics_partial(data, config, gram=gram),
                             users=user_index_partial(data, config),
                             tifu=tifu_index_partial(data, config) if tifu else None,
                             interactions=len(data.interactions))


def partials_merge(parts: list[PartitionPartials], config: RecommenderConfig) -> PartitionPartials:
    """The partials of the union of disjoint partitions (fold them as they come: the merge is associative)."""
    tifus = [p.tifu for p in parts if p.tifu is not None]
    return PartitionPartials(
        stats=item_statistics_merge([p.stats for p in parts]),
        users=neighbour_index_merge([p.users for p in parts], cap=config.user_posting_cap),
        tifu=neighbour_index_merge(tifus, cap=config.user_posting_cap * 2) if len(tifus) == len(parts) else None,
        interactions=sum(p.interactions for p in parts),
    )


@dataclass(frozen=True)
class PartitionedModel:
    """What every partition of a build shares, computed once: the shop's item statistics (without the Gram
    matrix: `similarity` is what the members read), item_knn's similarity, the catalogue's content and picture
    similarities, and the merged neighbour indexes. Bounded by the catalogue (and products x cap customers), not
    by the shop."""

    stats: ItemStatistics
    similarity: sp.csr_matrix
    content: sp.csr_matrix
    visual: sp.csr_matrix
    users: NeighbourIndex
    tifu: NeighbourIndex | None


def partitioned_model(partials: PartitionPartials, config: RecommenderConfig, *, content: sp.csr_matrix,
                      visual: sp.csr_matrix, similarity: sp.csr_matrix | None = None) -> PartitionedModel:
    """The shared model from the shop's merged partials (the Gram matrix is turned into neighbours, then
    dropped; `similarity`: item_knn's neighbours already computed, `item_similarity_blocks`)."""
    n = partials.stats.n_items
    if similarity is None:
        similarity = item_similarity(partials.stats, config)
    return PartitionedModel(stats=replace(partials.stats, gram=sp.csr_matrix((n, n), dtype=np.float64)),
                            similarity=similarity, content=sp.csr_matrix(content),
                            visual=sp.csr_matrix(visual), users=partials.users, tifu=partials.tifu)


_STAT_ARRAYS = ("sq_norms", "popularity_recent", "popularity_all", "buyers", "rebuyers", "interactions_per_item",
                "rebuy_cols", "rebuy_gaps")
_STAT_NUMBERS = ("recent_interactions", "most_bought", "customers")


def partitioned_model_save(model: PartitionedModel, path: Path) -> None:
    """Save as one .npz of plain arrays (no pickle), written to a temporary name and renamed."""
    arrays: dict[str, np.ndarray] = {"n_items": np.asarray(model.stats.n_items)}
    for name in _STAT_ARRAYS:
        arrays[name] = np.asarray(getattr(model.stats, name))
    for name in _STAT_NUMBERS:
        arrays[name] = np.asarray(int(getattr(model.stats, name)))
    for name in ("similarity", "content", "visual"):
        _put_csr(arrays, name, getattr(model, name))
    for name in ("users", "tifu"):
        index = getattr(model, name)
        arrays[f"{name}.present"] = np.asarray(index is not None)
        if index is not None:
            arrays[f"{name}.customer_ids"] = index.customer_ids
            _put_csr(arrays, f"{name}.postings", index.postings)
            _put_csr(arrays, f"{name}.rows", index.rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.partial.npz")
    np.savez(temporary, **arrays)
    temporary.replace(path)


def partitioned_model_load(path: Path) -> PartitionedModel:
    """The model `partitioned_model_save` wrote."""
    with np.load(Path(path), allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    n = int(arrays["n_items"])
    # a model saved before `sq_norms` existed (a build started before an upgrade): its partitions never read them
    arrays.setdefault("sq_norms", np.zeros(n))
    stats = ItemStatistics(gram=sp.csr_matrix((n, n), dtype=np.float64),
                           **{name: arrays[name] for name in _STAT_ARRAYS},
                           **{name: int(arrays[name]) for name in _STAT_NUMBERS})
    indexes = {}
    for name in ("users", "tifu"):
        indexes[name] = NeighbourIndex(customer_ids=arrays[f"{name}.customer_ids"],
                                       postings=_get_csr(arrays, f"{name}.postings"),
                                       rows=_get_csr(arrays, f"{name}.rows")) if bool(arrays[f"{name}.present"]) \
            else None
    return PartitionedModel(stats=stats, similarity=_get_csr(arrays, "similarity"), content=_get_csr(arrays, "content"),
                            visual=_get_csr(arrays, "visual"), **indexes)


def _put_csr(arrays: dict, name: str, matrix: sp.csr_matrix) -> None:
    matrix = sp.csr_matrix(matrix)
    arrays.update({f"{name}.data": matrix.data, f"{name}.indices": matrix.indices, f"{name}.indptr": matrix.indptr,
                   f"{name}.shape": np.asarray(matrix.shape)})


def _get_csr(arrays: dict, name: str) -> sp.csr_matrix:
    return sp.csr_matrix((arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"]),
                         shape=tuple(int(v) for v in arrays[f"{name}.shape"]))


def partition_hybrid(data: InteractionData, model: PartitionedModel, config: RecommenderConfig, *,
                     weights: dict[str, float], ranker=None) -> FittedHybrid:
    """The hybrid for one partition's customers (`data`), ready to list them, as `build.FittedHybrid`: every member
    of RECOMMENDER_NAMES in its order — the PARTITIONED_MEMBERS with the shop's `model`, ALS and the sequential
    member fitted on the partition (their caps already decided for the shop by `shop_config`) — blended with
    `weights` or ordered by `ranker`. For a shop of one partition: the members a fit over every customer gives."""
    members = partition_components(data, model.stats, config, content_similarity=model.content,
                                   visual_similarity=model.visual, similarity=model.similarity, users=model.users,
                                   tifu=model.tifu)
    members["als"] = AlsRecommender(config).fit(data)
    members["seqrec"] = SequentialRecommender(config).fit(data)
    assert tuple(members) == RECOMMENDER_NAMES  # the ranker reads its features in this order
    hybrid = HybridRecommender(config, weights, members, ranker=ranker).fit(data)
    return FittedHybrid(data=data, hybrid=hybrid, exclude=exclusion_matrix(data, config))
