import numpy as np
import pytest

from recommendations.ml.base import exclusion_matrix
from recommendations.ml.config import RecommenderConfig
from recommendations.ml.content import ContentRecommender
from recommendations.ml.data import build_interaction_data
from recommendations.ml.hybrid import RECOMMENDER_CLASSES, HybridRecommender
from recommendations.ml.item_knn import ItemKNNRecommender
from recommendations.ml.popularity import PopularityRecommender
from recommendations.ml.repurchase import RepurchaseRecommender
from recommendations.ml.user_knn import UserKNNRecommender

from .helpers import AS_OF, customers, interactions, products

CONFIG = RecommenderConfig(item_shrinkage=0.0)


def fitted(cls, inter, prods, custs, config=CONFIG):
    data = build_interaction_data(inter, prods, custs, config=config, as_of=AS_OF)
    return cls(config).fit(data), data


def top_ids(rec, data, customer_id, k=5, exclude=None):
    top = rec.recommend(data.customer_positions([customer_id]), k, exclude)
    return [int(data.product_ids[i]) for i in top.items[0] if i >= 0]


def test_item_knn_recommends_the_product_always_bought_with_the_customers_product():
    # A(1) and B(2) always go together; C(3), D(4) are bought by others on their own
    rows = [(c, p, 10, "purchase") for c in range(1, 6) for p in (1, 2)]
    rows += [(c, 3, 10, "purchase") for c in range(6, 9)] + [(c, 4, 10, "purchase") for c in range(9, 11)]
    rows += [(20, 1, 2, "purchase")]
    rec, data = fitted(ItemKNNRecommender, interactions(rows), products(range(1, 5)), customers(range(1, 21)))
    assert top_ids(rec, data, 20)[0] == 2
    reason = rec.reasons(data.customer_positions([20]), data.product_positions([2]))[0]
    assert reason == "because they bought Product 1"


def test_user_knn_recommends_what_the_most_similar_customers_bought():
    rows = [(c, p, 5, "purchase") for c in (1, 2) for p in (1, 2, 3)]
    rows += [(c, p, 5, "purchase") for c in (4, 5) for p in (7, 8)]
    rows += [(3, 1, 5, "purchase"), (3, 2, 5, "purchase")]
    rec, data = fitted(UserKNNRecommender, interactions(rows), products(range(1, 9)), customers(range(1, 6)))
    ids = top_ids(rec, data, 3, exclude=data.purchased)
    assert ids[0] == 3 and 7 not in ids and 8 not in ids


def test_popularity_ranks_by_recent_decayed_activity_not_old_hits():
    rows = [(c, 1, 300, "purchase") for c in range(1, 30)]  # old hit, outside the 90-day window
    rows += [(c, 2, 3, "purchase") for c in range(1, 6)] + [(c, 3, 3, "view") for c in range(1, 4)]
    rec, data = fitted(PopularityRecommender, interactions(rows), products(range(1, 4)), customers(range(1, 31)))
    # customer 30 has no history: plain global popularity
    assert top_ids(rec, data, 30)[:2] == [2, 3]
    assert rec.reasons(data.customer_positions([30]), data.product_positions([2]))[0] == "popular right now"


@pytest.mark.parametrize(("own", "reason"), [
    ([(50, 4, 1, "purchase")], "popular in Food"),
    ([(50, 4, 1, "view")], "popular in Food, which they browsed"),
    ([(50, 4, 1, "purchase"), (50, 4, 2, "view")], "popular in Food"),
])
def test_popularity_prefers_the_customers_category_and_says_popular_in_it(own, reason):
    cats = ["Toys", "Toys", "Food", "Food"]
    rows = [(c, 1, 1, "purchase") for c in range(1, 10)] + [(c, 3, 1, "purchase") for c in range(1, 7)] + own
    rec, data = fitted(PopularityRecommender, interactions(rows), products(range(1, 5), categories=cats),
                       customers(range(1, 51)))
    assert top_ids(rec, data, 50)[0] == 3  # most popular Food product beats the global hit for a Food shopper
    assert rec.reasons(data.customer_positions([50]), data.product_positions([3]))[0] == reason


