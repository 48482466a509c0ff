import numpy as np

from recommendations.ml import RecommenderConfig, build_all
from recommendations.ml.config import RECOMMENDER_NAMES
from recommendations.ml.synthetic import synthetic_shop

from .helpers import customers, interactions, products


def test_build_all_lists_have_unique_ranks_one_to_k_and_no_duplicate_products():
    shop = synthetic_shop(n_customers=400, n_products=120, seed=3)
    custs = customers([*shop.customers["customer_id"], 10_000])  # 10_000 has no history
    result = build_all(shop.interactions, shop.products, custs, k=8, config=RecommenderConfig())
    recs = result.recommendations
    assert list(recs.columns) == ["customer_id", "product_id", "rank", "score", "source", "reason"]
    assert set(recs["customer_id"]) == set(custs["customer_id"])
    assert not recs.duplicated(["customer_id", "rank"]).any()
    assert not recs.duplicated(["customer_id", "product_id"]).any()
    assert recs.groupby("customer_id")["rank"].agg(lambda r: sorted(r) == list(range(1, 9))).all()
    assert set(recs["source"]) <= set(RECOMMENDER_NAMES) and (recs["reason"].str.len() > 0).all()
    assert set(result.weights) == set(RECOMMENDER_NAMES)
    new = recs[recs["customer_id"] == 10_000]
    assert (new["source"] == "popularity").all() and new["reason"].str.startswith("popular").all()


def test_new_product_gets_content_neighbours_and_appears_in_content_lists():
    titles = ["organic green tea", "organic green tea large", "steel hammer", "garden hose", "steel hammer pro"]
    rows = [(c, p, 5 + c, "purchase") for c in range(1, 6) for p in (1, 3)] + [(6, 4, 2, "view")]
    result = build_all(interactions(rows), products(range(1, 6), titles=titles), customers(range(1, 7)), k=3,
                       config=RecommenderConfig())
    sim = result.similar
    assert set(sim["kind"]) == {"also_bought", "content"}
    content = sim[sim["kind"] == "content"]
    # product 5 was never touched: it still has content neighbours and is one of product 3's
    assert content[content["product_id"] == 5].iloc[0]["similar_id"] == 3
    assert content[content["product_id"] == 3].iloc[0]["similar_id"] == 5
    also = sim[(sim["kind"] == "also_bought") & (sim["product_id"] == 1)]
    assert also.iloc[0]["similar_id"] == 3
    assert not sim.duplicated(["product_id", "kind", "rank"]).any()


def test_build_all_on_a_one_category_catalogue_without_text_does_not_crash():
    rows = [(c, 1 + (c % 4), 3 + c, "purchase") for c in range(1, 10)]
    prods = products(range(1, 6), titles=[""] * 5, categories="Everything")
    result = build_all(interactions(rows), prods, customers(range(1, 11)), k=3, config=RecommenderConfig())
    counts = result.recommendations.groupby("customer_id").size()
    assert len(counts) == 10 and (counts == 3).all()
    assert (result.similar["kind"] == "also_bought").all()
    assert np.isfinite(result.recommendations["score"]).all()
