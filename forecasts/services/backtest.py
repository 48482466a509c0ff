"""`forecast_backtest`: train on a shop's data up to a cutoff, score every model on what happened after it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd

from accounts.models import Shop

from ..ml.selection import DEFAULT_MODELS, LEVEL_MODELS, backtest
from ..ml.series import FREQS, LEVELS, MEASURES, SHOP_KEY, SILENCE_DAYS, SeriesError, history_start, panel_from_facts
from ..selectors import ForecastError, customer_country_map, facts_for_levels_frame
from .common import (
    LEVEL_NEEDS,
    NO_REVENUE,
    bins_for,
    close_call_note,
    main_country,
    num,
    outage_notes,
    season_note,
)


def forecast_backtest(
    *,
    shop: Shop,
    measure: str,
    freq: str,
    cutoff: date,
    horizon_days: int,
    level: str = SHOP_KEY,
    models: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """The backtest report: champion chosen on validation windows before the cutoff, and every model's MAE, MASE,
    error of the total (%) and 80 % interval coverage on the `horizon_days` after it. `models` (default: the
    level's candidates in `forecast`, LEVEL_MODELS; the others are listed in "skipped"). ForecastError (a clear
    message) when the data cannot support it."""
    say = progress or (lambda _m: None)
    if measure not in MEASURES:
        raise ForecastError(f"unknown measure '{measure}': one of {', '.join(MEASURES)}")
    if freq not in FREQS:
        raise ForecastError(f"unknown frequency '{freq}': day or week")
    if level not in LEVELS:
        raise ForecastError(f"unknown level '{level}': one of {', '.join(LEVELS)}")
    facts_by_level = facts_for_levels_frame(shop_id=shop.pk, levels=[level])
    if level not in facts_by_level:
        raise ForecastError(f"the {level} level needs {LEVEL_NEEDS[level]}; this shop has none")
    facts, shop_facts = facts_by_level[level], facts_by_level[SHOP_KEY]
    if measure == "revenue" and not (shop_facts["revenue"] > 0).any():
        raise ForecastError(NO_REVENUE)
    cut = pd.Timestamp(cutoff)
    last_day = shop_facts["day"].max()
    period = FREQS[freq]
    covered = int((last_day - cut).days // period)
    if covered < 1:
        raise ForecastError(f"no complete {freq} of orders after the cutoff {cutoff} to test on "
                            f"(the data ends on {last_day.date()})")
    asked = bins_for(horizon_days, freq)
    h = min(asked, covered)
    notes = []
    if h < asked:
        notes.append(f"the data after the cutoff covers {h} whole {freq}(s) of the {asked} asked for: only those "
                     "are tested")
    if freq == "week" and horizon_days % 7:
        notes.append(f"a horizon of {horizon_days} days is tested as {asked} whole week(s)")
    try:
        panel = panel_from_facts(facts, measure=measure, freq=freq, cutoff=cut)
    except SeriesError as error:
        raise ForecastError(str(error)) from None
    if panel.values.shape[1] < 3:
        raise ForecastError(f"only {panel.values.shape[1]} {freq}(s) of orders up to {cutoff}: "
                            "a backtest needs at least 3")
    past_days = facts.loc[facts["day"] <= cut, "day"]  # as panel_from_facts reads them
    start = history_start(past_days)
    if len(past_days) and start > past_days.min():
        notes.append(f"the history starts on {start.date()}, after {SILENCE_DAYS} days or more without an order: "
                     f"the {past_days.min().date()}–{past_days[past_days < start].max().date()} part is left out "
                     "(a shop is forecast from its latest season)")
    notes.extend(outage_notes(panel))
    say(f"backtest: {len(panel.keys)} series, {panel.values.shape[1]} {freq}s of history, {h} to forecast")
    candidates = LEVEL_MODELS[level] if models is None else models
    result = backtest(panel=panel, facts_all=facts, shop_facts=shop_facts, h=h, models=candidates,
                      country=main_country(customer_country_map(shop_id=shop.pk)))
    left_out = {name: f"not a candidate at the {level} level (forecast does not run it on many series)"
                for name in DEFAULT_MODELS if models is None and name not in candidates}
    if not result.selection.origins:
        clear = " clear of the outage" if panel.outages else ""
        notes.append(f"too little history before the cutoff for a validation window{clear}: {result.champion} is "
                     "the default choice, not one validation made")
    season = season_note(panel, result.selection, h=h)
    if season:
        notes.append(season)
    close = close_call_note(result.selection)
    if close:
        notes.append(close)
    for note in notes:
        say(f"note: {note}")
    return {
        "measure": measure,
        "freq": freq,
        "cutoff": cutoff.isoformat(),
        "horizon_days": horizon_days,
        "champion": result.champion,
        "models": {name: {"mae": num(m.mae), "mase": num(m.mase), "total_error_pct": num(m.total_error_pct, 2),
                          "coverage_80": num(m.coverage_80, 3)} for name, m in result.test.items()},
        "level": level,
        "series": result.series,
        "bins_tested": h,
        "actual_total": num(result.actual_total, 2),
        "validation_origins": [o.date().isoformat() for o in result.selection.origins],
        "validation_mase": {name: num(m.mase) for name, m in result.selection.validation.items()},
        "skipped": {**left_out, **result.selection.skipped},
        "notes": notes,
    }
