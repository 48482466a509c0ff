"""What every forecaster shares: its input, its output, and the exception that leaves a model out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .series import Panel


class ModelUnavailable(Exception):
    """This model cannot forecast these series (too short, no repeat buyers...); the others still run."""


@dataclass(frozen=True)
class ForecastInput:
    """A level's history up to the cutoff.

    panel: the series; facts: the level's facts up to the cutoff (series.facts_frame); shop_facts: the shop-level
    facts up to the cutoff (the customers' purchase days); h: bins to forecast; country: for holiday features."""

    panel: Panel
    facts: pd.DataFrame
    shop_facts: pd.DataFrame
    h: int
    country: str | None = None


@dataclass(frozen=True)
class Forecast:
    """Point forecasts and (where the model gives them) 80 % and 95 % intervals, each keys x h."""

    mean: np.ndarray
    lo80: np.ndarray | None = None
    hi80: np.ndarray | None = None
    lo95: np.ndarray | None = None
    hi95: np.ndarray | None = None

    @property
    def has_intervals(self) -> bool:
        return self.lo80 is not None
