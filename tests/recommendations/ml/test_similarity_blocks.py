"""item_knn's neighbours computed product block by product block over the partitions' weights matrices (the build
never holds the catalogue's co-occurrence matrix) equal those of the merged Gram matrix and of one fit."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.item_knn import ItemKNNRecommender
from recommendations.ml.partitioned import (
    WeightsSpill,
    cooccurrence_bound,
    item_similarity,
    item_similarity_blocks,
    item_statistics_merge,
    item_statistics_partial,
    product_blocks,
)
from recommendations.ml.synthetic import synthetic_shop

CONFIG = RecommenderConfig(item_neighbours=20, block_size=64, candidates=25)


@pytest.fixture(scope="module")
def shop():
    return synthetic_shop(n_customers=600, n_products=80, n_categories=4, days=200, seed=3, text=False)


def partition_data(shop, partitions: int, part: int, as_of):
    ids = np.sort(shop.customers["customer_id"].to_numpy())
    mine = np.array_split(ids, partitions)[part]  # id ranges, as the build's partitions
    inter = shop.interactions[shop.interactions["customer_id"].isin(mine)]
    return build_interaction_data(inter, shop.products, pd.DataFrame({"customer_id": mine}), config=CONFIG,
                                  as_of=as_of)


def _partition_weights(shop, partitions: int):
    as_of = shop.interactions["ts"].max()
    datas = [partition_data(shop, partitions, part, as_of) for part in range(partitions)]
    stats = item_statistics_partial(datas[0], CONFIG)
    for data in datas[1:]:  # folded one partition at a time, as the build does
        stats = item_statistics_merge([stats, item_statistics_partial(data, CONFIG)])
    return datas, stats, as_of


@pytest.mark.parametrize("entries", [1, 400, 10**9])
def test_similarity_by_product_blocks_equals_the_one_of_every_customer_at_once(shop, entries, tmp_path):
    # catches: a block's co-occurrence rows missing a partition's customers, or a neighbour cut before the
    # partitions were summed (a top-n of each partition's top-n), blocks overlapping or leaving products out, the
    # norms of the block's products used for every column
    datas, stats, as_of = _partition_weights(shop, 3)
    bound = sum(cooccurrence_bound(d.weights) for d in datas)
    assert (len(product_blocks(bound, entries)) > 1) == (entries < 10**9)
    whole = build_interaction_data(shop.interactions, shop.products, shop.customers, config=CONFIG, as_of=as_of)
    # the Gram matrix of every customer at once (float64, in id order): what the blocks must give, to the bit
    want = item_similarity(item_statistics_partial(whole, CONFIG), CONFIG)
    calls = []
    in_memory = item_similarity_blocks([d.weights for d in datas], stats.sq_norms, CONFIG, entries=entries,
                                       progress=lambda done, total: calls.append((done, total)))
    blocks = len(product_blocks(bound, entries))
    assert calls == [(done, blocks) for done in range(1, blocks + 1)]  # the build's job moves after each block
    spill = WeightsSpill(tmp_path / "weights")
    for data in datas:
        spill.add(data.weights)
    spilled = item_similarity_blocks(spill, stats.sq_norms, CONFIG, entries=entries)
    for got in (in_memory, spilled):
        assert got.shape == want.shape and got.nnz == want.nnz
        np.testing.assert_array_equal(got.toarray(), want.toarray())
    # and the same neighbours as the merged Gram matrix and as item_knn fitted on everyone (float32)
    np.testing.assert_allclose(spilled.toarray(), item_similarity(stats, CONFIG).toarray(), rtol=1e-6)
    np.testing.assert_allclose(spilled.toarray(), ItemKNNRecommender(CONFIG).fit(whole).similarity.toarray(),
                               rtol=1e-4, atol=1e-6)
    spill.remove()
    assert not (tmp_path / "weights").exists()  # customers' interactions are not left on disk


def test_product_blocks_cover_the_catalogue_once_within_their_budget():
    # catches: a product left out or in two blocks, a block over its budget, an endless loop on a product whose
    # bound alone exceeds the budget
    bound = np.array([5, 1, 1, 40, 2, 2, 2, 0, 3], dtype=np.float64)
    ranges = product_blocks(bound, 6)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(bound)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    for start, stop in ranges:
        capped = np.minimum(bound[start:stop], len(bound)).sum()
        assert capped <= 6 or stop - start == 1
    assert ranges == [(0, 2), (2, 3), (3, 4), (4, 8), (8, 9)]  # 40 counts as 9 (the catalogue)


def test_the_merged_squared_norms_are_the_gram_diagonal(shop):
    # catches: norms summed per partition in another order or from another matrix than the Gram matrix's diagonal
    _, stats, _ = _partition_weights(shop, 3)
    np.testing.assert_array_equal(stats.sq_norms, stats.gram.diagonal())
    no_gram = item_statistics_partial(partition_data(shop, 3, 0, shop.interactions["ts"].max()), CONFIG, gram=False)
    assert no_gram.gram.nnz == 0 and no_gram.sq_norms.any()


def test_dense_similarity_blocks_are_bounded_by_cells_and_give_the_same_neighbours(monkeypatch):
    # catches: a block of the content (TF-IDF) similarity spanning `block_size` rows of the whole catalogue
    # whatever its size (a dense 2,000 x 200,000 block), or rows lost or shifted when blocks get smaller
    from recommendations.ml import data as data_module
    from recommendations.ml.content import content_similarity

    products = synthetic_shop(n_customers=50, n_products=300, n_categories=3, days=30, seed=5).products
    want = content_similarity(products, CONFIG)
    sizes = []
    real = data_module.topk_csr

    def counted(matrix, k, **kwargs):
        sizes.append(matrix.shape[0])
        return real(matrix, k, **kwargs)

    monkeypatch.setattr(data_module, "SIMILARITY_BLOCK_CELLS", 7 * len(products))
    monkeypatch.setattr(data_module, "topk_csr", counted)
    got = content_similarity(products, CONFIG)
    assert max(sizes) == 7 and sum(sizes) == len(products)
    assert got.nnz == want.nnz
    np.testing.assert_allclose(got.toarray(), want.toarray(), rtol=1e-6)


def test_a_model_saved_before_the_squared_norms_existed_still_loads(shop, tmp_path):
    # catches: partitions of a build started before an upgrade failing on its model file (no `sq_norms` in it)
    from recommendations.ml.partitioned import (
        partition_partials,
        partitioned_model,
        partitioned_model_load,
        partitioned_model_save,
    )

    data = partition_data(shop, 1, 0, shop.interactions["ts"].max())
    empty = sp.csr_matrix((data.n_items, data.n_items), dtype=np.float32)
    model = partitioned_model(partition_partials(data, CONFIG, tifu=True), CONFIG, content=empty, visual=empty)
    partitioned_model_save(model, tmp_path / "new.npz")
    with np.load(tmp_path / "new.npz") as saved:
        np.savez(tmp_path / "old.npz", **{k: saved[k] for k in saved.files if k != "sq_norms"})
    old, new = partitioned_model_load(tmp_path / "old.npz"), partitioned_model_load(tmp_path / "new.npz")
    assert (old.similarity != new.similarity).nnz == 0
    np.testing.assert_array_equal(new.stats.sq_norms, model.stats.sq_norms)
    np.testing.assert_array_equal(old.stats.popularity_all, new.stats.popularity_all)
