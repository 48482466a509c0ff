"""forecasts.ml: the customer-based forecast's yearly seasonal index and its purchase-day model."""

import numpy as np
import pandas as pd
import pytest

from forecasts.ml.base import ForecastInput
from forecasts.ml.customer import BG_NBD, PARETO_NBD, customer_forecast, yearly_index
from forecasts.ml.series import Panel, facts_frame, future_actuals, panel_from_facts


def _panel(values, end, freq="week"):
    step = 7 if freq == "week" else 1
    ends = pd.date_range(end=pd.Timestamp(end), periods=len(values), freq=f"{step}D")
    return Panel(("shop",), np.asarray(values, dtype=float)[None, :], ends, freq, "orders")


def _december_peaks(ends, base=100.0, peak=200.0):
    return np.where(ends.month == 12, peak, base)


def test_yearly_index_raises_last_decembers_weeks_and_lowers_the_rest():
    ends = pd.date_range(end=pd.Timestamp("2025-11-25"), periods=100, freq="7D")
    panel = _panel(_december_peaks(ends), ends[-1])
    index = yearly_index(panel, 13)
    ahead = ends[-1] + pd.to_timedelta(7 * np.arange(1, 14), unit="D")
    assert index is not None and index.shape == (13,)
    december = ahead.month == 12
    # December is twice an ordinary week; a year averages 100 * (48 + 2 * 4.4) / 52.4 ~ 108.
    assert np.all(index[december] > 1.7)
    assert np.all((index[~december] > 0.85) & (index[~december] < 0.97))


def test_yearly_index_is_none_without_a_year_before_the_bins_ahead():
    # 65 weeks (the CD shop's history): the ratios to a centred yearly average exist for weeks 26..39 only, and
    # the weeks a year before the 13 ahead are 13..25 - no index, so the forecast is left unscaled.
    ends = pd.date_range(end=pd.Timestamp("1998-03-31"), periods=65, freq="7D")
    assert yearly_index(_panel(_december_peaks(ends), ends[-1]), 13) is None
    assert yearly_index(_panel(np.full(40, 100.0), "2025-01-07"), 13) is None


def test_a_daily_panel_gives_each_day_its_weeks_index():
    days = pd.date_range(end=pd.Timestamp("2025-11-23"), periods=700, freq="D")
    panel = _panel(_december_peaks(days, base=10.0, peak=20.0), days[-1], freq="day")
    index = yearly_index(panel, 30)
    assert index is not None and index.shape == (30,)
    assert np.all(index[:7] == index[0])  # the first week ahead: one value
    ahead = days[-1] + pd.to_timedelta(np.arange(1, 31), unit="D")
    assert index[ahead.month == 12].mean() > 1.5 * index[ahead.month == 11].mean()


def _seasonal_shop(customers=600, seed=3):
    """Customers arriving evenly over three years, each buying at a Gamma-spread daily rate that doubles every
    December, until an exponential lifetime (mean two years) ends."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", "2025-12-31", freq="D")
    season = np.where(days.month == 12, 2.0, 1.0)
    season = season / season.mean()
    arrival = rng.integers(0, len(days), customers)
    death = arrival + rng.exponential(730, customers)
    lam = rng.gamma(2.0, 0.015, customers)
    t = np.arange(len(days))
    alive = (t[None, :] >= arrival[:, None]) & (t[None, :] < death[:, None])
    counts = rng.poisson(np.outer(lam, season)) * alive
    counts[np.arange(customers), arrival] = np.maximum(counts[np.arange(customers), arrival], 1)
    cust, day = np.nonzero(counts)
    n = len(cust)
    return pd.DataFrame({
        "order_id": np.arange(n), "customer_id": cust, "placed_at": pd.to_datetime(days[day], utc=True),
        "total": np.full(n, 10.0), "item_count": np.full(n, 1.0), "status": ["placed"] * n,
    })


def test_the_customer_forecast_sees_december_coming_where_the_flat_one_misses_it():
    facts = facts_frame(orders=_seasonal_shop(), level="shop")
    cutoff = pd.Timestamp("2025-11-25")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    past = facts[facts["day"] <= cutoff]
    inp = ForecastInput(panel=panel, facts=past, shop_facts=past, h=5)
    actual = future_actuals(facts, panel=panel, h=5)[0]
    seasonal = customer_forecast(inp).mean[0]
    flat = customer_forecast(inp, yearly=False).mean[0]
    # Bins 2..5 are December's weeks: twice the orders of November. The flat BG/NBD forecast misses the doubling.
    december = slice(1, 5)
    flat_err = abs(flat[december].sum() / actual[december].sum() - 1)
    seasonal_err = abs(seasonal[december].sum() / actual[december].sum() - 1)
    assert flat_err > 0.3
    assert seasonal_err < 0.2 and seasonal_err < 0.5 * flat_err
    assert np.abs(seasonal - actual).mean() < 0.5 * np.abs(flat - actual).mean()


@pytest.mark.parametrize("counting", [BG_NBD, PARETO_NBD], ids=lambda m: m.name)
def test_both_purchase_day_models_forecast_a_stable_shop_near_its_level(counting):
    facts = facts_frame(orders=_seasonal_shop(seed=5), level="shop")
    cutoff = pd.Timestamp("2025-05-31")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    past = facts[facts["day"] <= cutoff]
    inp = ForecastInput(panel=panel, facts=past, shop_facts=past, h=8)
    mean = customer_forecast(inp, counting=counting).mean
    actual = future_actuals(facts, panel=panel, h=8)
    assert mean.shape == (1, 8) and np.isfinite(mean).all()
    assert abs(mean.sum() / actual.sum() - 1) < 0.15
