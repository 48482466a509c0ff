"""The forecasters. Each takes a `ForecastInput` (the history of one level up to the cutoff) and returns a
`Forecast` for every key of the panel, h bins ahead.

Why these:
- statsforecast's AutoETS, AutoARIMA, AutoTheta, naive and seasonal naive are the standard peers (and the baselines
  every backtest reports); CrostonOptimized and ADIDA are made for intermittent series (one product's demand).
- `lightgbm`: one global model over all series of a level, on scaled lags and calendar and holiday features (the
  `holidays` package): it learns weekday and yearly patterns the univariate models miss on short histories.
- `customer` (customer.py): the sum of every known customer's expected purchase days from BG/NBD, each weighted by
  what a purchase day of that customer brings to the series, plus new customers arriving at their recent rate,
  scaled by the yearly seasonal index where the history allows.
- `ensemble`: the mean of lightgbm and customer - the two models that see the season - a fixed combination
  (chosen on validation like any other candidate, never on the test window); where LightGBM cannot run (a history
  too short for it), the mean of auto_ets, auto_theta and customer, as before. The pair was measured on validation
  windows only (docs/status/issue-20-session22.md): at every 2nd weekly origin before the cutoff, its mean MAE was
  5-14 % below LightGBM's alone on three simulator seeds and 3 % below the customer model's on the CD shop, while
  the former three-model mean was 40-60 % above LightGBM's.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .base import Forecast, ForecastInput, ModelUnavailable
from .customer import BG_NBD, PARETO_NBD, CountingModel, customer_forecast, yearly_index

logger = logging.getLogger(__name__)

BASELINES = ("naive", "seasonal_naive", "auto_ets", "auto_arima", "auto_theta")
LEVELS_PCT = (80, 95)


# --- statsforecast ---------------------------------------------------------------------------------------------


def _trim(y: np.ndarray) -> np.ndarray:
    """Drop leading zeros (a category launched later), keeping at least two bins."""
    nz = np.flatnonzero(y)
    start = min(int(nz[0]) if len(nz) else 0, max(len(y) - 2, 0))
    return y[start:]


def _sf_model(name: str, season: int, n: int):
    from statsforecast.models import (
        ADIDA,
        AutoARIMA,
        AutoETS,
        AutoTheta,
        CrostonOptimized,
        Naive,
        SeasonalNaive,
    )

    # Seasonal variants need two full seasons to estimate anything; below that they fit non-seasonal models.
    s = season if n >= 2 * season + 1 else 1
    if name == "naive":
        return Naive()
    if name == "seasonal_naive":
        return SeasonalNaive(season_length=season) if n >= season else Naive()
    if name == "auto_ets":
        return AutoETS(season_length=s)
    if name == "auto_arima":
        # approximation=None: the model search uses the approximate likelihood where the series has more than 150
        # bins or a season over 12 (statsforecast's own rule, R's forecast::auto.arima default; its AutoARIMA
        # class turns it off). A weekly series of 300 weeks with its 52-week season took 26-28 s a fit, 2.3 s so;
        # a shop with five years of history spent 15 minutes on its nightly forecast (an outside analyst). The
        # chosen model is refitted exactly.
        return AutoARIMA(season_length=s, approximation=None)
    if name == "auto_theta":
        return AutoTheta(season_length=s)
    if name == "croston":
        return CrostonOptimized()
    if name == "adida":
        return ADIDA()
    raise KeyError(name)


def _statsforecast(name: str) -> Callable[[ForecastInput], Forecast]:
    intervals = name not in ("croston", "adida")

    def run(inp: ForecastInput) -> Forecast:
        keys, h = len(inp.panel.keys), inp.h
        out = {k: np.zeros((keys, h)) for k in ("mean", "lo80", "hi80", "lo95", "hi95")}
        for i in range(keys):
            y = _trim(inp.panel.values[i].astype(np.float64))
            try:
                if len(y) < 3 or np.ptp(y) == 0:
                    raise ValueError("too short or constant")
                model = _sf_model(name, inp.panel.season_length, len(y))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = model.forecast(y=y, h=h, level=list(LEVELS_PCT)) if intervals else \
                        model.forecast(y=y, h=h)
                out["mean"][i] = np.asarray(result["mean"], dtype=float)
                if intervals:
                    for pct in LEVELS_PCT:
                        out[f"lo{pct}"][i] = np.asarray(result[f"lo-{pct}"], dtype=float)
                        out[f"hi{pct}"][i] = np.asarray(result[f"hi-{pct}"], dtype=float)
            except Exception as error:  # noqa: BLE001 - one bad series must not sink the level
                logger.debug("%s fell back to the last value on series %s: %s", name, inp.panel.keys[i], error)
                last = float(y[-1]) if len(y) else 0.0
                spread = float(np.std(np.diff(y))) if len(y) > 2 else abs(last) * 0.5
                out["mean"][i] = last
                steps = np.sqrt(np.arange(1, h + 1))
                for pct, z in ((80, 1.2816), (95, 1.96)):
                    out[f"lo{pct}"][i] = last - z * spread * steps
                    out[f"hi{pct}"][i] = last + z * spread * steps
        if not intervals:
            return Forecast(mean=out["mean"])
        return Forecast(**out)

    return run


def _bands(mean: np.ndarray, sd: np.ndarray) -> Forecast:
    return Forecast(mean=mean, lo80=mean - 1.2816 * sd, hi80=mean + 1.2816 * sd, lo95=mean - 1.96 * sd,
                    hi95=mean + 1.96 * sd)


def naive_forecast(inp: ForecastInput) -> Forecast:
    """The last value, with the random walk's bands (sigma of the one-step changes x sqrt(step)): statsforecast's
    Naive, in numpy over all series at once (thousands of product series)."""
    Y = inp.panel.values.astype(float)
    h = inp.h
    mean = np.repeat(Y[:, -1:], h, axis=1)
    sigma = np.sqrt(np.mean(np.diff(Y, axis=1) ** 2, axis=1)) if Y.shape[1] > 1 else np.abs(Y[:, -1]) * 0.5
    return _bands(mean, sigma[:, None] * np.sqrt(np.arange(1, h + 1))[None, :])


def seasonal_naive_forecast(inp: ForecastInput) -> Forecast:
    """The value one season earlier, with bands growing per whole season ahead (statsforecast's SeasonalNaive, in
    numpy); the naive forecast when the history is shorter than a season."""
    Y = inp.panel.values.astype(float)
    season, h, n = inp.panel.season_length, inp.h, inp.panel.values.shape[1]
    if n < season + 1:
        return naive_forecast(inp)
    idx = n - season + (np.arange(h) % season)
    mean = Y[:, idx]
    sigma = np.sqrt(np.mean((Y[:, season:] - Y[:, :-season]) ** 2, axis=1))
    return _bands(mean, sigma[:, None] * np.sqrt(np.arange(h) // season + 1)[None, :])


# --- global LightGBM -------------------------------------------------------------------------------------------


def _holiday_counts(ends: pd.DatetimeIndex, period: int, country: str | None) -> np.ndarray:
    """Public holidays (the `holidays` package) falling in each bin; zeros without a known country."""
    if not country:
        return np.zeros(len(ends))
    import holidays

    try:
        years = range(ends.min().year - 1, ends.max().year + 2)
        calendar = holidays.country_holidays(country.upper(), years=years)
    except (NotImplementedError, KeyError, AttributeError):
        return np.zeros(len(ends))
    days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in calendar))
    starts = ends - pd.Timedelta(days=period - 1)
    return np.array([((days >= s) & (days <= e)).sum() for s, e in zip(starts, ends, strict=True)], dtype=float)


def _calendar(ends: pd.DatetimeIndex, period: int, country: str | None) -> np.ndarray:
    iso = ends.isocalendar()
    cols = [iso["week"].to_numpy(dtype=float), ends.month.to_numpy(dtype=float)]
    if period == 1:
        cols += [ends.day_of_week.to_numpy(dtype=float), ends.day.to_numpy(dtype=float)]
    cols.append(_holiday_counts(ends, period, country))
    return np.column_stack(cols)


def lightgbm_forecast(inp: ForecastInput, *, max_rows: int = 200_000, seed: int = 7) -> Forecast:
    """One LightGBM over all series of the level (direct multi-step): each row is (series, origin t, step s), with
    the series' last values, recent means and the value one season before the target, all divided by the
    series' recent mean, plus the step and the target bin's calendar and holidays; it predicts the scaled value."""
    import lightgbm as lgb

    panel, h = inp.panel, inp.h
    Y = panel.values.astype(float)
    n_keys, n = Y.shape
    season = panel.season_length
    window = 13 if panel.freq == "week" else 28
    if n < window + h + 4:
        raise ModelUnavailable(f"needs at least {window + h + 4} bins of history, has {n}")
    all_ends = panel.ends.append(pd.DatetimeIndex([panel.ends[-1] + pd.Timedelta(days=panel.period_days * (j + 1))
                                                   for j in range(h)]))
    cal = _calendar(all_ends, panel.period_days, inp.country)
    csum = np.concatenate([np.zeros((n_keys, 1)), np.cumsum(Y, axis=1)], axis=1)

    def features(t: np.ndarray, s: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # At least 1: a product without recent sales must not turn its next sale into a huge scaled target.
        scale = np.maximum((csum[k, t + 1] - csum[k, t + 1 - window]) / window, 1.0)
        lags = [Y[k, t - i] / scale for i in range(4)]
        short = (csum[k, t + 1] - csum[k, t + 1 - 4]) / 4 / scale
        target = t + s
        back = target - season
        seasonal = np.where(back >= 0, Y[k, np.clip(back, 0, n - 1)] / scale, np.nan)
        seasonal = np.where(back <= t, seasonal, np.nan)
        X = np.column_stack([*lags, short, seasonal, s, cal[target]])
        return X, scale

    # Training rows (series k, origin t, step s) with t + s inside the history, sampled without building them all:
    # row r of step s is origin first + r // n_keys, series r % n_keys.
    first = window - 1
    per_step = np.array([max(n - 1 - s - first + 1, 0) * n_keys for s in range(1, h + 1)])
    total = int(per_step.sum())
    if total == 0:
        raise ModelUnavailable("no training rows")
    rng = np.random.default_rng(seed)
    if total <= max_rows:
        pick = np.arange(total)
    elif total <= 4 * max_rows:
        pick = np.sort(rng.choice(total, max_rows, replace=False))
    else:
        pick = np.unique(rng.integers(0, total, max_rows))
    bounds = np.cumsum(per_step)
    step_index = np.searchsorted(bounds, pick, side="right")
    within = pick - np.concatenate([[0], bounds[:-1]])[step_index]
    s = step_index + 1
    t = first + within // n_keys
    k = within % n_keys
    X, scale = features(t, s, k)
    target = np.minimum(Y[k, t + s] / scale, 50.0)
    model = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20,
                              subsample=0.8, subsample_freq=1, colsample_bytree=0.9, random_state=seed,
                              n_jobs=1, verbose=-1)
    model.fit(X, target)
    kk = np.repeat(np.arange(n_keys), h)
    ss = np.tile(np.arange(1, h + 1), n_keys)
    tt = np.full(len(kk), n - 1)
    Xf, sf = features(tt, ss, kk)
    mean = np.maximum(model.predict(Xf) * sf, 0.0).reshape(n_keys, h)
    return Forecast(mean=mean)


# --- the registry ----------------------------------------------------------------------------------------------

MODELS: dict[str, Callable[[ForecastInput], Forecast]] = {
    **{name: _statsforecast(name) for name in ("auto_ets", "auto_arima", "auto_theta", "croston", "adida")},
    "naive": naive_forecast,
    "seasonal_naive": seasonal_naive_forecast,
    "lightgbm": lightgbm_forecast,
    "customer": customer_forecast,
}
ENSEMBLE_MEMBERS = ("lightgbm", "customer")
# Where LightGBM did not run (too short a history): the former ensemble, so a young shop keeps the candidate.
ENSEMBLE_FALLBACK = ("auto_ets", "auto_theta", "customer")


def ensemble(forecasts: dict[str, Forecast]) -> Forecast | None:
    """The mean of ENSEMBLE_MEMBERS' points where all of them ran, else of ENSEMBLE_FALLBACK's that ran (at least
    two); None when neither is possible."""
    if all(m in forecasts for m in ENSEMBLE_MEMBERS):
        return Forecast(mean=np.mean([forecasts[m].mean for m in ENSEMBLE_MEMBERS], axis=0))
    members = [forecasts[m].mean for m in ENSEMBLE_FALLBACK if m in forecasts]
    if len(members) < 2:
        return None
    return Forecast(mean=np.mean(members, axis=0))


def run_models(inp: ForecastInput, names: list[str]) -> tuple[dict[str, Forecast], dict[str, str]]:
    """Every named model on the same input (plus `ensemble` when asked); models that cannot run are left out with
    the reason in the second dict. Points are clipped at zero (counts and money)."""
    out: dict[str, Forecast] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name == "ensemble":
            continue
        try:
            f = MODELS[name](inp)
        except ModelUnavailable as error:
            skipped[name] = str(error)
            continue
        out[name] = _clip(f)
    if "ensemble" in names:
        e = ensemble(out)
        if e is None:
            skipped["ensemble"] = ("needs " + " and ".join(ENSEMBLE_MEMBERS) + ", or two of "
                                   + ", ".join(ENSEMBLE_FALLBACK))
        else:
            out["ensemble"] = e
    return out, skipped


def _clip(f: Forecast) -> Forecast:
    def c(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.maximum(a, 0.0)

    return Forecast(mean=c(f.mean), lo80=c(f.lo80), hi80=c(f.hi80), lo95=c(f.lo95), hi95=c(f.hi95))


__all__ = ["BASELINES", "BG_NBD", "ENSEMBLE_FALLBACK", "ENSEMBLE_MEMBERS", "MODELS", "PARETO_NBD", "CountingModel",
           "Forecast", "ForecastInput", "ModelUnavailable", "customer_forecast", "ensemble", "run_models",
           "yearly_index"]
