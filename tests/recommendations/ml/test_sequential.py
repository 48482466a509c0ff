"""The sequential deep recommender (a GRU over basket sequences): it learns an order, it is capped, it repeats."""

import numpy as np
import pandas as pd

from recommendations.ml.config import RecommenderConfig
from recommendations.ml.data import build_interaction_data
from recommendations.ml.evaluate import validation_hybrid
from recommendations.ml.personal import PersonalFrequencyRecommender
from recommendations.ml.sequential import SequentialRecommender, basket_sequences, history_entries

from .helpers import AS_OF, customers, interactions, products

CYCLE = (1, 2, 3, 4)  # in every customer's history, a basket with 1 is followed by one with 2, then 3, 4, 1...
CONFIG = RecommenderConfig(seqrec_epochs=15, seqrec_dim=16)


def cycle_shop(n_customers: int = 40, seed: int = 0):
    """Weekly baskets walking the cycle from a random phase, each with one filler product (5..7) at random;
    the customer's last basket is the one just before AS_OF."""
    rng = np.random.default_rng(seed)
    rows, order = [], 0
    for customer in range(1, n_customers + 1):
        phase, n = int(rng.integers(0, 4)), int(rng.integers(5, 8))
        for j in range(n):
            order += 1
            ago = (n - j) * 7
            rows.append((customer, CYCLE[(phase + j) % 4], ago, "purchase", order))
            rows.append((customer, int(rng.integers(5, 8)), ago, "purchase", order))
    frame = interactions(rows)
    return frame, products(range(1, 9)), customers(range(1, n_customers + 1))


def _data(frame, prods, custs, config=CONFIG):
    return build_interaction_data(frame, prods, custs, config=config, as_of=AS_OF)


def _first_cycle_product(rec, data, row) -> int:
    """The product of the cycle the recommender ranks highest for customer row `row`."""
    items = [int(data.product_ids[i]) for i in rec.recommend(np.array([row]), 8).items[0] if i >= 0]
    return next(p for p in items if p in CYCLE)


def test_it_learns_which_product_comes_next_where_frequency_cannot():
    frame, prods, custs = cycle_shop()
    data = _data(frame, prods, custs)
    seq = SequentialRecommender(CONFIG).fit(data)
    freq = PersonalFrequencyRecommender(CONFIG).fit(data)
    purchases = frame.sort_values("ts")
    last = purchases[purchases["product_id"].isin(CYCLE)].groupby("customer_id")["product_id"].last()
    expected = {c: CYCLE[(CYCLE.index(p) + 1) % 4] for c, p in last.items()}
    rows = data.customer_positions(np.array(list(expected)))
    pairs = list(zip(expected, rows, strict=True))
    seq_right = np.mean([_first_cycle_product(seq, data, r) == expected[c] for c, r in pairs])
    freq_right = np.mean([_first_cycle_product(freq, data, r) == expected[c] for c, r in pairs])
    assert seq.fitted and seq_right >= 0.9
    assert freq_right <= 0.5  # counts cannot tell what comes next
    reason = seq.reason_texts(seq.reason_codes(rows[:1], np.array([0])))[0]
    assert reason == "often comes next after what they bought last"


def test_the_same_data_gives_the_same_model_and_lists():
    frame, prods, custs = cycle_shop(n_customers=20, seed=1)
    config = RecommenderConfig(seqrec_epochs=3, seqrec_dim=16)
    first = SequentialRecommender(config).fit(_data(frame, prods, custs, config))
    second = SequentialRecommender(config).fit(_data(frame, prods, custs, config))
    np.testing.assert_array_equal(first.hidden, second.hidden)
    rows = np.arange(20)
    np.testing.assert_array_equal(first.recommend(rows, 5).items, second.recommend(rows, 5).items)


def test_above_its_size_caps_it_is_not_fitted_and_scores_nothing():
    frame, prods, custs = cycle_shop(n_customers=10)
    for config in (RecommenderConfig(seqrec_max_customers=9), RecommenderConfig(seqrec_max_interactions=10)):
        rec = SequentialRecommender(config).fit(_data(frame, prods, custs, config))
        assert not rec.fitted and rec.score(np.arange(10)).nnz == 0


def test_a_build_over_the_cap_leaves_it_off_in_the_final_fit_too():
    # the validation split sees fewer purchase lines than the whole data: the cap is judged on the whole data
    # and carried to the final fit (and to refreshes) through the tuned settings
    frame, prods, custs = cycle_shop(n_customers=60)
    lines = int((frame["kind"] == "purchase").sum())
    config = RecommenderConfig(seqrec_max_interactions=lines - 1, seqrec_epochs=1, ranker=False)
    fit = validation_hybrid(frame, prods, custs, k=5, config=config)
    assert fit.tuned_config(config).seqrec_max_interactions == 0
    fit = validation_hybrid(frame, prods, custs, k=5, config=RecommenderConfig(seqrec_epochs=1, ranker=False))
    assert "seqrec_max_interactions" not in fit.tuned


