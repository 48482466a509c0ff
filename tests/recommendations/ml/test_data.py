import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data, topk_csr

from .helpers import AS_OF, customers, interactions, products


def test_decay_halves_weight_after_one_half_life():
    inter = interactions([(1, 10, 0, "view"), (2, 10, 90, "view")])
    data = build_interaction_data(inter, products([10]), customers([1, 2]), config=RecommenderConfig(), as_of=AS_OF)
    w = data.weights.toarray()[:, 0]
    assert w[0] == pytest.approx(1.0)
    assert w[1] == pytest.approx(0.5, rel=1e-4)


def test_purchase_outweighs_cart_outweighs_wishlist_outweighs_view():
    inter = interactions([(1, 10, 0, "purchase"), (1, 11, 0, "cart"), (1, 12, 0, "wishlist"), (1, 13, 0, "view")])
    data = build_interaction_data(inter, products([10, 11, 12, 13]), customers([1]), config=RecommenderConfig(),
                                  as_of=AS_OF)
    w = data.weights.toarray()[0]
    assert w[0] > w[1] > w[2] > w[3] > 0


def test_interactions_after_as_of_are_not_trained_on():
    inter = interactions([(1, 10, 5, "purchase"), (1, 11, -1, "purchase")])
    data = build_interaction_data(inter, products([10, 11]), customers([1]), config=RecommenderConfig(), as_of=AS_OF)
    assert data.weights[0, 1] == 0 and data.weights[0, 0] > 0


def test_unknown_products_are_dropped_and_index_maps_round_trip():
    inter = interactions([(7, 10, 1, "view"), (7, 999, 1, "view"), (8, 11, 1, "view")])
    data = build_interaction_data(inter, products([10, 11]), customers([7]), config=RecommenderConfig(), as_of=AS_OF)
    # customer 8 is not in the customers frame but still becomes a row (it helps CF)
    assert list(data.customer_ids) == [7, 8]
    assert data.weights.nnz == 2
    assert data.customer_ids[data.customer_positions([8])[0]] == 8
    assert data.product_positions([11, 999]).tolist() == [1, -1]


def test_topk_csr_orders_rows_independently_and_pads_short_rows():
    m = sp.csr_matrix(np.array([[0.1, 0.9, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]]))
    top = topk_csr(m, 2)
    assert top.items.tolist() == [[1, 3], [-1, -1], [0, -1]]
    assert top.scores[0].tolist() == pytest.approx([0.9, 0.5])


def test_empty_interactions_build_an_empty_matrix():
    empty = interactions([(1, 10, 0, "view")]).iloc[:0]
    data = build_interaction_data(empty, products([10]), customers([1]), config=RecommenderConfig(),
                                  as_of=pd.Timestamp("2025-01-01", tz="UTC"))
    assert data.weights.shape == (1, 1) and data.weights.nnz == 0


def test_topk_csr_breaks_ties_by_lower_column_in_dense_blocks_as_in_sparse_ones():
    # catches: a customer's list depending on which rows share its block (argpartition picks among tied values
    # arbitrarily; a dense block and a sparse one must agree, so partitions list as one build does)
    rng = np.random.default_rng(0)
    row = np.zeros(40, np.float32)
    row[[3, 7, 11, 19, 23, 31]] = 0.5  # six tied values, four places
    row[[1, 2]] = [0.9, 0.8]
    dense_block = np.vstack([row, rng.random((30, 40)).astype(np.float32)])  # dense: > 20 % non-zero
    alone = topk_csr(sp.csr_matrix(row[None, :]), 6)  # sparse path
    together = topk_csr(sp.csr_matrix(dense_block), 6)
    assert alone.items[0].tolist() == [1, 2, 3, 7, 11, 19]
    assert together.items[0].tolist() == alone.items[0].tolist()
    assert np.allclose(together.scores[0], alone.scores[0])
