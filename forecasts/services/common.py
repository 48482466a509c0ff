"""What the forecast services share: horizons in bins, the shop's main country, JSON-safe numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..ml.selection import PREFERRED_TRAIN_BINS, Selection
from ..ml.series import FREQS, OUTAGE_FILL_BINS, OUTAGE_RATE_DAYS, Outage, Panel

NO_REVENUE = ("this shop's orders carry no totals (and its order lines no prices): there is no revenue to "
              "forecast; import orders with a total column, or forecast orders or units")


# What each level below the shop is made of (a backtest's error, a forecast run's "skipped" line).
LEVEL_NEEDS = {"country": "customers with a country (a country column in the customers import)",
               "category": "order lines of products with a category",
               "product": "order lines with products"}


def bins_for(horizon_days: int, freq: str) -> int:
    """Bins that cover `horizon_days` (a partial last week counts as a week)."""
    return max(1, math.ceil(horizon_days / FREQS[freq]))


def main_country(country_map: pd.Series) -> str | None:
    """The most common two-letter customer country (holiday features), None when there is none."""
    codes = country_map.dropna().astype(str).str.strip().str.upper()
    codes = codes[codes.str.len() == 2]
    return None if codes.empty else str(codes.mode().iloc[0])


def num(value: float | None, digits: int = 4) -> float | None:
    """A float for JSON: None for missing, NaN and infinities."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def outage_notes(panel: Panel) -> list[str]:
    """One line per outage of the panel's history (series.outages): when, and what the forecast did about it."""
    bins = f"{OUTAGE_FILL_BINS} {panel.freq}s"
    same = " (same weekdays)" if panel.freq == "day" else ""
    return [_running_note(o, panel.freq, f"{bins} before them{same}") if o.at_cutoff else
            f"the history has an outage from {o.first.date()} to {o.last.date()}: {o.days} days without an order "
            f"where the {OUTAGE_RATE_DAYS // 7} weeks before it expected about {o.expected:.0f} orders; its "
            f"{panel.freq}s are filled with the mean of the {bins} either side{same} for the models, no validation "
            "window holds them, and the customer model leaves its days out of its customers' time"
            for o in panel.outages]


SEASON_UNSEEN = "validation never saw the season the forecast crosses"


def season_note(panel: Panel, selection: Selection, *, h: int) -> str | None:
    """The note that validation never saw the season the forecast crosses, or None: where the history holds the
    horizon's h bins a year earlier but no validation window covered them (see selection.validation_origins; they
    need a year of history before them). Not for a shop younger than that (no year to compare with), nor without
    validation windows (another note says the champion is a default)."""
    year, n = PREFERRED_TRAIN_BINS[panel.freq], panel.values.shape[1]
    if selection.season_seen or not selection.origins or n < year + min(h, year):
        return None
    if n < 2 * year:
        why = f"that takes two years of history ({2 * year} {panel.freq}s), this one has {n}"
    else:
        why = "the horizon is longer than a year" if h > year else "the window a year earlier holds an outage"
    windows = ", ".join(o.date().isoformat() for o in selection.origins)
    return (f"{SEASON_UNSEEN}: its windows (after {windows}) hold none of the same {panel.freq}s a year earlier "
            f"with a year of history before them ({why}), so a yearly peak or trough ahead (Black Friday, "
            f"Christmas, a summer lull) did not weigh in choosing {selection.champion}; compare seasonal_naive, "
            "lightgbm and ensemble before trusting it across a season")


# Validation MASEs this close (relative) are a toss-up: said in the backtest's notes.
CLOSE_CALL = 0.05


def close_call_note(selection: Selection) -> str | None:
    """The note that validation could hardly tell the champion from the runner-up (mean validation MASE within
    CLOSE_CALL of it), or None. An outside analyst's B2B shop: lightgbm chosen at 0.896 against croston's 0.928 on
    one window, then croston half its error on the test weeks, with nothing saying the choice was thin."""
    chosen = selection.validation.get(selection.champion)
    if chosen is None or not selection.origins or not np.isfinite(chosen.mase):
        return None
    best, champion = chosen.mase, selection.champion
    # A model whose validation figure is the champion's own, its forecast the same (Croston and ADIDA on a steady
    # series), is no choice to be thin about.
    others = sorted((m.mase, name) for name, m in selection.validation.items()
                    if name != champion and np.isfinite(m.mase) and not math.isclose(m.mase, best, rel_tol=1e-9))
    if not others or others[0][0] > best * (1 + CLOSE_CALL):
        return None
    second, runner_up = others[0]
    windows = len(selection.origins)
    return (f"validation could hardly tell {champion} (MASE {best:.3f}) from {runner_up} ({second:.3f}) on "
            f"{windows} window{'s' if windows != 1 else ''}: compare both on the test window before trusting the "
            "choice")


def _running_note(o: Outage, freq: str, neighbours: str) -> str:
    held = "no order" if not o.orders else f"only {o.orders:.0f} order{'s' if o.orders != 1 else ''}"
    return (f"the latest days look like missing data: from {o.first.date()} to {o.last.date()} ({o.days} days, up to "
            f"the end of the history) the shop has {held} where the {OUTAGE_RATE_DAYS // 7} weeks before expected "
            f"about {o.expected:.0f}; they are treated as an outage still running, not as the shop's trade (its "
            f"{freq}s are filled with the mean of the {neighbours} for the models, no validation window holds "
            "them, and the customer model leaves its days out of its customers' time), so the forecast assumes the "
            "orders resume: check that the latest orders were all imported")
