"""What each customer is worth: expected orders (BG/NBD), P(alive), trailing spend, revenue at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd

from predictions.ml.base import ShopFrames
from predictions.ml.bgnbd import BgNbdParams, expected_purchases, p_alive, summary_from_features
from predictions.ml.features import FeatureConfig, build_features


def customer_value(
    frames: ShopFrames, *, cutoff: pd.Timestamp, horizon_days: int, bgnbd_params: BgNbdParams
) -> pd.DataFrame:
    """One row per customer known at `cutoff`, indexed by customer_id.

    expected_orders: BG/NBD expected purchase days in (T, T + horizon];
    p_alive: BG/NBD P(alive) (one-time buyers adjusted, see bgnbd.py);
    spend_12m: non-cancelled spend in the trailing 365 days, refunded orders counting 0;
    expected_value: expected_orders x the customer's average order value (0 without orders).
    """
    features = build_features(frames, cutoff=cutoff, config=FeatureConfig())
    X = features.X
    x, t_x, T = summary_from_features(X)
    expected = expected_purchases(bgnbd_params, horizon_days, x, t_x, T)
    aov = np.nan_to_num(X["avg_order_value"].to_numpy(dtype=np.float64), nan=0.0)
    return pd.DataFrame(
        {
            "expected_orders": expected,
            "p_alive": p_alive(bgnbd_params, x, t_x, T),
            "spend_12m": X["spend_365d"].to_numpy(dtype=np.float64),
            "expected_value": expected * aov,
        },
        index=pd.Index(features.customer_ids, name="customer_id"),
    )


def revenue_at_risk(churn_probability: np.ndarray | pd.Series, spend_12m: np.ndarray | pd.Series) -> np.ndarray:
    """Churn probability x trailing 12-month spend: the yearly revenue a customer's loss would cost."""
    return np.asarray(churn_probability, dtype=np.float64) * np.asarray(spend_12m, dtype=np.float64)
