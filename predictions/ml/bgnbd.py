"""The BG/NBD model (Fader, Hardie & Lee, 2005, "Counting your customers the easy way").

While alive, a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
purchase they drop out with probability p ~ Beta(a, b). Per customer we observe x (repeat
purchases), t_x (time of the last purchase since the first) and T (time from the first purchase to
the cutoff); here time is in days and purchases are distinct purchase days (see features.py).

The model needs no labels, so it serves shops whose history is shorter than the horizon.

One-time buyers: in BG/NBD a customer can only drop out right after a repeat purchase, so
P(alive | x = 0) = 1 forever - a customer who bought once three years ago would look certain to be
alive. We use the MBG/NBD assumption (Batislam, Denizel & Filiztekin, 2007) for them only: dropout
may also happen at the first purchase, which gives
P(alive | x = 0) = 1 / (1 + a / b * ((alpha + T) / alpha) ** r), decreasing as T grows. Customers with
x >= 1 keep the exact BG/NBD expressions. `p_alive(..., adjust_one_time=False)` gives the textbook value.

Customers who never bought (no BG/NBD summary) are treated by `BgNbdModel` as one-time buyers
whose "first purchase" is the day they were first seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from predictions.ml.artifacts import check_meta, read_json, read_metadata, write_json, write_metadata
from predictions.ml.base import ModelInput
from predictions.ml.calibration import Calibrator, fit_calibrator

PARAMS_FILE = "bgnbd_params.json"
# Validation needs this many of each class before a calibrator is fitted on top of the model.
MIN_CALIBRATION_PER_CLASS = 20


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters (time unit: days)."""

    r: float
    alpha: float
    a: float
    b: float


def _arrays(*values: np.ndarray | float) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def log_likelihood(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under BG/NBD (FHL 2005, eq. 6, in log space)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    alive_term = -(r + x) * np.log(alpha + T)
    # The "dropped out after the last purchase" term exists only for x > 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        dead_term = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(alive_term, dead_term)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, penalizer: float = 0.0) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for the summaries of customers with >= 1 purchase.

    Optimises the log parameters (so they stay positive) with L-BFGS-B, falling back to
    Nelder-Mead if it fails; `penalizer` adds an L2 penalty on the parameters for tiny samples.
    Identical (x, t_x, T) rows are merged with weights, which makes large shops cheap.
    """
    x, t_x, T = _arrays(x, t_x, T)
    ok = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (x >= 0) & (T >= t_x)
    x, t_x, T = x[ok], t_x[ok], T[ok]
    if len(x) == 0 or x.sum() == 0:
        raise ValueError("BG/NBD needs customers with repeat purchases")
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, ut, uT = rows[:, 0], rows[:, 1], rows[:, 2]
    weights = counts / counts.sum()

    def objective(log_params: np.ndarray) -> float:
        params = BgNbdParams(*np.exp(np.clip(log_params, -20, 20)))
        ll = float(np.sum(weights * log_likelihood(params, ux, ut, uT)))
        penalty = penalizer * float(np.sum(np.exp(log_params) ** 2))
        return -ll + penalty if np.isfinite(ll) else 1e12

    # Start near a moment-based guess: rate r/alpha ~ observed repeat rate per day.
    rate = max(float(np.sum(x) / max(np.sum(T), 1.0)), 1e-4)
    start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    result = minimize(objective, start, method="L-BFGS-B")
    if not result.success or not np.isfinite(result.fun):
        result = minimize(objective, start, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6})
    return BgNbdParams(*(float(v) for v in np.exp(np.clip(result.x, -20, 20))))


def p_alive(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, adjust_one_time: bool = True
) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T); see the module docstring for x = 0."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_odds_dead = (
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        repeat = 1.0 / (1.0 + np.exp(log_odds_dead))
        one_time = 1.0 / (1.0 + a / b * np.exp(r * (np.log(alpha + T) - np.log(alpha + t_x))))
    return np.where(x > 0, repeat, one_time if adjust_one_time else 1.0)


def expected_purchases(
    params: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, adjust_one_time: bool = True
) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10).

    The bracket is the expectation for a customer known to be alive; it is multiplied by P(alive),
    which is where the one-time-buyer adjustment enters.
    """
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, z)
    alive_expectation = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    # FHL's eq. 10 = alive_expectation / (1 + delta * odds) = alive_expectation * P(alive).
    return np.maximum(alive_expectation, 0.0) * p_alive(params, x, t_x, T, adjust_one_time=adjust_one_time)


