"""Anomaly monitors: daily metrics per segment, a robust seasonal baseline, alerts grouped per outage.

Metrics (names say what they measure): orders, revenue, aov (revenue per order), refunds, refund_rate,
cancellations, cancel_rate, new_customers, and events_<type> (one per event type: a tracking feed that stops shows
as a drop). Segments: "shop", "country:XX" and "category:PATH" (orders and revenue from order lines).

Baseline: an STL-like robust decomposition of the days before it — level = the median of the last `level_days` days
with a value (for counts of a few a day, the mean of those days capped at their 90th percentile), weekday factor = the
median ratio of that weekday to its week's level over the last `season_weeks` weeks — so expected = level x factor. A
weekday at 0 on each of its days in the `season_weeks` before (four at least) is closed: it expects 0, and the level
and the other factors are read from the open days (a shop whose orders come in weekly batches). Days of an outage
(`outage_days`; the shop's orders outage for every order monitor) are left out of the later days' level and spread,
not out of their weekday factors. Spread = 1.4826 x the median absolute deviation of the same days' residuals, floored
by the Poisson noise sqrt(expected) for counts. A day is anomalous when its robust z score passes `z` AND the change
is at least `min_effect` of the expected AND at least `min_abs` (counts); a rise also only when fewer than two of the
`level_days` days before it were rises that came that close (`_routine`); no change where the same days of the two
years before, give or take 3 days or a week (a moving holiday: Black Friday), moved as much the same way
(`_seen_the_years_before`: the baseline has no yearly season).
The average order (aov) is judged only on days of `min_rate_volume` orders or more (one basket is no average).
Refunds and cancellations count on the day the order's status changed (`status_changed_at`, where the orders frame
has it), else on the order's day; so counted, their rates divide by the orders of a usual day of the RATE_DAYS before
(today's refunds are of older orders), else by the day's own orders.
Shares of the day's orders (refund_rate, cancel_rate) expect the pooled share of the last `level_days` days and
are scored by the binomial tail of the day's count (the median of daily shares sat below the true rate when most
days have none, and a normal approximation made 6 cancellations of 36 orders at 5 % look like z 3.3, not 2.4).
A forecast band (expected, lo, hi) given for a day: the baseline's verdict stands unless the forecast expected a
change of at least `min_effect` from the baseline in the day's direction; then the day is judged against the
forecast by the same rules, the band's width as its spread. Consecutive anomalous days of a monitor form one alert;
alerts of one segment that overlap in time share a group (one outage is one incident, whatever metrics show it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

RATE_METRICS = {"refund_rate": "orders_all", "cancel_rate": "orders_all", "aov": "orders"}
# The monitors of status changes: dated by their moment, their days may run past the orders' (see _order_frames).
STATUS_METRICS = ("refunds", "refund_rate", "cancellations", "cancel_rate")
# Refunds (cancellations) dated by the day they happened are rated against the mean orders of this many days before.
RATE_DAYS = 28


@dataclass(frozen=True)
class DetectorConfig:
    """Thresholds of the detector (defaults measured by bench/anomalies.py)."""

    z: float = 5.0
    min_effect: float = 0.5
    min_abs: float = 5.0
    level_days: int = 28
    season_weeks: int = 8
    min_history_days: int = 28
    # Rates need this many orders a day on average before they are monitored (noise otherwise).
    min_rate_volume: float = 20.0


@dataclass(frozen=True)
class Anomaly:
    """One alert: a run of anomalous days of one metric and segment."""

    metric: str
    segment: str
    date: pd.Timestamp
    end: pd.Timestamp
    direction: str
    expected: float
    actual: float
    score: float
    group: int


def daily_metrics_frame(
    *,
    orders: pd.DataFrame,
    events: pd.DataFrame | None = None,
    order_lines: pd.DataFrame | None = None,
    customer_country: pd.Series | None = None,
    category_names: dict | None = None,
    max_segments: int = 20,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Daily values of every monitor: columns metric, segment, day, value, volume (the day's orders, for rates).
    Order metrics run from the first order's day to `until` (default: the last order's day): days after the last
    order up to the end of the shop's other data are days without orders, not days without data. Refunds and
    cancellations dated by their moment run on to the last such day where it is later (statuses updated after the
    orders came).

    Orders frame as predictions.ml.base's contract (status placed / cancelled / refunded; optionally
    `status_changed_at`, when the status last changed: see _order_frames); events with
    customer_id, occurred_at, type. Segments beyond the shop: the `max_segments` biggest countries and categories."""
    if until is not None:
        until = pd.Timestamp(until)
        until = (until.tz_convert(None) if until.tzinfo else until).normalize()
    out = [] if orders.empty else _order_frames(orders, order_lines=order_lines, customer_country=customer_country,
                                                category_names=category_names, max_segments=max_segments,
                                                until=until)
    if events is not None and len(events):
        e_day = pd.to_datetime(events["occurred_at"], utc=True).dt.tz_convert(None).dt.normalize()
        # From the first event read (the caller may read only recent ones): days before it are unknown, not 0; to
        # the end of the orders or `until`, whichever is later (a feed that stops before them is a drop).
        # (The orders' end, not that of refunds dated later: see _order_frames.)
        e_last = max([e_day.max()] + [f.loc[f["metric"] == "orders", "day"].max() for f in out[:1]]
                     + ([until] if until is not None else []))
        e_days = pd.date_range(e_day.min(), e_last, freq="D")
        counts = pd.crosstab(e_day, events["type"].astype(str)).reindex(e_days, fill_value=0)
        for t in counts.columns:
            out.append(pd.DataFrame({"metric": f"events_{t}", "segment": "shop", "day": e_days,
                                     "value": counts[t].to_numpy(dtype=float), "volume": np.nan}))
    if not out:
        return pd.DataFrame(columns=["metric", "segment", "day", "value", "volume"])
    return pd.concat(out, ignore_index=True)


