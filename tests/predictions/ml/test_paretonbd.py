"""Pareto/NBD: parameter recovery, expectations against a simulated future, the label-free Model and choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predictions.ml.base import ModelInput
from predictions.ml.metrics import evaluate
from predictions.ml.paretonbd import (
    ParetoNbdModel,
    ParetoNbdParams,
    expected_purchases,
    fit_paretonbd,
    p_alive,
    p_purchase_in,
)

TRUE = ParetoNbdParams(r=0.6, alpha=40.0, s=0.7, beta=120.0)


def simulate(params: ParetoNbdParams, n: int, seed: int, future: float = 0.0, T_max: float = 365.0):
    """(x, t_x, T) of customers following the Pareto/NBD story, and their purchases in the next `future` days."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params.r, 1 / params.alpha, n)
    life = rng.exponential(1 / rng.gamma(params.s, 1 / params.beta, n))
    T = rng.uniform(T_max / 3, T_max, n)
    x, t_x, ahead = np.zeros(n), np.zeros(n), np.zeros(n)
    t = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        t[active] += rng.exponential(1 / lam[active])
        alive = active & (t <= life)
        seen = alive & (t <= T)
        x[seen] += 1
        t_x[seen] = t[seen]
        ahead[alive & (t > T) & (t <= T + future)] += 1
        active = alive & (t <= T + future)
    return x, t_x, T, ahead


def test_fit_recovers_the_purchase_rate_and_lifetime_of_simulated_customers():
    x, t_x, T, _ = simulate(TRUE, 4000, seed=1)
    fitted = fit_paretonbd(x, t_x, T)
    # the identified quantities: mean purchase rate r / alpha and mean dropout rate s / beta
    assert fitted.r / fitted.alpha == pytest.approx(TRUE.r / TRUE.alpha, rel=0.2)
    assert fitted.s / fitted.beta == pytest.approx(TRUE.s / TRUE.beta, rel=0.35)


def test_expected_purchases_and_probability_match_the_simulated_future():
    x, t_x, T, ahead = simulate(TRUE, 4000, seed=2, future=90)
    fitted = fit_paretonbd(x, t_x, T)
    expected = expected_purchases(fitted, 90, x, t_x, T)
    assert expected.sum() == pytest.approx(ahead.sum(), rel=0.15)
    p = p_purchase_in(fitted, 90, x, t_x, T)
    assert p.mean() == pytest.approx((ahead > 0).mean(), abs=0.03)
    assert (p <= p_alive(fitted, x, t_x, T) + 1e-9).all()
    assert evaluate((ahead > 0).astype(int), expected)["roc_auc"] > 0.75


def test_one_time_buyers_fade_as_their_purchase_recedes():
    # unlike textbook BG/NBD, a one-time buyer of long ago is not certain to be alive
    alive = p_alive(TRUE, np.zeros(3), np.zeros(3), np.array([10.0, 100.0, 500.0]))
    assert alive[0] > alive[1] > alive[2] and alive[2] < 0.7


def _input(x, t_x, T, y=None) -> ModelInput:
    X = pd.DataFrame({"bgnbd_x": x, "bgnbd_t_x": t_x, "bgnbd_T": T, "tenure_days": T}).astype("float32")
    return ModelInput(customer_ids=np.arange(len(x)), X=X, y=y)


def test_model_ranks_by_expected_purchases_and_round_trips(tmp_path):
    x, t_x, T, ahead = simulate(TRUE, 3000, seed=3, future=90)
    y = (ahead > 0).astype(np.int8)
    model = ParetoNbdModel("purchase", 90)
    model.fit(_input(x, t_x, T), _input(x, t_x, T, y))
    p = model.predict_proba(_input(x, t_x, T))
    # calibrated from expected purchases: the order is the expectation's
    order = np.argsort(model.expected(_input(x, t_x, T)), kind="stable")
    assert (np.diff(p[order]) >= -1e-9).all()
    model.save(tmp_path)
    loaded = ParetoNbdModel.load(tmp_path, expected_features=model.features)
    np.testing.assert_allclose(loaded.predict_proba(_input(x, t_x, T)), p)
    churn = ParetoNbdModel("churn", 90)
    churn.fit(_input(x, t_x, T), _input(x, t_x, T))  # no labels: the model's own probability, ordered like E
    q = churn.predict_proba(_input(x, t_x, T))
    assert (np.diff(q[order]) <= 1e-9).all()
    assert (1 - q).mean() == pytest.approx(p_purchase_in(churn.params, 90, x, t_x, T).mean(), abs=0.01)
