"""BG/NBD: parameter recovery from simulated customers, P(alive) behaviour, the label-free Model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictions.ml.base import FeatureMismatch, ModelInput
from predictions.ml.bgnbd import (
    BgNbdModel,
    BgNbdParams,
    expected_purchases,
    fit_bgnbd,
    log_likelihood,
    p_alive,
    p_purchase_in,
)

TRUE = BgNbdParams(r=0.25, alpha=4.0, a=0.8, b=2.5)


def simulate(params: BgNbdParams, n: int, seed: int, T_max: float = 365.0, future: float = 0.0):
    """Customers following the BG/NBD story, observed for T days after their first purchase.

    Returns (x, t_x, T) and the number of purchases each makes in the following `future` days.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params.r, 1 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    T = rng.uniform(T_max / 3, T_max, n)
    x, t_x, t, ahead = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t[alive] += rng.exponential(1 / lam[alive])
        observed = alive & (t <= T)
        later = alive & (t > T) & (t <= T + future)
        x[observed] += 1
        t_x[observed] = t[observed]
        ahead[later] += 1
        alive = (observed | later) & (rng.random(n) >= p)  # drop out right after a purchase
    return x, t_x, T, ahead


def test_fit_recovers_simulated_parameters_within_25_percent():
    x, t_x, T, _ = simulate(TRUE, 5000, seed=7)
    fitted = fit_bgnbd(x, t_x, T)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE, name), rel=0.25), name


def test_likelihood_is_finite_for_one_time_buyers():
    ll = log_likelihood(TRUE, np.array([0.0, 0.0, 3.0]), np.array([0.0, 0.0, 50.0]), np.array([0.0, 300.0, 300.0]))
    assert np.isfinite(ll).all()
    assert ll[0] == pytest.approx(0.0)  # at T = 0 nothing could have happened: probability 1


def test_p_alive_falls_as_the_last_purchase_recedes():
    t_x = np.array([300.0, 200.0, 100.0, 10.0])
    alive = p_alive(TRUE, np.full(4, 4.0), t_x, np.full(4, 300.0))
    assert np.all(np.diff(alive) < 0)
    # Bought on the last day: alive unless they dropped out right after, 1 / (1 + a / (b + x - 1)).
    assert alive[0] == pytest.approx(1 / (1 + 0.8 / (2.5 + 4 - 1)))


def test_one_time_buyers_are_not_alive_forever():
    T = np.array([10.0, 100.0, 1000.0])
    adjusted = p_alive(TRUE, np.zeros(3), np.zeros(3), T)
    assert np.all(np.diff(adjusted) < 0) and adjusted[-1] < 0.5
    assert np.all(p_alive(TRUE, np.zeros(3), np.zeros(3), T, adjust_one_time=False) == 1.0)


def test_expected_purchases_and_purchase_probability_match_the_simulated_future():
    fitted = fit_bgnbd(*simulate(TRUE, 5000, seed=11)[:3])
    x, t_x, T, ahead = simulate(TRUE, 20000, seed=12, future=60.0)
    expected = expected_purchases(fitted, 60.0, x, t_x, T, adjust_one_time=False)
    repeaters = x > 0  # where BG/NBD's expressions are exact
    assert expected[repeaters].sum() == pytest.approx(ahead[repeaters].sum(), rel=0.15)
    p = p_purchase_in(fitted, 60.0, x, t_x, T)
    assert p[repeaters].mean() == pytest.approx((ahead[repeaters] > 0).mean(), rel=0.2)
    assert np.all(expected_purchases(fitted, 90.0, x, t_x, T) >= expected_purchases(fitted, 60.0, x, t_x, T) - 1e-12)


def _bgnbd_input(n: int, seed: int, with_labels: bool) -> ModelInput:
    x, t_x, T, _ = simulate(TRUE, n, seed)
    X = pd.DataFrame(
        {"bgnbd_x": x, "bgnbd_t_x": np.floor(t_x), "bgnbd_T": np.floor(T), "tenure_days": np.floor(T)}
    ).astype(np.float32)
    X.loc[:9, ["bgnbd_x", "bgnbd_t_x", "bgnbd_T"]] = np.nan  # never-bought customers
    y = (np.random.default_rng(seed).random(n) < 0.3).astype(np.int8) if with_labels else None
    return ModelInput(customer_ids=np.arange(n), X=X, y=y)


def test_model_works_without_labels_and_round_trips(tmp_path):
    empty = ModelInput(customer_ids=np.zeros(0), X=pd.DataFrame())
    unlabelled = _bgnbd_input(2000, seed=3, with_labels=False)
    model = BgNbdModel("churn", 90)
    model.fit(empty, unlabelled)
    p = model.predict_proba(unlabelled)
    assert p.shape == (2000,) and np.all((p > 0) & (p < 1)) and model.calibrator.method == "identity"
    purchase = BgNbdModel("purchase", 90)
    purchase.fit(empty, unlabelled)
    np.testing.assert_allclose(purchase.predict_proba(unlabelled), 1 - p, atol=1e-6)

    model.save(tmp_path)
    loaded = BgNbdModel.load(tmp_path, expected_features=list(unlabelled.X.columns))
    np.testing.assert_allclose(loaded.predict_proba(unlabelled), p)
    with pytest.raises(FeatureMismatch):
        BgNbdModel.load(tmp_path, expected_features=["bgnbd_x", "bgnbd_t_x"])
