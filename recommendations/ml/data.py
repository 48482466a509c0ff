"""The shared customer x product matrix (time-decayed, kind-weighted) and sparse top-k helpers.

Frames (ids are integers, timestamps tz-aware UTC):

- interactions: customer_id, product_id, ts, kind ("purchase", "cart", "view", "wishlist"), quantity,
  optionally order_id (purchases; identifies baskets)
- products: product_id, title, description, category, brand, active, created_at, optionally label
- customers: customer_id
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .config import RecommenderConfig

KIND_CODES = {"view": 1, "wishlist": 2, "cart": 3, "purchase": 4}
KIND_VERBS = {1: "viewed", 2: "wishlisted", 3: "added to cart", 4: "bought"}
NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds


@dataclass(frozen=True)
class InteractionData:
    """Everything the recommenders fit on, with index maps between ids and matrix positions.

    weights:   csr float32 customers x products, sum of kind_weight * decay over interactions
    kinds:     csr int8, the strongest interaction kind per cell (KIND_CODES), for reason verbs
    purchased: csr float32 0/1, products each customer bought
    purchases: one row per (customer position, product position, basket) with `age_days` (before as_of)
    """

    as_of: pd.Timestamp
    customer_ids: np.ndarray
    product_ids: np.ndarray
    weights: sp.csr_matrix
    kinds: sp.csr_matrix
    purchased: sp.csr_matrix
    purchases: pd.DataFrame
    interactions: pd.DataFrame
    active: np.ndarray
    categories: np.ndarray
    labels: np.ndarray
    products: pd.DataFrame

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_items(self) -> int:
        return len(self.product_ids)

    def customer_positions(self, customer_ids) -> np.ndarray:
        """Matrix rows of `customer_ids` (-1 for unknown ids)."""
        return pd.Index(self.customer_ids).get_indexer(np.asarray(customer_ids))

    def product_positions(self, product_ids) -> np.ndarray:
        """Matrix columns of `product_ids` (-1 for unknown ids)."""
        return pd.Index(self.product_ids).get_indexer(np.asarray(product_ids))


def kind_codes(kinds: pd.Series) -> np.ndarray:
    """KIND_CODES of an interaction-kind column (0 = unknown kind); fast for categoricals and strings alike."""
    if isinstance(kinds.dtype, pd.CategoricalDtype):
        codes, uniques = kinds.cat.codes.to_numpy(), kinds.cat.categories
    else:
        codes, uniques = pd.factorize(kinds)
    lookup = np.array([KIND_CODES.get(str(value), 0) for value in uniques] + [0], dtype=np.int8)
    return lookup[codes]  # code -1 (missing) picks the trailing 0


def epoch_ns(stamps: pd.Series) -> np.ndarray:
    """Timezone-aware timestamps as int64 nanoseconds since 1970 (no per-element conversion)."""
    if len(stamps) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(stamps.dt.as_unit("ns").array.asi8, dtype=np.int64)


def basket_keys(purchases: pd.DataFrame) -> pd.Series:
    """A basket per purchase row: the order_id when the caller gave one, else the timestamp."""
    if "order_id" in purchases.columns and purchases["order_id"].notna().all():
        return purchases["order_id"].astype("int64")
    return purchases["ts"].astype("int64")


def product_labels(products: pd.DataFrame) -> np.ndarray:
    """Human names for reasons: `label`, else title, else the product id."""
    ids = products["product_id"].astype(str)
    for column in ("label", "title"):
        if column in products.columns:
            values = products[column].fillna("").astype(str)
            return np.where(values.str.len() > 0, values, ids).astype(object)
    return ids.to_numpy(dtype=object)


def build_interaction_data(
    interactions: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    *,
    config: RecommenderConfig,
    as_of: pd.Timestamp | None = None,
) -> InteractionData:
    """Build the decayed matrix as of `as_of` (default: the last interaction); later interactions are dropped.

    Customers are the union of `customers` and those seen in interactions (extra rows help CF);
    interactions with unknown products or kinds are ignored.
    """
    products = products.reset_index(drop=True)
    product_ids = products["product_id"].to_numpy(dtype=np.int64)
    frame_ids = customers["customer_id"].to_numpy(dtype=np.int64)
    # plain arrays from here on: filtering a 5M-row frame copies every column, mapping strings costs seconds
    codes = kind_codes(interactions["kind"])
    stamps = epoch_ns(interactions["ts"])
    if as_of is None:
        known = codes > 0
        known &= stamps != NAT
        as_of = pd.Timestamp(int(stamps[known].max()), tz="UTC") if known.any() else pd.Timestamp.now(tz="UTC")
    as_of_ns = pd.Timestamp(as_of).as_unit("ns").value
    cols = pd.Index(product_ids).get_indexer(interactions["product_id"].to_numpy(dtype=np.int64))
    keep = np.flatnonzero((codes > 0) & (stamps <= as_of_ns) & (stamps != NAT) & (cols >= 0))
    raw_customers = interactions["customer_id"].to_numpy(dtype=np.int64)[keep]
    rows = pd.Index(frame_ids).get_indexer(raw_customers)
    # customers seen only in interactions become extra rows after the frame's (sorted, as np.setdiff1d gives)
    extra = np.unique(raw_customers[rows < 0])
    customer_ids = np.concatenate([frame_ids, extra])
    if len(extra):
        rows[rows < 0] = len(frame_ids) + np.searchsorted(extra, raw_customers[rows < 0])
    cols, codes, stamps = cols[keep], codes[keep], stamps[keep]
    shape = (len(customer_ids), len(product_ids))

    age_days = (as_of_ns - stamps) / 86_400e9
    code_weight = np.zeros(len(KIND_CODES) + 1)
    for kind, code in KIND_CODES.items():
        code_weight[code] = config.kind_weights.get(kind, 0.0)
    kind_weight = code_weight[codes]
    if "quantity" in interactions:
        quantity = interactions["quantity"].to_numpy(dtype=np.float64, na_value=1.0)[keep]
        # log-dampened quantity: ten tins of cat food are a stronger signal than one, not ten times stronger
        kind_weight = kind_weight * (1.0 + 0.5 * np.log(np.maximum(quantity, 1.0)))
    value = kind_weight * np.power(0.5, age_days / config.half_life_days)
    weights = sp.csr_matrix((value.astype(np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    weights.sum_duplicates()

    kinds = _max_per_cell(rows, cols, codes, shape)

    is_purchase = codes == KIND_CODES["purchase"]
    purchased = sp.csr_matrix(
        (np.ones(int(is_purchase.sum()), dtype=np.float32), (rows[is_purchase], cols[is_purchase])), shape=shape
    )
    purchased.sum_duplicates()
    purchased.data[:] = 1.0
    p = interactions.iloc[keep[is_purchase]]
    purchases = pd.DataFrame(
        {"row": rows[is_purchase], "col": cols[is_purchase], "age_days": age_days[is_purchase],
         "basket": basket_keys(p).to_numpy()}
    ).drop_duplicates(["row", "col", "basket"])

    active = (
        products["active"].fillna(False).to_numpy(dtype=bool) if "active" in products else np.ones(len(products), bool)
    )
    categories = (
        products["category"].fillna("").astype(str).to_numpy(dtype=object)
        if "category" in products
        else np.full(len(products), "", dtype=object)
    )
    frame = pd.DataFrame({"row": rows, "col": cols, "age_days": age_days, "code": codes})
    return InteractionData(
        as_of=as_of,
        customer_ids=customer_ids,
        product_ids=product_ids,
        weights=weights,
        kinds=kinds,
        purchased=purchased,
        purchases=purchases,
        interactions=frame,
        active=active,
        categories=categories,
        labels=product_labels(products),
        products=products,
    )


def _max_per_cell(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape) -> sp.csr_matrix:
    if len(rows) == 0:
        return sp.csr_matrix(shape, dtype=np.int8)
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.lexsort((values, key))
    key, values = key[order], values[order]
    last = np.r_[key[1:] != key[:-1], True]
    key, values = key[last], values[last]
    return sp.csr_matrix((values, (key // shape[1], key % shape[1])), shape=shape, dtype=np.int8)


@dataclass(frozen=True)
class TopK:
    """Per-row top-k: `items` int64 [rows, k] padded with -1, `scores` float32 padded with 0."""

    items: np.ndarray
    scores: np.ndarray


def topk_csr(matrix: sp.csr_matrix, k: int, *, unique: bool = False) -> TopK:
    """Largest k positive entries of every row of a sparse matrix, best first (vectorised, no Python row loop).

    Ties go to the lower column. One `np.sort` of packed 64-bit keys (row, quantised value, column) orders every
    row at once: an integer sort with SIMD is many times faster than a stable argsort of floats. Values are
    quantised to >= 24 bits of their row's maximum, so scores come back exact to float32 precision near the top;
    a value below that resolution (< 2^-24 of the row's best) counts as zero. When most entries sit in rows far
    longer than k, those that cannot reach their row's top k are dropped before the sort (`_top_levels`).
    `unique=True`: the caller knows no (row, column) appears twice (a sparse product does not), which skips
    the index sort scipy needs to merge duplicates.
    """
    matrix = sp.csr_matrix(matrix)
    if not unique:
        matrix.sum_duplicates()
    n, m = matrix.shape
    items = np.full((n, k), -1, dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    if k == 0 or matrix.nnz == 0:
        return TopK(items, scores)
    if matrix.nnz > 0.2 * n * m and m > k:  # nearly dense: a partition of the dense block is cheaper
        return _topk_dense(matrix.toarray(), k)
    row_bits, col_bits = max(int(n - 1).bit_length(), 1), max(int(m - 1).bit_length(), 1)
    value_bits = min(64 - row_bits - col_bits, 40)
    if value_bits < 24:  # astronomically big matrices: fall back to a float argsort
        if unique:
            matrix.sum_duplicates()
        return _topk_argsort(matrix, k, items, scores)
    counts = np.diff(matrix.indptr)
    data = matrix.data
    nonempty = counts > 0
    row_max = np.ones(n)
    row_max[nonempty] = np.maximum.reduceat(data, matrix.indptr[:-1][nonempty])
    row_max[row_max <= 0] = 1.0
    top_q = (1 << value_bits) - 1
    # in place, few passes: this runs on millions of entries per block
    level = np.repeat(top_q / row_max, counts)
    level *= data
    np.rint(level, out=level)
    np.clip(level, 0, top_q, out=level)  # non-positive entries get level 0, sort last in their row, are dropped
    indices = matrix.indices
    long = counts > 4 * k
    if 2 * int(counts[long].sum()) > matrix.nnz:  # most entries in rows far longer than k: keep only their tops
        keep, counts = _top_levels(level, counts, long, k, value_bits=value_bits)
        level, indices = level[keep], indices[keep]
    np.subtract(top_q, level, out=level)
    keys = level.astype(np.uint64)
    del level
    keys <<= np.uint64(col_bits)
    keys |= indices.astype(np.uint64)
    keys |= np.repeat(np.arange(n, dtype=np.uint64) << np.uint64(value_bits + col_bits), counts)
    keys.sort()
    sorted_rows = (keys >> np.uint64(value_bits + col_bits)).astype(np.int64)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(keys)) - starts[sorted_rows]
    keep = np.flatnonzero(rank < k)
    kept = keys[keep]
    level = np.uint64(top_q) - ((kept >> np.uint64(col_bits)) & np.uint64(top_q))
    r, rank = sorted_rows[keep], rank[keep]
    ok = level > 0
    r, rank, kept, level = r[ok], rank[ok], kept[ok], level[ok]
    items[r, rank] = (kept & np.uint64((1 << col_bits) - 1)).astype(np.int64)
    scores[r, rank] = level.astype(np.float64) / top_q * row_max[r]
    # a positive value too small to quantise above 0 is dropped like a non-positive one: close any hole
    return TopK(items, scores) if ok.all() else _compact(items, scores)


def _top_levels(level: np.ndarray, counts: np.ndarray, long: np.ndarray, k: int, *,
                value_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Which entries can be among their row's k best quantised `level`s (a mask over the entries) and the rows'
    new counts: every entry of a short row, and of a `long` row those from the bucket holding its k-th largest
    level up — a superset of the row's top k as topk_csr orders it, ties included, so its answer is unchanged.

    A level's bucket is its float32's exponent and 3 mantissa bits (8 buckets a power of two; equal levels share
    one, and the order is kept), the lowest bucket taking every level under 2^-24 of the top. One histogram of
    (long row, bucket), summed from the top, gives each long row its threshold. On the 200,000-customer bench
    shop the members' candidate blocks hold ~950 entries a customer for a top 100: about a tenth go on to the
    sort, and the candidates cost less than half of sorting them all."""
    buckets = 24 * 8 + 1
    high = (127 + value_bits) << 3  # the top level, 2^value_bits - 1, rounds up to 2^value_bits as a float32
    # buckets numbered from the top (0) down; clipping keeps the order, so no entry changes side of a threshold
    bucket = high - (level.astype(np.float32).view(np.uint32) >> np.uint32(20)).astype(np.int64)
    np.clip(bucket, 0, buckets - 1, out=bucket)
    places = int(long.sum())
    place = np.where(long, np.cumsum(long) - 1, places)  # each long row's place; the short rows share the last
    entry_place = np.repeat(place, counts)
    histogram = np.bincount(entry_place * buckets + bucket, minlength=(places + 1) * buckets).reshape(-1, buckets)
    np.cumsum(histogram, axis=1, out=histogram)
    lowest = np.argmax(histogram >= k, axis=1)  # a long row holds more than k entries: always found
    lowest[places] = buckets - 1  # short rows keep every entry
    keep = bucket <= lowest[entry_place]
    kept = np.concatenate(([0], np.cumsum(keep)))
    ends = np.cumsum(counts)
    return keep, kept[ends] - kept[ends - counts]


def _topk_argsort(matrix: sp.csr_matrix, k: int, items: np.ndarray, scores: np.ndarray) -> TopK:
    n = matrix.shape[0]
    data = matrix.data.astype(np.float64)
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(n), counts)
    nonempty = counts > 0
    row_max = np.zeros(n)
    row_max[nonempty] = np.maximum.reduceat(np.abs(data), matrix.indptr[:-1][nonempty])
    # one float sort for all rows: the integer part keeps rows together, the fraction orders within a row
    key = rows - 0.49 * data / np.where(row_max[rows] > 0, row_max[rows], 1.0)
    order = np.argsort(key, kind="stable")
    rank = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    keep = (rank < k) & (data[order] > 0)
    items[rows[keep], rank[keep]] = matrix.indices[order][keep]
    scores[rows[keep], rank[keep]] = data[order][keep]
    return _compact(items, scores)


