import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predictions.ml.artifacts import check_features, read_metadata, write_metadata
from predictions.ml.base import FeatureMismatch, ModelInput
from predictions.ml.ensemble import EnsembleModel, weight_grid
from predictions.ml.gbm import LightGbmModel

FEATURES = ["signal", "noise"]


class ColumnModel:
    """A fitted stand-in member: P = sigmoid(scale * X[column]); saved as JSON."""

    algorithm = "column"

    def __init__(self, column, scale):
        self.column, self.scale, self.task, self.features = column, scale, "churn", list(FEATURES)

    def fit(self, train, valid):
        pass

    def predict_proba(self, data):
        return 1 / (1 + np.exp(-self.scale * data.X[self.column].to_numpy(dtype=float)))

    def save(self, directory: Path):
        write_metadata(directory, algorithm=self.algorithm, task="churn", features=self.features, config={})
        (directory / "params.json").write_text(json.dumps({"column": self.column, "scale": self.scale}))

    @classmethod
    def load(cls, directory: Path, *, expected_features):
        check_features(read_metadata(directory).features, expected_features)
        return cls(**json.loads((directory / "params.json").read_text()))


def _data(n, seed):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n)}).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * X.signal.to_numpy()))).astype(int)
    return ModelInput(customer_ids=np.arange(n), X=X, y=y)


def _log_loss(y, p):
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_weight_grid_covers_the_simplex_in_tenths():
    grid = weight_grid(3)
    assert len(grid) == 66
    assert np.allclose(grid.sum(axis=1), 1.0)
    assert len(weight_grid(2)) == 11


def test_weight_goes_to_the_informative_member_and_blend_beats_each_member():
    valid, test = _data(3000, 1), _data(3000, 2)
    good, noise = ColumnModel("signal", 1.0), ColumnModel("noise", 1.0)
    ensemble = EnsembleModel([noise, good])

    ensemble.fit(valid, valid)

    assert ensemble.weights[1] >= 0.9
    p = ensemble.predict_proba(test)
    assert _log_loss(test.y, p) <= min(_log_loss(test.y, m.predict_proba(test)) for m in (good, noise)) + 1e-3


def test_ensemble_fit_does_not_retrain_members():
    valid = _data(500, 1)
    calls = []
    member = ColumnModel("signal", 1.0)
    member.fit = lambda *a: calls.append(a)
    EnsembleModel([member]).fit(valid, valid)
    assert calls == []


def test_save_load_with_custom_member_loader_predicts_identically(tmp_path):
    valid, test = _data(1500, 1), _data(500, 2)
    ensemble = EnsembleModel([ColumnModel("signal", 0.5), ColumnModel("noise", 1.0)])
    ensemble.fit(valid, valid)
    ensemble.save(tmp_path / "ens")

    loaded = EnsembleModel.load(
        tmp_path / "ens", expected_features=FEATURES, member_loaders={"column": ColumnModel.load}
    )

    assert np.array_equal(loaded.weights, ensemble.weights)
    assert np.array_equal(loaded.predict_proba(test), ensemble.predict_proba(test))
    assert (tmp_path / "ens" / "member_1_column" / "params.json").exists()


def test_load_refuses_other_features_and_unknown_member_algorithm(tmp_path):
    valid = _data(500, 1)
    ensemble = EnsembleModel([ColumnModel("signal", 1.0)])
    ensemble.fit(valid, valid)
    ensemble.save(tmp_path / "ens")
    with pytest.raises(FeatureMismatch):
        EnsembleModel.load(tmp_path / "ens", expected_features=["signal"], member_loaders={"column": ColumnModel.load})
    with pytest.raises(ValueError, match="column"):
        EnsembleModel.load(tmp_path / "ens", expected_features=FEATURES)


def test_default_loader_restores_a_lightgbm_member(tmp_path):
    train, valid, test = _data(2000, 1), _data(1000, 2), _data(300, 3)
    gbm = LightGbmModel("churn")
    gbm.fit(train, valid)
    ensemble = EnsembleModel([gbm, ColumnModel("noise", 1.0)])
    ensemble.fit(train, valid)
    ensemble.save(tmp_path / "ens")

    loaded = EnsembleModel.load(
        tmp_path / "ens", expected_features=FEATURES, member_loaders={"column": ColumnModel.load}
    )

    assert isinstance(loaded.members[0], LightGbmModel)
    assert np.allclose(loaded.predict_proba(test), ensemble.predict_proba(test))
