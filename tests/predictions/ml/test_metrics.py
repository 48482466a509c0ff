"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predictions.ml.metrics import evaluate

KEYS = {
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "lift_top_decile",
    "captured_top_decile",
    "precision",
    "recall",
    "f1",
    "threshold",
    "base_rate",
    "n",
    "positives",
    "calibration",
}


def test_perfect_ranking_scores_one_and_finds_all_positives_in_the_top_decile():
    y = np.array([1] * 10 + [0] * 90)
    p = np.linspace(1, 0, 100)
    m = evaluate(y, p)
    assert set(m) == KEYS
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == pytest.approx(1.0)
    assert m["lift_top_decile"] == pytest.approx(10.0)
    assert m["captured_top_decile"] == 1.0
    assert m["f1"] == 1.0 and m["precision"] == 1.0 and m["recall"] == 1.0
    json.dumps(m, allow_nan=False)


def test_constant_prediction_has_auc_one_half_and_known_brier():
    y = np.array([1, 0, 0, 0])
    m = evaluate(y, np.full(4, 0.25))
    assert m["roc_auc"] == 0.5
    assert m["brier"] == pytest.approx((0.75**2 + 3 * 0.25**2) / 4)
    assert m["log_loss"] == pytest.approx(-(np.log(0.25) + 3 * np.log(0.75)) / 4)
    assert m["base_rate"] == 0.25 and m["n"] == 4 and m["positives"] == 1


def test_single_class_outcomes_give_none_not_an_exception():
    m = evaluate(np.zeros(20), np.linspace(0, 0.5, 20))
    assert m["roc_auc"] is None and m["pr_auc"] is None and m["lift_top_decile"] is None
    assert m["recall"] is None and m["brier"] == pytest.approx(np.mean(np.linspace(0, 0.5, 20) ** 2))
    json.dumps(m, allow_nan=False)


def test_given_threshold_is_used_for_precision_and_recall():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8])
    m = evaluate(y, p, threshold=0.5)  # flags 0.9, 0.6, 0.8
    assert m["threshold"] == 0.5
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)


def test_default_threshold_maximises_f1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    m = evaluate(y, p)
    for t in np.linspace(0.05, 0.95, 19):
        assert m["f1"] >= evaluate(y, p, threshold=float(t))["f1"] - 1e-12


def test_calibration_table_covers_every_row_in_ten_bins_of_rising_predictions():
    rng = np.random.default_rng(1)
    p = rng.random(1000)
    y = (rng.random(1000) < p).astype(int)
    table = evaluate(y, p)["calibration"]
    assert len(table) == 10 and sum(b["count"] for b in table) == 1000
    means = [b["mean_predicted"] for b in table]
    assert means == sorted(means)
    assert all(abs(b["observed_rate"] - b["mean_predicted"]) < 0.12 for b in table)  # calibrated by construction


def test_roc_auc_interval_of_150_customers_is_wide_and_matches_a_bootstrap():
    """An outside analyst's backtest of 150 customers put ROC AUCs of 0.58-0.78 side by side without a word that
    such figures move by several hundredths with another sample of customers."""
    from sklearn.metrics import roc_auc_score

    from predictions.ml.metrics import roc_auc_interval

    rng = np.random.default_rng(0)
    y = (rng.random(150) < 0.7).astype(int)
    p = 1 / (1 + np.exp(-(1.2 * y + rng.normal(0, 1, 150))))
    auc = roc_auc_score(y, p)
    interval = roc_auc_interval(auc, positives=int(y.sum()), negatives=int(len(y) - y.sum()))
    boot = []
    for _ in range(300):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            boot.append(roc_auc_score(y[i], p[i]))
    assert interval.se == pytest.approx(np.std(boot), rel=0.3)
    assert interval.low < auc < interval.high and interval.high - interval.low > 0.1
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * interval.se)
    # by hand (Hanley & McNeil 1982): A = 0.8, 50 of each
    assert roc_auc_interval(0.8, positives=50, negatives=50).se == pytest.approx(0.04450, abs=1e-4)
    # thousands of customers: narrow; a perfect ranking's interval stays within [0, 1]
    assert roc_auc_interval(0.8, positives=3000, negatives=20000).se < 0.006
    assert roc_auc_interval(1.0, positives=5, negatives=5).high <= 1.0
    assert roc_auc_interval(None, positives=0, negatives=150) is None
