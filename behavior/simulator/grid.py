"""Time: the simulation's daily grid, the seasonality of calendar days and the time of day of orders and
sessions."""

from __future__ import annotations

import numpy as np

from .config import BURN_DAYS, TRUTH_HORIZONS, SimulationConfig


def seasonality(days: np.ndarray) -> np.ndarray:
    """Relative purchase intensity of calendar days (datetime64[D]); averages 1 over a year.

    Weekly (Sunday and Monday peaks) times yearly (Black Friday, December, January sales, summer lull)."""
    days = np.asarray(days, dtype="datetime64[D]")
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = np.array([1.05, 1.0, 0.97, 0.95, 0.93, 0.92, 1.18])
    weekly = weekly / weekly.mean()
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    return weekly[dow] * _yearly(doy) / _YEARLY_MEAN


def _yearly(doy: np.ndarray) -> np.ndarray:
    def bump(center: float, width: float) -> np.ndarray:
        distance = np.abs(doy - center)
        distance = np.minimum(distance, 365 - distance)
        return np.exp(-0.5 * (distance / width) ** 2)

    return 1 + 0.9 * bump(331, 5) + 0.7 * bump(350, 9) + 0.25 * bump(8, 7) - 0.2 * bump(205, 30)


_YEARLY_MEAN = float(_yearly(np.arange(365)).mean())


class _Grid:
    """Simulation day t = 0 is BURN_DAYS before the window; `end` is the index of end_date."""

    def __init__(self, config: SimulationConfig):
        self.burn = BURN_DAYS
        self.days = config.days
        self.future = config.future_days
        self.end = self.burn + config.days - 1
        self.total = self.end + 1 + config.future_days
        self.day0 = np.datetime64(config.end_date, "D") - self.end
        self.epoch0 = int(self.day0.astype("datetime64[s]").astype(np.int64))
        self.window_start = self.epoch0 + self.burn * 86400
        self.window_end = self.epoch0 + (self.end + 1) * 86400  # exclusive: midnight after end_date
        span = max(self.total, self.end + 1 + max(TRUTH_HORIZONS))
        self.season = seasonality(self.day0 + np.arange(span))

    def seconds(self, day: np.ndarray) -> np.ndarray:
        return self.epoch0 + day.astype(np.int64) * 86400


# Share of orders / sessions per hour of the day: lunch and evening peaks.
_HOURS = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.5, 3, 3.2, 3.4, 3.8, 3.6, 3.2, 3, 3.1, 3.4, 3.8, 4.5, 5, 4.6,
                   3.5, 2])
_HOUR_CUM = np.cumsum(_HOURS) / _HOURS.sum()


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    hour = np.searchsorted(_HOUR_CUM, rng.random(size), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, size)
