"""forecasts.ml: bins, selection without leakage, the customer-based forecast, fallbacks."""

import numpy as np
import pandas as pd
import pytest

from forecasts.ml.models import ForecastInput, customer_forecast, run_models
from forecasts.ml.selection import backtest, forecast_champion, select, validation_origins
from forecasts.ml.series import SeriesError, facts_frame, future_actuals, panel_from_facts


def _orders(days, customers=None, totals=None):
    n = len(days)
    return pd.DataFrame({
        "order_id": np.arange(n),
        "customer_id": customers if customers is not None else np.arange(n) % 7,
        "placed_at": pd.to_datetime(days, utc=True),
        "total": totals if totals is not None else np.full(n, 10.0),
        "item_count": np.full(n, 2.0),
        "status": ["placed"] * n,
    })


def test_weekly_bins_end_on_the_cutoff_so_the_day_after_is_future():
    orders = _orders(["2024-01-09", "2024-01-10", "2024-01-16", "2024-01-17", "2024-01-03"])
    orders.loc[4, "status"] = "cancelled"
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2024-01-16"))
    # Bins (01-02, 01-09], (01-09, 01-16]: 01-09 alone in the first, 01-10 and 01-16 in the second;
    # the cancelled order on 01-03 counts nowhere.
    assert panel.ends[-1] == pd.Timestamp("2024-01-16")
    assert panel.values.tolist() == [[1.0, 2.0]]
    assert future_actuals(facts, panel=panel, h=1).tolist() == [[1.0]]
    revenue = panel_from_facts(facts, measure="revenue", freq="week", cutoff=pd.Timestamp("2024-01-16"))
    assert revenue.values.tolist() == [[10.0, 20.0]]


def test_test_orders_months_before_the_launch_do_not_start_the_history():
    """An outside analyst (session 20): three test orders nine months before a shop's launch made every validation
    window a run of zeros (Croston chosen, "off by 99 %", a band up to 6e13)."""
    launch = pd.date_range("2025-04-01", "2025-06-30", freq="D")
    orders = _orders(["2024-07-02", "2024-07-09", *launch.strftime("%Y-%m-%d")])
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2025-06-30"))
    assert panel.ends[0] >= pd.Timestamp("2025-04-01") and panel.values.min() > 0
    # A gap shorter than SILENCE_DAYS (a 3-week outage) keeps the history whole.
    outage = _orders([d for d in launch.strftime("%Y-%m-%d") if not "2025-05-01" <= d < "2025-05-22"])
    panel = panel_from_facts(facts_frame(orders=outage, level="shop"), measure="orders", freq="day",
                             cutoff=pd.Timestamp("2025-06-30"))
    assert panel.ends[0] == pd.Timestamp("2025-04-01")
    # Fewer than 8 weeks after the silence (a shop reopening after a season): the whole history is kept.
    reopened = _orders([*launch.strftime("%Y-%m-%d"), "2025-10-01", "2025-10-08", "2025-10-15"])
    panel = panel_from_facts(facts_frame(orders=reopened, level="shop"), measure="orders", freq="week",
                             cutoff=pd.Timestamp("2025-10-15"))
    assert panel.ends[0] <= pd.Timestamp("2025-04-07")


def test_a_products_series_goes_by_the_shops_own_product_id():
    """Session 16's browser review: the product level's heading read "product: 11" (an internal id)."""
    orders = _orders(["2024-01-09", "2024-01-10"])
    lines = pd.DataFrame({"order_id": [0, 1, 1], "product_id": [11, 11, 12], "category_id": [1.0, 1.0, 1.0],
                          "quantity": [1.0, 2.0, 1.0], "unit_price": [5.0, 5.0, 3.0]})
    facts = facts_frame(orders=orders, level="product", order_lines=lines, product_names={11.0: "SKU-A"})
    assert sorted(facts["key"].unique()) == ["12", "SKU-A"]  # 12 has no id of the shop's: its own stays


