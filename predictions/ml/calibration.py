"""Probability calibration fitted on the validation split.

Models are trained with class weights (LightGBM `scale_pos_weight`, LSTM `pos_weight`) so that the
rare class is learned, which inflates raw scores; calibration maps them back so that "0.7" means
70 % of such customers do it.

- Platt scaling (a logistic regression on logit(p)) has two parameters, so it is stable on small
  validation sets and, because the slope is kept positive, it never changes the ranking (AUC is
  preserved exactly).
- Isotonic regression is non-parametric and fixes any monotone distortion, but it needs data: with
  few rows or few positives it overfits into a staircase. `method="auto"` uses it only from
  1,000 rows and 50 examples of each class. A tiny strictly increasing term breaks the ties of its
  flat steps so the customer ranking stays the model's ranking.
- With a single class in validation nothing can be learned; the identity map is kept and
  `Calibrator.method` says so.

Calibrators serialise to plain JSON (`to_dict` / `from_dict`); nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Method = Literal["auto", "platt", "isotonic"]

ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_PER_CLASS = 50
# Pseudo-customers at the validation base rate added to each isotonic step (see _fit_isotonic).
ISOTONIC_PRIOR_ROWS = 10
_EPS = 1e-6
# Weight of the raw score added to isotonic output so flat steps keep the raw order (far below any
# difference that matters for calibration).
_TIE_BREAK = 1e-5


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free form of 1 / (1 + exp(-z))


@dataclass(frozen=True)
class Calibrator:
    """A monotone map from raw scores to calibrated probabilities.

    method: "platt" (params a, b: p = sigmoid(a * logit(raw) + b)), "isotonic" (params x, y: the
    fitted step function, linearly interpolated and clipped at the ends) or "identity".
    """

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, p_raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (float64, within [1e-6, 1 - 1e-6]) for raw scores in [0, 1]."""
        p_raw = np.asarray(p_raw, dtype=np.float64)
        if self.method == "platt":
            out = _sigmoid(self.params["a"] * _logit(p_raw) + self.params["b"])
        elif self.method == "isotonic":
            x = np.asarray(self.params["x"], dtype=np.float64)
            y = np.asarray(self.params["y"], dtype=np.float64)
            # Mixing in the raw score keeps flat steps (and both ends) strictly increasing, and the
            # affine map into [eps, 1 - eps] avoids clipping, which would tie the extremes again.
            mixed = (1.0 - _TIE_BREAK) * np.interp(p_raw, x, y) + _TIE_BREAK * np.clip(p_raw, 0.0, 1.0)
            return _EPS + (1.0 - 2.0 * _EPS) * mixed
        elif self.method == "identity":
            out = p_raw
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        return np.clip(out, _EPS, 1.0 - _EPS)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (floats and lists only)."""
        return {"method": self.method, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        """Rebuild a calibrator saved with `to_dict`."""
        return cls(method=str(payload["method"]), params=dict(payload.get("params", {})))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fit_platt(scores: np.ndarray, y: np.ndarray) -> Calibrator:
    """Newton-Raphson on the two-parameter logistic, with Platt's smoothed targets.

    Smoothed targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)) keep the fit finite when the classes
    are perfectly separated on a small set.
    """
    z = _logit(scores)
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    t = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(a: float, b: float) -> float:
        m = a * z + b
        # log(1 + exp(m)) - t * m, written to stay finite for large |m|
        return float(np.sum(np.logaddexp(0.0, m) - t * m))

    a, b = 1.0, 0.0
    current = loss(a, b)
    ridge = 1e-6  # keeps the Hessian invertible when z is (nearly) constant
    for _ in range(100):
        p = _sigmoid(a * z + b)
        w = p * (1.0 - p)
        g = np.array([np.dot(p - t, z), np.sum(p - t)])
        h = np.array([[np.dot(w, z * z) + ridge, np.dot(w, z)], [np.dot(w, z), np.sum(w) + ridge]])
        step = np.linalg.solve(h, g)
        # Damped Newton: halve the step until the loss decreases (plain Newton overshoots from a
        # poor start, e.g. scores that were cubed).
        scale = 1.0
        while scale > 1e-8:
            candidate = loss(a - scale * step[0], b - scale * step[1])
            if candidate <= current:
                break
            scale *= 0.5
        else:
            break
        a, b, current = a - scale * step[0], b - scale * step[1], candidate
        if np.max(np.abs(scale * step)) < 1e-10:
            break
    if not np.isfinite(a) or a <= 0.0:
        # A useless or inverted score: keep the ranking (tiny positive slope) and predict the base rate.
        a = 1e-3
        base = float(np.clip(t.mean(), _EPS, 1.0 - _EPS))
        b = float(np.log(base / (1.0 - base)) - a * np.mean(z))
    return Calibrator(method="platt", params={"a": float(a), "b": float(b)})


def _fit_isotonic(scores: np.ndarray, y: np.ndarray) -> Calibrator:
    """Isotonic regression whose steps are each shrunk toward the validation base rate by ISOTONIC_PRIOR_ROWS
    pseudo-customers: (buyers + m * base rate) / (customers + m). Unsmoothed, a step without a single positive
    says 0 % (then 1e-6): on the CD shop the champion gave 45 % of the customers under 0.1 % while 2.8 % of them
    bought in the next 91 days (its test log loss 0.41 against BG/NBD's 0.30)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    fitted = iso.fit_transform(scores, y.astype(np.float64))
    order = np.argsort(scores, kind="stable")
    s_sorted, f_sorted, y_sorted = scores[order], fitted[order], y[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, np.diff(f_sorted) != 0])  # the steps: runs of one fitted value
    ends = np.r_[starts[1:], len(f_sorted)] - 1
    n = (ends - starts + 1).astype(np.float64)
    buyers = np.add.reduceat(y_sorted, starts)
    m = ISOTONIC_PRIOR_ROWS
    shrunk = (buyers + m * y_sorted.mean()) / (n + m)
    # Shrinking small steps more than big ones can break the order: pool them again (weighted, so the mean holds).
    smoothed = IsotonicRegression(increasing=True).fit_transform(np.arange(len(shrunk)), shrunk, sample_weight=n + m)
    x = np.column_stack([s_sorted[starts], s_sorted[ends]]).ravel()
    values = np.repeat(smoothed, 2)
    return Calibrator(method="isotonic", params={"x": x.astype(float).tolist(), "y": values.astype(float).tolist()})


def fit_calibrator(p_raw_valid: np.ndarray, y_valid: np.ndarray, *, method: Method = "auto") -> Calibrator:
    """Fit a calibrator mapping the raw validation scores to the observed validation outcomes.

    method="auto" picks isotonic from 1,000 rows with at least 50 of each class, Platt otherwise.
    A validation set with a single class gives the identity map (nothing to learn from).
    """
    scores = np.asarray(p_raw_valid, dtype=np.float64).ravel()
    y = np.asarray(y_valid).astype(np.int64).ravel()
    if scores.shape != y.shape:
        raise ValueError(f"{len(scores)} scores but {len(y)} labels")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores to calibrate contain NaN or inf")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return Calibrator(method="identity")
    if method == "auto":
        large = len(y) >= ISOTONIC_MIN_ROWS and min(n_pos, n_neg) >= ISOTONIC_MIN_PER_CLASS
        method = "isotonic" if large else "platt"
    if method == "platt":
        return _fit_platt(scores, y)
    if method == "isotonic":
        return _fit_isotonic(scores, y)
    raise ValueError(f"unknown calibration method {method!r}")
