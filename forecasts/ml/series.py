"""From orders to binned series.

Facts frame (what `facts_frame` returns and the models read): one row per (order, series key) with
  key (str), customer_id, order_id, day (datetime64, midnight, no zone), orders (0/1 share), revenue, units.
At the shop and country levels an order is one fact; at the category and product levels an order gives one fact per
key its lines touch (orders = 1 for each: "orders containing the category"; revenue and units from its lines).

Bins are anchored at the end: with a cutoff T, a weekly bin is the 7 days (T - 7k, T - 7(k - 1)], so the history
ends exactly at the cutoff and the first forecast bin starts the day after it, whatever weekday T is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .anomalies import SILENT_RUN_EXPECTED

MEASURES = ("orders", "revenue", "units")
FREQS = {"day": 1, "week": 7}
SEASON = {"day": 7, "week": 52}
LEVELS = ("shop", "category", "country", "product")
SHOP_KEY = "shop"

# An outage: OUTAGE_MIN_DAYS or more without any order inside the history (two days with orders around it) where the
# shop's orders of the OUTAGE_RATE_DAYS before it would have put SILENT_RUN_EXPECTED (the anomaly monitors' threshold,
# e^-15 by chance) into it - unless the same days 52 weeks earlier or later, inside the history, held under a quarter
# of that (a season the shop closes, not an outage). A two-month outage inside the validation window had every model
# judged against zeros (six of them tied) and LightGBM and the customer model taught that the shop had died (an
# outside analyst: the champion 38 % under the test's total). Its bins are filled for fitting (Panel.filled),
# validation windows holding one are not used (selection.validation_origins), and the customer model leaves its
# days out of the customers' time (customer.py).
OUTAGE_MIN_DAYS = 14
OUTAGE_RATE_DAYS = 56
OUTAGE_FILL_BINS = 4
# An outage still running at the cutoff: its last OUTAGE_MIN_DAYS or more hold at most this share of what the rate
# before them expected (a few stragglers - orders keyed in by hand, a test order - in a feed that stopped; at the
# monitors' 15 expected that is one order, about 5 in a million by chance). Forecast from as real zeros, every
# model read the shop as dead or dying; it is filled like any outage and the notes say the latest days look like
# missing data.
OUTAGE_NEAR_ZERO_SHARE = 0.1


class SeriesError(ValueError):
    """The data cannot make the series asked for (no orders, too short, unknown level); the message says why."""


@dataclass(frozen=True)
class Outage:
    """Days without any order inside the history where the shop's rate before them expected many (see `outages`)."""

    first: pd.Timestamp
    last: pd.Timestamp
    expected: float  # orders the OUTAGE_RATE_DAYS before it would have put into it
    orders: float = 0.0  # orders it held (only one still running at the cutoff may hold a few)
    at_cutoff: bool = False  # still running at the history's last day: the latest days look like missing data

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Panel:
    """Series of one level and measure, aligned on the same bins.

    values[i, j] is key i's measure in bin j; bin j ends on ends[j] (inclusive, midnight of its last day)."""

    keys: tuple[str, ...]
    values: np.ndarray
    ends: pd.DatetimeIndex
    freq: str
    measure: str
    outages: tuple[Outage, ...] = ()

    @property
    def period_days(self) -> int:
        return FREQS[self.freq]

    @property
    def season_length(self) -> int:
        return SEASON[self.freq]

    def until(self, n_bins: int) -> Panel:
        """The first n_bins bins (a history ending earlier)."""
        end = self.ends[n_bins - 1]
        return Panel(self.keys, self.values[:, :n_bins], self.ends[:n_bins], self.freq, self.measure,
                     tuple(o for o in self.outages if o.first <= end))

    def select(self, keys: list[str]) -> Panel:
        index = {k: i for i, k in enumerate(self.keys)}
        rows = [index[k] for k in keys]
        return Panel(tuple(keys), self.values[rows], self.ends, self.freq, self.measure, self.outages)

    @property
    def silent(self) -> np.ndarray:
        """Per bin, whether it holds a day of an outage (a week with one such day is short of orders too)."""
        starts = self.ends - pd.Timedelta(days=self.period_days - 1)
        mask = np.zeros(len(self.ends), dtype=bool)
        for o in self.outages:
            mask |= np.asarray((self.ends >= o.first) & (starts <= o.last))
        return mask

    def filled(self, *, neighbours: int = OUTAGE_FILL_BINS) -> Panel:
        """The panel the models fit: each bin of an outage replaced by the mean of the `neighbours` nearest bins
        outside outages before it and as many after it, on the same weekday for daily bins. `values` keep what
        happened (the history shown, the actuals scored)."""
        silent = self.silent
        if not silent.any():
            return self
        step = 7 if self.freq == "day" else 1
        n = len(self.ends)
        values = self.values.astype(float).copy()
        for i in np.flatnonzero(silent):
            before = [j for j in range(i - step, -1, -step) if not silent[j]][:neighbours]
            after = [j for j in range(i + step, n, step) if not silent[j]][:neighbours]
            if before or after:
                values[:, i] = self.values[:, before + after].mean(axis=1)
        return Panel(self.keys, values, self.ends, self.freq, self.measure, self.outages)


