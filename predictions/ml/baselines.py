"""Baselines reported beside every model: recency alone, and an RFM logistic regression.

A model that cannot beat "how long since the last order" is not worth deploying; these two make
that comparison cheap and honest. Both implement the `Model` protocol, store their coefficients in
JSON and calibrate their probabilities on the validation split.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from predictions.ml.artifacts import check_meta, read_json, read_metadata, write_json, write_metadata
from predictions.ml.base import ModelInput, training_labels
from predictions.ml.calibration import Calibrator, fit_calibrator

PARAMS_FILE = "params.json"
RFM_COLUMNS = ("recency_days", "frequency_total", "spend_total", "tenure_days", "orders_365d")
# Weight of a strictly monotone function of recency mixed into the recency model's probabilities. The isotonic
# curve and its calibrator are flat over wide spans of recency (31 distinct scores on a six-year shop), and the
# ties cost ROC AUC (0.874 there against 0.9515 for plain recency): a peer handicapped so would flatter every
# model beside it. The term ranks the ties by recency and moves no probability by more than this weight.
RECENCY_TIE_BREAK = 1e-5
# Scale of that term, s / (r + s): strictly monotone for every recency, and still steep enough after years
# (at 2,000 days a day moves it by 6e-5, well above float64's resolution once weighted).
RECENCY_TIE_SCALE_DAYS = 365.0


def _labels(data: ModelInput, name: str) -> np.ndarray:
    if data.y is None:
        raise ValueError(f"{name} needs labels")
    return np.asarray(data.y).astype(np.int64)


def _calibrate(raw_valid: np.ndarray, valid: ModelInput) -> Calibrator:
    """Calibrator fitted on validation (identity when validation is empty or single-class)."""
    if valid.y is None or len(valid.X) == 0:
        return Calibrator(method="identity")
    return fit_calibrator(raw_valid, np.asarray(valid.y).astype(np.int64))


class RecencyModel:
    """P(positive) as a monotone function of `recency_days` alone.

    An isotonic regression on the training rows gives the shape (increasing with recency for churn,
    decreasing for purchase); the validation calibrator then adjusts it to the latest base rate. Both are
    step functions, so a tiny strictly monotone term in recency (RECENCY_TIE_BREAK) breaks their ties: the
    customers are ranked exactly as by raw recency, and the probabilities stay the calibrated ones.
    Missing recency is filled with the training median.
    """

    algorithm = "recency"

    def __init__(self, task: str) -> None:
        self.task = task
        self.features: list[str] = []
        self.fill_value = 0.0
        self.knots_x: list[float] = []
        self.knots_y: list[float] = []
        self.calibrator = Calibrator(method="identity")

    def _recency(self, data: ModelInput) -> np.ndarray:
        r = data.X["recency_days"].to_numpy(dtype=np.float64)
        return np.where(np.isfinite(r), r, self.fill_value)

    def _raw(self, data: ModelInput) -> np.ndarray:
        return np.clip(np.interp(self._recency(data), self.knots_x, self.knots_y), 1e-6, 1 - 1e-6)

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Fit the monotone curve on `train`, calibrate on `valid`."""
        y = _labels(train, "RecencyModel")
        self.features = [str(c) for c in train.X.columns]
        r = train.X["recency_days"].to_numpy(dtype=np.float64)
        self.fill_value = float(np.nanmedian(r)) if np.isfinite(r).any() else 0.0
        iso = IsotonicRegression(increasing=self.task == "churn", out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(self._recency(train), y)
        self.knots_x = iso.X_thresholds_.astype(float).tolist()
        self.knots_y = iso.y_thresholds_.astype(float).tolist()
        self.calibrator = _calibrate(self._raw(valid), valid) if len(valid.X) else Calibrator(method="identity")

    def _order(self, recency: np.ndarray) -> np.ndarray:
        """In [0, 1], strictly increasing in recency for churn and strictly decreasing for purchase."""
        scale = RECENCY_TIE_SCALE_DAYS
        r = np.maximum(recency, 0.0)
        return r / (r + scale) if self.task == "churn" else scale / (r + scale)

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the task's positive class, ranked as raw recency ranks the customers."""
        calibrated = self.calibrator.apply(self._raw(data))
        return (1.0 - RECENCY_TIE_BREAK) * calibrated + RECENCY_TIE_BREAK * self._order(self._recency(data))

    def save(self, directory: Path) -> None:
        """metadata.json plus the curve's knots and the calibrator as JSON."""
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features, config={})
        write_json(
            directory / PARAMS_FILE,
            {
                "fill_value": self.fill_value,
                "knots_x": self.knots_x,
                "knots_y": self.knots_y,
                "calibrator": self.calibrator.to_dict(),
            },
        )

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> RecencyModel:
        """Read a saved model; FeatureMismatch when it was saved with other features."""
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        payload = read_json(directory / PARAMS_FILE)
        model = cls(meta.task)
        model.features = meta.features
        model.fill_value = float(payload["fill_value"])
        model.knots_x, model.knots_y = list(payload["knots_x"]), list(payload["knots_y"])
        model.calibrator = Calibrator.from_dict(payload["calibrator"])
        return model


