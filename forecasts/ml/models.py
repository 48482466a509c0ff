"""The forecasters. Each takes a `ForecastInput` (the history of one level up to the cutoff) and returns a
`Forecast` for every key of the panel, h bins ahead.

Why these:
- statsforecast's AutoETS, AutoARIMA, AutoTheta, naive and seasonal naive are the standard peers (and the baselines
  every backtest reports); CrostonOptimized and ADIDA are made for intermittent series (one product's demand).
- `lightgbm`: one global model over all series of a level, on scaled lags and calendar and holiday features (the
  `holidays` package): it learns weekday and yearly patterns the univariate models miss on short histories.
- `customer`: the sum of every known customer's expected purchase days from BG/NBD (predictions.ml.bgnbd), each
  weighted by what a purchase day of that customer brings to the series, plus new customers arriving at their recent
  rate. No time-series library has it; on a closed or slowly renewing customer base it sees the decline coming.
  BG/NBD's purchase rates are constant in time, so its forecast is a year-round average; where the history holds a
  year and a half, it is scaled by the yearly seasonal index of the bins ahead (`yearly_index`), without which it
  missed every holiday season and over-forecast every quiet one (docs/status/issue-20-session6.md).
- `ensemble`: the mean of auto_ets, auto_theta and customer, a fixed combination (chosen on validation like any
  other candidate, never on the test window).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import hyp2f1

from predictions.ml.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd
from predictions.ml.paretonbd import ParetoNbdParams, fit_paretonbd
from predictions.ml.paretonbd import expected_purchases as pareto_expected_purchases

from .series import Panel

logger = logging.getLogger(__name__)

BASELINES = ("naive", "seasonal_naive", "auto_ets", "auto_arima", "auto_theta")
LEVELS_PCT = (80, 95)


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
        return AutoARIMA(season_length=s)
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


# --- customer-based (BG/NBD) -----------------------------------------------------------------------------------


def _new_customer_curve(params: BgNbdParams, t: np.ndarray) -> np.ndarray:
    """E[repeat purchase days in (0, t]] of a customer who just made a first purchase (FHL 2005, eq. 9)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return np.maximum((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z)), 0.0)


def _pareto_new_customer_curve(params: ParetoNbdParams, t: np.ndarray) -> np.ndarray:
    """E[repeat purchase days in (0, t]] of a customer who just made a first purchase under Pareto/NBD
    (Schmittlein et al. 1987): r beta / (alpha (s - 1)) (1 - (beta / (beta + t)) ** (s - 1)), a log at s = 1."""
    r, alpha, s, beta = params.r, params.alpha, params.s, params.beta
    t = np.asarray(t, dtype=float)
    if abs(s - 1.0) < 1e-6:
        return r * beta / alpha * np.log1p(t / beta)
    return np.maximum(r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)) ** (s - 1.0)), 0.0)


@dataclass(frozen=True)
class CountingModel:
    """A customer-level model of purchase days: `fit(x, t_x, T)` gives its parameters, `expected(params, t, x, t_x,
    T)` each customer's expected purchase days in (T, T + t], `new_customer(params, t)` those of a customer who just
    made a first purchase, in their first t days."""

    name: str
    fit: Callable
    expected: Callable
    new_customer: Callable


BG_NBD = CountingModel("bgnbd", fit_bgnbd, expected_purchases, _new_customer_curve)
PARETO_NBD = CountingModel("paretonbd", fit_paretonbd, pareto_expected_purchases, _pareto_new_customer_curve)


def _denoised(ratio: np.ndarray) -> np.ndarray:
    """Each ratio replaced by the mean of it and its two neighbours unless it stands out from that mean by more
    than twice the noise (robust: 1.4826 x the median absolute deviation of all such differences). A year of
    weekly ratios of a small series is mostly noise, which the index would otherwise copy into the forecast; a
    holiday week stands out and is kept."""
    ok = np.isfinite(ratio)
    if ok.sum() < 3:
        return ratio
    r = np.where(ok, ratio, 0.0)
    w = ok.astype(float)
    pad = np.zeros(1)
    total = r + np.concatenate([pad, r[:-1]]) + np.concatenate([r[1:], pad])
    count = w + np.concatenate([pad, w[:-1]]) + np.concatenate([w[1:], pad])
    smooth = np.divide(total, count, out=np.full(len(r), np.nan), where=ok & (count > 0))
    d = ratio - smooth
    spread = 1.4826 * np.nanmedian(np.abs(d - np.nanmedian(d)))
    return np.where(np.abs(d) > 2 * spread, ratio, smooth)