def _order_frames(orders: pd.DataFrame, *, order_lines: pd.DataFrame | None, customer_country: pd.Series | None,
                  category_names: dict | None, max_segments: int, until: pd.Timestamp | None) -> list[pd.DataFrame]:
    """The order monitors' daily values (see daily_metrics_frame), one frame per segment and metric group."""
    o = orders.copy()
    o["day"] = pd.to_datetime(o["placed_at"], utc=True).dt.tz_convert(None).dt.normalize()
    # Refunds and cancellations count on the day the status changed (a refund wave alerts on the day it happens,
    # not spread over the days its orders were placed), else - no moment known, or one before the order was
    # placed - on the order's day.
    o["dated"] = False
    o["status_day"] = o["day"]
    if "status_changed_at" in o:
        changed = pd.to_datetime(o["status_changed_at"], utc=True).dt.tz_convert(None).dt.normalize()
        o["dated"] = changed.notna().to_numpy()
        o["status_day"] = changed.where(changed > o["day"], o["day"])
    o["status"] = o["status"].astype(str)
    o["total"] = pd.to_numeric(o["total"], errors="coerce").fillna(0.0)
    first = o.groupby("customer_id")["day"].transform("min")
    o["is_new"] = (o["day"] == first) & ~o.duplicated(["customer_id", "day"])
    o["segment"] = "shop"
    frames = [o]
    if customer_country is not None and len(customer_country):
        c = o["customer_id"].map(customer_country).fillna("").astype(str).str.strip().str.upper()
        top = c[c != ""].value_counts().index[:max_segments]
        if len(top) > 1:
            frames.append(o[c.isin(top)].assign(segment="country:" + c[c.isin(top)]))
    last = o["day"].max() if until is None else max(o["day"].max(), until)
    days = pd.date_range(o["day"].min(), last, freq="D")
    # Refunds and cancellations dated after the orders' last day (statuses updated later than the orders came: a
    # re-import, the API) count on their days: their monitors run to the last such day, while the order monitors
    # end where the orders do (days without orders there are days without data, not an outage).
    changed = o["dated"] & o["status"].isin(["refunded", "cancelled"])
    status_last = max(last, o.loc[changed, "status_day"].max()) if changed.any() else last
    status_days = pd.date_range(o["day"].min(), status_last, freq="D")
    out = []
    for seg_frame in frames:
        for segment, g in seg_frame.groupby("segment"):
            out.append(_order_metrics(g, segment, days, status_days))
    if order_lines is not None and len(order_lines) and "category_id" in order_lines:
        lines = order_lines.merge(o[["order_id", "day", "status"]], on="order_id")
        lines = lines[lines["status"] != "cancelled"]
        names = category_names or {}
        lines["segment"] = "category:" + lines["category_id"].map(
            lambda v: names.get(v, "uncategorised" if pd.isna(v) else str(int(v))))
        lines["revenue"] = lines["quantity"] * lines["unit_price"].fillna(0.0)
        top = lines.groupby("segment")["order_id"].nunique().nlargest(max_segments).index
        # One category (every product uncategorised, say) is the shop again: its alerts would be the shop's twice.
        lines = lines[lines["segment"].isin(top)] if len(top) > 1 else lines.iloc[:0]
        for segment, g in lines.groupby("segment"):
            n = g.groupby("day")["order_id"].nunique().reindex(days, fill_value=0)
            rev = g.groupby("day")["revenue"].sum().reindex(days, fill_value=0.0)
            for metric, s in (("orders", n), ("revenue", rev)):
                out.append(pd.DataFrame({"metric": metric, "segment": segment, "day": days, "value": s.to_numpy(),
                                         "volume": n.to_numpy()}))
    return out


