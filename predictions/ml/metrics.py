"""Quality metrics of predicted probabilities, as plain JSON-serialisable numbers.

Ranking: ROC AUC, PR AUC (average precision), lift and share of positives captured in the top
decile. Probability quality: Brier score, log loss, a 10-bin calibration table. Decisions:
precision / recall / F1 at a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

_EPS = 1e-15
CALIBRATION_BINS = 10


def _num(value: float | None) -> float | None:
    """A plain float, or None when undefined (NaN / inf are not valid JSON)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def best_f1_threshold(y_true: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold (predict positive when p >= threshold) with the highest F1.

    Ties go to the higher threshold (fewer customers flagged for the same F1). With no positives the
    threshold is 1.0, flagging nobody but certainties.
    """
    if y_true.sum() == 0:
        return 1.0
    precision, recall, thresholds = precision_recall_curve(y_true, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = f1[:-1]  # the last point (recall 0) has no threshold
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(thresholds[best])


def calibration_table(y_true: np.ndarray, p: np.ndarray, *, bins: int = CALIBRATION_BINS) -> list[dict[str, Any]]:
    """Quantile bins of the predictions (equal counts, lowest p first) with mean p and observed rate.

    Quantile bins rather than fixed [0, 0.1) ... bins: calibrated probabilities of a rare event crowd
    into the first fixed bin, leaving the table empty where it matters.
    """
    order = np.argsort(p, kind="stable")
    table = []
    for i, chunk in enumerate(np.array_split(order, min(bins, len(order)))):
        if len(chunk) == 0:
            continue
        table.append(
            {
                "bin": i + 1,
                "mean_predicted": _num(p[chunk].mean()),
                "observed_rate": _num(y_true[chunk].mean()),
                "count": int(len(chunk)),
            }
        )
    return table


def evaluate(y_true: np.ndarray, p: np.ndarray, *, threshold: float | None = None) -> dict[str, Any]:
    """All metrics of probabilities `p` against 0/1 outcomes `y_true`.

    threshold: customers with p >= threshold are flagged; None picks the threshold maximising F1
    on these same data (an optimistic choice: pass the validation threshold when evaluating a
    backtest). Undefined values (AUC with a single class, lift with no positives) are None.
    """
    y = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} outcomes but {len(p)} probabilities")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities contain NaN or inf")
    n = len(y)
    positives = int(y.sum())
    base_rate = positives / n if n else None
    both = 0 < positives < n
    if threshold is None:
        threshold = best_f1_threshold(y, p) if n else 0.5
    flagged = p >= threshold
    tp = int((flagged & (y == 1)).sum())
    precision = tp / int(flagged.sum()) if flagged.any() else None
    recall = tp / positives if positives else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else (0.0 if n else None)

    top = np.argsort(-p, kind="stable")[: max(1, math.ceil(0.1 * n))] if n else np.zeros(0, dtype=np.int64)
    top_positives = int(y[top].sum())
    lift = (top_positives / len(top)) / base_rate if base_rate else None
    clipped = np.clip(p, _EPS, 1 - _EPS)
    return {
        "roc_auc": _num(roc_auc_score(y, p)) if both else None,
        "pr_auc": _num(average_precision_score(y, p)) if both else None,
        "brier": _num(np.mean((p - y) ** 2)) if n else None,
        "log_loss": _num(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))) if n else None,
        "lift_top_decile": _num(lift),
        "captured_top_decile": _num(top_positives / positives) if positives else None,
        "precision": _num(precision),
        "recall": _num(recall),
        "f1": _num(f1),
        "threshold": _num(threshold),
        "base_rate": _num(base_rate),
        "n": int(n),
        "positives": positives,
        "calibration": calibration_table(y, p),
    }


@dataclass(frozen=True)
class AucInterval:
    """A ROC AUC's standard error and its 95 % interval (clipped to [0, 1])."""

    se: float
    low: float
    high: float


def roc_auc_interval(auc: float | None, *, positives: int, negatives: int) -> AucInterval | None:
    """The analytic standard error of a ROC AUC measured on `positives` and `negatives` (Hanley & McNeil, 1982)
    and its normal 95 % interval; None when the AUC is undefined (one outcome only).

    Analytic rather than a bootstrap: it needs the counts alone and costs nothing; on samples of 150 customers it
    came within about 15 % of a bootstrap's spread (a little narrower). It says how far the figure could move with
    another sample of customers: with 150 (110 of one outcome, 40 of the other) about ±0.08 at an AUC of 0.75,
    more than most differences between models.
    """
    if auc is None or positives < 1 or negatives < 1:
        return None
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / (positives * negatives)
    se = math.sqrt(max(variance, 0.0))
    return AucInterval(se=se, low=max(0.0, a - 1.96 * se), high=min(1.0, a + 1.96 * se))


# A ROC AUC whose 95 % interval reaches further than this either side is called uncertain: the models' differences
# on such a window (often a few hundredths) are within its noise. 150 customers give about ±0.08; the CD shop's
# 11,778 about ±0.01.
UNCERTAIN_HALF_WIDTH = 0.05


def roc_auc_uncertain(interval: AucInterval | None) -> bool | None:
    """Whether a ROC AUC with this interval says little: wider than ±UNCERTAIN_HALF_WIDTH, or holding 0.5 (no
    better than chance). None without an interval. The backtest's `uncertainty` and the dashboard read the same."""
    if interval is None:
        return None
    return bool(1.96 * interval.se > UNCERTAIN_HALF_WIDTH or interval.low <= 0.5 <= interval.high)


@dataclass(frozen=True)
class TopDecileReference:
    """What "the 10 % we flag hold X % of those who left" compares with, on the same validation data."""

    flagged_share: float  # the share of customers flagged: also what random picking captures
    best_captured: float  # the most a perfect ranking could capture: min(1, flagged / positives)


def top_decile_reference(*, n: int | None, positives: int | None, base_rate: float | None = None
                         ) -> TopDecileReference | None:
    """The baselines of `captured_top_decile`: random picking captures the flagged share (10 %); a perfect
    ranking captures min(1, flagged / positives). From the counts of `classification_metrics` (the same top
    ceil(10 % n) customers), or from `base_rate` alone for metrics stored without counts. None when unknown."""
    if n and positives:
        flagged = max(1, math.ceil(0.1 * n))
        return TopDecileReference(flagged_share=flagged / n, best_captured=min(1.0, flagged / positives))
    if base_rate:
        return TopDecileReference(flagged_share=0.1, best_captured=min(1.0, 0.1 / base_rate))
    return None
