"""Recency and RFM baselines: they learn the signal, stay calibrated and survive a save / load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictions.ml.base import FeatureMismatch, ModelInput
from predictions.ml.baselines import RecencyModel, RfmLogReg
from predictions.ml.metrics import evaluate

COLUMNS = ["recency_days", "frequency_total", "spend_total", "tenure_days", "orders_365d", "views_30d"]


def churn_data(n: int, seed: int) -> ModelInput:
    """Churn probability rises with recency; the rest is noise."""
    rng = np.random.default_rng(seed)
    recency = rng.exponential(90, n)
    X = pd.DataFrame(
        {
            "recency_days": recency,
            "frequency_total": rng.integers(1, 10, n),
            "spend_total": rng.gamma(2, 50, n),
            "tenure_days": recency + rng.uniform(0, 500, n),
            "orders_365d": rng.integers(0, 5, n),
            "views_30d": rng.integers(0, 20, n),
        }
    ).astype(np.float32)
    X.loc[:4, "recency_days"] = np.nan
    p = 1 / (1 + np.exp(-(recency - 90) / 30))
    y = (rng.random(n) < p).astype(np.int8)
    return ModelInput(customer_ids=np.arange(n), X=X, y=y)


@pytest.mark.parametrize("model_class", [RecencyModel, RfmLogReg])
def test_baseline_beats_random_and_is_calibrated_where_recency_predicts_churn(model_class):
    train, valid, test = churn_data(3000, 1), churn_data(1500, 2), churn_data(3000, 3)
    model = model_class("churn")
    model.fit(train, valid)
    p = model.predict_proba(test)
    m = evaluate(test.y, p)
    assert m["roc_auc"] > 0.8
    assert abs(p.mean() - test.y.mean()) < 0.03  # calibrated: mean prediction ~ base rate
    assert m["brier"] < evaluate(test.y, np.full(len(p), test.y.mean()))["brier"]


def test_recency_model_for_churn_never_lowers_risk_as_recency_grows():
    model = RecencyModel("churn")
    model.fit(churn_data(2000, 4), churn_data(1000, 5))
    grid = pd.DataFrame({c: np.zeros(50, dtype=np.float32) for c in COLUMNS})
    grid["recency_days"] = np.linspace(0, 400, 50, dtype=np.float32)
    p = model.predict_proba(ModelInput(customer_ids=np.arange(50), X=grid))
    assert np.all(np.diff(p) >= 0) and p[-1] > p[0]


@pytest.mark.parametrize("model_class", [RecencyModel, RfmLogReg])
def test_saved_baseline_predicts_the_same_and_refuses_other_features(model_class, tmp_path):
    data = churn_data(1000, 6)
    model = model_class("churn")
    model.fit(data, churn_data(500, 7))
    model.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = model_class.load(tmp_path, expected_features=COLUMNS)
    np.testing.assert_allclose(loaded.predict_proba(data), model.predict_proba(data))
    with pytest.raises(FeatureMismatch):
        model_class.load(tmp_path, expected_features=list(reversed(COLUMNS)))
