"""The customer-based forecast: the sum of every known customer's expected purchase days from a customer-level
model (BG/NBD by default, predictions.ml.bgnbd; Pareto/NBD pluggable), each weighted by what a purchase day of that
customer brings to the series, plus new customers arriving at their recent rate. No time-series library has it; on
a closed or slowly renewing customer base it sees the decline coming.

Why the yearly index: BG/NBD's purchase rates are constant in time, so its forecast is a year-round average. Where
the history holds about a year and a half, the forecast is scaled by the yearly seasonal index of the bins ahead
(`yearly_index`); unscaled, it missed every holiday season of the simulator by 15-20 % and over-forecast its quiet
ones (docs/status/issue-20-session6.md, bench/forecast_validation.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import hyp2f1

from predictions.ml.bgnbd import BgNbdParams, expected_purchases, fit_bgnbd
from predictions.ml.paretonbd import ParetoNbdParams, fit_paretonbd
from predictions.ml.paretonbd import expected_purchases as pareto_expected_purchases

from .base import Forecast, ForecastInput, ModelUnavailable
from .series import Panel, outage_days_before


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
    days = days[days["day"] <= cutoff].copy()
    if days.empty:
        raise ModelUnavailable("no customers before the cutoff")
    # The customers' time leaves out the days of an outage (series.outages): nobody could buy then, and counted
    # as time without a purchase they made the customers look gone (an outside analyst: 38 % under the test's
    # total after a two-month outage). `clock` is that time; new customers arrive at the rate of its last bins.
    days["clock"] = days["day"] - pd.to_timedelta(outage_days_before(days["day"], panel.outages), unit="D")
    now = cutoff - pd.Timedelta(days=int(outage_days_before(pd.Series([cutoff]), panel.outages)[0]))
    per = days.groupby("customer_id")["clock"].agg(["min", "max", "size"])
    x = (per["size"] - 1).to_numpy(dtype=float)
    t_x = (per["max"] - per["min"]).dt.days.to_numpy(dtype=float)
    T = (now - per["min"]).dt.days.to_numpy(dtype=float)
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
    first_bin = np.floor_divide((per["min"] - now).dt.days.to_numpy() + p - 1, p)  # <= 0
    n_hist = panel.values.shape[1]
    m = arrival_bins or min(n_hist, 13 if panel.freq == "week" else 28)
    arrivals = np.bincount(-first_bin[first_bin > -m], minlength=m)[:m].sum() / m
    new = np.zeros((len(panel.keys), h))
    if arrivals > 0:
        first_days = days.merge(per["min"].rename("clock").reset_index(), on=["customer_id", "clock"])
        recent_new = first_days[first_days["clock"] > now - pd.Timedelta(days=p * m)][["customer_id", "day"]]
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
