import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from predictions.ml.base import FeatureMismatch, ModelInput
from predictions.ml.lstm import LstmModel

FEATURES = ["recency_days", "frequency_total", "spend_365d", "mean_gap_days"]


def _data(n, seed):
    """Static X is pure noise (with NaN); the label depends only on the last 6 weeks of orders/carts."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))) * 50, columns=FEATURES).astype(np.float32)
    X.iloc[rng.random(n) < 0.2, 3] = np.nan
    counts = rng.poisson(0.4, size=(n, 26, 5)).astype(np.float32)
    recent = counts[:, -6:, 0].sum(axis=1) + counts[:, -6:, 3].sum(axis=1)
    z = -1.5 * (recent - recent.mean()) - 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return ModelInput(customer_ids=np.arange(n), X=X, sequences=np.log1p(counts), y=y)


def _model(**kwargs):
    return LstmModel("churn", **{"seed": 0, "hidden": 16, "epochs": 6, "batch_size": 256, "device": "cpu", **kwargs})


@pytest.fixture(scope="module")
def fitted():
    model = _model()
    model.fit(_data(3000, 1), _data(1000, 2))
    return model


def test_learns_signal_that_lives_only_in_the_sequence(fitted):
    test = _data(2000, 3)
    p = fitted.predict_proba(test)
    assert roc_auc_score(test.y, p) > 0.7
    assert abs(p.mean() - test.y.mean()) < 0.05


def test_same_seed_gives_identical_predictions(fitted):
    again = _model()
    again.fit(_data(3000, 1), _data(1000, 2))
    test = _data(500, 4)
    assert np.array_equal(again.predict_proba(test), fitted.predict_proba(test))


def test_save_load_round_trip_predicts_identically(fitted, tmp_path):
    test = _data(500, 5)
    fitted.save(tmp_path / "lstm")
    loaded = LstmModel.load(tmp_path / "lstm", expected_features=FEATURES, device="cpu")
    assert np.array_equal(loaded.predict_proba(test), fitted.predict_proba(test))
    assert loaded.stats == fitted.stats
    assert sorted(p.name for p in (tmp_path / "lstm").iterdir()) == ["calibrator.json", "metadata.json", "model.pt"]


def test_load_refuses_other_feature_list(fitted, tmp_path):
    fitted.save(tmp_path / "lstm")
    with pytest.raises(FeatureMismatch):
        LstmModel.load(tmp_path / "lstm", expected_features=FEATURES[::-1])


def test_nan_static_features_are_imputed_not_propagated(fitted):
    test = _data(200, 6)
    test.X.iloc[:, :] = np.nan
    p = fitted.predict_proba(test)
    assert np.all(np.isfinite(p))


def test_prediction_in_batches_matches_one_pass(fitted, monkeypatch):
    import predictions.ml.lstm as lstm

    test = _data(700, 7)
    whole = fitted.predict_proba(test)
    monkeypatch.setattr(lstm, "PREDICT_BATCH", 64)  # forces many chunks of both loops
    assert np.allclose(fitted.predict_proba(test), whole, atol=1e-6)


def test_negative_subsampling_keeps_every_positive():
    model = _model(max_train_rows=500)
    y = np.r_[np.ones(100, dtype=int), np.zeros(2000, dtype=int)]
    rows = model._subsample(y, np.random.default_rng(0))
    assert len(rows) == 500
    assert y[rows].sum() == 100


def test_training_restores_global_torch_settings():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    _model(epochs=1).fit(_data(300, 1), _data(200, 2))
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_missing_sequences_are_refused_with_a_clear_error(fitted):
    test = _data(10, 8)
    with pytest.raises(ValueError, match="sequences"):
        fitted.predict_proba(ModelInput(test.customer_ids, test.X))
