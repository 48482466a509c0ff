"""The Forecast page's chart: history, forecast and bands as SVG geometry, with its axes' ticks.

The SVG draws the shapes; the tick labels are HTML placed beside it by position (percent of the plot), as on the
other pages' line charts (`predictions/_line.html`), so that they keep a readable size on a phone. The analysts'
calibration charts (`predictions.views_analyst._chart`) are square plots of shares with ticks in percent: they
share the CSS, not this geometry.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd

W, H = 720, 220
PAD = 6  # SVG units above the top tick and below zero, so that the lines are not cut at the edges
X_TICKS = 5  # date labels along the bottom; on a phone every other one is hidden (.tick-minor)


@dataclass(frozen=True)
class Tick:
    """An axis label at `pct` percent of the plot (x from the left, y from the top)."""

    pct: float
    label: str
    minor: bool = False


@dataclass(frozen=True)
class ForecastChart:
    width: int
    height: int
    history: str  # polyline points
    forecast: str
    band80: str | None  # polygon points
    band95: str | None
    first: dt.date
    cut: dt.date | None  # the last day of history
    last: dt.date
    cut_x: float | None  # where the forecast starts (SVG x)
    x_ticks: list[Tick]
    y_ticks: list[Tick]  # from the top tick down to zero
    grid: list[float]  # SVG y of each value tick
    y_unit: str  # "orders per week", "revenue per day (EUR)"
    x_unit: str  # "week ending", "day"

    @property
    def y_label_chars(self) -> int:
        """The value axis' width in characters (its labels are placed absolutely, so they do not size it)."""
        return max(len(t.label) for t in self.y_ticks) + 1


def nice_step(top: float, *, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that covers `top` in at most `ticks` steps."""
    raw = max(top, 1e-9) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def _value_label(value: float, step: float) -> str:
    return f"{value:,.1f}" if step < 1 else f"{value:,.0f}"


def _date_labels(dates: list[dt.date]) -> list[str]:
    """"4 Mar", with the year on the first label and where it changes, among all labels and among the major ones
    (every other, what a phone shows) alike."""
    labels, year, major_year = [], None, None
    for k, d in enumerate(dates):
        changed = d.year != year or (k % 2 == 0 and d.year != major_year)
        labels.append(f"{d.day} {d:%b}" + (f" {d.year}" if changed else ""))
        year = d.year
        major_year = d.year if k % 2 == 0 else major_year
    return labels


def forecast_chart(history: pd.DataFrame, values: list, *, measure: str, freq: str,
                   currency: str = "") -> ForecastChart | None:
    """The chart of one series: `history` (columns date, value) then `values` (stored forecast values, with their
    80 and 95 % bounds or None). The value axis starts at zero and ends on a round tick above the highest line or
    band; the date axis has `X_TICKS` labels spread over history and forecast."""
    points = [(pd.Timestamp(d).date(), float(v)) for d, v in zip(history["date"], history["value"], strict=True)]
    fut = [(pd.Timestamp(v.date).date(), v.point, v.lo80, v.hi80, v.lo95, v.hi95) for v in values]
    if not points and not fut:
        return None
    highest = max([p[1] for p in points] + [f[5] if f[5] is not None else f[1] for f in fut] + [1.0])
    step = nice_step(highest)
    top = step * math.ceil(highest / step - 1e-9)
    dates = [p[0] for p in points] + [f[0] for f in fut]
    n = len(dates)

    def x(i: int) -> float:
        return i * W / max(n - 1, 1)

    def y(v: float) -> float:
        return H - PAD - (H - 2 * PAD) * max(v, 0) / top

    def xy(i: int, v: float) -> str:
        return f"{x(i):.1f},{y(v):.1f}"

    off = len(points)
    bands: dict[str, str | None] = {"band80": None, "band95": None}
    for name, lo_i, hi_i in (("band95", 4, 5), ("band80", 2, 3)):
        if fut and fut[0][lo_i] is not None:
            upper = [xy(off + j, f[hi_i]) for j, f in enumerate(fut)]
            lower = [xy(off + j, f[lo_i]) for j, f in reversed(list(enumerate(fut)))]
            bands[name] = " ".join(upper + lower)

    at = sorted({round(k * (n - 1) / (X_TICKS - 1)) for k in range(X_TICKS)}) if n > 1 else [0]
    x_ticks = [Tick(pct=round(100 * x(i) / W, 2) if n > 1 else 50.0, label=label, minor=k % 2 == 1)
               for k, (i, label) in enumerate(zip(at, _date_labels([dates[i] for i in at]), strict=True))]
    values_at = [top - k * step for k in range(round(top / step) + 1)]
    y_ticks = [Tick(pct=round(100 * y(v) / H, 2), label=_value_label(v, step)) for v in values_at]
    unit = f"{measure} per {freq}" + (f" ({currency})" if measure == "revenue" and currency else "")
    return ForecastChart(
        width=W, height=H, history=" ".join(xy(i, v) for i, (_, v) in enumerate(points)),
        forecast=" ".join(xy(off + j, f[1]) for j, f in enumerate(fut)), **bands,
        first=dates[0], cut=points[-1][0] if points else None, last=dates[-1],
        cut_x=round((x(off - 1) + x(off)) / 2, 1) if points and fut else None, x_ticks=x_ticks, y_ticks=y_ticks,
        grid=[round(y(v), 1) for v in values_at], y_unit=unit, x_unit="week ending" if freq == "week" else "day")
