"""The fast paths of a build (packed-key top-k, forked workers, coded reasons) must give the plain answers."""

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.ml.base import exclusion_matrix
from recommendations.ml.build import recommend_all, recommendations_frame
from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data, topk_csr
from recommendations.ml.hybrid import HybridRecommender
from recommendations.ml.synthetic import synthetic_shop


@pytest.mark.parametrize("padding", [0, 200], ids=["dense-block", "sparse-block"])
def test_topk_csr_breaks_ties_by_lower_column_and_drops_non_positive_entries(padding):
    rows = np.array([[0.5, 0.0, 0.5, -1.0, 0.5], [-2.0, 0.0, 0.0, 0.0, 3.0], [0.0, 0.0, -1.0, 0.0, 0.0]])
    m = sp.csr_matrix(np.hstack([rows, np.zeros((3, padding))]))
    top = topk_csr(m, 4)
    assert top.items.tolist() == [[0, 2, 4, -1], [4, -1, -1, -1], [-1, -1, -1, -1]]
    assert top.scores[0, :3].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert top.scores[1].tolist() == pytest.approx([3.0, 0, 0, 0])


def test_topk_csr_sums_duplicate_entries_before_ranking():
    # (0, 1) appears twice: 0.3 + 0.3 beats 0.5
    m = sp.csr_matrix((np.array([0.3, 0.5, 0.3]), (np.array([0, 0, 0]), np.array([1, 2, 1]))), shape=(1, 3))
    top = topk_csr(m, 2)
    assert top.items.tolist() == [[1, 2]]
    assert top.scores[0].tolist() == pytest.approx([0.6, 0.5])


def test_topk_csr_scores_are_exact_to_float32_for_every_kept_entry():
    rng = np.random.default_rng(3)
    m = sp.random(300, 400, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    top = topk_csr(m, 10)
    dense = m.toarray()
    rows, ranks = np.nonzero(top.items >= 0)
    np.testing.assert_allclose(top.scores[rows, ranks], dense[rows, top.items[rows, ranks]], rtol=1e-6)
    # and they are the row's largest values
    expected = -np.sort(-dense, axis=1)[:, :10]
    np.testing.assert_allclose(top.scores, np.where(expected > 0, expected, 0), rtol=1e-6)


@pytest.fixture(scope="module")
def fitted_hybrid():
    shop = synthetic_shop(n_customers=600, n_products=120, seed=5)
    config = RecommenderConfig()
    data = build_interaction_data(shop.interactions, shop.products, shop.customers, config=config)
    hybrid = HybridRecommender(config, {"popularity": 0.5, "repurchase": 2.0, "item_knn": 1.0, "user_knn": 1.0,
                                        "content": 0.25}).fit(data)
    return hybrid, exclusion_matrix(data, config), data.customer_positions(shop.customers["customer_id"])


def test_forked_workers_give_exactly_the_lists_of_one_process(fitted_hybrid):
    hybrid, exclude, rows = fitted_hybrid
    serial = recommend_all(hybrid, rows, 10, exclude, workers=1, chunk=100)
    parallel = recommend_all(hybrid, rows, 10, exclude, workers=2, chunk=100)
    for name in ("items", "scores", "sources", "reasons"):
        assert np.array_equal(getattr(serial, name), getattr(parallel, name)), name
    assert (serial.items >= 0).sum() == len(rows) * 10  # and nothing was lost between the chunks


def test_coded_reasons_in_the_frame_read_like_each_recommenders_own_reasons(fitted_hybrid):
    hybrid, exclude, rows = fitted_hybrid
    coded = recommend_all(hybrid, rows, 10, exclude, workers=1)
    frame = recommendations_frame(hybrid, rows, coded)
    explained = hybrid.recommend_explained(rows, 10, exclude)
    local, rank = np.nonzero(explained.items >= 0)
    assert frame["reason"].astype(str).tolist() == explained.reasons[local, rank].tolist()
    assert frame["source"].astype(str).tolist() == explained.sources[local, rank].tolist()
    assert frame["reason"].str.len().gt(0).all()
    assert frame["reason"].nunique() > 3


def test_topk_csr_of_long_rows_is_the_plain_sort_of_each_row():
    # rows far longer than k (the members' candidate blocks): values over many orders of magnitude, ties at and
    # around the k-th value, negative and tiny entries, and short rows beside them
    rng = np.random.default_rng(11)
    n, m, k = 40, 3000, 25
    dense = np.where(rng.random((n, m)) < 0.15, np.exp(rng.normal(0, 4, (n, m))), 0.0)
    dense[0, :200] = 0.5  # every entry of the row ties: the lower columns win
    dense[1, :40] = np.repeat([2.0, 1.0], 20)  # the 25th value ties with the 26th-40th
    dense[2, 100:300] = -1.0  # negative entries never come back
    dense[3] = 0.0
    dense[3, [5, 9]] = [1e-3, 1e-9]  # a short row: everything positive comes back
    dense[4, 7] = 1e6  # one huge value: the others are small beside it and still ranked
    matrix = sp.csr_matrix(dense.astype(np.float32))
    assert matrix.nnz > 2 * k * n  # long rows
    top = topk_csr(matrix, k)
    values = matrix.toarray()
    for row in range(n):
        order = np.lexsort((np.arange(m), -values[row]))  # by value descending, ties by column
        expected = [int(c) for c in order[:k] if values[row, c] > 0]
        got = [int(c) for c in top.items[row] if c >= 0]
        assert got == expected, row
        np.testing.assert_allclose(top.scores[row, :len(got)], values[row, expected], rtol=1e-6)


def test_topk_csr_of_long_rows_breaks_ties_of_equal_quantised_values_as_short_rows_do():
    # columns 5 and 10 differ by one float32 step, on either side of a power-of-two bucket edge, and quantise to
    # the same level: the lower column wins, as it would in a short row (a second reader's case)
    row = np.zeros(1000, np.float32)
    row[0], row[1] = 1.0, 0.5
    row[10] = 1.125 * 2**-20
    row[5] = np.nextafter(np.float32(1.125 * 2**-20), np.float32(0))
    row[20:40] = 1e-9
    assert topk_csr(sp.csr_matrix(row[None, :]), 3).items.tolist() == [[0, 1, 5]]
    short = row.copy()
    short[20:40] = 0.0
    assert topk_csr(sp.csr_matrix(short[None, :]), 3).items.tolist() == [[0, 1, 5]]
