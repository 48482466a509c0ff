"""forecast_backtest and the forecast run: what they say when validation never saw the season ahead."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from behavior.models import Customer, Order
from forecasts.services.backtest import forecast_backtest
from forecasts.services.runs import forecast_run_create

MODELS = ("naive", "seasonal_naive", "auto_theta")


def _gift_shop(shop, *, start, end="2025-01-31", seed=5):
    """A gift shop: 8 orders a day, rising from 1 November to 3x by 20 December, a Black Friday weekend."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, end, freq="D")
    k = (dates - pd.to_datetime([f"{y}-11-01" for y in dates.year])).days.to_numpy()
    season = np.where((k >= 0) & (k <= 49), 1 + 2 * k / 49, 1.0)
    season = np.where((k > 49) & (k <= 56), 3 - 2 * (k - 49) / 7, season)
    rate = 8.0 * season * np.where(dates.day_of_week >= 5, 1.3, 1.0)
    black_fridays = [d for d in dates if d.month == 11 and d.day_of_week == 4 and 23 <= d.day <= 29]
    rate[dates.isin(black_fridays)] *= 7
    customers = Customer.objects.bulk_create([Customer(shop=shop, external_id=f"c{i}") for i in range(500)])
    orders = []
    for day, n in zip(dates, rng.poisson(rate), strict=True):
        at = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        orders += [Order(shop=shop, external_id=f"o{len(orders) + j}", placed_at=at, total=20, status="placed",
                         customer=customers[int(rng.integers(0, 500))]) for j in range(n)]
    Order.objects.bulk_create(orders, batch_size=5000)


@pytest.mark.django_db
def test_a_backtest_across_the_peak_with_22_months_of_history_says_validation_never_saw_the_season(shop):
    """An outside analyst: 22 months of a gift shop, cutoff 31 October, 13 weeks across the peak: the champion was
    chosen on May and August alone and `notes` was empty."""
    _gift_shop(shop, start="2023-01-01")
    report = forecast_backtest(shop=shop, measure="orders", freq="week", cutoff=dt.date(2024, 10, 31),
                               horizon_days=91, models=MODELS)
    said = [n for n in report["notes"] if n.startswith("validation never saw the season the forecast crosses")]
    assert len(said) == 1
    assert "(after 2024-08-01, 2024-05-02)" in said[0] and "this one has 96" in said[0]
    assert f"did not weigh in choosing {report['champion']}" in said[0]
    # The forecast run made at that cutoff says it too.
    Order.objects.filter(shop=shop, placed_at__gt=dt.datetime(2024, 11, 1, tzinfo=dt.UTC)).delete()
    run = forecast_run_create(shop=shop, horizon_days=91, levels=("shop",), measures=("orders",), freqs=("week",),
                              models=("naive", "seasonal_naive"))
    assert any("validation never saw the season" in n for n in run.summary["notes"])


@pytest.mark.django_db
def test_a_backtest_across_the_peak_with_four_years_validates_on_last_years_peak_and_says_nothing(shop):
    _gift_shop(shop, start="2021-01-01")
    report = forecast_backtest(shop=shop, measure="orders", freq="week", cutoff=dt.date(2024, 10, 31),
                               horizon_days=91, models=MODELS)
    assert "2023-11-02" in report["validation_origins"]  # the 13 weeks from 3 November 2023: last year's peak
    assert not any("validation never saw" in n for n in report["notes"])


def test_a_close_call_between_the_champion_and_the_runner_up_is_said_and_a_clear_one_is_not():
    """An outside analyst's B2B shop: lightgbm chosen at 0.896 against croston's 0.928 on one window, croston half its
    error on the test weeks, and nothing said the choice was thin."""
    import pandas as pd

    from forecasts.ml.selection import Metrics, Selection
    from forecasts.services.common import close_call_note

    def selection(**mase):
        return Selection(champion=min(mase, key=mase.get), origins=[pd.Timestamp("2024-08-10")],
                         validation={name: Metrics(mae=1.0, mase=m, total_error_pct=0.0, coverage_80=None)
                                     for name, m in mase.items()})

    note = close_call_note(selection(lightgbm=0.896, croston=0.928, naive=1.4))
    assert note == ("validation could hardly tell lightgbm (MASE 0.896) from croston (0.928) on 1 window: compare "
                    "both on the test window before trusting the choice")
    assert close_call_note(selection(lightgbm=0.80, croston=0.928)) is None
    # Croston and ADIDA give one forecast on a steady series: a tie with the same forecast is no choice to be thin about
    assert close_call_note(selection(croston=0.396, adida=0.396, naive=0.9)) is None
    assert "from lightgbm (0.410)" in close_call_note(selection(croston=0.396, adida=0.396, lightgbm=0.41))
    assert close_call_note(Selection(champion="auto_ets", validation={}, origins=[])) is None