def _naive_day(values: pd.Series) -> pd.Series:
    day = pd.to_datetime(values, utc=True)
    return day.dt.tz_convert(None).dt.normalize()


def facts_frame(
    *,
    orders: pd.DataFrame,
    level: str,
    order_lines: pd.DataFrame | None = None,
    customer_country: pd.Series | None = None,
    category_names: dict | None = None,
    product_names: dict | None = None,
    top_products: int = 50,
) -> pd.DataFrame:
    """Facts of one level from an orders frame (predictions.ml.base's contract; cancelled orders are left out).

    `customer_country` maps customer_id -> country (the country level); `order_lines` (with category_id and
    product_id) feeds the category and product levels; `category_names` maps category ids to the keys shown,
    `product_names` product ids to theirs (the shop's own product ids; the internal id where it has none).
    Units come from item_count, else from the order's line quantities, else count 1 per order; revenue from the
    order's total, else from its lines' quantities times their prices (refunded orders count 0)."""
    if level not in LEVELS:
        raise SeriesError(f"unknown level '{level}': one of {', '.join(LEVELS)}")
    live = orders[orders["status"].astype(str) != "cancelled"]
    lines = order_lines if order_lines is not None else pd.DataFrame(columns=["order_id", "quantity"])
    total = pd.to_numeric(live["total"], errors="coerce")
    if len(lines) and "unit_price" in lines and total.isna().any():
        # An order without a total is worth its lines (UCI's and Olist's files give prices on lines only).
        value = lines["quantity"] * lines["unit_price"]
        by_order = value.groupby(lines["order_id"])
        worth = by_order.sum().where(by_order.count() == by_order.size())  # every line priced, as the import asks
        total = total.fillna(live["order_id"].map(worth))
    base = pd.DataFrame({
        "customer_id": live["customer_id"].to_numpy(),
        "order_id": live["order_id"].to_numpy(),
        "day": _naive_day(live["placed_at"]).to_numpy(),
        "revenue": np.where(live["status"].astype(str) == "refunded", 0.0, total.fillna(0.0).to_numpy(dtype=float)),
        "item_count": pd.to_numeric(live["item_count"], errors="coerce").to_numpy(dtype=float),
    })
    if len(lines):
        qty = lines.groupby("order_id")["quantity"].sum()
        base["item_count"] = base["item_count"].fillna(base["order_id"].map(qty))
    base["units"] = base["item_count"].fillna(1.0)
    base = base.drop(columns=["item_count"])
    base["orders"] = 1.0
    if level == SHOP_KEY:
        return base.assign(key=SHOP_KEY)
    if level == "country":
        country = base["customer_id"].map(customer_country) if customer_country is not None else None
        if country is None:
            raise SeriesError("the country level needs the customers' countries")
        key = country.fillna("").astype(str).str.strip().str.upper().replace("", "unknown")
        if len(key) and (key == "unknown").all():  # one series, the shop's own: not a level
            raise SeriesError("the country level needs the customers' countries; no customer has one")
        return base.assign(key=key.to_numpy())
    if not len(lines) or "category_id" not in lines:
        raise SeriesError(f"the {level} level needs order lines with products; this shop has none")
    live_lines = lines[lines["order_id"].isin(base["order_id"])].copy()
    live_lines["line_revenue"] = live_lines["quantity"] * live_lines["unit_price"].fillna(0.0)
    if level == "category":
        names = category_names or {}
        live_lines["key"] = live_lines["category_id"].map(lambda c: names.get(c, "uncategorised" if pd.isna(c)
                                                                                 else str(int(c))))
        if len(live_lines) and (live_lines["key"] == "uncategorised").all():
            raise SeriesError("the category level needs products with categories; no ordered product has one")
    else:
        volume = live_lines.groupby("product_id")["quantity"].sum().nlargest(top_products)
        live_lines = live_lines[live_lines["product_id"].isin(volume.index)]
        names = product_names or {}
        live_lines["key"] = live_lines["product_id"].map(lambda p: names.get(p, str(int(p))))
    grouped = live_lines.groupby(["order_id", "key"], as_index=False).agg(
        revenue=("line_revenue", "sum"), units=("quantity", "sum"))
    head = base[["order_id", "customer_id", "day"]]
    out = grouped.merge(head, on="order_id", how="inner")
    out["orders"] = 1.0
    return out[["key", "customer_id", "order_id", "day", "orders", "revenue", "units"]]


