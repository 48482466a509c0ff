"""Item-side statistics accumulated over customer partitions equal those of one fit over every customer."""

import numpy as np
import pandas as pd
import pytest

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.item_knn import ItemKNNRecommender
from recommendations.ml.partitioned import (
    item_popularity,
    item_similarity,
    item_statistics_merge,
    item_statistics_partial,
    repurchase_propensity,
)
from recommendations.ml.popularity import PopularityRecommender
from recommendations.ml.synthetic import synthetic_shop

CONFIG = RecommenderConfig(item_neighbours=20)


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
