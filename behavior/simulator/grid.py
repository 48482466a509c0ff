"""Time: the simulation's daily grid, the seasonality of calendar days and the time of day of orders and
sessions."""

from __future__ import annotations

import numpy as np

from .config import BURN_DAYS, TRUTH_HORIZONS, SimulationConfig


def seasonality(days: np.ndarray, yearly: str = "general") -> np.ndarray:
    """Relative purchase intensity of calendar days (datetime64[D]); averages 1 over a year.

    Weekly (Sunday and Monday peaks) times a yearly curve: "general" (Black Friday, December, January sales,
    summer lull), "grocery" (flat but for Christmas and a slight summer dip), "fashion" (Black Friday,
    Christmas, strong January and summer sales, the spring and autumn collections, lulls between)."""
    days = np.asarray(days, dtype="datetime64[D]")
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    weekly = np.array([1.05, 1.0, 0.97, 0.95, 0.93, 0.92, 1.18])
    weekly = weekly / weekly.mean()
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    curve = _YEARLY[yearly]
    return weekly[dow] * curve(doy) / _YEARLY_MEAN[yearly]


def _bump(doy: np.ndarray, center: float, width: float) -> np.ndarray:
    distance = np.abs(doy - center)
    distance = np.minimum(distance, 365 - distance)
    return np.exp(-0.5 * (distance / width) ** 2)


def _yearly(doy: np.ndarray) -> np.ndarray:
    return 1 + 0.9 * _bump(doy, 331, 5) + 0.7 * _bump(doy, 350, 9) + 0.25 * _bump(doy, 8, 7) \
        - 0.2 * _bump(doy, 205, 30)


def _yearly_grocery(doy: np.ndarray) -> np.ndarray:
    return 1 + 0.3 * _bump(doy, 354, 6) - 0.1 * _bump(doy, 215, 30)


def _yearly_fashion(doy: np.ndarray) -> np.ndarray:
    return (1 + 1.0 * _bump(doy, 331, 5) + 0.6 * _bump(doy, 350, 9) + 0.7 * _bump(doy, 10, 10)
            + 0.6 * _bump(doy, 188, 14) + 0.3 * _bump(doy, 75, 15) + 0.35 * _bump(doy, 262, 15)
            - 0.3 * _bump(doy, 45, 12) - 0.3 * _bump(doy, 225, 12))


_YEARLY = {"general": _yearly, "grocery": _yearly_grocery, "fashion": _yearly_fashion}
_YEARLY_MEAN = {name: float(curve(np.arange(365)).mean()) for name, curve in _YEARLY.items()}


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
        self.season = seasonality(self.day0 + np.arange(span), config.profile.yearly)

    def seconds(self, day: np.ndarray) -> np.ndarray:
        return self.epoch0 + day.astype(np.int64) * 86400


# Share of orders / sessions per hour of the day: lunch and evening peaks.
_HOURS = np.array([1, .6, .4, .3, .3, .4, .8, 1.5, 2.5, 3, 3.2, 3.4, 3.8, 3.6, 3.2, 3, 3.1, 3.4, 3.8, 4.5, 5, 4.6,
                   3.5, 2])
_HOUR_CUM = np.cumsum(_HOURS) / _HOURS.sum()


def _time_of_day(rng: np.random.Generator, size: int) -> np.ndarray:
    hour = np.searchsorted(_HOUR_CUM, rng.random(size), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, size)