def test_popular_in_a_category_is_not_the_reason_for_a_shopper_who_never_bought_there():
    # The review of the demo shop: a customer who bought pet and book items, and once looked at a skincare product
    # long ago, got the best-selling sunscreen "popular in Beauty > Skincare", as if skincare were their thing.
    cats = ["Beauty > Skincare", "Beauty > Skincare", "Pets > Food", "Books > Fiction"]
    rows = [(c, 1, 5, "purchase") for c in range(1, 30)]  # the sunscreen: the shop's best seller
    rows += [(c, 2, 5, "purchase") for c in range(1, 4)]
    rows += [(50, 3, 10, "purchase"), (50, 4, 10, "purchase"), (50, 3, 40, "purchase"), (50, 2, 80, "view")]
    rows += [(51, 3, 10, "purchase")]  # never touched skincare at all
    rec, data = fitted(PopularityRecommender, interactions(rows), products(range(1, 5), categories=cats),
                       customers(range(1, 52)))
    reasons = rec.reasons(data.customer_positions([50, 51, 1]), data.product_positions([1, 1, 2])).tolist()
    assert reasons == ["popular in Beauty > Skincare, which they browsed", "popular right now",
                       "popular in Beauty > Skincare"]
    assert not any(r == "popular in Beauty > Skincare" for r in reasons[:2])


def test_repurchase_ranks_the_due_product_first_and_explains_the_cycle():
    # product 1 bought every 30 days, last 30 days ago (due); product 2 every 30 days, last 2 days ago (not due)
    rows = [(1, 1, d, "purchase", d) for d in (90, 60, 30)] + [(1, 2, d, "purchase", 1000 + d) for d in (62, 32, 2)]
    rows += [(1, 3, 40, "purchase", 40)]  # bought once, nobody re-buys it
    rec, data = fitted(RepurchaseRecommender, interactions(rows), products(range(1, 4)), customers([1]))
    assert top_ids(rec, data, 1)[:2] == [1, 2]
    reasons = rec.reasons(data.customer_positions([1, 1]), data.product_positions([1, 3]))
    assert reasons.tolist() == ["buys this about every 30 days", "bought this before"]


def test_content_reaches_a_new_product_nobody_has_touched():
    titles = ["organic green tea", "organic green tea large", "steel hammer", "garden hose"]
    rows = [(1, 1, 3, "view"), (2, 3, 3, "purchase"), (2, 4, 3, "purchase")]
    rec, data = fitted(ContentRecommender, interactions(rows), products(range(1, 5), titles=titles),
                       customers([1, 2]))
    assert top_ids(rec, data, 1)[0] == 2
    reason = rec.reasons(data.customer_positions([1]), data.product_positions([2]))[0]
    assert reason == "similar to organic green tea they viewed"


@pytest.mark.parametrize("categories", ["", "Food"], ids=["no-category", "one-category"])
def test_content_without_any_text_contributes_nothing_instead_of_crashing(categories):
    # one shared category token would otherwise make every product "similar" to every other
    rows = [(1, 1, 3, "view"), (2, 2, 3, "purchase")]
    rec, data = fitted(ContentRecommender, interactions(rows), products([1, 2, 3], titles=["", "", ""],
                       categories=categories), customers([1, 2]))
    assert top_ids(rec, data, 1) == []


def small_shop():
    cats = ["Food", "Food", "Food", "Toys", "Toys", "Toys"]
    rows = [(c, p, 20 + c, "purchase") for c in range(1, 9) for p in (1, 2)]
    rows += [(c, 4, 10, "purchase") for c in range(1, 5)] + [(c, 5, 8, "cart") for c in range(3, 7)]
    rows += [(9, 1, 15, "purchase", 1), (9, 1, 45, "purchase", 2), (9, 4, 5, "purchase", 3)]
    return interactions(rows), products(range(1, 7), categories=cats), customers(range(1, 11))


