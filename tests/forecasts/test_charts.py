"""The Forecast page's chart: readable axes (a browser review found a chart with neither dates nor values)."""

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from forecasts.charts import forecast_chart, nice_step


@pytest.mark.parametrize(("top", "step"), [(1.0, 0.5), (3.2, 1.0), (9.0, 5.0), (187.0, 50.0), (1234.0, 500.0),
                                           (40_000.0, 10_000.0), (45_001.0, 20_000.0)])
def test_value_ticks_are_round_numbers_so_the_axis_reads_at_a_glance(top, step):
    assert nice_step(top) == pytest.approx(step)
    assert top / nice_step(top) <= 4


def _values(start: dt.date, n: int, point: float):
    return [SimpleNamespace(date=start + dt.timedelta(days=7 * i), point=point, lo80=point * 0.8, hi80=point * 1.2,
                            lo95=point * 0.6, hi95=point * 1.4) for i in range(n)]


def test_the_chart_without_axes_now_has_dates_along_the_bottom_and_values_with_their_unit_on_the_side():
    history = pd.DataFrame({"date": pd.date_range("2024-01-07", periods=52, freq="7D"), "value": [180.0] * 52})
    values = _values(dt.date(2025, 1, 5), 13, 200.0)
    chart = forecast_chart(history, values, measure="revenue", freq="week", currency="EUR")
    assert chart.y_unit == "revenue per week (EUR)" and chart.x_unit == "week ending"
    # Zero at the bottom, a round top above the highest 95 % bound (280), evenly spaced between.
    assert [t.label for t in chart.y_ticks] == ["300", "200", "100", "0"]
    assert chart.y_ticks[0].pct < 5 and chart.y_ticks[-1].pct > 95
    # Five dates from the first week of history to the last week of the forecast; the year where it changes.
    labels = [t.label for t in chart.x_ticks]
    assert len(labels) == 5 and labels[0] == "7 Jan 2024" and labels[-1] == "30 Mar 2025"
    assert sum(" 2025" in label for label in labels) == 1
    # A phone hides every other date: the ones it shows still say where the year changes.
    history = pd.DataFrame({"date": pd.date_range("2024-10-06", periods=21, freq="7D"), "value": [180.0] * 21})
    ticks = forecast_chart(history, [], measure="orders", freq="week").x_ticks
    assert [t.label for t in ticks if t.minor] == ["10 Nov", "19 Jan 2025"]
    assert [t.label for t in ticks if not t.minor] == ["6 Oct 2024", "15 Dec", "23 Feb 2025"]
    assert [t.pct for t in chart.x_ticks] == sorted(t.pct for t in chart.x_ticks)
    assert chart.x_ticks[0].pct == 0 and chart.x_ticks[-1].pct == 100
    assert chart.cut == dt.date(2024, 12, 29) and 0 < chart.cut_x < chart.width


def test_a_small_daily_series_gets_decimal_ticks_not_zeros_and_ones_rounded_alike():
    history = pd.DataFrame({"date": pd.date_range("2024-05-01", periods=30), "value": [0.0, 1.0, 2.0] * 10})
    chart = forecast_chart(history, [], measure="units", freq="day")
    assert chart.y_unit == "units per day" and chart.x_unit == "day"
    assert [t.label for t in chart.y_ticks] == ["2.0", "1.5", "1.0", "0.5", "0.0"]
    chart = forecast_chart(history.assign(value=0.0), [], measure="orders", freq="day")
    assert [t.label for t in chart.y_ticks] == ["1.0", "0.5", "0.0"]