def _order_metrics(g: pd.DataFrame, segment: str, days: pd.DatetimeIndex,
                   status_days: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """The segment's order monitors over `days`; refunds and cancellations dated by their moment over
    `status_days` (which may run past `days`: see _order_frames)."""
    by = g.groupby("day")
    live = g[g["status"] != "cancelled"]
    orders_all = by.size().reindex(days, fill_value=0).astype(float)
    orders = live.groupby("day").size().reindex(days, fill_value=0).astype(float)
    paid = live[live["status"] != "refunded"]
    revenue = paid.groupby("day")["total"].sum().reindex(days, fill_value=0.0)
    new = g[g["is_new"]].groupby("day").size().reindex(days, fill_value=0).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        series = {
            "orders": (orders, orders), "revenue": (revenue, orders), "new_customers": (new, orders),
            "aov": (np.where(orders > 0, revenue / orders, np.nan), orders),
        }
        span = dict.fromkeys(series, days)
        for status, count, rate in (("refunded", "refunds", "refund_rate"), ("cancelled", "cancellations",
                                                                              "cancel_rate")):
            turned = g[g["status"] == status]
            dated = bool(turned["dated"].any())
            s_days = status_days if dated and status_days is not None else days
            n = turned.groupby("status_day").size().reindex(s_days, fill_value=0).astype(float)
            if n.sum() == 0:
                continue
            # The share's orders: the day's own orders while the status is dated by the orders' day (the share of a
            # day's orders refunded); once dated by the day it changed (see _order_frames), the orders of a usual
            # day of the RATE_DAYS before it - today's refunds are of the orders of weeks before, and a day of few
            # orders made them a share three times as high ("refund_rate up" for an orders drop). Past the orders'
            # last day their count is unknown, not 0: the usual day before it holds.
            known = orders_all.reindex(s_days)
            volume = known
            if dated:
                volume = np.round(known.shift(1).rolling(RATE_DAYS, min_periods=1).mean()).ffill()
            series[count] = (n, known)
            series[rate] = (np.where(volume > 0, n / volume, np.nan), volume)
            span[count] = span[rate] = s_days
    return pd.concat([pd.DataFrame({"metric": m, "segment": segment, "day": span[m],
                                    "value": np.asarray(v, dtype=float), "volume": np.asarray(vol, dtype=float)})
                      for m, (v, vol) in series.items()], ignore_index=True)


def baseline(values: np.ndarray, days: pd.DatetimeIndex, *, config: DetectorConfig = DetectorConfig(),
             count: bool = True, first: int = 0,
             factor_values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected value and spread of every day (from index `first` on) from the days strictly before it (NaN
    without enough history). `values` may hold NaN for days left out of the level and the spread (an outage's,
    see `outage_days`); the weekday factors are read from `factor_values` (default: `values`), so that a weekday
    that has become a closing day (zero Sundays, each first flagged as an outage) still learns its factor of 0."""
    n = len(values)
    expected = np.full(n, np.nan)
    spread = np.full(n, np.nan)
    dow = days.day_of_week.to_numpy()
    window = 7 * config.season_weeks
    with warnings.catch_warnings():  # a week without a value (an outage left out) has no median: NaN, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        _baseline_fill(values, values if factor_values is None else factor_values, dow, expected, spread,
                       range(max(config.min_history_days, first), n), window=window, config=config, count=count)
    return expected, spread


def _weekday_factors(past_factors: np.ndarray, past_dow: np.ndarray) -> np.ndarray:
    """Per weekday, the median of each day over the median of its own 7-day block (1 where fewer than two say)."""
    blocks = len(past_factors) // 7
    tail = past_factors[-blocks * 7:].reshape(blocks, 7) if blocks else past_factors[None, :]
    tail_dow = past_dow[-blocks * 7:].reshape(blocks, 7) if blocks else past_dow[None, :]
    med = np.nanmedian(tail, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(med > 0, tail / med, np.nan)
    factors = np.ones(7)
    for d in range(7):
        r = ratio[tail_dow == d]
        if np.isfinite(r).sum() >= 2:
            factors[d] = np.nanmedian(r)
    return factors


def _closed_weekdays(past_factors: np.ndarray, past_dow: np.ndarray, *, weeks: int = 4) -> np.ndarray:
    """Per weekday, whether it was 0 on each of at least `weeks` days before (a closing day, or every weekday but
    the one a shop's weekly batch of orders comes in)."""
    closed = np.zeros(7, dtype=bool)
    for d in range(7):
        v = past_factors[past_dow == d]
        v = v[np.isfinite(v)]
        closed[d] = len(v) >= weeks and not v.any()
    return closed


def _baseline_fill(values, factor_values, dow, expected, spread, positions, *, window: int, config: DetectorConfig,
                   count: bool) -> None:
    for i in positions:
        past = values[max(0, i - window): i]
        past_factors = factor_values[max(0, i - window): i]
        past_dow = dow[max(0, i - window): i]
        ok = np.isfinite(past)
        if ok.sum() < config.min_history_days // 2:
            continue
        # The last level_days days with a value (an outage's days are left out by `detect`: see outage_days).
        last = np.flatnonzero(ok)[-config.level_days:]
        recent = past[last]
        # Weekdays without a single value for weeks are closed: the level and the weekday factors are read from the
        # open days, and a closed day expects 0. A shop whose orders come in weekly batches (Mondays only) had a
        # median day of 0 and every Monday read as a rise from nothing (86-111 "up" alerts a year). Not for a count
        # of a few a day on its open days (see `sparse` below).
        closed = _closed_weekdays(past_factors, past_dow)
        is_open = ~closed[past_dow]
        if closed.any() and is_open[last].any() and (
                not count or np.median(recent[is_open[last]]) >= config.min_abs):
            recent = recent[is_open[last]]
        else:
            closed[:] = False
            is_open[:] = True
        level = np.median(recent)
        sparse = count and level < config.min_abs
        if sparse:
            # A count of a few a day (refunds): the median of days that mostly have none is 0 whatever the rate,
            # and 5 refunds on a day then read as a rise from nothing. The mean is the rate — of the days up to
            # their 90th percentile (one burst of a thousand must not raise the level for the 28 days after it).
            level = float(np.mean(np.minimum(recent, np.quantile(recent, 0.9))))
        # Weekday factors: each day over the median of its own 7-day block, median per weekday. Not for a sparse
        # count: a weekday whose days mostly had none got a factor of 0, and 5 cancellations on it read as a rise
        # from "expected 0" against a rate of 2.7 a day (an outside analyst's shop: 12 such days).
        factors = np.ones(7) if sparse else _weekday_factors(np.where(is_open, past_factors, np.nan), past_dow)
        factors[closed] = 0.0
        fitted = level * factors[past_dow[-config.level_days:]]
        resid = (past[-config.level_days:] - fitted)[is_open[-config.level_days:]]
        e = level * factors[dow[i]]
        mad = 1.4826 * np.nanmedian(np.abs(resid - np.nanmedian(resid)))
        s = mad
        if count:
            s = max(s, np.sqrt(max(e, 1.0)))
        expected[i] = e
        spread[i] = max(s, 1e-9)


def count_score(actual: float, expected: float, spread: float) -> float:
    """A signed z-equivalent of a count's tail probability: Poisson, or negative binomial when the baseline's
    spread says the counts vary more than Poisson. A drop to 0 from 20 a day is then as surprising as it is
    (z about 6), not the 4.5 a normal approximation would give it."""
    from scipy.stats import nbinom, norm, poisson

    e = max(expected, 1e-6)
    var = max(spread ** 2, e)
    if var > e * 1.05:
        n, p = e * e / (var - e), e / var
        tail = nbinom.cdf(actual, n, p) if actual < e else nbinom.sf(actual - 1, n, p)
    else:
        tail = poisson.cdf(actual, e) if actual < e else poisson.sf(actual - 1, e)
    z = float(norm.isf(max(float(tail), 1e-300)))
    return float(np.clip(z, 0.0, 40.0)) * (1.0 if actual >= e else -1.0)


def pooled_share(shares: np.ndarray, volume: np.ndarray, *, config: DetectorConfig = DetectorConfig()) -> np.ndarray:
    """Each day's expected share: the events of the `level_days` days before it over their volume, smoothed by half
    an event over one more order (weeks without a refund expect a small share, not none: 2 refunds of 36 orders
    after four weeks of none are then z 3.6, under the threshold of 5, not the 6 a zero rate clipped to 1e-6 gave).
    A day counts at most its volume (a share of 1): refunds dated by the day they were issued, over a usual day's
    orders, can be many times that - an outside analyst's wave of 154 refunds against 8 orders a day tripled the
    expected share for four weeks, and every ordinary day after it was "refund_rate down".
    NaN before `min_history_days` or without volume."""
    events = np.cumsum(np.concatenate([[0.0], np.nan_to_num(np.minimum(shares, 1.0) * volume)]))
    total = np.cumsum(np.concatenate([[0.0], volume]))
    i = np.arange(len(shares))
    lo = np.maximum(i - config.level_days, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (events[i] - events[lo] + 0.5) / (total[i] - total[lo] + 1.0)
    out[(i < config.min_history_days) | ~(total[i] - total[lo] > 0)] = np.nan
    return out


def share_score(actual: float, expected: float, volume: float) -> float:
    """A signed z-equivalent of the binomial tail of a day's share: round(actual x volume) events of `volume`
    orders when each is one with probability `expected` (6 cancellations of 36 orders at a 5 % rate: z 2.4)."""
    from scipy.stats import binom, norm

    n = int(round(volume))
    if n <= 0:
        return 0.0
    k = int(round(actual * n))
    p = float(np.clip(expected, 1e-6, 1 - 1e-6))
    tail = binom.cdf(k, n, p) if actual < expected else binom.sf(k - 1, n, p)
    z = float(norm.isf(max(float(tail), 1e-300)))
    return float(np.clip(z, 0.0, 40.0)) * (1.0 if actual >= expected else -1.0)


def detect(
    metrics: pd.DataFrame,
    *,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    config: DetectorConfig = DetectorConfig(),
    bands: pd.DataFrame | None = None,
    muted: set[tuple[str, str]] | None = None,
) -> list[Anomaly]:
    """Alerts of every monitor in [start, end] (default: every day with enough history before it).

    `bands` (metric, segment, day, expected, lo, hi) — e.g. a stored forecast's 95 % band — replace the baseline on
    the days they cover. `muted` holds (metric, segment) pairs, and (metric, "") for a metric muted everywhere."""
    muted = muted or set()
    found: list[dict] = []
    band_index = {}
    if bands is not None and len(bands):
        for row in bands.itertuples(index=False):
            band_index[(row.metric, row.segment, pd.Timestamp(row.day))] = (row.expected, row.lo, row.hi)
    # The shop's outage days (no orders at all where plenty were expected) hold no orders anywhere: every order
    # monitor of every segment leaves them out of its baselines, also where its own volume is too small to tell.
    shop_down = np.array([], dtype="datetime64[ns]")
    silent_runs: dict[pd.Timestamp, float] = {}
    shop_orders = metrics[(metrics["metric"] == "orders") & (metrics["segment"] == "shop")].sort_values("day")
    if len(shop_orders):
        shop_days = pd.DatetimeIndex(shop_orders["day"])
        first_shop = 0 if start is None else int(np.searchsorted(shop_days.values, np.datetime64(start)))
        silent = np.zeros(len(shop_days))
        down = outage_days(shop_orders["value"].to_numpy(dtype=float), shop_days,
                           shop_orders["volume"].to_numpy(dtype=float), metric="orders", config=config,
                           first=max(0, first_shop - 7 * config.season_weeks),
                           end=None if end is None else np.datetime64(end), run_expected=silent)
        shop_down = shop_days.values[down]
        # Days of a silent run too small to flag one by one (see SILENT_RUN_EXPECTED): the run's expected orders
        # so far, scored as the chance of none.
        silent_runs = {day: total for day, total, is_down in zip(shop_days, silent, down, strict=True)
                       if is_down and total >= SILENT_RUN_EXPECTED}
    for (metric, segment), g in metrics.groupby(["metric", "segment"], sort=True):
        if (metric, segment) in muted or (metric, "") in muted:
            continue
        g = g.sort_values("day")
        days = pd.DatetimeIndex(g["day"])
        values = g["value"].to_numpy(dtype=float)
        rate = metric in RATE_METRICS
        if rate and np.nanmean(g["volume"].to_numpy(dtype=float)) < config.min_rate_volume:
            continue
        counts = not rate and metric != "revenue"
        first = 0 if start is None else int(np.searchsorted(days.values, np.datetime64(start)))
        shares = rate and metric != "aov"
        if not shares:
            # (from level_days before the first day judged: `_routine` reads whether those days were rises too)
            expected, spread = baseline(values, days, config=config, count=counts,
                                        first=max(0, first - config.level_days))
            if not rate:
                # Days of an outage (nothing at all where the baseline expected plenty) are left out of the baselines
                # of the days after them: the days after an outage are judged against the level before it (a
                # recovery is not a rise from 0, and a long outage stays one until it ends).
                out = np.isin(days.values, shop_down) if not metric.startswith("events_") else np.zeros(len(days), bool)
                if (metric, segment) != ("orders", "shop"):  # the shop's orders were judged above
                    out |= outage_days(values, days, g["volume"].to_numpy(dtype=float), metric=metric,
                                       config=config, first=max(0, first - 7 * config.season_weeks),
                                       end=None if end is None else np.datetime64(end))
                if out.any():
                    expected, spread = baseline(np.where(out, np.nan, values), days, config=config, count=counts,
                                                first=max(0, first - config.level_days), factor_values=values)
                    # An outage long enough to leave too few days for a baseline is judged against the level
                    # before it until it ends (a 92-day silence was one alert of its first 6 weeks).
                    fill = out & np.isnan(expected)
                    expected[fill] = pd.Series(expected).ffill().to_numpy()[fill]
                    spread[fill] = pd.Series(spread).ffill().to_numpy()[fill]
        else:
            # A share of the day's orders (refunds, cancellations): expected is the pooled share of the last
            # level_days (their events over their orders, not the median of daily shares, which sits below the
            # mean when most days have none), and the day is scored by the binomial tail of its count.
            n = np.nan_to_num(g["volume"].to_numpy(dtype=float))
            expected = pooled_share(values, n, config=config)
        aov = 1.0
        if metric == "revenue":
            # Money is scored as "orders' worth" (revenue / the average order), as a count: a day with no revenue
            # is as surprising as a day with no orders, while one big order stays one order's worth.
            aov = max(np.nansum(values) / max(np.nansum(g["volume"].to_numpy(dtype=float)), 1.0), 1e-9)
            counts = True
        # The average order of a day of a few orders is one customer's basket: judged only on days with
        # min_rate_volume orders (a growing shop's early days raised "aov up" on a single order).
        thin = (g["volume"].to_numpy(dtype=float) < config.min_rate_volume if metric == "aov"
                else np.zeros(len(days), dtype=bool))
        for i, day in enumerate(days):
            if (start is not None and day < start) or (end is not None and day > end):
                continue
            actual = values[i]
            if not np.isfinite(actual) or thin[i]:
                continue
            verdict = None  # the baseline's (expected, score) when it flags the day
            e = expected[i]
            if np.isfinite(e):
                if shares:
                    score = share_score(actual, e, n[i])
                else:
                    s = spread[i]
                    score = count_score(actual / aov, e / aov, s / aov) if counts else (actual - e) / s
                if (abs(score) >= config.z and abs(actual - e) >= config.min_effect * max(abs(e), 1e-9)
                        and (rate or abs(actual - e) / aov >= config.min_abs)):
                    verdict = (e, score)
                elif (metric, segment) == ("orders", "shop") and day in silent_runs:
                    if e > actual:
                        verdict = (e, count_score(0.0, silent_runs[day], np.sqrt(silent_runs[day])))
                    elif found and (found[-1]["metric"], found[-1]["segment"]) == (metric, segment) and (
                            found[-1]["day"] == day - pd.Timedelta(days=1)):
                        # A closed weekday inside a silence already alerted expected nothing, yet the alert goes
                        # on through it: a weekly-batch shop's missing Mondays are one outage, not one alert each.
                        verdict = (found[-1]["expected"], found[-1]["score"])
            band = band_index.get((metric, segment, day))
            if band is not None:
                # A forecast covers the day. The baseline's verdict stands unless the forecast itself expected a
                # change of at least min_effect from the baseline in the day's direction (a peak or a closing the
                # forecast saw coming: Black Friday, a promotion); the day is then judged against the forecast,
                # by the same rules (z, min_effect, min_abs), its band's width as the spread (floored by the
                # Poisson noise: a band of 0 to 0 on a closed weekday made one order a score of 1e9).
                f_e, lo, hi = band
                anticipated = verdict is not None and (f_e - verdict[0]) * (actual - verdict[0]) > 0 and (
                    abs(f_e - verdict[0]) >= config.min_effect * max(abs(verdict[0]), 1e-9))
                if verdict is not None and not anticipated:
                    e, score = verdict
                else:
                    e = f_e
                    score = (actual - e) / max((hi - lo) / 3.92, aov * np.sqrt(max(abs(e) / aov, 1.0)))
                    if (abs(score) < config.z or abs(actual - e) < config.min_effect * max(abs(e), 1e-9)
                            or (not rate and abs(actual - e) / aov < config.min_abs)):
                        continue
            elif verdict is not None:
                e, score = verdict
            else:
                continue
            if actual > e and not shares and _routine(values, expected, i, actual, config=config):
                continue
            if not shares and _seen_the_years_before(values, i, actual, e, config=config):
                continue
            found.append({"metric": metric, "segment": segment, "day": day, "expected": float(e),
                          "actual": float(actual), "score": float(score)})
    return group(found)


def _routine(values: np.ndarray, expected: np.ndarray, i: int, actual: float, *, config: DetectorConfig) -> bool:
    """Whether at least two of the `level_days` days before day i were rises themselves (at least `min_effect` above
    their own expected value) that came within `min_effect` of its value (at or above actual / (1 + min_effect)): a
    rise the monitor saw twice in four weeks is the shop's routine, not news. A B2B customer's order of
    2,000-30,000 every third day in a shop of 100 a day was "revenue up" every third day: the median level and its
    spread read the ordinary days, and no weekday factor follows a three-day rhythm (with three days instead of two,
    0-5 such alerts in six months of ten such shops; with two, 0-2). A lasting rise is then alerted on its first two
    days. Only past rises count: any two ordinary days above the level came within 50 % of a rise just big enough
    to flag, and a second reader's 1.7x spikes of a shop of 100 a day were found on 3 seeds of 12 (9 without the
    rule; 9 again so), a Saturday at a weekday's level not at all."""
    lo = max(0, i - config.level_days)
    past, past_expected = values[lo:i], expected[lo:i]
    with np.errstate(invalid="ignore"):
        rises = (past * (1 + config.min_effect) >= actual) & (past >= past_expected * (1 + config.min_effect))
    return int(np.sum(rises & np.isfinite(past_expected))) >= 2


# Where the same day of a year before may lie against 364 (728) days back: the same date moves 1-3 days against the
# weekday (a holiday tied to a date: Christmas, 2 days in a leap year, 3 two years back), and a holiday tied to a
# weekday keeps it and moves by a week. Black Friday (the day after the 4th Thursday of November) 2024 was on
# 29 November, 364 days back was 1 December 2023 and Black Friday 2023 on 24 November, 371 days back: with +-3 days
# only Cyber Monday matched, and a gift shop's Black Friday was "orders up", "revenue up" and "new_customers up"
# every other year (an outside analyst). The week's other days are left out: with every day of a +-7 window, of 5x
# spikes injected on each of the 21 days around a gift shop's Black Friday one more passed as the season.
SEASON_SHIFTS = (*range(-3, 4), -7, 7)


def _seen_the_years_before(values: np.ndarray, i: int, actual: float, expected: float, *,
                           config: DetectorConfig) -> bool:
    """Whether the same days of each of the two years before (364 and 728 days back, give or take 3 days or a week:
    SEASON_SHIFTS) moved from the level of the weeks before them in the same direction, by at least
    `min_effect` and by nearly as much (within `min_effect`): a season, not news. The baseline has no yearly
    season: a shop whose Decembers are 4x its Novembers, four years alike, raised "orders up" on 1 December and
    "orders down" for the first ten days of January whenever no forecast covered them (an outside analyst). Two
    years, not one: a single anniversary is too weak a reason to keep quiet. Never for a day at 0 (an outage, or a
    closing, is news every year)."""
    if not (actual > 0 and expected > 0):
        return False
    change = actual / expected
    for back in (364, 728):
        j = i - back
        if j - config.level_days < 0:
            return False
        with warnings.catch_warnings():  # days without a value (aov without orders): NaN, no warning
            warnings.simplefilter("ignore", RuntimeWarning)
            level = np.nanmedian(values[j - config.level_days: j])  # as the baseline reads day j
            around = values[[k for k in (j + d for d in SEASON_SHIFTS) if 0 <= k < len(values)]]
            then = (np.nanmax(around) if change > 1 else np.nanmin(around)) / level if level > 0 else np.nan
        if not np.isfinite(then):
            return False
        if change > 1 and not (then >= 1 + config.min_effect and then * (1 + config.min_effect) >= change):
            return False
        if change < 1 and not (then * (1 + config.min_effect) <= 1 and then <= change * (1 + config.min_effect)):
            return False
    return True


def _longest_zero_run(values: np.ndarray, before: int, window: int) -> int:
    """The longest run of days at 0 among the `window` days before index `before`."""
    past = values[max(0, before - window): before]
    longest = current = 0
    for zero in past == 0:
        current = current + 1 if zero else 0
        longest = max(longest, current)
    return longest


# A run of days without an order is an outage once the orders expected over it add up to this many: the chance of
# none by chance is then e^-15, about 3 in 10 million (a z of 5). A shop of 2.3 orders a day went 92 days without an
# order unflagged (an outside analyst's shop): each day alone was below min_abs. And only a run longer than any the
# shop had in the weeks before it (its usual quiet days are not an outage).
SILENT_RUN_EXPECTED = 15.0


def outage_days(values: np.ndarray, days: pd.DatetimeIndex, volume: np.ndarray, *, metric: str,
                config: DetectorConfig = DetectorConfig(), first: int = 0,
                end: np.datetime64 | None = None, run_expected: np.ndarray | None = None) -> np.ndarray:
    """Days (from index `first`, up to `end`) of a drop to nothing: a value of 0 scored at least `z` below an
    expected value of at least `min_abs` (orders, or for revenue orders' worth), each judged against a baseline
    that leaves out the outage days before it (so a long outage stays one). A mask of the days' positions.

    With `run_expected` (an array as long as `values`: the shop's orders), also every day of a run of zero days
    whose expected values add up to SILENT_RUN_EXPECTED, however small a day's expected value (a small shop that
    stops); `run_expected` then holds each such day's run total (at least the threshold, from the run's first day)."""
    out = np.zeros(len(values), dtype=bool)
    zeros = np.flatnonzero(values[first:] == 0) + first
    if end is not None:
        zeros = zeros[days.values[zeros] <= end]
    if not len(zeros):
        return out
    aov = 1.0
    if metric == "revenue":
        aov = max(np.nansum(values) / max(np.nansum(volume), 1.0), 1e-9)
    seen = values[max(0, int(zeros[0]) - 7 * config.season_weeks): int(zeros[-1])]
    if run_expected is None and (not len(seen) or not np.nanpercentile(seen, 90) / aov >= config.min_abs):
        return out  # a count that rarely reaches min_abs a day (a sparse event type) has no outage to tell
    masked = values.astype(float).copy()
    run: list[int] = []
    total = 0.0
    for i in zeros:
        e, s = (v[i] for v in baseline(masked[:i + 1], days[:i + 1], config=config, count=metric != "revenue",
                                       first=int(i), factor_values=values[:i + 1]))
        if np.isfinite(e) and e / aov >= config.min_abs and count_score(0.0, e / aov, s / aov) <= -config.z:
            out[i] = True
            masked[i] = np.nan
        if run_expected is None:
            continue
        if not run or i != run[-1] + 1:
            run, total, last = [], 0.0, np.nan
        # Deep in a long run its own days, left out, leave too few for a baseline: the level before it holds.
        last = e if np.isfinite(e) else last
        run.append(int(i))
        total += last / aov if np.isfinite(last) else 0.0
        run_expected[i] = total
        if total >= SILENT_RUN_EXPECTED and len(run) > _longest_zero_run(values, run[0], 7 * config.season_weeks):
            # The whole run, from its first day - when longer than any the shop had in the weeks before it: a
            # shop whose orders come in weekly batches (Mondays only) has six quiet days every week, and they
            # were flagged as an outage for weeks on end (a second reader).
            out[run] = True
            masked[run] = np.nan
            run_expected[run] = np.maximum(run_expected[run], total)
    return out


def group(found: list[dict], *, gap_days: int = 2) -> list[Anomaly]:
    """Runs of anomalous days (same metric, segment and direction; at most `gap_days` apart) become one alert;
    alerts of a segment whose days overlap share a group number."""
    if not found:
        return []
    frame = pd.DataFrame(found)
    frame["direction"] = np.where(frame["actual"] >= frame["expected"], "up", "down")
    frame = frame.sort_values(["segment", "metric", "direction", "day"])
    runs = []
    for (segment, metric, direction), g in frame.groupby(["segment", "metric", "direction"], sort=False):
        current = None
        for row in g.itertuples(index=False):
            if current is not None and (row.day - current["end"]).days <= gap_days + 1:
                current["end"] = row.day
                if abs(row.score) > abs(current["score"]):
                    current["score"] = row.score
                continue
            if current is not None:
                runs.append(current)
            current = {"metric": metric, "segment": segment, "date": row.day, "end": row.day, "direction": direction,
                       "expected": row.expected, "actual": row.actual, "score": row.score}
        runs.append(current)
    runs.sort(key=lambda r: (r["segment"], r["date"]))
    out: list[Anomaly] = []
    group_id, group_end, group_seg = 0, None, None
    for r in runs:
        if group_seg != r["segment"] or group_end is None or r["date"] > group_end + pd.Timedelta(days=gap_days):
            group_id += 1
            group_seg, group_end = r["segment"], r["end"]
        else:
            group_end = max(group_end, r["end"])
        out.append(Anomaly(metric=r["metric"], segment=r["segment"], date=r["date"], end=r["end"],
                           direction=r["direction"], expected=r["expected"], actual=r["actual"],
                           score=float(r["score"]), group=group_id))
    out.sort(key=lambda a: (a.date, a.segment, a.metric))
    return out
