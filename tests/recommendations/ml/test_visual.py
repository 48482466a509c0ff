import numpy as np
import pandas as pd

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.evaluate import evaluate_recommenders
from recommendations.ml.hybrid import HybridRecommender, fit_recommenders
from recommendations.ml.visual import VisualRecommender, visual_similarity

from .helpers import AS_OF, customers, interactions, products

CONFIG = RecommenderConfig(item_shrinkage=0.0)


def pairs(rows):
    return pd.DataFrame(rows, columns=["product_id", "similar_id", "score"])


def test_visual_similarity_is_symmetric_and_drops_unknown_products_and_self_pairs():
    prods = products([10, 20, 30])
    matrix = visual_similarity(prods, pairs([(10, 20, 0.9), (30, 10, 0.5), (10, 10, 1.0), (99, 10, 0.8)]))
    dense = matrix.toarray()
    assert dense[0, 1] == dense[1, 0] == np.float32(0.9) and dense[0, 2] == dense[2, 0] == np.float32(0.5)
    assert np.diag(dense).sum() == 0 and matrix.nnz == 4
    assert visual_similarity(prods, None).nnz == 0


def test_a_product_nobody_bought_reaches_the_buyers_of_its_look_alike():
    # 5 is new (no interaction at all, no text); it looks like 1, which customer 1 bought. Only 5's own list
    # names 1 (neighbours are computed per product): the symmetric matrix is what brings it to customer 1.
    rows = [(1, 1, 3, "purchase"), (2, 3, 3, "purchase"), (2, 4, 3, "purchase")]
    prods = products(range(1, 6), titles=[""] * 5)
    data = build_interaction_data(interactions(rows), prods, customers([1, 2]), config=CONFIG, as_of=AS_OF)
    rec = VisualRecommender(CONFIG).fit(data, similarity=visual_similarity(prods, pairs([(5, 1, 0.8)])))
    top = rec.recommend(data.customer_positions([1]), 3)
    assert data.product_ids[top.items[0, 0]] == 5
    assert rec.reasons(data.customer_positions([1]), data.product_positions([5]))[0] == \
        "looks like 1 they bought"  # no title: the label is the id
    assert rec.recommend(data.customer_positions([2]), 3).items[0, 0] < 0  # nothing looks like 3 or 4


def test_the_hybrid_blends_the_visual_source_and_never_shows_inactive_look_alikes():
    rows = [(c, 1, 5, "purchase") for c in range(1, 4)] + [(c, 2, 5, "purchase") for c in range(4, 7)]
    prods = products(range(1, 6), titles=[""] * 5)
    prods["active"] = prods["product_id"] != 4
    data = build_interaction_data(interactions(rows), prods, customers(range(1, 7)), config=CONFIG, as_of=AS_OF)
    visual = visual_similarity(prods, pairs([(5, 1, 0.9), (4, 2, 0.9)]))
    components = fit_recommenders(data, CONFIG, visual_similarity=visual)
    with_images = HybridRecommender(CONFIG, {"popularity": 0.25, "visual": 1.0}, components).fit(data)
    shown = data.product_ids[with_images.recommend(data.customer_positions([1]), 2).items[0]]
    assert shown[0] == 5 and 4 not in shown
    without = fit_recommenders(data, CONFIG)
    plain = HybridRecommender(CONFIG, {"popularity": 0.25, "visual": 1.0}, without).fit(data)
    assert 5 not in data.product_ids[plain.recommend(data.customer_positions([1]), 2).items[0]]


def test_evaluation_reports_the_visual_source_beside_the_others():
    rows = []
    for c in range(1, 41):
        rows += [(c, 1 + c % 2, 60, "purchase", c * 10), (c, 3 + c % 2, 5, "purchase", c * 10 + 1)]
    prods = products(range(1, 5), titles=[""] * 4)
    result = evaluate_recommenders(interactions(rows), prods, customers(range(1, 41)), k=2, config=CONFIG,
                                   visual_pairs=pairs([(1, 3, 0.9), (2, 4, 0.9)]))
    assert result.metrics["visual"].hit_rate == 1.0  # 1 → 3 and 2 → 4, exactly what each customer bought next
    assert "visual" in result.weights


def test_the_visual_source_leaves_products_with_history_to_the_other_sources():
    # 2 looks like 1 but has been bought: co-purchases know it better, the visual source does not push it
    rows = [(1, 1, 3, "purchase"), (2, 2, 3, "purchase")]
    prods = products([1, 2, 3], titles=[""] * 3)
    data = build_interaction_data(interactions(rows), prods, customers([1, 2]), config=CONFIG, as_of=AS_OF)
    rec = VisualRecommender(CONFIG).fit(data, similarity=visual_similarity(prods, pairs([(1, 2, 0.9),
                                                                                         (1, 3, 0.6)])))
    top = rec.recommend(data.customer_positions([1]), 3).items[0]
    assert data.product_ids[top[top >= 0]].tolist() == [3]


def test_cold_start_place_goes_to_a_look_alike_even_when_the_blend_prefers_established_products():
    # everyone bought 1 and 2 many times; 3 is new and looks like 1. With the visual weight at 0 the blend alone
    # never lists it: the cold-start place does, last, with the visual reason; below the minimum cosine it does not.
    rows = [(c, p, d, "purchase") for c in range(1, 8) for p in (1, 2) for d in (5, 40, 80)]
    prods = products([1, 2, 3, 4], titles=[""] * 4)
    data = build_interaction_data(interactions(rows), prods, customers(range(1, 8)), config=CONFIG, as_of=AS_OF)
    for similarity, listed in ((0.8, True), (0.4, False)):
        visual = visual_similarity(prods, pairs([(3, 1, similarity)]))
        components = fit_recommenders(data, CONFIG, visual_similarity=visual)
        hybrid = HybridRecommender(CONFIG, {"popularity": 1.0, "visual": 0.0}, components).fit(data)
        coded = hybrid.recommend_coded(data.customer_positions([1]), 2)
        shown = data.product_ids[coded.items[0][coded.items[0] >= 0]].tolist()
        assert (3 in shown) is listed
        if listed:
            assert shown[-1] == 3 and coded.names[coded.sources[0, len(shown) - 1]] == "visual"
            assert hybrid.explain_texts(coded)[1][0, len(shown) - 1].startswith("looks like")
            assert (np.diff(coded.scores[0][: len(shown)]) <= 0).all()
