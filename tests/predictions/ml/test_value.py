"""Value per customer: trailing spend, expected orders, P(alive), revenue at risk."""

from __future__ import annotations

import numpy as np
import pytest

from predictions.ml.bgnbd import BgNbdParams
from predictions.ml.value import customer_value, revenue_at_risk
from tests.predictions.ml.test_features import T, at, hand_frames

PARAMS = BgNbdParams(r=0.5, alpha=20.0, a=0.8, b=2.5)


def test_value_counts_trailing_net_spend_and_ranks_loyal_customers_higher():
    frames = hand_frames(
        orders=[
            *[(1, at(d), 40.0, "placed") for d in (5, 35, 65, 95, 125)],  # steady monthly buyer
            (1, at(400), 1000.0, "placed"),  # older than 12 months
            (1, at(50), 70.0, "refunded"),
            (1, at(20), 90.0, "cancelled"),
            (2, at(300), 40.0, "placed"),
            (2, at(330), 40.0, "placed"),  # lapsed
        ],
        customers=[(3, at(10))],
    )
    v = customer_value(frames, cutoff=T, horizon_days=90, bgnbd_params=PARAMS)
    assert v.index.name == "customer_id" and v.index.tolist() == [1, 2, 3]
    assert v.loc[1, "spend_12m"] == pytest.approx(200.0)
    assert v.loc[2, "spend_12m"] == pytest.approx(80.0)
    assert v.loc[1, "expected_orders"] > v.loc[2, "expected_orders"]
    assert v.loc[1, "p_alive"] > v.loc[2, "p_alive"]
    assert ((v["p_alive"] >= 0) & (v["p_alive"] <= 1)).all()
    assert v.loc[3, "spend_12m"] == 0 and v.loc[3, "expected_value"] == 0


def test_revenue_at_risk_is_churn_probability_times_trailing_spend():
    assert revenue_at_risk(np.array([0.5, 0.1]), np.array([200.0, 1000.0])).tolist() == [100.0, 100.0]
