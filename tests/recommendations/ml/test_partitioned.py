"""Item-side statistics accumulated over customer partitions equal those of one fit over every customer."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommendations.ml.base import exclusion_matrix
from recommendations.ml.config import RecommenderConfig
from recommendations.ml.content import content_similarity
from recommendations.ml.data import build_interaction_data
from recommendations.ml.hybrid import RECOMMENDER_CLASSES, HybridRecommender
from recommendations.ml.item_knn import ItemKNNRecommender
from recommendations.ml.partitioned import (
    PARTITIONED_MEMBERS,
    item_popularity,
    item_similarity,
    item_statistics_merge,
    item_statistics_partial,
    neighbour_index_merge,
    partition_components,
    repurchase_propensity,
    tifu_index_partial,
    user_index_partial,
)
from recommendations.ml.popularity import PopularityRecommender
from recommendations.ml.synthetic import synthetic_shop

# many blocks and fewer candidates than products: lists must depend on neither
CONFIG = RecommenderConfig(item_neighbours=20, block_size=64, candidates=25)


@pytest.fixture(scope="module")
def shop():
    return synthetic_shop(n_customers=600, n_products=80, n_categories=4, days=200, seed=3, text=False)


def partitioned_statistics(shop, partitions: int):
    ids = shop.customers["customer_id"].to_numpy()
    as_of = shop.interactions["ts"].max()
    parts = []
    for part in range(partitions):
        mine = ids[ids % partitions == part]  # any disjoint split: here by id modulo, as a hash would
        inter = shop.interactions[shop.interactions["customer_id"].isin(mine)]
        data = build_interaction_data(inter, shop.products, pd.DataFrame({"customer_id": mine}), config=CONFIG,
                                      as_of=as_of)
        parts.append(item_statistics_partial(data, CONFIG))
    return item_statistics_merge(parts), as_of


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_partitioned_item_statistics_do_not_depend_on_the_split(shop, partitions):
    # catches: a statistic that is not a plain sum (a mean, a max-scaling, a top-k) merged as if it were one
    stats, as_of = partitioned_statistics(shop, partitions)
    whole = build_interaction_data(shop.interactions, shop.products, shop.customers, config=CONFIG, as_of=as_of)

    knn = ItemKNNRecommender(CONFIG).fit(whole)
    similarity = item_similarity(stats, CONFIG)
    assert similarity.shape == knn.similarity.shape
    np.testing.assert_allclose(similarity.toarray(), knn.similarity.toarray(), rtol=1e-4, atol=1e-6)
    assert similarity.nnz == knn.similarity.nnz

    popularity = PopularityRecommender(CONFIG).fit(whole)
    np.testing.assert_allclose(item_popularity(stats, whole.active), popularity.popularity, rtol=1e-5)

    per_basket = whole.purchases.groupby(["row", "col"])["basket"].nunique()
    cols = per_basket.index.get_level_values("col").to_numpy()
    buyers = np.bincount(cols, minlength=whole.n_items)
    rebuyers = np.bincount(cols, weights=(per_basket.to_numpy() > 1), minlength=whole.n_items)
    np.testing.assert_allclose(repurchase_propensity(stats), (rebuyers + 0.05) / (buyers + 5.0))
    assert stats.customers == whole.n_customers


def test_popularity_falls_back_to_all_time_when_no_partition_has_recent_interactions(shop):
    # catches: a partition with no recent rows deciding the fallback for the whole shop
    config = RecommenderConfig(popularity_window_days=-1.0)
    as_of = shop.interactions["ts"].max()
    whole = build_interaction_data(shop.interactions, shop.products, shop.customers, config=config, as_of=as_of)
    stats = item_statistics_merge([item_statistics_partial(whole, config)])
    expected = PopularityRecommender(config).fit(whole).popularity
    np.testing.assert_allclose(item_popularity(stats, whole.active), expected, rtol=1e-5)
    assert item_popularity(stats, whole.active).max() == pytest.approx(1.0)


def partition_data(shop, partitions: int, part: int, as_of, config=CONFIG):
    ids = shop.customers["customer_id"].to_numpy()
    mine = ids[ids % partitions == part]
    inter = shop.interactions[shop.interactions["customer_id"].isin(mine)]
    return build_interaction_data(inter, shop.products, pd.DataFrame({"customer_id": mine}), config=config,
                                  as_of=as_of)


def partition_indexes(shop, partitions: int, as_of):
    datas = [partition_data(shop, partitions, part, as_of) for part in range(partitions)]
    users = neighbour_index_merge([user_index_partial(d, CONFIG) for d in datas], cap=CONFIG.user_posting_cap)
    tifu = neighbour_index_merge([tifu_index_partial(d, CONFIG) for d in datas], cap=CONFIG.user_posting_cap * 2)
    return users, tifu


def test_partition_lists_equal_the_lists_of_one_fit_over_every_customer(shop):
    # catches: a member that reads another customer's rows, or a statistic of the partition used as the shop's
    assert shop.customers["customer_id"].is_monotonic_increasing  # ties between customers: by id in both
    partitions = 3
    stats, as_of = partitioned_statistics(shop, partitions)
    users, tifu = partition_indexes(shop, partitions, as_of)
    whole = build_interaction_data(shop.interactions, shop.products, shop.customers, config=CONFIG, as_of=as_of)
    content = content_similarity(whole.products, CONFIG)
    weights = {"popularity": 0.5, "repurchase": 1.0, "item_knn": 1.0, "user_knn": 0.5, "content": 0.25,
               "visual": 0.0, "personal_frequency": 2.0, "tifu_knn": 1.0}
    full = {name: RECOMMENDER_CLASSES[name](CONFIG) for name in PARTITIONED_MEMBERS}
    for name, member in full.items():
        if name == "content":
            member.fit(whole, similarity=content)
        else:
            member.fit(whole)
    assert full["tifu_knn"].neighbours  # the small shop's TIFU uses neighbours: the index is exercised
    reference = HybridRecommender(CONFIG, weights, full).fit(whole)
    exclude_whole = exclusion_matrix(whole, CONFIG)
    for part in range(partitions):
        data = partition_data(shop, partitions, part, as_of)
        members = partition_components(data, stats, CONFIG, content_similarity=content, users=users, tifu=tifu)
        hybrid = HybridRecommender(CONFIG, weights, members).fit(data)
        got = hybrid.recommend_explained(np.arange(data.n_customers), 10, exclusion_matrix(data, CONFIG))
        rows = whole.customer_positions(data.customer_ids)
        want = reference.recommend_explained(rows, 10, exclude_whole)
        np.testing.assert_array_equal(whole.product_ids[np.maximum(want.items, 0)] * (want.items >= 0),
                                      data.product_ids[np.maximum(got.items, 0)] * (got.items >= 0))
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-4, atol=1e-6)
        assert (got.reasons == want.reasons).all()
        assert (got.sources == want.sources).all()
        for name in ("user_knn", "tifu_knn"):  # each member alone, not only through the blend
            np.testing.assert_allclose(members[name].score(np.arange(data.n_customers)).toarray(),
                                       full[name].score(rows).toarray(), rtol=1e-4, atol=1e-6)


def test_tifu_keeps_only_the_own_vector_when_the_shop_is_too_big_for_neighbours(shop):
    # catches: a partition (small) deciding to use neighbours that the whole shop (big) would not
    stats, as_of = partitioned_statistics(shop, 2)
    users, _ = partition_indexes(shop, 2, as_of)
    data = partition_data(shop, 2, 0, as_of)
    members = partition_components(data, stats, CONFIG, users=users, tifu=None)
    rows = np.arange(data.n_customers)
    np.testing.assert_allclose(members["tifu_knn"].score(rows).toarray(),
                               members["tifu_knn"].normalised[rows].toarray())


def test_indexes_and_statistics_folded_one_partition_at_a_time_equal_one_merge(shop):
    # catches: a merge that is not associative (the build folds partitions as they finish, in any order)
    as_of = shop.interactions["ts"].max()
    datas = [partition_data(shop, 3, part, as_of) for part in range(3)]
    users = [user_index_partial(d, CONFIG) for d in datas]
    stats = [item_statistics_partial(d, CONFIG) for d in datas]
    at_once = neighbour_index_merge(users, cap=CONFIG.user_posting_cap)
    folded = neighbour_index_merge([neighbour_index_merge([users[2], users[0]], cap=CONFIG.user_posting_cap),
                                    users[1]], cap=CONFIG.user_posting_cap)
    np.testing.assert_array_equal(folded.customer_ids, at_once.customer_ids)
    assert (folded.postings != at_once.postings).nnz == 0
    assert (folded.rows != at_once.rows).nnz == 0
    folded_stats = item_statistics_merge([item_statistics_merge([stats[1], stats[2]]), stats[0]])
    np.testing.assert_allclose(item_similarity(folded_stats, CONFIG).toarray(),
                               item_similarity(item_statistics_merge(stats), CONFIG).toarray(), rtol=1e-6)
    assert folded_stats.most_bought == item_statistics_merge(stats).most_bought


def test_every_members_scores_hold_each_customer_product_pair_once(shop):
    # catches: a member whose `score` repeats a (customer, product) entry: the candidates' top-k skips the index
    # sort that would merge it (`masked_score` then `topk_csr(unique=True)`), so its parts would rank apart
    from recommendations.ml.hybrid import fit_recommenders

    def each_pair_once(matrix) -> bool:
        matrix = sp.csr_matrix(matrix)
        keys = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr)) * matrix.shape[1] \
            + matrix.indices
        return len(np.unique(keys)) == len(keys)

    as_of = shop.interactions["ts"].max()
    whole = build_interaction_data(shop.interactions, shop.products, shop.customers, config=CONFIG, as_of=as_of)
    rows = np.arange(whole.n_customers)
    members = fit_recommenders(whole, CONFIG)
    for name, member in members.items():
        scores = member.score(rows)
        assert each_pair_once(scores), name
        assert scores.nnz or name in ("content", "visual"), name  # no text, no pictures: nothing; the rest score
    stats, _ = partitioned_statistics(shop, 2)
    users, tifu = partition_indexes(shop, 2, as_of)
    data = partition_data(shop, 2, 0, as_of)
    for name, member in partition_components(data, stats, CONFIG, users=users, tifu=tifu).items():
        assert each_pair_once(member.score(np.arange(data.n_customers))), name