def _topk_dense(dense: np.ndarray, k: int) -> TopK:
    # dense blocks (text similarity, co-occurrence of popular items): a partial partition beats a full sort
    part = np.argpartition(-dense, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(dense, part, 1)
    # ties go to the lower column, as in the sparse path, so a row's list does not depend on its block: where
    # the k-th value is shared with a column left out, that row takes a stable sort instead of the partition
    kth = values.min(axis=1)
    straddle = np.flatnonzero((kth > 0) & ((dense == kth[:, None]).sum(axis=1) > (values == kth[:, None]).sum(axis=1)))
    if len(straddle):
        part[straddle] = np.argsort(-dense[straddle], axis=1, kind="stable")[:, :k]
        values[straddle] = np.take_along_axis(dense[straddle], part[straddle], 1)
    order = np.lexsort((part, -values), axis=1)
    items = np.take_along_axis(part, order, 1).astype(np.int64)
    scores = np.take_along_axis(values, order, 1).astype(np.float32)
    items[scores <= 0] = -1
    scores[scores <= 0] = 0.0
    return _compact(items, scores)


def _compact(items: np.ndarray, scores: np.ndarray) -> TopK:
    # non-positive entries were dropped, which can leave holes; push -1 padding to the end of each row
    missing = items < 0
    if not missing.any():
        return TopK(items, scores)
    order = np.argsort(missing, axis=1, kind="stable")
    return TopK(np.take_along_axis(items, order, 1), np.take_along_axis(scores, order, 1))


def top_per_row_exact(matrix: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """The k largest entries of every row with their exact values (`topk_csr` returns them quantised to its
    row's maximum: an index merged from partitions, whose maxima differ, must not depend on that)."""
    matrix = sp.csr_matrix(matrix)
    picked = topk_to_csr(topk_csr(matrix, k), matrix.shape[1])
    picked.data[:] = 1.0
    return sp.csr_matrix(matrix.multiply(picked), dtype=np.float32)


def topk_to_csr(top: TopK, n_cols: int) -> sp.csr_matrix:
    """A TopK as a sparse matrix (same rows)."""
    rows, ranks = np.nonzero(top.items >= 0)
    return sp.csr_matrix((top.scores[rows, ranks], (rows, top.items[rows, ranks])), shape=(top.items.shape[0], n_cols))


# The most cells (rows x columns) one block of `top_n_similarity` spans: a dense block's top-n holds some 30
# bytes a cell at its peak, so about 1 GB whatever the catalogue's size (2,000 rows up to 20,000 products).
SIMILARITY_BLOCK_CELLS = 40_000_000


def top_n_similarity(
    left: sp.csr_matrix, right: sp.csr_matrix, *, n: int, block: int = 2000, denominator=None, drop_self: bool = True
) -> sp.csr_matrix:
    """Row-wise top-n of left @ right.T, computed in row blocks so memory stays bounded.

    `denominator(block_rows, product)` may rescale the block (e.g. shrunk cosine); drop_self removes the diagonal.
    A block has at most `block` rows and at most SIMILARITY_BLOCK_CELLS cells (rows x right's rows): a block of
    a dense product (TF-IDF cosine within a category) grows with the catalogue otherwise.
    """
    left, right_t = sp.csr_matrix(left), sp.csr_matrix(right.T)
    block = max(1, min(block, SIMILARITY_BLOCK_CELLS // max(right.shape[0], 1)))
    parts = []
    for start in range(0, left.shape[0], block):
        stop = min(start + block, left.shape[0])
        product = sp.csr_matrix(left[start:stop] @ right_t)
        if denominator is not None:
            product = denominator(np.arange(start, stop), product)
        if drop_self:
            product = _drop_diagonal(product, start)
        parts.append(topk_to_csr(topk_csr(product, n, unique=True), right.shape[0]))
    if not parts:
        return sp.csr_matrix((0, right.shape[0]), dtype=np.float32)
    return sp.vstack(parts, format="csr", dtype=np.float32)


def _drop_diagonal(product: sp.csr_matrix, offset: int) -> sp.csr_matrix:
    # zeroing in place keeps the csr structure (no coo round trip); topk_csr never returns non-positive entries
    rows = np.repeat(np.arange(product.shape[0]), np.diff(product.indptr))
    product.data[product.indices == rows + offset] = 0.0
    return product


def row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale every row to unit L2 norm (zero rows stay zero)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


def blocks(rows: np.ndarray, size: int):
    """Consecutive slices of `rows` of at most `size` elements."""
    for start in range(0, len(rows), max(size, 1)):
        yield rows[start : start + size]
