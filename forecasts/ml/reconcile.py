"""Making a level add up to the shop (a documented simple reconciliation instead of MinTrace).

Countries partition the customers, so their series add up to the shop's for every measure: each bin's country
forecasts (points and bands) are scaled by shop / sum of countries. Categories partition order lines, so revenue
and units add up to the lines' share of the shop's: scaled by shop x share / sum of categories, where `share` is
the categories' part of the shop's total over the history. Orders do not add up over categories (an order may hold
several), so category orders are left as forecast. hierarchicalforecast's MinTrace would weight the levels by
their errors; it declares pandas<3 and polars, so the simpler proportional (top-down on the champion of the shop)
reconciliation is used.

Weeks and days of one series are forecast apart (each frequency picks its own champion on its own validation
windows), so the 91 days of a daily forecast need not add up to its 13 weeks (a reviewer saw 9,418 orders a day's
way and 9,285 a week's). `days_to_weeks` scales each whole week of the days to that week's forecast: the weekly
champion tells how much, the daily champion how it spreads over the week (temporal top-down); a last, partial week
to its days' share of its week by the daily champion's weekday profile. Chosen on
bench/forecast_temporal.py's validation windows (before the test; CD shop and simulator, orders and revenue): the
weekly champion told the weeks better than the days summed (4 of 4) and than the mean of the two (3 of 4), and the
days scaled to it had a lower daily error than the daily champion alone (4 of 4).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .models import Forecast

BANDS = ("mean", "lo80", "hi80", "lo95", "hi95")


def reconcile_to_total(level: Forecast, total: np.ndarray, *, share: float = 1.0) -> Forecast:
    """Scale every key's forecast, bin by bin, so the keys add up to `share` x `total` (1 x h)."""
    sums = level.mean.sum(axis=0)
    factor = np.where(sums > 0, share * np.asarray(total).ravel() / np.where(sums > 0, sums, 1.0), 1.0)
    return _scaled(level, factor[None, :])


def days_to_weeks(days: Forecast, weeks: Forecast, *, history: np.ndarray | None = None) -> Forecast:
    """Scale a daily forecast (keys x d) so each whole week of it (days 7k..7k+6 after the cutoff) adds up to week
    k of `weeks` (keys x w, the same keys in the same order, from the same cutoff); the bands move with their
    points. A last, partial week (d not a multiple of 7: 90 days are 12 weeks and 6 days of the 13th) adds up to
    its days' share of its week: the share its weekdays hold of a week in the daily forecast's whole weeks (its own
    weekday profile), else - under a week of days - in the last whole weeks of `history` (keys x n days ending on
    the cutoff), else the days' count over 7. Left unscaled, the 6 days of an outside analyst's last week added up
    to 1,979 EUR against 1,264 for the whole week. Weeks beyond the days, days beyond the weeks, weeks whose days
    forecast nothing and weeks whose target is not a positive number (NaN: a key the weekly forecast lacks) are
    left as they are."""
    if weeks.mean.shape[0] != days.mean.shape[0]:
        raise ValueError(f"weeks and days have {weeks.mean.shape[0]} and {days.mean.shape[0]} keys")
    n_keys, n_days = days.mean.shape
    whole = min(n_days // 7, weeks.mean.shape[1])
    factor = np.ones(days.mean.shape)
    if whole:
        day_sums = days.mean[:, : whole * 7].reshape(n_keys, whole, 7).sum(axis=2)
        factor[:, : whole * 7] = np.repeat(_factor(weeks.mean[:, :whole], day_sums), 7, axis=1)
    part = n_days - whole * 7
    if whole < weeks.mean.shape[1] and 0 < part < 7:
        share = weekday_share(days.mean[:, : whole * 7], part, history=history)
        target = weeks.mean[:, whole] * share
        factor[:, whole * 7:] = _factor(target[:, None], days.mean[:, whole * 7:].sum(axis=1, keepdims=True))
    return _scaled(days, factor)


def _factor(target: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """target / sums where both are positive numbers, else 1 (left as forecast)."""
    both = (sums > 0) & np.isfinite(target) & (target > 0)
    return np.where(both, np.where(both, target, 1.0) / np.where(both, sums, 1.0), 1.0)


def weekday_share(whole_weeks: np.ndarray, part: int, *, history: np.ndarray | None = None) -> np.ndarray:
    """Per key, the share of a week held by its first `part` days after the cutoff (the days 7k..7k+part-1 of any
    week k): from `whole_weeks` (keys x 7m, the daily forecast's whole weeks from the day after the cutoff), else
    from the last (at most 8) whole weeks of `history` (keys x n, ending on the cutoff: its day n-7 is the same
    weekday as the first forecast day), else part / 7. A key whose profile is all zeros gets part / 7 as well."""
    n_keys = whole_weeks.shape[0]
    profile = np.zeros((n_keys, 7))
    if whole_weeks.shape[1] >= 7:
        profile = whole_weeks[:, : whole_weeks.shape[1] // 7 * 7].reshape(n_keys, -1, 7).sum(axis=1)
    elif history is not None and history.shape[1] >= 7:
        span = min(history.shape[1] // 7, 8) * 7
        profile = history[:, -span:].reshape(n_keys, -1, 7).sum(axis=1)
    profile = np.clip(np.nan_to_num(profile, nan=0.0), 0.0, None)
    total = profile.sum(axis=1)
    return np.where(total > 0, profile[:, :part].sum(axis=1) / np.where(total > 0, total, 1.0), part / 7)


# A weekday is closed for a series when it had nothing on any of its days of the last year (or of the history, from
# 8 weeks) while the series' active days would have put CLOSED_EXPECTED of them on it by chance (a 1-in-150 miss).
CLOSED_EXPECTED = 5.0


def closed_weekdays_zeroed(days: Forecast, history: np.ndarray, *, history_end: pd.Timestamp) -> Forecast:
    """A daily forecast (keys x d, its first day the one after `history_end`) with 0 on the weekdays a key is
    closed (see CLOSED_EXPECTED; `history`: keys x n days ending on `history_end`). A shop that sells on business
    days only (an outside analyst's B2B shop, 112 orders in two years and none at a weekend) got a naive daily
    forecast of 513 EUR every Saturday and Sunday; a slow product with a few sales a quarter is left as it is.
    Applied before `days_to_weeks`, so the weeks keep their totals, spread over the open days."""
    n = history.shape[1]
    if n < 56 or not days.mean.shape[1]:
        return days
    span = min(n, 364) // 7 * 7
    active = history[:, n - span:] > 0
    last = history_end.weekday()
    weekday = (last - (span - 1) + np.arange(span)) % 7
    per_weekday = np.stack([active[:, weekday == d].sum(axis=1) for d in range(7)], axis=1)  # keys x 7
    closed = (per_weekday == 0) & (active.sum(axis=1, keepdims=True) / 7 >= CLOSED_EXPECTED)
    if not closed.any():
        return days
    future = (last + 1 + np.arange(days.mean.shape[1])) % 7
    return _scaled(days, np.where(closed[:, future], 0.0, 1.0))


def _scaled(f: Forecast, factor: np.ndarray) -> Forecast:
    return replace(f, **{name: None if getattr(f, name) is None else getattr(f, name) * factor for name in BANDS})