class RfmLogReg:
    """Logistic regression on standardised log1p(recency, frequency, monetary, tenure, orders_365d).

    Unweighted, so its probabilities are already close to calibrated; the validation calibrator
    corrects the drift between the training cutoffs' base rate and the latest one.
    """

    algorithm = "rfm_logreg"

    def __init__(self, task: str, *, C: float = 1.0) -> None:
        self.task = task
        self.C = C
        self.features: list[str] = []
        self.columns = list(RFM_COLUMNS)
        self.fill: list[float] = []
        self.mean: list[float] = []
        self.scale: list[float] = []
        self.coef: list[float] = []
        self.intercept = 0.0
        self.calibrator = Calibrator(method="identity")

    def _design(self, data: ModelInput) -> np.ndarray:
        raw = data.X[self.columns].to_numpy(dtype=np.float64)
        raw = np.where(np.isfinite(raw), raw, np.asarray(self.fill))
        return (np.log1p(np.maximum(raw, 0.0)) - np.asarray(self.mean)) / np.asarray(self.scale)

    def _raw(self, data: ModelInput) -> np.ndarray:
        z = self._design(data) @ np.asarray(self.coef) + self.intercept
        return np.clip(0.5 * (1.0 + np.tanh(0.5 * z)), 1e-6, 1 - 1e-6)

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Fit the regression on `train`, calibrate on `valid`."""
        y, _ = training_labels(train)
        self.features = [str(c) for c in train.X.columns]
        self.columns = [c for c in RFM_COLUMNS if c in train.X.columns]
        raw = train.X[self.columns].to_numpy(dtype=np.float64)
        with warnings.catch_warnings():  # a column empty for every customer (no gap for one-time buyers)
            warnings.simplefilter("ignore", RuntimeWarning)  # is filled with 0 below, not worth a warning
            medians = np.nanmedian(np.where(np.isfinite(raw), raw, np.nan), axis=0)
        self.fill = np.nan_to_num(medians, nan=0.0).tolist()
        logged = np.log1p(np.maximum(np.where(np.isfinite(raw), raw, np.asarray(self.fill)), 0.0))
        self.mean = logged.mean(axis=0).tolist()
        self.scale = np.where(logged.std(axis=0) > 0, logged.std(axis=0), 1.0).tolist()
        reg = LogisticRegression(C=self.C, max_iter=1000)
        reg.fit((logged - np.asarray(self.mean)) / np.asarray(self.scale), y)
        self.coef = reg.coef_[0].astype(float).tolist()
        self.intercept = float(reg.intercept_[0])
        self.calibrator = _calibrate(self._raw(valid), valid) if len(valid.X) else Calibrator(method="identity")

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the task's positive class."""
        return self.calibrator.apply(self._raw(data))

    def save(self, directory: Path) -> None:
        """metadata.json plus scaler, coefficients and calibrator as JSON."""
        write_metadata(
            directory, algorithm=self.algorithm, task=self.task, features=self.features, config={"C": self.C}
        )
        write_json(
            directory / PARAMS_FILE,
            {
                "columns": self.columns,
                "fill": self.fill,
                "mean": self.mean,
                "scale": self.scale,
                "coef": self.coef,
                "intercept": self.intercept,
                "calibrator": self.calibrator.to_dict(),
            },
        )

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> RfmLogReg:
        """Read a saved model; FeatureMismatch when it was saved with other features."""
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        payload = read_json(directory / PARAMS_FILE)
        model = cls(meta.task, C=float(meta.config.get("C", 1.0)))
        model.features = meta.features
        for key in ("columns", "fill", "mean", "scale", "coef"):
            setattr(model, key, list(payload[key]))
        model.intercept = float(payload["intercept"])
        model.calibrator = Calibrator.from_dict(payload["calibrator"])
        return model
