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
    inter = interactions[interactions["kind"].isin(list(KIND_CODES))]
    if as_of is None:
        as_of = inter["ts"].max() if len(inter) else pd.Timestamp.now(tz="UTC")
    inter = inter[inter["ts"] <= as_of]
    extra = np.setdiff1d(inter["customer_id"].to_numpy(dtype=np.int64), frame_ids)
    customer_ids = np.concatenate([frame_ids, extra])
    rows = pd.Index(customer_ids).get_indexer(inter["customer_id"].to_numpy(dtype=np.int64))
    cols = pd.Index(product_ids).get_indexer(inter["product_id"].to_numpy(dtype=np.int64))
    keep = cols >= 0
    inter = inter[keep]
    rows, cols = rows[keep], cols[keep]
    shape = (len(customer_ids), len(product_ids))

    age_days = ((as_of - inter["ts"]).dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64)
    kind_weight = inter["kind"].map(config.kind_weights).fillna(0.0).to_numpy(dtype=np.float64)
    quantity = inter["quantity"].fillna(1.0).clip(lower=1.0).to_numpy(dtype=np.float64) if "quantity" in inter else 1.0
    # log-dampened quantity: ten tins of cat food are a stronger signal than one, not ten times stronger
    value = kind_weight * (1.0 + 0.5 * np.log(quantity)) * np.power(0.5, age_days / config.half_life_days)
    weights = sp.csr_matrix((value.astype(np.float32), (rows, cols)), shape=shape, dtype=np.float32)
    weights.sum_duplicates()

    codes = inter["kind"].map(KIND_CODES).to_numpy(dtype=np.int8)
    kinds = _max_per_cell(rows, cols, codes, shape)

    is_purchase = (inter["kind"] == "purchase").to_numpy()
    purchased = sp.csr_matrix(
        (np.ones(int(is_purchase.sum()), dtype=np.float32), (rows[is_purchase], cols[is_purchase])), shape=shape
    )
    purchased.sum_duplicates()
    purchased.data[:] = 1.0
    p = inter[is_purchase]
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


def topk_csr(matrix: sp.csr_matrix, k: int) -> TopK:
    """Largest k positive entries of every row of a sparse matrix, best first (vectorised, no Python row loop)."""
    matrix = sp.csr_matrix(matrix)
    matrix.sum_duplicates()
    n = matrix.shape[0]
    items = np.full((n, k), -1, dtype=np.int64)
    scores = np.zeros((n, k), dtype=np.float32)
    if k == 0 or matrix.nnz == 0:
        return TopK(items, scores)
    if matrix.nnz > 0.05 * n * matrix.shape[1] and matrix.shape[1] > k:
        return _topk_dense(matrix.toarray(), k)
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
    order = np.argsort(-values, axis=1, kind="stable")
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


def topk_to_csr(top: TopK, n_cols: int) -> sp.csr_matrix:
    """A TopK as a sparse matrix (same rows)."""
    rows, ranks = np.nonzero(top.items >= 0)
    return sp.csr_matrix((top.scores[rows, ranks], (rows, top.items[rows, ranks])), shape=(top.items.shape[0], n_cols))


def top_n_similarity(
    left: sp.csr_matrix, right: sp.csr_matrix, *, n: int, block: int = 2000, denominator=None, drop_self: bool = True
) -> sp.csr_matrix:
    """Row-wise top-n of left @ right.T, computed in row blocks so memory stays bounded.

    `denominator(block_rows, product)` may rescale the block (e.g. shrunk cosine); drop_self removes the diagonal.
    """
    left, right_t = sp.csr_matrix(left), sp.csr_matrix(right.T)
    parts = []
    for start in range(0, left.shape[0], block):
        stop = min(start + block, left.shape[0])
        product = sp.csr_matrix(left[start:stop] @ right_t)
        if denominator is not None:
            product = denominator(np.arange(start, stop), product)
        if drop_self:
            product = _drop_diagonal(product, start)
        parts.append(topk_to_csr(topk_csr(product, n), right.shape[0]))
    if not parts:
        return sp.csr_matrix((0, right.shape[0]), dtype=np.float32)
    return sp.vstack(parts, format="csr", dtype=np.float32)


def _drop_diagonal(product: sp.csr_matrix, offset: int) -> sp.csr_matrix:
    product = product.tocoo()
    keep = product.col != product.row + offset
    return sp.csr_matrix((product.data[keep], (product.row[keep], product.col[keep])), shape=product.shape)


def row_normalise(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Scale every row to unit L2 norm (zero rows stay zero)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


def blocks(rows: np.ndarray, size: int):
    """Consecutive slices of `rows` of at most `size` elements."""
    for start in range(0, len(rows), max(size, 1)):
        yield rows[start : start + size]
