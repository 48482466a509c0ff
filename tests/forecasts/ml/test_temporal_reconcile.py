"""A series' daily forecast scaled to its weekly one (forecasts.ml.reconcile.days_to_weeks)."""

import numpy as np
import pytest

from forecasts.ml.base import Forecast
from forecasts.ml.reconcile import days_to_weeks


def _forecast(mean):
    mean = np.asarray(mean, dtype=float)
    return Forecast(mean=mean, lo80=mean * 0.8, hi80=mean * 1.2, lo95=mean * 0.6, hi95=mean * 1.4)


def test_each_whole_week_of_days_adds_up_to_its_weekly_forecast_with_the_days_shape_kept():
    # Three keys; 2 weeks and 17 days: two whole weeks and 3 days of a third the weekly forecast does not cover.
    days = np.array([[1, 1, 1, 1, 2, 2, 2] * 2 + [5, 5, 5],
                     [0] * 7 + [3] * 7 + [1, 1, 1],
                     [1] * 17], dtype=float)
    weeks = np.array([[20, 10], [14, 7], [np.nan, np.nan]])
    d = days_to_weeks(_forecast(days), Forecast(mean=weeks))
    assert d.mean[0, :7].tolist() == pytest.approx([2, 2, 2, 2, 4, 4, 4])  # doubled, the weekend still double
    assert d.mean[0, 7:14].tolist() == pytest.approx([1, 1, 1, 1, 2, 2, 2])  # already 10
    assert d.mean[0, 14:].tolist() == pytest.approx([5, 5, 5])  # the partial week is left alone
    # Key 1: its first week's days forecast nothing, so they stay nothing; the second week is scaled to 7.
    assert d.mean[1, :7].sum() == 0 and d.mean[1, 7:14].tolist() == pytest.approx([1] * 7)
    # Key 2: the weekly forecast lacks it (NaN), so its days are left as forecast.
    assert d.mean[2].tolist() == pytest.approx([1] * 17)
    assert np.allclose(d.lo80, d.mean * 0.8) and np.allclose(d.hi95, d.mean * 1.4)  # bands move with points


def test_days_without_bands_and_keys_that_disagree():
    d = days_to_weeks(Forecast(mean=np.ones((1, 7)) * 3), Forecast(mean=np.array([[14.0]])))
    assert d.lo80 is None and d.mean.sum() == pytest.approx(14)
    with pytest.raises(ValueError, match="keys"):
        days_to_weeks(Forecast(mean=np.ones((1, 7))), Forecast(mean=np.ones((2, 1))))


def test_a_series_closed_at_weekends_gets_nothing_on_them_and_a_slow_one_is_left_alone():
    """An outside analyst's B2B shop (about one order a week, none ever at a weekend) got a flat 513 EUR every
    Saturday and Sunday from the naive daily champion."""
    import pandas as pd

    from forecasts.ml.reconcile import closed_weekdays_zeroed

    end = pd.Timestamp("2025-06-20")  # a Friday
    days = pd.date_range(end=end, periods=728, freq="D")
    rng = np.random.default_rng(0)
    business = np.where((days.day_of_week < 5) & (rng.random(len(days)) < 0.3), 500.0, 0.0)  # ~1.5 orders a week
    slow = np.zeros(len(days))
    slow[[100, 300, 500, 700]] = 1.0  # four sales in two years, all on weekdays: too few to call a day closed
    future = closed_weekdays_zeroed(_forecast(np.full((2, 14), 10.0)), np.stack([business, slow]), history_end=end)
    saturday_sunday = [0, 1, 7, 8]  # the forecast starts on Saturday 21 June
    assert future.mean[0, saturday_sunday].tolist() == [0.0] * 4 and future.hi95[0, saturday_sunday].max() == 0
    assert (future.mean[0, [2, 3, 4, 5, 6]] == 10.0).all()
    assert (future.mean[1] == 10.0).all()
    weekly = days_to_weeks(future, Forecast(mean=np.array([[100.0, 100.0], [70.0, 70.0]])))
    assert weekly.mean[0, :7].sum() == pytest.approx(100.0) and weekly.mean[0, 0] == 0.0


def test_a_last_partial_week_adds_up_to_its_days_share_of_the_week_by_the_days_weekday_profile():
    """A new user: 90 days are 12 weeks and 6 days of the 13th, and those 6 days were left as the daily champion
    forecast them: Italy's revenue on 1-6 Mar 2027 added up to 1,979 EUR against 1,264 for the whole week, its
    80 % band jumping from 0-370 to 0-713."""
    # Two whole weeks, Saturday and Sunday (days 5 and 6) twice the others, then 6 days of a third week forecast
    # far above the weekly forecast's third week.
    profile = [1, 1, 1, 1, 1, 2, 2]
    days = np.array([profile * 2 + [40] * 6, [0] * 14 + [3] * 6], dtype=float)
    weeks = np.array([[90.0, 90.0, 90.0], [7.0, 7.0, 7.0]])
    d = days_to_weeks(_forecast(days), Forecast(mean=weeks))
    share = sum(profile[:6]) / sum(profile)  # the 6 days hold 7 of the week's 9 parts
    assert d.mean[0, 14:].sum() == pytest.approx(90.0 * share)  # 70, not 240
    assert d.mean[0, 14:].tolist() == pytest.approx([70 / 6] * 6)  # the days' own shape is kept
    assert d.hi80[0, 14:].tolist() == pytest.approx(d.mean[0, 14:] * 1.2)  # the band moves with them
    assert d.mean[0, :7].sum() == pytest.approx(90.0) and d.mean[0, 7:14].sum() == pytest.approx(90.0)
    # A key whose whole weeks forecast nothing has no profile: its days take their count's share, 6 / 7.
    assert d.mean[1, 14:].sum() == pytest.approx(6.0)


def test_under_a_week_of_days_the_share_comes_from_the_historys_last_weeks_else_from_the_count():
    from forecasts.ml.reconcile import weekday_share

    # 3 days forecast; the history's whole weeks ending on the cutoff (16 days: the last 14): the 3 weekdays after
    # the cutoff are the history's days n-7, n-6, n-5 (and n-14, n-13, n-12), closed in this history.
    history = np.array([[9.0, 9.0] + [0, 0, 0, 1, 1, 1, 1] * 2])
    assert weekday_share(np.zeros((1, 0)), 3, history=history)[0] == pytest.approx(0.0)
    assert weekday_share(np.zeros((1, 0)), 4, history=history)[0] == pytest.approx(1 / 4)
    assert weekday_share(np.zeros((1, 0)), 3)[0] == pytest.approx(3 / 7)
    d = days_to_weeks(_forecast([[2.0, 2.0, 2.0]]), Forecast(mean=np.array([[70.0]])),
                      history=np.array([[1.0] * 14]))
    assert d.mean.sum() == pytest.approx(30.0)