def p_purchase_in(
    params: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, adjust_one_time: bool = True
) -> np.ndarray:
    """P(>= 1 purchase in (T, T + t]) ~ P(alive) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)).

    Given alive, the posterior rate is Gamma(r + x, alpha + T), so the chance of no purchase in t
    days is ((alpha + T) / (alpha + T + t)) ** (r + x); dropout during the window is ignored.
    """
    x, t_x, T = _arrays(x, t_x, T)
    no_purchase = ((params.alpha + T) / (params.alpha + T + t)) ** (params.r + x)
    return p_alive(params, x, t_x, T, adjust_one_time=adjust_one_time) * (1.0 - no_purchase)


def summary_from_features(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001 - a DataFrame
    """(x, t_x, T) from a feature frame; never-bought customers become x = 0 at first sight."""
    x = X["bgnbd_x"].to_numpy(dtype=np.float64)
    t_x = X["bgnbd_t_x"].to_numpy(dtype=np.float64)
    T = X["bgnbd_T"].to_numpy(dtype=np.float64)
    never = ~np.isfinite(x)
    tenure = X["tenure_days"].to_numpy(dtype=np.float64) if "tenure_days" in X else np.zeros(len(X))
    x = np.where(never, 0.0, x)
    t_x = np.where(never, 0.0, t_x)
    T = np.where(never, np.nan_to_num(np.floor(tenure), nan=0.0), T)
    return x, t_x, T


class BgNbdModel:
    """`Model` wrapper: P(purchase within horizon) for "purchase", 1 - that for "churn".

    fit() ignores labels for the BG/NBD parameters (fitted on the most recent feature rows, from
    `valid` when it has repeat buyers, otherwise `train`); when `valid` carries labels with at least
    MIN_CALIBRATION_PER_CLASS of each class, a calibrator is fitted on top. Without labels the raw
    model probabilities are used as they are.
    """

    algorithm = "bgnbd"

    def __init__(self, task: str, horizon_days: int, *, penalizer: float = 0.0) -> None:
        self.task = task
        self.horizon_days = horizon_days
        self.penalizer = penalizer
        self.params: BgNbdParams | None = None
        self.calibrator = Calibrator(method="identity")
        self.features: list[str] = []

    def _raw(self, data: ModelInput) -> np.ndarray:
        if self.params is None:
            raise RuntimeError("BgNbdModel is not fitted")
        x, t_x, T = summary_from_features(data.X)
        p = p_purchase_in(self.params, self.horizon_days, x, t_x, T)
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return p if self.task == "purchase" else 1.0 - p

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Fit BG/NBD parameters on the latest rows; calibrate on labelled validation when possible."""
        self.features = [str(c) for c in (valid.X.columns if len(valid.X) else train.X.columns)]
        last_error: Exception | None = None
        for source in (valid, train):
            if len(source.X) == 0:
                continue
            x, t_x, T = (source.X[c].to_numpy(dtype=np.float64) for c in ("bgnbd_x", "bgnbd_t_x", "bgnbd_T"))
            try:
                self.params = fit_bgnbd(x, t_x, T, penalizer=self.penalizer)
                break
            except ValueError as error:  # no repeat buyers in this split
                last_error = error
        if self.params is None:
            raise ValueError(f"cannot fit BG/NBD: {last_error}")
        self.calibrator = Calibrator(method="identity")
        if valid.y is not None and len(valid.X):
            y = np.asarray(valid.y).astype(np.int64)
            if min(int(y.sum()), int(len(y) - y.sum())) >= MIN_CALIBRATION_PER_CLASS:
                self.calibrator = fit_calibrator(self._raw(valid), y)

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Calibrated probability of the task's positive class."""
        return self.calibrator.apply(self._raw(data))

    def save(self, directory: Path) -> None:
        """metadata.json plus the four parameters and the calibrator as JSON."""
        if self.params is None:
            raise RuntimeError("BgNbdModel is not fitted")
        write_metadata(
            directory,
            algorithm=self.algorithm,
            task=self.task,
            features=self.features,
            config={"horizon_days": self.horizon_days, "penalizer": self.penalizer},
        )
        write_json(directory / PARAMS_FILE, {"params": asdict(self.params), "calibrator": self.calibrator.to_dict()})

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> BgNbdModel:
        """Read a saved model; FeatureMismatch when it was saved with other features."""
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        model = cls(meta.task, int(meta.config["horizon_days"]), penalizer=float(meta.config.get("penalizer", 0.0)))
        payload = read_json(directory / PARAMS_FILE)
        model.params = BgNbdParams(**payload["params"])
        model.calibrator = Calibrator.from_dict(payload["calibrator"])
        model.features = meta.features
        return model