def bin_number(days: pd.Series | np.ndarray, *, cutoff: pd.Timestamp, period_days: int) -> np.ndarray:
    """Bins counted back from the cutoff: 0 is the bin ending at the cutoff, -1 the one before, 1 the first
    after it."""
    delta = (pd.DatetimeIndex(days) - cutoff).days.to_numpy()
    return np.floor_divide(delta + period_days - 1, period_days)


# A shop's history starts after its last silence this long (no order of any key) when at least SINCE_SILENCE_DAYS
# of history follow it: test orders placed while the shop was set up, months before its launch, made every model's
# validation window a run of zeros (an outside analyst: every series chose Croston, "off by 99 %", with a band up
# to 6e13). A shop closed for a season this long is forecast from its latest season once 8 weeks of it are in.
SILENCE_DAYS = 90
SINCE_SILENCE_DAYS = 56


def history_start(days: pd.Series) -> pd.Timestamp:
    """The first day with facts after the last gap of SILENCE_DAYS or more between two days with facts, when the
    facts after it span SINCE_SILENCE_DAYS or more; else the first day with facts."""
    unique = np.sort(pd.DatetimeIndex(days.unique()).values)
    gaps = np.flatnonzero(np.diff(unique) >= np.timedelta64(SILENCE_DAYS, "D"))
    gaps = gaps[unique[-1] - unique[gaps + 1] >= np.timedelta64(SINCE_SILENCE_DAYS, "D")]
    return pd.Timestamp(unique[gaps[-1] + 1] if len(gaps) else unique[0])


def _season_closed(per_day: pd.Series, first: pd.Timestamp, last: pd.Timestamp, expected: float, *,
                   start: pd.Timestamp, cutoff: pd.Timestamp) -> bool:
    """Whether the same days 52 weeks earlier or later, inside [start, cutoff], held under a quarter of `expected`
    (a season the shop closes, not an outage)."""
    days = per_day.index
    return any(start <= first + shift and last + shift <= cutoff
               and per_day[(days >= first + shift) & (days <= last + shift)].sum() < expected / 4
               for shift in (pd.Timedelta(days=-364), pd.Timedelta(days=364)))


def _outage_at_cutoff(per_day: pd.Series, *, start: pd.Timestamp, cutoff: pd.Timestamp) -> Outage | None:
    """The outage still running at the cutoff, if any: the trailing run of OUTAGE_MIN_DAYS or more days holding
    at most OUTAGE_NEAR_ZERO_SHARE of what the OUTAGE_RATE_DAYS before it expected (SILENT_RUN_EXPECTED or more),
    not a season. Of the runs that qualify, the likeliest (Poisson CUSUM: each day scores how much better "a
    tenth of the expected rate" than "the expected rate" explains its orders, r * 0.9 + count * ln 0.1), so a day
    of normal trade, which scores about -1.4 r, is not taken in: the run starts where the orders stopped."""
    counts = per_day.reindex(pd.date_range(start, cutoff, freq="D"), fill_value=0).to_numpy(dtype=float)
    n = len(counts)
    if n < 2 * OUTAGE_MIN_DAYS:
        return None
    csum = np.concatenate([[0.0], np.cumsum(counts)])
    first = np.arange(OUTAGE_MIN_DAYS, n - OUTAGE_MIN_DAYS + 1)  # index of the run's first day
    rate_from = np.maximum(first - OUTAGE_RATE_DAYS, 0)
    expected = (csum[first] - csum[rate_from]) / (first - rate_from) * (n - first)
    held = csum[n] - csum[first]
    ok = (expected >= SILENT_RUN_EXPECTED) & (held <= OUTAGE_NEAR_ZERO_SHARE * expected)
    if not ok.any():
        return None
    llr = expected * (1 - OUTAGE_NEAR_ZERO_SHARE) + held * np.log(OUTAGE_NEAR_ZERO_SHARE)
    best = int(np.argmax(np.where(ok, llr, -np.inf)))
    day = start + pd.Timedelta(days=int(first[best]))
    if _season_closed(per_day, day, cutoff, float(expected[best]), start=start, cutoff=cutoff):
        return None
    return Outage(first=day, last=cutoff, expected=float(expected[best]), orders=float(held[best]), at_cutoff=True)


