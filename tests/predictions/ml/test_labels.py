"""Labels on a hand-made shop and the history-sufficiency verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictions.ml.features import eligible_customers
from predictions.ml.labels import build_labels, history_sufficiency
from tests.predictions.ml.test_features import T, at, hand_frames
from tests.predictions.ml.test_pipeline import make_shop


def shop():
    return hand_frames(
        orders=[
            (1, at(10), 5.0, "placed"),
            (1, at(-20), 5.0, "placed"),  # buys again inside (T, T+30]
            (2, at(40), 5.0, "placed"),
            (2, at(-20), 5.0, "cancelled"),  # a cancelled order is not a purchase
            (3, at(50), 5.0, "placed"),
            (3, at(-30), 5.0, "refunded"),  # exactly T+30 is inside; refunded still bought
            (4, at(500), 5.0, "placed"),  # lapsed: not active, so no churn label
            (4, at(-5), 5.0, "placed"),
            (5, at(0), 5.0, "placed"),  # an order at T belongs to the features, not the label
            (6, at(20), 5.0, "placed"),
            (6, at(-31), 5.0, "placed"),  # one day after the horizon
        ],
        customers=[(7, at(100))],
    )


def test_purchase_label_counts_non_cancelled_orders_in_the_horizon_only():
    frames = shop()
    ids = eligible_customers(frames, cutoff=T, task="purchase")
    y = build_labels(frames, cutoff=T, horizon_days=30, task="purchase", customer_ids=ids)
    assert dict(zip(ids.tolist(), y.tolist(), strict=True)) == {1: 1, 2: 0, 3: 1, 4: 1, 5: 0, 6: 0, 7: 0}
    assert y.dtype == np.int8


def test_churn_is_labelled_only_for_customers_active_at_the_cutoff():
    frames = shop()
    ids = eligible_customers(frames, cutoff=T, task="churn", lookback_days=365)
    y = build_labels(frames, cutoff=T, horizon_days=30, task="churn", customer_ids=ids)
    assert ids.tolist() == [1, 2, 3, 5, 6]  # 4 last bought 500 days ago, 7 never bought
    assert dict(zip(ids.tolist(), y.tolist(), strict=True)) == {1: 0, 2: 1, 3: 0, 5: 1, 6: 1}


def test_short_history_allows_only_the_label_free_models_and_says_why():
    full = make_shop(n_customers=600, days=400, seed=1)
    as_of = pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(days=150)
    s = history_sufficiency(full.frames, as_of=as_of, horizon_days=90, lookback_days=365, task="churn")
    assert s.algorithms_allowed == ["bgnbd", "paretonbd"]
    assert any("shorter than 2 × horizon (180): only BG/NBD and Pareto/NBD can be used" in m for m in s.messages)
    assert s.history_days < 180 and s.buyers > 0 and s.repeat_buyers <= s.buyers


def test_long_history_allows_baselines_and_counts_labelled_cutoffs():
    full = make_shop(n_customers=600, days=730, seed=1)
    s = history_sufficiency(full.frames, as_of=full.end, horizon_days=90, lookback_days=365, task="churn")
    assert {"bgnbd", "recency", "rfm_logreg", "lgbm"} <= set(s.algorithms_allowed)
    assert "lstm" not in s.algorithms_allowed  # 600 customers give fewer than 2,000 training rows
    assert any("LSTM needs 2,000 training rows" in m for m in s.messages)
    assert s.labelled_cutoffs_possible >= 5
    assert 0 < s.validation_positives < s.validation_rows


def test_sufficiency_names_each_algorithms_own_reason_and_which_outcome_is_short():
    # a grocery-like shop where everybody buys every week: no one who did not buy to learn from
    orders = [(c, at(d), 10.0, "placed") for c in range(1, 301) for d in range(0, 360, 7)]
    s = history_sufficiency(hand_frames(orders), as_of=T, horizon_days=30, task="purchase")
    assert "recency" not in s.algorithms_allowed and "lgbm" not in s.algorithms_allowed
    assert "(300 bought, 0 did not buy)" in s.reasons["recency"]
    assert "0 did not buy" in s.reasons["lgbm"] and "bgnbd" not in s.reasons
