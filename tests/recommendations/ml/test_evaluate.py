import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.ml.config import RECOMMENDER_NAMES, RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.evaluate import evaluate_recommenders, top3_share
from recommendations.ml.metrics import ranking_metrics
from recommendations.ml.split import temporal_split
from recommendations.ml.synthetic import synthetic_shop

from .helpers import customers, interactions, products


def test_metrics_match_a_hand_computed_case():
    items = np.array([[5, 3, 7], [1, 2, -1]])
    targets = sp.csr_matrix(([1, 1, 1], ([0, 0, 1], [3, 9, 8])), shape=(2, 10))
    m = ranking_metrics(items, targets)
    assert m.hit_rate == pytest.approx(0.5)
    assert m.recall == pytest.approx(0.25)  # row 0: 1 of 2 held-out items, row 1: 0 of 1
    ndcg_row0 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert m.ndcg == pytest.approx(ndcg_row0 / 2)


def test_top3_share_counts_the_lists_whose_top_3_hold_the_most_common_product():
    # the review of the demo shop: one sunscreen in 70 % of the top-3 lists, seen only by reading lists one by one
    items = np.array([[1, 2, 3, 4], [1, 5, 6, 7], [8, 9, 1, 2], [2, -1, -1, -1], [7, 7, 7, 7]])
    assert top3_share(items) == pytest.approx(3 / 5)  # product 1 (product 2 is 4th in row 0 and 2: not counted)
    assert top3_share(np.full((2, 3), -1)) == 0.0
    assert top3_share(np.empty((0, 10), dtype=np.int64)) == 0.0


def leaky_shop():
    # 20 customers with two old orders and a last order; every last order is the new hit 99 (and a view of it
    # right after, also after the cutoff)
    rows = []
    for c in range(1, 21):
        rows += [(c, 1 + c % 5, 200 - c, "purchase", 1000 + c), (c, 6 + c % 3, 100 - c, "purchase", 3000 + c),
                 (c, 99, 9 - c / 10, "purchase", 2000 + c), (c, 99, 8.99 - c / 10, "view")]
    titles = [f"widget {i}" for i in range(1, 31)] + ["zzz"]
    return interactions(rows), products([*range(1, 31), 99], titles=titles), customers(range(1, 21))


def test_holdout_orders_are_not_in_the_training_matrix():
    inter, prods, custs = leaky_shop()
    split = temporal_split(inter, quantile=0.67)
    assert split.train["ts"].max() < split.cutoff
    assert set(split.holdout["product_id"]) >= {99}
    data = build_interaction_data(split.train, prods, custs, config=RecommenderConfig(), as_of=split.cutoff)
    assert data.weights[:, data.product_positions([99])[0]].nnz == 0


def test_evaluation_cannot_hit_a_product_that_only_exists_after_the_cutoff():
    inter, prods, custs = leaky_shop()
    result = evaluate_recommenders(inter, prods, custs, k=3, config=RecommenderConfig(validation_quantile=0.67))
    d = result.to_dict()
    assert d["customers"] == 20
    # 99 is every holdout basket: any leak of the holdout (or of anything after the cutoff) would let
    # popularity, the CF recommenders or the hybrid hit it
    for name in (*RECOMMENDER_NAMES, "hybrid"):
        assert d[name]["hit_rate"] == 0.0


@pytest.mark.parametrize(
    ("text", "consumers"), [(True, 0.4), (False, 0.9)], ids=["with-text", "no-text-mostly-rebuys"]
)
def test_hybrid_is_at_least_as_good_as_the_best_single_recommender(text, consumers):
    shop = synthetic_shop(n_customers=1500, n_products=240, text=text, consumer_share=consumers, seed=7)
    result = evaluate_recommenders(shop.interactions, shop.products, shop.customers, k=10, config=RecommenderConfig())
    d = result.to_dict()
    assert d["customers"] > 500
    best_single = max(d[name]["ndcg"] for name in RECOMMENDER_NAMES)
    assert d["hybrid"]["ndcg"] >= best_single - 0.005
    assert d["hybrid"]["ndcg"] > 1.5 * d["popularity"]["ndcg"]
    assert set(d) == {"k", "customers", *RECOMMENDER_NAMES, "hybrid"}
    assert set(d["hybrid"]) == {"hit_rate", "recall", "ndcg", "coverage", "popularity_bias", "top3_share"}
    # a popularity list shows the same best sellers to nearly everyone; the hybrid's lists are the customers' own
    assert d["popularity"]["top3_share"] > 0.9
    assert 0 < d["hybrid"]["top3_share"] < d["popularity"]["top3_share"]


def test_the_validation_fit_is_the_same_whatever_the_row_order_of_its_data():
    # catches: the validation customers sampled in the order rows arrive (PostgreSQL returns them in no set order),
    # which gave a build on unchanged data another blend, and other lists, every night
    from recommendations.ml.evaluate import validation_hybrid

    shop = synthetic_shop(n_customers=1500, n_products=200, seed=3)
    config = RecommenderConfig(ranker=False, seqrec_max_interactions=0, validation_customers=300)
    fits = []
    for order in (None, 1, 2):
        frame = shop.interactions if order is None else \
            shop.interactions.sample(frac=1.0, random_state=order).reset_index(drop=True)
        fit = validation_hybrid(frame.assign(kind=frame["kind"].astype("category")), shop.products, shop.customers,
                                k=10, config=config)
        fits.append((fit.weights, fit.tuned, fit.choice))
    assert fits[0] == fits[1] == fits[2]