def outages(facts: pd.DataFrame, *, start: pd.Timestamp, cutoff: pd.Timestamp) -> tuple[Outage, ...]:
    """The outages of the facts' days in [start, cutoff] (see OUTAGE_MIN_DAYS) - the last one possibly still
    running at the cutoff (see OUTAGE_NEAR_ZERO_SHARE); orders are the facts' distinct order_ids per day."""
    span = facts[(facts["day"] >= start) & (facts["day"] <= cutoff)]
    if span.empty:
        return ()
    per_day = span.groupby("day")["order_id"].nunique() if "order_id" in span else span.groupby("day").size()
    days = per_day.index
    found = []
    for k in np.flatnonzero(np.diff(days.values) > np.timedelta64(OUTAGE_MIN_DAYS, "D")):
        first, last = days[k] + pd.Timedelta(days=1), days[k + 1] - pd.Timedelta(days=1)
        rate_from = max(start, first - pd.Timedelta(days=OUTAGE_RATE_DAYS))
        if (first - rate_from).days < OUTAGE_MIN_DAYS:
            continue  # too little before it to know the rate
        expected = per_day[(days >= rate_from) & (days < first)].sum() / (first - rate_from).days * (
            (last - first).days + 1)
        if _season_closed(per_day, first, last, expected, start=start, cutoff=cutoff):
            continue  # (nearly) closed the same days a year earlier or later: a season
        if expected >= SILENT_RUN_EXPECTED:
            found.append(Outage(first=first, last=last, expected=float(expected)))
    running = _outage_at_cutoff(per_day, start=start, cutoff=cutoff)
    if running is not None:
        # The run's silent stretch before a straggler at the cutoff is part of it, not an outage of its own.
        found = [o for o in found if o.last < running.first] + [running]
    return tuple(found)


def outage_days_before(days: pd.Series, outs: tuple[Outage, ...]) -> np.ndarray:
    """Per day, how many days of the outages fall before it (to leave them out of the customers' time)."""
    d = pd.DatetimeIndex(days)
    shift = np.zeros(len(d), dtype=np.int64)
    for o in outs:
        shift += np.clip((d - o.first).days.to_numpy(), 0, o.days)
    return shift


def panel_from_facts(
    facts: pd.DataFrame,
    *,
    measure: str,
    freq: str,
    cutoff: pd.Timestamp,
    start: pd.Timestamp | None = None,
    keys: list[str] | None = None,
) -> Panel:
    """Bin the facts up to the cutoff (inclusive) into a Panel; `start` (default: the first fact after the last
    silence of SILENCE_DAYS or more, see `history_start`) bounds the first bin. Keys without facts get zero
    series. The panel carries the history's outages (`outages`)."""
    if measure not in MEASURES:
        raise SeriesError(f"unknown measure '{measure}': one of {', '.join(MEASURES)}")
    if freq not in FREQS:
        raise SeriesError(f"unknown frequency '{freq}': day or week")
    p = FREQS[freq]
    cutoff = pd.Timestamp(cutoff).normalize()
    past = facts[facts["day"] <= cutoff]
    if start is None:
        if not len(past):
            raise SeriesError(f"no orders on or before {cutoff.date()}")
        start = history_start(past["day"])
    first = int(bin_number(pd.Series([start]), cutoff=cutoff, period_days=p)[0])
    past = past[past["day"] >= start]
    n = -first + 1
    key_list = sorted(past["key"].unique().tolist()) if keys is None else list(keys)
    index = {k: i for i, k in enumerate(key_list)}
    values = np.zeros((len(key_list), n))
    if len(past):
        b = bin_number(past["day"], cutoff=cutoff, period_days=p) - first
        rows = past["key"].map(index)
        ok = rows.notna().to_numpy()
        np.add.at(values, (rows[ok].astype(int).to_numpy(), b[ok]), past[measure].to_numpy(dtype=float)[ok])
    ends = pd.DatetimeIndex([cutoff - pd.Timedelta(days=p * (n - 1 - j)) for j in range(n)])
    return Panel(tuple(key_list), values, ends, freq, measure, outages(past, start=start, cutoff=cutoff))


def future_actuals(facts: pd.DataFrame, *, panel: Panel, h: int) -> np.ndarray:
    """What really happened in the h bins after the panel's last bin (keys x h); zero where nothing did."""
    cutoff = panel.ends[-1]
    p = panel.period_days
    future = facts[(facts["day"] > cutoff) & (facts["day"] <= cutoff + pd.Timedelta(days=p * h))]
    out = np.zeros((len(panel.keys), h))
    index = {k: i for i, k in enumerate(panel.keys)}
    rows = future["key"].map(index)
    ok = rows.notna().to_numpy()
    b = bin_number(future["day"], cutoff=cutoff, period_days=p) - 1
    np.add.at(out, (rows[ok].astype(int).to_numpy(), b[ok]), future[panel.measure].to_numpy(dtype=float)[ok])
    return out


def future_ends(panel: Panel, h: int) -> pd.DatetimeIndex:
    """End days of the h bins after the panel."""
    last = panel.ends[-1]
    return pd.DatetimeIndex([last + pd.Timedelta(days=panel.period_days * (j + 1)) for j in range(h)])
