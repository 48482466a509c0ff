import numpy as np
import pandas as pd
import pytest

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.evaluate import holdout_report
from recommendations.ml.personal import AlsRecommender, PersonalFrequencyRecommender, TifuKnnRecommender
from recommendations.ml.ranker import candidate_features, rank_matrix, ranker_context, values_at
from recommendations.ml.split import temporal_split

from .helpers import AS_OF, customers, interactions, products


def _fit(cls, rows, config=None, n_products=6):
    config = config or RecommenderConfig()
    data = build_interaction_data(interactions(rows), products(range(1, n_products + 1)),
                                  customers(sorted({r[0] for r in rows})), config=config, as_of=AS_OF)
    return cls(config).fit(data), data


def _top(rec, data, customer, k=3):
    row = data.customer_positions([customer])
    return [int(data.product_ids[i]) for i in rec.recommend(row, k).items[0] if i >= 0]


def test_personal_frequency_counts_orders_not_lines_and_breaks_ties_by_recency():
    rows = [
        # product 1 in three orders; product 2 in two orders but with 5 lines in one of them (not a basket count)
        (1, 1, 90, "purchase", 10), (1, 1, 60, "purchase", 11), (1, 1, 30, "purchase", 12),
        *[(1, 2, 50, "purchase", 13)] * 5, (1, 2, 40, "purchase", 14),
        # products 3 and 4 once each; 4 more recently
        (1, 3, 80, "purchase", 15), (1, 4, 5, "purchase", 16),
    ]
    rec, data = _fit(PersonalFrequencyRecommender, rows)
    assert _top(rec, data, 1, k=4) == [1, 2, 4, 3]
    assert rec.reason_texts(rec.reason_codes(data.customer_positions([1]), data.product_positions([1])))[0] \
        == "in 3 of their orders"


def test_tifu_weighs_recent_baskets_more_and_brings_in_neighbours_products():
    rows = [
        # customer 1: product 1 in two old baskets, product 2 only in the latest basket
        (1, 1, 100, "purchase", 1), (1, 1, 90, "purchase", 2), (1, 2, 5, "purchase", 3),
        # customer 2 shops like customer 1 and also buys product 5
        (2, 1, 50, "purchase", 4), (2, 2, 40, "purchase", 5), (2, 5, 40, "purchase", 5),
    ]
    config = RecommenderConfig(tifu_decay=0.3, tifu_alpha=0.8)
    rec, data = _fit(TifuKnnRecommender, rows, config)
    top = _top(rec, data, 1, k=3)
    # frequency would put 1 first; with a steep decay the latest basket's product leads
    assert top[:2] == [2, 1]
    assert 5 in top  # never bought by customer 1: it comes from the neighbour


def test_als_scores_are_positive_and_lead_with_the_customers_own_strong_products():
    rng = np.random.default_rng(0)
    rows = []
    order = 0
    for c in range(1, 41):
        group = [1, 2, 3] if c % 2 else [4, 5, 6]
        for _ in range(4):
            order += 1
            rows += [(c, int(p), float(rng.integers(1, 200)), "purchase", order) for p in group]
    rec, data = _fit(AlsRecommender, rows, RecommenderConfig(als_factors=4, als_iterations=10))
    block = rec.score(data.customer_positions([1, 2]))
    assert block.nnz and (block.data > 0).all()
    assert set(_top(rec, data, 1, k=3)) == {1, 2, 3}
    assert set(_top(rec, data, 2, k=3)) == {4, 5, 6}