# the visual source needs pictures' neighbours: tests/recommendations/ml/test_visual.py checks it the same way
@pytest.mark.parametrize("name", [*(n for n in RECOMMENDER_CLASSES if n != "visual"), "hybrid"])
def test_inactive_products_are_never_recommended(name):
    inter, prods, custs = small_shop()
    prods["active"] = prods["product_id"].isin([1, 3, 5, 6])  # 2 and 4 are the popular, co-bought ones
    cls = HybridRecommender if name == "hybrid" else RECOMMENDER_CLASSES[name]
    rec, data = fitted(cls, inter, prods, custs)
    top = rec.recommend(np.arange(data.n_customers), 6)
    shown = set(data.product_ids[top.items[top.items >= 0]].tolist())
    assert shown and shown <= {1, 3, 5, 6}


def test_rebuy_disallowed_globally_excludes_everything_the_customer_bought():
    inter, prods, custs = small_shop()
    config = RecommenderConfig(allow_rebuy=False)
    rec, data = fitted(HybridRecommender, inter, prods, custs, config)
    ids = top_ids(rec, data, 9, k=6, exclude=exclusion_matrix(data, config))
    assert ids and not {1, 4} & set(ids)


def test_rebuy_override_per_category_blocks_only_that_category():
    inter, prods, custs = small_shop()
    config = RecommenderConfig(allow_rebuy=True, rebuy_by_category={"Toys": False})
    rec, data = fitted(HybridRecommender, inter, prods, custs, config)
    ids = top_ids(rec, data, 9, k=6, exclude=exclusion_matrix(data, config))
    assert 1 in ids and 4 not in ids  # Food may be re-bought, Toys may not


def test_rebuy_override_allows_a_category_when_rebuy_is_off_globally():
    inter, prods, custs = small_shop()
    config = RecommenderConfig(allow_rebuy=False, rebuy_by_category={"Food": True})
    rec, data = fitted(HybridRecommender, inter, prods, custs, config)
    ids = top_ids(rec, data, 9, k=6, exclude=exclusion_matrix(data, config))
    assert 1 in ids and 4 not in ids


def test_customer_who_bought_everything_gets_a_short_list_without_crashing():
    rows = [(1, p, 3, "purchase") for p in range(1, 5)] + [(2, 1, 3, "purchase")]
    config = RecommenderConfig(allow_rebuy=False)
    rec, data = fitted(HybridRecommender, interactions(rows), products(range(1, 5)), customers([1, 2]), config)
    assert top_ids(rec, data, 1, k=10, exclude=exclusion_matrix(data, config)) == []
    assert sorted(top_ids(rec, data, 2, k=10, exclude=exclusion_matrix(data, config))) == [2, 3, 4]


def test_hybrid_gives_a_customer_without_history_popular_products():
    inter, prods, custs = small_shop()
    rec, data = fitted(HybridRecommender, inter, prods, custs)
    ids = top_ids(rec, data, 10, k=3)
    assert ids[:2] == [1, 2] or ids[:2] == [2, 1]


def test_a_product_the_customer_bought_before_is_explained_by_their_own_orders_not_its_popularity():
    # The shop's best seller (1), bought by customer 50 in two orders: popularity's score, divided by the customer's
    # best, tops personal frequency's (weighed lower), yet "in 2 of their orders" is the reason a marketer can use.
    rows = [(c, 1, 5, "purchase") for c in range(1, 30)] + [(c, 2, 5, "purchase") for c in range(1, 20)]
    rows += [(50, 1, 10, "purchase", 1), (50, 1, 40, "purchase", 2)]
    data = build_interaction_data(interactions(rows), products(range(1, 4)), customers(range(1, 51)), config=CONFIG,
                                  as_of=AS_OF)
    hybrid = HybridRecommender(CONFIG, {"popularity": 1.0, "personal_frequency": 0.2}).fit(data)
    coded = hybrid.recommend_coded(data.customer_positions([50]), 2)
    sources, reasons = hybrid.explain_texts(coded)
    got = {int(data.product_ids[i]): (s, r) for i, s, r in zip(coded.items[0], sources[0], reasons[0], strict=True)}
    assert got == {1: ("personal_frequency", "in 2 of their orders"), 2: ("popularity", "popular in Shop")}
