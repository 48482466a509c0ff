"""The Pareto/NBD model (Schmittlein, Morrison & Colombo, 1987), beside BG/NBD.

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); their lifetime is
exponential with rate mu ~ Gamma(s, beta), so unlike BG/NBD a customer may drop out at any time, also right
after a single purchase: one-time buyers need no special case. Summaries are BG/NBD's (x repeat purchase days,
t_x, T in days; see features.py). The likelihood is Fader & Hardie's numerically stable form ("A Note on
Deriving the Pareto/NBD Model and Related Expressions", 2005), in log space.

Customers are ranked by expected purchases in the horizon: P(alive) alone ranks a one-time buyer of last
week below a loyal customer who paused, which is rarely what a marketer wants.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import gammaln, hyp2f1
from scipy.stats import gamma as gamma_dist

from predictions.ml.artifacts import check_meta, read_json, read_metadata, write_json, write_metadata
from predictions.ml.base import ModelInput
from predictions.ml.bgnbd import MIN_CALIBRATION_PER_CLASS, summary_from_features
from predictions.ml.calibration import Calibrator, fit_calibrator

PARAMS_FILE = "paretonbd_params.json"
# Quantile points per gamma posterior when integrating P(no purchase in a window) (grid of QUAD x QUAD).
QUAD = 24


@dataclass(frozen=True)
class ParetoNbdParams:
    """Fitted Pareto/NBD parameters (time unit: days)."""

    r: float
    alpha: float
    s: float
    beta: float


def _arrays(*values) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def _log_a0(params: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    if alpha >= beta:
        low, high, t = beta, alpha, s + 1.0
    else:
        low, high, t = alpha, beta, r + x
    rsx = r + s + x
    q1, q2 = high + t_x, high + T
    p1 = hyp2f1(rsx, t, rsx + 1.0, (high - low) / q1)
    p2 = hyp2f1(rsx, t, rsx + 1.0, (high - low) / q2)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(p1, 1e-300)) + rsx * np.log(q2)
        b = np.log(np.maximum(p2, 1e-300)) + rsx * np.log(q1)
        # log(exp(a) - exp(b)), a >= b because t_x <= T
        diff = a + np.log1p(-np.exp(np.minimum(b - a, 0.0)) + 1e-300)
    return diff - rsx * np.log(q1 * q2)


def log_likelihood(params: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under Pareto/NBD."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) + _log_a0(params, x, t_x, T) - np.log(r + s + x)
    return a1 + np.logaddexp(alive, dead)


def fit_paretonbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, penalizer: float = 0.0) -> ParetoNbdParams:
    """Maximum-likelihood parameters (log-parameters, L-BFGS-B, Nelder-Mead when it fails; identical rows
    merged)."""
    x, t_x, T = _arrays(x, t_x, T)
    ok = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (x >= 0) & (T >= t_x) & (T > 0)
    x, t_x, T = x[ok], t_x[ok], T[ok]
    if len(x) == 0 or x.sum() == 0:
        raise ValueError("Pareto/NBD needs customers with repeat purchases")
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    ux, ut, uT = rows[:, 0], rows[:, 1], rows[:, 2]
    weights = counts / counts.sum()

    def objective(log_params: np.ndarray) -> float:
        params = ParetoNbdParams(*np.exp(np.clip(log_params, -12, 12)))
        with np.errstate(all="ignore"):
            ll = float(np.sum(weights * log_likelihood(params, ux, ut, uT)))
        penalty = penalizer * float(np.sum(np.exp(log_params) ** 2))
        return -ll + penalty if np.isfinite(ll) else 1e12

    rate = max(float(np.sum(x) / max(np.sum(T), 1.0)), 1e-4)
    start = np.log([0.5, 0.5 / rate, 0.5, 0.5 / rate * 5])
    best = minimize(objective, start, method="L-BFGS-B")
    if not best.success or not np.isfinite(best.fun):
        simplex = minimize(objective, best.x if np.all(np.isfinite(best.x)) else start, method="Nelder-Mead",
                           options={"maxiter": 3000, "xatol": 1e-5, "fatol": 1e-9})
        best = simplex if simplex.fun <= best.fun or not np.isfinite(best.fun) else best
    return ParetoNbdParams(*(float(v) for v in np.exp(np.clip(best.x, -12, 12))))


def p_alive(params: ParetoNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive at T | x, t_x, T)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    with np.errstate(over="ignore", invalid="ignore"):
        log_odds = (np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
                    + _log_a0(params, x, t_x, T))
        return 1.0 / (1.0 + np.exp(np.clip(log_odds, -700, 700)))


def expected_purchases(params: ParetoNbdParams, t: float, x: np.ndarray, t_x: np.ndarray,
                       T: np.ndarray) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] = P(alive) * (r + x)(beta + T) / ((alpha + T)(s - 1)) *
    (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) (the s -> 1 limit is taken as a log)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    if abs(s - 1.0) < 1e-6:
        lifetime = (beta + T) * np.log((beta + T + t) / (beta + T))
    else:
        lifetime = (beta + T) / (s - 1.0) * (1.0 - ((beta + T) / (beta + T + t)) ** (s - 1.0))
    return p_alive(params, x, t_x, T) * (r + x) / (alpha + T) * lifetime


def p_purchase_in(params: ParetoNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(>= 1 purchase in (T, T + t]) = P(alive) * (1 - E[P(none | alive, lambda, mu)]).

    Given alive at T the posteriors are lambda ~ Gamma(r + x, alpha + T) and mu ~ Gamma(s, beta + T); with both
    known, no purchase happens when the customer dies before the first purchase or survives the window without
    one: mu / (lambda + mu) * (1 - e^-(lambda + mu) t) + e^-(lambda + mu) t. The expectation is taken on a grid of
    QUAD x QUAD posterior quantiles (deterministic, accurate to ~1e-3)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    levels = (np.arange(QUAD) + 0.5) / QUAD
    mu_unit = gamma_dist.ppf(levels, s)  # mu * (beta + T)
    none = np.empty(len(x))
    for value in np.unique(x):
        pick = np.flatnonzero(x == value)
        lam_unit = gamma_dist.ppf(levels, r + value)
        for start in range(0, len(pick), 4096):
            idx = pick[start:start + 4096]
            lam = lam_unit[None, :, None] / (alpha + T[idx])[:, None, None]
            mu = mu_unit[None, None, :] / (beta + T[idx])[:, None, None]
            total = lam + mu
            decay = np.exp(-total * t)
            none[idx] = (mu / total * (1.0 - decay) + decay).mean(axis=(1, 2))
    return p_alive(params, x, t_x, T) * (1.0 - none)


def holdout_log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean Bernoulli log loss of probabilities `p` against 0/1 outcomes `y` (clipped at 1e-6)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("inf")


class ParetoNbdModel:
    """`Model` wrapper: customers ranked by Pareto/NBD expected purchases in the horizon.

    fit() ignores labels for the parameters (fitted on the latest feature rows: `valid`, else `train`). With at
    least MIN_CALIBRATION_PER_CLASS of each class in labelled validation, a calibrator maps expected purchases to
    a probability (monotone, so the ranking is the expectation's). Without labels the probability is the model's
    own P(>= 1 purchase in the horizon) made monotone in expected purchases (an isotonic fit of the one on the
    other over the fitting rows: no labels involved), so the ranking is still the expectation's."""

    algorithm = "paretonbd"

    def __init__(self, task: str, horizon_days: int, *, penalizer: float = 0.0) -> None:
        self.task = task
        self.horizon_days = horizon_days
        self.penalizer = penalizer
        self.params: ParetoNbdParams | None = None
        self.calibrator: Calibrator | None = None
        self.own_knots: tuple[list[float], list[float]] | None = None
        self.features: list[str] = []

    def expected(self, data: ModelInput) -> np.ndarray:
        """Expected purchases in the horizon per row of `data.X`."""
        if self.params is None:
            raise RuntimeError("ParetoNbdModel is not fitted")
        x, t_x, T = summary_from_features(data.X)
        return np.nan_to_num(expected_purchases(self.params, self.horizon_days, x, t_x, T), nan=0.0)

    def _score(self, data: ModelInput) -> np.ndarray:
        # a strictly increasing squash of expected purchases, so a calibrator sees values in (0, 1)
        e = self.expected(data)
        return np.clip(1.0 - np.exp(-e), 1e-6, 1 - 1e-6)

    def fit(self, train: ModelInput, valid: ModelInput) -> None:
        """Fit the parameters on the latest rows; calibrate on labelled validation when it allows."""
        self.features = [str(c) for c in (valid.X.columns if len(valid.X) else train.X.columns)]
        last_error: Exception | None = None
        fitted_on = None
        for source in (valid, train):
            if len(source.X) == 0:
                continue
            x, t_x, T = (source.X[c].to_numpy(dtype=np.float64) for c in ("bgnbd_x", "bgnbd_t_x", "bgnbd_T"))
            try:
                self.params = fit_paretonbd(x, t_x, T, penalizer=self.penalizer)
                fitted_on = source
                break
            except ValueError as error:
                last_error = error
        if self.params is None:
            raise ValueError(f"cannot fit Pareto/NBD: {last_error}")
        from sklearn.isotonic import IsotonicRegression

        x, t_x, T = summary_from_features(fitted_on.X)
        own = np.nan_to_num(p_purchase_in(self.params, self.horizon_days, x, t_x, T), nan=0.0)
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(self._score(fitted_on), own)
        self.own_knots = (iso.X_thresholds_.astype(float).tolist(), iso.y_thresholds_.astype(float).tolist())
        self.calibrator = None
        if valid.y is not None and len(valid.X):
            y = np.asarray(valid.y).astype(np.int64)
            if self.task == "churn":
                y = 1 - y
            if min(int(y.sum()), int(len(y) - y.sum())) >= MIN_CALIBRATION_PER_CLASS:
                self.calibrator = fit_calibrator(self._score(valid), y)

    def purchase_probability(self, data: ModelInput) -> np.ndarray:
        """P(>= 1 purchase in the horizon): calibrated from expected purchases, or the model's own."""
        score = self._score(data)
        if self.calibrator is not None:
            return self.calibrator.apply(score)
        if self.own_knots is None:
            raise RuntimeError("ParetoNbdModel is not fitted")
        # the tiny term keeps the expectation's order within the isotonic fit's flat steps
        return np.clip(np.interp(score, *self.own_knots) + 1e-5 * score, 1e-6, 1 - 1e-6)

    def predict_proba(self, data: ModelInput) -> np.ndarray:
        """Probability of the task's positive class (purchase, or churn = no purchase)."""
        p = self.purchase_probability(data)
        return p if self.task == "purchase" else 1.0 - p

    def save(self, directory: Path) -> None:
        """metadata.json plus the four parameters and the calibrator as JSON."""
        if self.params is None:
            raise RuntimeError("ParetoNbdModel is not fitted")
        write_metadata(directory, algorithm=self.algorithm, task=self.task, features=self.features,
                       config={"horizon_days": self.horizon_days, "penalizer": self.penalizer})
        write_json(directory / PARAMS_FILE, {
            "params": asdict(self.params),
            "calibrator": self.calibrator.to_dict() if self.calibrator is not None else None,
            "own_knots": list(self.own_knots) if self.own_knots is not None else None,
        })

    @classmethod
    def load(cls, directory: Path, *, expected_features: list[str]) -> ParetoNbdModel:
        """Read a saved model; FeatureMismatch when it was saved with other features."""
        meta = read_metadata(directory, algorithm=cls.algorithm)
        check_meta(meta, expected_features)
        model = cls(meta.task, int(meta.config["horizon_days"]), penalizer=float(meta.config.get("penalizer", 0.0)))
        payload = read_json(directory / PARAMS_FILE)
        model.params = ParetoNbdParams(**payload["params"])
        model.calibrator = Calibrator.from_dict(payload["calibrator"]) if payload.get("calibrator") else None
        knots = payload.get("own_knots")
        model.own_knots = (list(knots[0]), list(knots[1])) if knots else None
        model.features = meta.features
        return model