def test_fitting_als_prints_no_blas_warning_to_the_user(monkeypatch):
    # implicit warned "OpenBLAS is configured to use 2 threads …" on stderr of every evaluate_recommendations
    # (it checks once per process: the flag is reset so the check runs here whatever ran before).
    import warnings

    import implicit.utils

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    rows = [(c, p, 1.0, "purchase", c * 10 + k) for c in range(1, 21) for k, p in enumerate((1, 2, 3 + c % 3))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rec, _ = _fit(AlsRecommender, rows, RecommenderConfig(als_factors=4, als_iterations=2))
    assert rec.model is not None


def test_als_is_skipped_above_its_size_cap_instead_of_slowing_a_build():
    rows = [(1, 1, 10, "purchase", 1), (1, 2, 5, "purchase", 2), (2, 2, 3, "purchase", 3)]
    rec, data = _fit(AlsRecommender, rows, RecommenderConfig(als_max_interactions=2))
    assert rec.model is None and rec.score(np.array([0, 1])).nnz == 0


def test_ranker_features_line_up_with_members_and_customer_history():
    rows = [(1, 1, 30, "purchase", 1), (1, 1, 20, "purchase", 2), (1, 3, 10, "purchase", 3),
            (2, 2, 5, "purchase", 4)]
    _, data = _fit(PersonalFrequencyRecommender, rows)
    import scipy.sparse as sp

    cands = {"a": sp.csr_matrix(([1.0, 0.5], ([0, 0], [0, 2])), shape=(1, data.n_items)),
             "b": sp.csr_matrix(([1.0], ([0], [1])), shape=(1, data.n_items))}
    context = ranker_context(data)
    block = data.customer_positions([1])
    local, items, X = candidate_features(cands, block, context, ("a", "b"))
    assert list(data.product_ids[items]) == [1, 2, 3] and (local == 0).all()
    # a's score and rank, b's score and rank (absent: 0 and width + 1 = 3), then the customer's basket count
    np.testing.assert_allclose(X[:, 0], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(X[:, 1], [1, 3, 2])
    np.testing.assert_allclose(X[:, 3], [3, 1, 3])
    np.testing.assert_allclose(X[:, 4], [2, 0, 1])


def test_values_at_and_rank_matrix():
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[0, 3.0, 1.0], [2.0, 0, 0]]))
    np.testing.assert_allclose(values_at(m, np.array([0, 0, 1, 1]), np.array([1, 0, 0, 2])), [3, 0, 2, 0])
    np.testing.assert_allclose(rank_matrix(m).toarray(), [[0, 1, 2], [1, 0, 0]])


def test_split_holds_out_every_last_order_when_they_all_fall_on_the_last_day():
    # like data aligned on each customer's last order: a quantile cut would drop weeks of every history
    rows = []
    for c in range(1, 11):
        rows += [(c, 1, 60 - c, "purchase", 100 + c), (c, 2, 30 - c, "purchase", 200 + c),
                 (c, 3, 0.5 - c / 100, "purchase", 300 + c)]
    split = temporal_split(interactions(rows), quantile=0.5)
    assert split.holdout["customer_id"].nunique() == 10
    assert set(split.holdout["product_id"]) == {3}
    assert len(split.train) == 20  # both earlier orders of every customer are trained on


def test_holdout_report_shares():
    rows = [(1, 1, 30, "purchase", 1), (2, 2, 30, "purchase", 2)]
    data = build_interaction_data(interactions(rows), products([1, 2, 3]), customers([1, 2]),
                                  config=RecommenderConfig(), as_of=AS_OF)
    holdout = pd.DataFrame({"customer_id": [1, 1, 2, 2], "product_id": [1, 2, 3, 2]})
    report = holdout_report(data, holdout)
    assert report["test_items"] == 4
    assert report["bought_before_share"] == pytest.approx(0.5)  # (1, 1) and (2, 2)
    assert report["never_seen_share"] == pytest.approx(0.25)  # product 3


def test_a_ranked_hybrid_gives_the_same_lists_in_forked_workers_as_in_process():
    # LightGBM and implicit's OpenMP used before a fork can hang or diverge in the children
    from recommendations.ml.build import recommend_all
    from recommendations.ml.evaluate import _fit_ranker
    from recommendations.ml.hybrid import HybridRecommender, fit_recommenders, holdout_targets
    from recommendations.ml.synthetic import synthetic_shop

    shop = synthetic_shop(n_customers=300, n_products=80, seed=2)
    config = RecommenderConfig(als_factors=8, als_iterations=5, ranker_rounds=20, ranker_min_leaf=20)
    split = temporal_split(shop.interactions, quantile=0.85)
    data = build_interaction_data(split.train, shop.products, shop.customers, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, split.holdout)
    components = fit_recommenders(data, config)
    booster, oof = _fit_ranker(components, data, rows, targets, None, k=10, config=config)
    assert booster is not None and 0 < oof <= 1
    hybrid = HybridRecommender(config, components=components, ranker=booster).fit(data)
    everyone = np.arange(data.n_customers)
    alone = recommend_all(hybrid, everyone, 5, None, workers=1, chunk=100)
    forked = recommend_all(hybrid, everyone, 5, None, workers=2, chunk=100)
    np.testing.assert_array_equal(alone.items, forked.items)
    assert (alone.items[:, 0] >= 0).mean() > 0.9


def test_tifu_above_its_size_cap_keeps_only_the_personal_vector():
    rows = [(1, 1, 100, "purchase", 1), (1, 2, 5, "purchase", 2), (2, 2, 40, "purchase", 3),
            (2, 5, 40, "purchase", 3)]
    rec, data = _fit(TifuKnnRecommender, rows, RecommenderConfig(tifu_neighbours_max_customers=1))
    assert not rec.neighbours
    assert set(_top(rec, data, 1, k=3)) == {1, 2}  # product 5 would only come from the neighbour