def test_basket_sequences_keep_the_last_baskets_oldest_first_and_skip_customers_without_purchases():
    rows = [(1, 3, 30, "purchase", 10), (1, 4, 30, "purchase", 10), (1, 5, 20, "purchase", 11),
            (1, 6, 10, "purchase", 12), (2, 1, 5, "view"), (3, 2, 3, "purchase", 13)]
    data = _data(interactions(rows), products(range(1, 9)), customers([1, 2, 3]))
    items, item_offsets, customer_offsets = basket_sequences(data, max_baskets=2)
    ids = data.product_ids
    baskets = [sorted(int(ids[i]) for i in items[item_offsets[b]:item_offsets[b + 1]])
               for b in range(len(item_offsets) - 1)]
    row = data.customer_positions([1, 2, 3])
    assert [baskets[b] for b in range(customer_offsets[row[0]], customer_offsets[row[0] + 1])] == [[5], [6]]
    assert customer_offsets[row[1]] == customer_offsets[row[1] + 1]
    assert [baskets[b] for b in range(customer_offsets[row[2]], customer_offsets[row[2] + 1])] == [[2]]


def test_a_ranked_hybrid_with_it_lists_the_same_in_forked_workers_and_reads_an_older_ranker():
    from recommendations.ml.build import recommend_all
    from recommendations.ml.evaluate import _fit_ranker
    from recommendations.ml.hybrid import HybridRecommender, fit_recommenders, holdout_targets
    from recommendations.ml.split import temporal_split

    frame, prods, custs = cycle_shop(n_customers=200, seed=3)
    config = RecommenderConfig(seqrec_epochs=10, seqrec_dim=16, als_factors=4, als_iterations=2,
                               ranker_rounds=10, ranker_min_leaf=5)
    split = temporal_split(frame, quantile=0.85)
    data = build_interaction_data(split.train, prods, custs, config=config, as_of=split.cutoff)
    rows, targets = holdout_targets(data, split.holdout)
    components = fit_recommenders(data, config)
    assert components["seqrec"].fitted
    booster, _ = _fit_ranker(components, data, rows, targets, None, k=5, config=config)
    hybrid = HybridRecommender(config, components=components, ranker=booster).fit(data)
    everyone = np.arange(data.n_customers)
    alone = recommend_all(hybrid, everyone, 5, None, workers=1, chunk=50)
    forked = recommend_all(hybrid, everyone, 5, None, workers=2, chunk=50)
    np.testing.assert_array_equal(alone.items, forked.items)
    # a build saved before this member existed: its ranker reads the members before it only
    older = {name: rec for name, rec in components.items() if name != "seqrec"}
    old_booster, _ = _fit_ranker(older, data, rows, targets, None, k=5, config=config)
    loaded = HybridRecommender(config, components=components, ranker=old_booster).fit(data)
    assert loaded.ranker_members() == tuple(older)
    assert (loaded.recommend(everyone, 5).items[:, 0] >= 0).all()
    # seqrec alone in the blend, forked: the numpy scoring never calls torch in the children
    only = HybridRecommender(config, {name: float(name == "seqrec") for name in components}, components).fit(data)
    in_process = recommend_all(only, everyone, 5, None, workers=1, chunk=50)
    np.testing.assert_array_equal(in_process.items, recommend_all(only, everyone, 5, None, workers=2,
                                                                   chunk=50).items)
    assert (in_process.sources[:, 0] == in_process.names.index("seqrec")).mean() > 0.9


def test_the_history_term_weighs_each_earlier_basket_by_decay_per_basket_since():
    # one sequence of three baskets: [7], [8], [7, 9] (global baskets 0..2)
    items, item_offsets = np.array([7, 8, 7, 9]), np.array([0, 1, 2, 4])
    step, item, weight, n = history_entries(np.array([3]), np.array([0]), items, item_offsets, 0.5, last_only=False)
    totals = pd.DataFrame({"step": step, "item": item, "w": weight}).groupby(["step", "item"])["w"].sum().to_dict()
    assert n == 2 and totals == {(0, 7): 1.0, (1, 7): 0.5, (1, 8): 1.0}  # after basket 0, after basket 1
    step, item, weight, n = history_entries(np.array([3]), np.array([0]), items, item_offsets, 0.5, last_only=True)
    totals = pd.DataFrame({"step": step, "item": item, "w": weight}).groupby(["step", "item"])["w"].sum().to_dict()
    assert n == 1 and totals == {(0, 7): 1.25, (0, 8): 0.5, (0, 9): 1.0}


def test_a_fit_leaves_the_process_torch_random_state_and_threads_as_they_were():
    import torch

    frame, prods, custs = cycle_shop(n_customers=10)
    config = RecommenderConfig(seqrec_epochs=1, seqrec_dim=8)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert SequentialRecommender(config).fit(_data(frame, prods, custs, config)).fitted
    assert torch.equal(torch.rand(3), expected) and torch.get_num_threads() == threads