def test_an_order_without_a_total_is_worth_its_lines():
    """An outside review: UCI's and Olist's files give prices on lines only, and revenue forecasts said the shop
    had no revenue."""
    orders = _orders(["2024-01-09", "2024-01-10", "2024-01-10", "2024-01-11"], totals=[np.nan, 7.0, np.nan, np.nan])
    orders.loc[2, "status"] = "refunded"
    lines = pd.DataFrame({"order_id": [0, 0, 1, 2, 3, 3], "product_id": [11, 12, 11, 11, 11, 12],
                          "category_id": [1.0] * 6, "quantity": [2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                          "unit_price": [5.0, 3.0, 5.0, 5.0, 5.0, np.nan]})
    facts = facts_frame(orders=orders, level="shop", order_lines=lines)
    # a total wins; refunds are 0; an order with an unpriced line has no known worth (as the import decides)
    assert facts.sort_values("order_id")["revenue"].tolist() == [13.0, 7.0, 0.0, 0.0]


def test_unknown_measure_and_empty_history_are_clear_errors():
    facts = facts_frame(orders=_orders(["2024-03-01"]), level="shop")
    with pytest.raises(SeriesError, match="measure"):
        panel_from_facts(facts, measure="profit", freq="week", cutoff=pd.Timestamp("2024-03-01"))
    with pytest.raises(SeriesError, match="no orders"):
        panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2024-01-01"))


def _seasonal_daily(days=240, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rate = 20 + 8 * (dates.day_of_week >= 5)
    counts = rng.poisson(rate)
    return np.repeat(dates.values, counts), rng


def test_the_champion_does_not_change_when_the_test_window_is_replaced():
    """A leak (validation reading past the cutoff) would let wild future data move the choice."""
    days, rng = _seasonal_daily()
    cutoff = pd.Timestamp("2024-07-31")
    facts = facts_frame(orders=_orders(days, customers=rng.integers(0, 300, len(days))), level="shop")
    wild = facts[facts["day"] > cutoff].copy()
    wild["orders"] = wild["orders"] * 50
    facts_wild = pd.concat([facts[facts["day"] <= cutoff], wild])
    panel = panel_from_facts(facts, measure="orders", freq="day", cutoff=cutoff)
    models = ("naive", "seasonal_naive", "auto_ets", "customer")
    a = backtest(panel=panel, facts_all=facts, shop_facts=facts, h=14, models=models)
    b = backtest(panel=panel, facts_all=facts_wild, shop_facts=facts_wild, h=14, models=models)
    assert a.champion == b.champion
    assert a.selection.validation == b.selection.validation
    assert b.test["naive"].mae > 10 * a.test["naive"].mae
    # The weekly pattern is there: seasonal naive beats naive on validation.
    assert a.selection.validation["seasonal_naive"].mase < a.selection.validation["naive"].mase


def test_validation_origins_prefer_a_year_of_history_and_fall_back_to_the_latest():
    assert validation_origins(65, h=13, freq="week", windows=2) == [52]
    assert validation_origins(40, h=13, freq="week", windows=2) == [27]
    assert validation_origins(10, h=13, freq="week", windows=2) == []
    # Two years of history: the same weeks a year earlier are judged too (the season ahead), once.
    assert validation_origins(110, h=13, freq="week", windows=2) == [97, 84, 58]
    assert validation_origins(110, h=26, freq="week", windows=2) == [84, 58]
    assert validation_origins(103, h=13, freq="week", windows=2) == [90, 77]
    assert validation_origins(800, h=28, freq="day", windows=2) == [772, 744, 436]


def _closed_cohort(n=1500, seed=1):
    """BG/NBD-like buyers who all arrive in the first 60 days and then buy and drop out."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    rows = []
    for c in range(n):
        t = rng.integers(0, 60)
        lam = rng.gamma(0.8, 1 / 25)
        alive = True
        while alive and t < 600:
            rows.append((c, start + pd.Timedelta(days=int(t))))
            alive = rng.random() > 0.15
            t += 1 + rng.exponential(1 / lam)
    frame = pd.DataFrame(rows, columns=["customer_id", "day"])
    return _orders(frame["day"].to_numpy(), customers=frame["customer_id"].to_numpy())


def test_customer_forecast_follows_a_closed_cohort_down_where_naive_overshoots():
    facts = facts_frame(orders=_closed_cohort(), level="shop")
    cutoff = pd.Timestamp("2023-10-31")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    h = 13
    actual = future_actuals(facts, panel=panel, h=h)
    inp = ForecastInput(panel=panel, facts=facts[facts["day"] <= cutoff], shop_facts=facts[facts["day"] <= cutoff],
                        h=h)
    forecasts, skipped = run_models(inp, ["naive", "customer"])
    assert not skipped
    customer_err = abs(forecasts["customer"].mean.sum() - actual.sum()) / actual.sum()
    naive_err = abs(forecasts["naive"].mean.sum() - actual.sum()) / actual.sum()
    assert customer_err < 0.15
    assert customer_err < naive_err
    # No new customers arrived lately, so the forecast declines week after week.
    assert np.all(np.diff(forecasts["customer"].mean[0]) <= 1e-9)
    assert customer_forecast(inp).mean.shape == (1, h)


def test_short_and_constant_series_fall_back_instead_of_failing():
    orders = _orders(["2024-01-01", "2024-01-02", "2024-01-09"])
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2024-01-15"))
    inp = ForecastInput(panel=panel, facts=facts, shop_facts=facts, h=4)
    forecasts, skipped = run_models(inp, ["naive", "auto_ets", "auto_arima", "auto_theta", "lightgbm", "ensemble"])
    assert "lightgbm" in skipped  # too short: said, not raised
    for name in ("naive", "auto_ets", "auto_arima", "auto_theta"):
        assert forecasts[name].mean.shape == (1, 4)
        assert np.isfinite(forecasts[name].mean).all()
    selection = select(panel=panel, facts=facts, shop_facts=facts, h=4, models=("naive", "auto_ets"))
    assert selection.origins == [] and selection.champion == "auto_ets"
    # Without a validation window, the final run's skips are said (the backtest's table lacked LightGBM silently).
    result = forecast_champion(panel=panel, facts=facts, shop_facts=facts, h=4, models=("naive", "auto_ets",
                                                                                     "lightgbm"))
    assert result.selection.origins == [] and "lightgbm" in result.selection.skipped


def test_a_model_too_short_for_validation_but_run_on_the_whole_history_says_it_could_not_be_chosen():
    """An outside analyst: `forecast_backtest` listed LightGBM under "skipped" (needs 30 weeks, validation has 26)
    beside its test figures, from the run on all 39 weeks."""
    rng = np.random.default_rng(4)
    days = pd.date_range("2023-06-01", "2024-02-27", freq="D")
    orders = _orders(np.repeat(days.values, rng.poisson(6, len(days))).astype("datetime64[ns]").astype(str))
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2024-02-27"))
    assert panel.values.shape[1] == 39
    result = forecast_champion(panel=panel, facts=facts, shop_facts=facts, h=13,
                               models=("naive", "auto_ets", "lightgbm"))
    assert "lightgbm" in result.forecasts and "lightgbm" not in result.selection.validation
    assert result.selection.skipped["lightgbm"].startswith("not in the validation windows (needs at least 30 bins")
    assert result.selection.skipped["lightgbm"].endswith("so it could not be chosen")


def test_the_ensemble_is_lightgbm_and_the_customer_model_and_the_former_three_without_lightgbm():
    """Session 22: the ensemble of the two models that see the season (LightGBM and the customer-based one) was
    5-14 % ahead of LightGBM alone on validation windows; a shop too young for LightGBM keeps the former mean of
    AutoETS, AutoTheta and the customer model rather than losing the candidate."""
    facts = facts_frame(orders=_closed_cohort(), level="shop")
    names = ["auto_ets", "auto_theta", "lightgbm", "customer", "ensemble"]
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2023-10-31"))
    forecasts, skipped = run_models(ForecastInput(panel=panel, facts=facts, shop_facts=facts, h=8), names)
    assert not skipped
    pair = (forecasts["lightgbm"].mean + forecasts["customer"].mean) / 2
    assert np.allclose(forecasts["ensemble"].mean, pair)
    assert not np.allclose(forecasts["ensemble"].mean, forecasts["lightgbm"].mean)

    young = panel_from_facts(facts, measure="orders", freq="week", cutoff=pd.Timestamp("2023-05-31"))
    past = facts[facts["day"] <= pd.Timestamp("2023-05-31")]
    forecasts, skipped = run_models(ForecastInput(panel=young, facts=past, shop_facts=past, h=8), names)
    assert "lightgbm" in skipped and "ensemble" not in skipped
    three = np.mean([forecasts[m].mean for m in ("auto_ets", "auto_theta", "customer")], axis=0)
    assert np.allclose(forecasts["ensemble"].mean, three)

    _, skipped = run_models(ForecastInput(panel=young, facts=past, shop_facts=past, h=8), ["naive", "ensemble"])
    assert skipped["ensemble"].startswith("needs lightgbm and customer")


def _steady_buyers(start, end, *, per_day=15.0, silent=(), seed=3):
    """A shop of about `per_day` orders a day, steady: customers arrive at a constant rate (from 600 days before
    `start`, so that the level has settled), buy every 27 days on average and leave after 20 purchases on average;
    no order on the `silent` days."""
    rng = np.random.default_rng(seed)
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    span = (last - first).days + 600
    rows = []
    for c in range(int(per_day / 20 * span)):
        t = rng.uniform(0, span)
        lam = rng.gamma(4.0, 1 / 80)
        while t < span:
            rows.append((c, int(t)))
            if rng.random() < 0.05:
                break
            t += rng.exponential(1 / lam)
    frame = pd.DataFrame(rows, columns=["customer_id", "t"])
    frame["day"] = first + pd.to_timedelta(frame["t"] - 600, unit="D")
    keep = frame["day"] >= first
    for a, b in silent:
        keep &= (frame["day"] < a) | (frame["day"] > b)
    frame = frame[keep]
    return _orders(frame["day"].to_numpy(), customers=frame["customer_id"].to_numpy())


def test_an_outage_in_the_validation_window_neither_picks_the_champion_nor_teaches_the_models_a_dead_shop():
    """An outside analyst: two months without an order (the site down) inside the only validation window; six
    models tied on its zeros, and the champion (the customer model, which took the customers who could not buy for
    gone) was 38 % under the test's total, LightGBM, which learned the zeros, 85 %. Nothing said so."""
    outage = (pd.Timestamp("2024-10-01"), pd.Timestamp("2024-11-30"))
    facts = facts_frame(orders=_steady_buyers("2024-01-01", "2025-03-15", silent=[outage]), level="shop")
    cutoff = pd.Timestamp("2024-12-31")
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    assert [(o.first, o.last) for o in panel.outages] == [outage]
    assert 61 * 10 < panel.outages[0].expected < 61 * 18  # about 13 a day
    h = 8
    result = backtest(panel=panel, facts_all=facts, shop_facts=facts, h=h,
                      models=("naive", "auto_ets", "lightgbm", "customer"))
    # Validation windows end before the outage: judged on orders, not on its zeros.
    assert result.selection.origins and all(o + pd.Timedelta(weeks=h) < outage[0] for o in result.selection.origins)
    # Fitted on the history with the outage's weeks filled, no model believes the shop died.
    for name in ("auto_ets", "lightgbm", "customer", result.champion):
        assert abs(result.test[name].total_error_pct) < 15, (name, result.test[name])
    # What happened stays what happened: the panel's own values keep the outage's zeros.
    assert panel.values[0, panel.silent].min() == 0 and panel.filled().values[0, panel.silent].min() > 50


@pytest.mark.parametrize(("why", "orders"), [
    ("the same two months closed the year before: a season", dict(start="2023-01-01", silent=[
        ("2023-10-01", "2023-11-30"), ("2024-10-01", "2024-11-30")])),
    ("a small shop: 20 days at 0.3 orders a day expect 6", dict(start="2024-01-01", per_day=0.3, silent=[
        ("2024-10-01", "2024-10-20")])),
    ("under two weeks", dict(start="2024-01-01", silent=[("2024-10-01", "2024-10-12")])),
])
def test_a_silence_is_an_outage_only_where_many_orders_were_expected_and_not_a_season(why, orders):
    orders = {**orders, "silent": [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in orders["silent"]]}
    facts = facts_frame(orders=_steady_buyers(end="2024-12-31", **orders), level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="day", cutoff=pd.Timestamp("2024-12-31"))
    assert panel.outages == (), why
    assert (panel.filled().values == panel.values).all()


def _stragglers(orders, days):
    """`orders` plus one order on each of `days` (keyed in by hand while the feed was down)."""
    extra = _orders(pd.to_datetime(days), customers=np.full(len(days), 10**6))
    extra["order_id"] += len(orders) + 10**6
    return pd.concat([orders, extra], ignore_index=True)


def test_an_outage_still_running_at_the_cutoff_is_missing_data_not_a_dead_shop():
    """The last four weeks before the cutoff hold two stray orders where about 13 a day came before (the feed
    stopped): forecast from as real zeros, the naive forecast and AutoETS said the shop sells nothing and the
    customer model took every customer for gone; nothing said the latest days looked like missing data."""
    cutoff = pd.Timestamp("2024-12-31")
    stop = (pd.Timestamp("2024-12-04"), pd.Timestamp("2025-03-15"))
    orders = _stragglers(_steady_buyers("2024-01-01", "2025-03-15", silent=[stop]), ["2024-12-15", "2024-12-30"])
    after = _steady_buyers("2024-01-01", "2025-03-15")  # what the shop really sold once the orders came in again
    facts = facts_frame(orders=pd.concat([orders[orders["placed_at"] <= "2024-12-31T23:59:59Z"],
                                          after[after["placed_at"] > "2024-12-31T23:59:59Z"]]), level="shop")
    for freq in ("week", "day"):
        panel = panel_from_facts(facts, measure="orders", freq=freq, cutoff=cutoff)
        (outage,) = panel.outages
        assert (outage.first, outage.last) == (stop[0], cutoff)
        assert outage.at_cutoff and outage.orders == 2
        assert 28 * 10 < outage.expected < 28 * 18  # about 13 a day for its 28 days
        assert panel.silent[-1] and panel.filled().values[0, -1] > 0.5 * panel.values[0, :-5].mean()
    h = 8
    panel = panel_from_facts(facts, measure="orders", freq="week", cutoff=cutoff)
    result = backtest(panel=panel, facts_all=facts, shop_facts=facts, h=h,
                      models=("naive", "auto_ets", "lightgbm", "customer"))
    # No validation window holds the run of zeros, and every model forecasts the shop's trade, not its outage.
    assert result.selection.origins and all(o + pd.Timedelta(weeks=h) < stop[0] for o in result.selection.origins)
    for name in ("naive", "auto_ets", "lightgbm", "customer", result.champion):
        assert abs(result.test[name].total_error_pct) < 20, (name, result.test[name])


@pytest.mark.parametrize(("why", "orders"), [
    ("the orders fell to a third: a shop that sells less, not missing data", dict(start="2024-01-01", third=True)),
    ("a small shop: 28 days at 0.3 orders a day expect 8", dict(start="2024-01-01", per_day=0.3, silent=[
        ("2024-12-04", "2024-12-31")])),
    ("the same four weeks closed the year before: a season", dict(start="2023-01-01", silent=[
        ("2023-12-06", "2024-01-02"), ("2024-12-04", "2024-12-31")])),
])
def test_quiet_latest_days_are_an_outage_only_where_near_nothing_came_of_many_expected(why, orders):
    third = orders.pop("third", False)
    orders = {**orders, "silent": [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in orders.get("silent", [])]}
    orders = _steady_buyers(end="2024-12-31", **orders)
    if third:
        orders = orders[(orders["placed_at"] < "2024-12-04") | (orders["order_id"] % 3 == 0)]
    facts = facts_frame(orders=orders, level="shop")
    panel = panel_from_facts(facts, measure="orders", freq="day", cutoff=pd.Timestamp("2024-12-31"))
    assert panel.outages == (), why
