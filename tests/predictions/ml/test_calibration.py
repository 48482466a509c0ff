import json

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from predictions.ml.calibration import Calibrator, fit_calibrator


def _miscalibrated(n, seed=0):
    """True probabilities p, outcomes y, and a score p**3 that ranks right but is far too low."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 3, size=n)
    y = (rng.random(n) < p).astype(int)
    return p, y, p**3


@pytest.mark.parametrize(("n", "method"), [(400, "platt"), (5000, "isotonic")])
def test_auto_calibration_repairs_cubed_scores(n, method):
    _, y_fit, s_fit = _miscalibrated(n, seed=1)
    _, y_test, s_test = _miscalibrated(20000, seed=2)

    cal = fit_calibrator(s_fit, y_fit)

    calibrated = cal.apply(s_test)
    assert cal.method == method
    assert brier_score_loss(y_test, calibrated) < brier_score_loss(y_test, s_test) - 0.02
    assert abs(calibrated.mean() - y_test.mean()) < 0.02


def test_platt_never_changes_ranking():
    _, y, s = _miscalibrated(500)
    cal = fit_calibrator(s, y, method="platt")
    assert roc_auc_score(y, cal.apply(s)) == roc_auc_score(y, s)


def test_isotonic_steps_do_not_create_ties_in_customer_ranking():
    _, y, s = _miscalibrated(5000)
    cal = fit_calibrator(s, y, method="isotonic")
    out = cal.apply(s)
    assert len(np.unique(out)) == len(np.unique(s))
    assert abs(roc_auc_score(y, out) - roc_auc_score(y, s)) < 1e-9


def test_auto_uses_platt_when_positives_are_too_few_for_isotonic():
    rng = np.random.default_rng(0)
    s = rng.random(5000)
    y = np.zeros(5000, dtype=int)
    y[np.argsort(s)[-20:]] = 1
    assert fit_calibrator(s, y).method == "platt"


def test_useless_inverted_score_keeps_order_and_predicts_base_rate():
    rng = np.random.default_rng(0)
    s = rng.random(300)
    y = (s < 0.3).astype(int)  # the score ranks exactly backwards
    out = fit_calibrator(s, y, method="platt").apply(s)
    assert np.all(np.diff(out[np.argsort(s)]) >= 0)
    assert abs(out.mean() - y.mean()) < 0.05


def test_single_class_validation_gives_identity_instead_of_crashing():
    s = np.linspace(0.1, 0.9, 50)
    cal = fit_calibrator(s, np.zeros(50, dtype=int))
    assert cal.method == "identity"
    assert np.allclose(cal.apply(s), s)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrator_survives_json_round_trip(method):
    _, y, s = _miscalibrated(3000)
    cal = fit_calibrator(s, y, method=method)
    restored = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert np.array_equal(restored.apply(s), cal.apply(s))


def test_nan_scores_are_refused_rather_than_silently_calibrated():
    with pytest.raises(ValueError, match="NaN"):
        fit_calibrator(np.array([0.1, np.nan, 0.5]), np.array([0, 1, 1]))


def test_isotonic_never_says_zero_for_a_step_without_buyers_in_validation():
    # The CD shop: the champion's lowest isotonic step held no buyer in validation, so 45 % of the customers got
    # 0.0001 % (1e-6) while 2.8 % of them bought in the test window (log loss 0.41 against BG/NBD's 0.30). Each
    # step is shrunk toward the base rate by ISOTONIC_PRIOR_ROWS pseudo-customers instead.
    from predictions.ml.calibration import ISOTONIC_PRIOR_ROWS

    rng = np.random.default_rng(4)
    s = np.r_[rng.uniform(0.0, 0.1, 3000), rng.uniform(0.1, 1.0, 2000)]
    y = np.r_[np.zeros(3000, dtype=int), (rng.random(2000) < 0.5).astype(int)]  # nobody buys below 0.1
    cal = fit_calibrator(s, y, method="isotonic")
    low = cal.apply(np.array([0.0, 0.05]))
    expected = ISOTONIC_PRIOR_ROWS * y.mean() / (3000 + ISOTONIC_PRIOR_ROWS)
    assert np.all(low > expected / 2) and np.all(low < expected * 2)
    assert abs(cal.apply(s).mean() - y.mean()) < 0.005  # the shrinkage keeps the validation mean
    assert roc_auc_score(y, cal.apply(s)) == pytest.approx(roc_auc_score(y, s), abs=1e-9)