def yearly_index(panel: Panel, h: int, *, denoise: bool = True) -> np.ndarray | None:
    """The yearly seasonal index of the h bins after the panel (1 = an average bin of the year), or None.

    From the level's total (the sum of its series: one shape for all of them, steadier than a small series' own):
    each weekly bin's ratio to its centred 2x52 moving average (classical multiplicative decomposition), with
    `denoise` smoothed where it does not stand out from its neighbours (`_denoised`), read at the same week one year
    (52 weeks) earlier, averaged over the years available. Daily panels are summed into weeks
    ending on the cutoff and each future day takes its week's index. None when some bin ahead has no ratio a year
    or more before it (less than about a year and a half of history) - the forecast then stays unscaled."""
    total = panel.values.sum(axis=0).astype(float)
    period = 7 // panel.period_days  # panel bins per week
    weeks = len(total) // period
    y = total[len(total) - weeks * period:].reshape(weeks, period).sum(axis=1) if period > 1 else total
    season, half = 52, 26
    h_weeks = -(-h // period)
    if len(y) <= season:  # no centred moving average at all
        return None
    csum = np.concatenate([[0.0], np.cumsum(y)])
    t = np.arange(half, len(y) - half)
    # 2x52 MA: the mean of the two 52-bin windows centred half a bin either side of t.
    trend = ((csum[t + half] - csum[t - half]) + (csum[t + half + 1] - csum[t - half + 1])) / (2 * season)
    ratio = np.full(len(y), np.nan)
    ratio[t] = np.divide(y[t], trend, out=np.full(len(t), np.nan), where=trend > 0)
    if denoise:
        ratio = _denoised(ratio)
    index = np.empty(h_weeks)
    for j in range(h_weeks):
        past = [ratio[p] for p in range(len(y) + j - season, -1, -season) if p < len(y) and np.isfinite(ratio[p])]
        if not past:
            return None
        index[j] = np.mean(past)
    return np.repeat(index, period)[:h] if period > 1 else index


def customer_forecast(inp: ForecastInput, *, shrink: float = 1.0, arrival_bins: int | None = None,
                      yearly: bool = True, counting: CountingModel = BG_NBD) -> Forecast:
    """Sum over known customers of E[purchase days in each future bin] x what one of their purchase days brings to
    each series, plus new customers at the mean arrival rate of the last `arrival_bins` bins; with `yearly`, scaled
    by the bins' yearly seasonal index where the history allows it (`yearly_index`). `counting` is the purchase-day
    model (BG/NBD; Pareto/NBD measured as the alternative and not chosen, see docs/status/issue-20-session6.md).

    What a purchase day brings: the customer's own history (measure in the key / purchase days), shrunk towards the
    key's average by `shrink` purchase days, so a one-time buyer's single order does not define them."""
    panel, h, p = inp.panel, inp.h, inp.panel.period_days
    cutoff = panel.ends[-1]
    days = inp.shop_facts[["customer_id", "day"]].drop_duplicates()
    days = days[days["day"] <= cutoff]
    if days.empty:
        raise ModelUnavailable("no customers before the cutoff")
    per = days.groupby("customer_id")["day"].agg(["min", "max", "size"])
    x = (per["size"] - 1).to_numpy(dtype=float)
    t_x = (per["max"] - per["min"]).dt.days.to_numpy(dtype=float)
    T = (cutoff - per["min"]).dt.days.to_numpy(dtype=float)
    try:
        params = counting.fit(x, t_x, T)
    except ValueError as error:
        raise ModelUnavailable(str(error)) from None
    steps = p * np.arange(h + 1)
    cum = np.column_stack([counting.expected(params, float(t), x, t_x, T) if t else np.zeros(len(x))
                           for t in steps])
    expected = np.diff(cum, axis=1)  # customers x h

    cust_index = pd.Index(per.index)
    key_index = {k: i for i, k in enumerate(panel.keys)}
    facts = inp.facts[inp.facts["day"] <= cutoff]
    facts = facts[facts["key"].isin(key_index)]
    sums = facts.groupby(["customer_id", "key"])[panel.measure].sum()
    rows = cust_index.get_indexer(sums.index.get_level_values(0))
    cols = sums.index.get_level_values(1).map(key_index).to_numpy()
    ok = rows >= 0
    n_days = per["size"].to_numpy(dtype=float)
    key_total = np.bincount(cols[ok].astype(int), weights=sums.to_numpy()[ok], minlength=len(panel.keys))
    key_avg = key_total / n_days.sum()
    # v[c, k] = (S_ck + shrink * avg_k) / (n_c + shrink): a sparse part plus a dense rank-one part.
    denom = n_days + shrink
    own = sparse.csr_matrix((sums.to_numpy()[ok] / denom[rows[ok]], (rows[ok], cols[ok].astype(int))),
                            shape=(len(cust_index), len(panel.keys)))
    known = (own.T @ expected) + np.outer(key_avg, (shrink / denom) @ expected)

    # New customers: arrivals per bin at the recent mean rate; each brings a first purchase day and its repeats.
    first_bin = np.floor_divide((per["min"] - cutoff).dt.days.to_numpy() + p - 1, p)  # <= 0
    n_hist = panel.values.shape[1]
    m = arrival_bins or min(n_hist, 13 if panel.freq == "week" else 28)
    arrivals = np.bincount(-first_bin[first_bin > -m], minlength=m)[:m].sum() / m
    new = np.zeros((len(panel.keys), h))
    if arrivals > 0:
        first_days = days.merge(per["min"].rename("day").reset_index(), on=["customer_id", "day"])
        recent_new = first_days[first_days["day"] > cutoff - pd.Timedelta(days=p * m)]
        first_value = facts.merge(recent_new, on=["customer_id", "day"]).groupby("key")[panel.measure].sum()
        per_new = np.zeros(len(panel.keys))
        for key, value in first_value.items():
            per_new[key_index[key]] = value / max(len(recent_new), 1)
        # A cohort arriving mid-bin i has, by the end of bin j >= i, E0((j - i + 0.5) * p) repeats.
        curve = counting.new_customer(params, p * (np.arange(h) + 0.5))
        repeats = np.diff(np.concatenate([[0.0], curve]))
        per_bin_repeats = np.array([repeats[: j + 1].sum() for j in range(h)])
        new = np.outer(per_new, np.ones(h)) * arrivals + np.outer(key_avg, per_bin_repeats) * arrivals
    mean = np.asarray(known) + new
    if not np.isfinite(mean).all():
        # The fit ran to a boundary (no dropout seen: a -> 0, r and alpha huge): its expectations are NaN. Left
        # out, rather than a NaN that would win or lose the champion's choice at random.
        raise ModelUnavailable(f"{counting.name} has no finite expectation for this history ({params})")
    if panel.freq == "day":
        mean = mean * _weekday_profile(panel, h)
    index = yearly_index(panel, h) if yearly else None
    if index is not None:
        mean = mean * index[None, :]
    return Forecast(mean=mean)


def _weekday_profile(panel: Panel, h: int, weeks: int = 8) -> np.ndarray:
    """keys x h multipliers: each future day's weekday share over the last `weeks` weeks (1 = an average day)."""
    recent = panel.values[:, -7 * weeks:]
    n = recent.shape[1]
    if n < 14:
        return np.ones((len(panel.keys), h))
    dow = panel.ends[-n:].day_of_week.to_numpy()
    level = recent.mean(axis=1, keepdims=True) + 1e-9
    by_day = np.column_stack([recent[:, dow == d].mean(axis=1) if (dow == d).any() else level[:, 0]
                              for d in range(7)]) / level
    future = (panel.ends[-1] + pd.to_timedelta(np.arange(1, h + 1), unit="D")).day_of_week.to_numpy()
    return by_day[:, future]


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
ENSEMBLE_MEMBERS = ("auto_ets", "auto_theta", "customer")


def ensemble(forecasts: dict[str, Forecast]) -> Forecast | None:
    """The mean of ENSEMBLE_MEMBERS' points (those that ran; at least two)."""
    members = [forecasts[m].mean for m in ENSEMBLE_MEMBERS if m in forecasts]
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
            skipped["ensemble"] = "needs two of " + ", ".join(ENSEMBLE_MEMBERS)
        else:
            out["ensemble"] = e
    return out, skipped


def _clip(f: Forecast) -> Forecast:
    def c(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.maximum(a, 0.0)

    return Forecast(mean=c(f.mean), lo80=c(f.lo80), hi80=c(f.hi80), lo95=c(f.lo95), hi95=c(f.hi95))
