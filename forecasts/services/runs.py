"""`forecast_run_create`: forecast every level, measure and frequency of a shop and store the champions'."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.jobs import job_create, job_finish, job_progress, job_running
from accounts.models import Job, Shop

from ..ml.models import BASELINES, Forecast
from ..ml.reconcile import closed_weekdays_zeroed, days_to_weeks, reconcile_to_total
from ..ml.selection import DEFAULT_MODELS, LEVEL_MODELS, forecast_champion
from ..ml.series import LEVELS, MEASURES, SHOP_KEY, SeriesError, future_ends, panel_from_facts
from ..models import ForecastRun, ForecastValue
from ..selectors import ForecastError, customer_country_map, facts_for_levels_frame, last_order_at, orders_dated_only
from .alerts import COMPLETE_DAY_HOUR
from .common import (
    LEVEL_NEEDS,
    NO_REVENUE,
    SEASON_UNSEEN,
    bins_for,
    main_country,
    num,
    outage_notes,
    season_note,
)

FREQS = ("week", "day")
# AutoARIMA costs seconds per long series: the shop level has it, the many series below make do without.
MIN_BINS = 3
# The history stored with a run for the page's chart.
HISTORY_BINS = {"week": 52, "day": 120}
# Without a horizon asked for, the forecast covers the shop's (the dashboard's "next 90 days"), up to a year: a
# horizon of years (the setting allows ten) would make the nightly run of every shop outlast its time limit.
DEFAULT_HORIZON_MAX_DAYS = 365


def forecast_run_create(
    *,
    shop: Shop,
    horizon_days: int | None = None,
    levels: tuple[str, ...] = LEVELS,
    measures: tuple[str, ...] = MEASURES,
    freqs: tuple[str, ...] = FREQS,
    models: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ForecastRun:
    """Forecast from all the shop's orders (the cutoff is the last order's day, or the day before it when its last
    order was placed before 23:00 UTC: a day still running) and store each series' champion
    forecast with 80/95 % bands; countries and categories are reconciled to the shop (forecasts.ml.reconcile).
    A series forecast both per week and per day tells one total: each week of its days is scaled to its weekly
    forecast, a last, partial week to its days' share of it (forecasts.ml.reconcile, `days_to_weeks`).
    Series too short to forecast are listed in the run's summary, not raised. ForecastError without orders.
    `models` (default: the FORECAST_MODELS setting, else all) limits the candidates of every level.
    `horizon_days` defaults to the shop's horizon (`Shop.horizon_days`), at most DEFAULT_HORIZON_MAX_DAYS."""
    horizon_days = horizon_days or min(shop.horizon_days, DEFAULT_HORIZON_MAX_DAYS)
    allowed = set(models or getattr(settings, "FORECAST_MODELS", None) or DEFAULT_MODELS)
    facts_by_level = facts_for_levels_frame(shop_id=shop.pk, levels=list(levels))
    shop_facts = facts_by_level[SHOP_KEY]
    cutoff = shop_facts["day"].max()
    last = last_order_at(shop_id=shop.pk)
    last = last.astimezone(dt.UTC) if last is not None else None
    if (last is not None and last.date() == cutoff.date() and last.hour < COMPLETE_DAY_HOUR
            and (shop_facts["day"] < cutoff).any()
            and (cutoff.date() >= timezone.now().date() or not orders_dated_only(shop_id=shop.pk))):
        # The last order's day ends before 23:00 UTC: a file exported during it (its few hours read as a dip in
        # every series' last bin); the forecast starts with that day instead. Not where orders carry dates without
        # times (every one at midnight) and the day is over: the last day was left out of every such file's forecast.
        cutoff -= pd.Timedelta(days=1)
    country = main_country(customer_country_map(shop_id=shop.pk))
    run = ForecastRun.objects.create(shop=shop, cutoff=cutoff.date(), horizon_days=horizon_days)
    # A row on the Jobs page, as imports, training and scoring have: the nightly run, the worker's after a
    # first import and the command's alike (a browser review found forecasts missing there).
    job = job_create(shop=shop, kind=Job.Kind.FORECAST, message="forecasting orders and revenue",
                     params={"forecast_run": run.pk, "cutoff": run.cutoff.isoformat(), "horizon_days": horizon_days})

    def say(message: str) -> None:  # the caller's progress, and the job's message
        if progress is not None:
            progress(message)
        job_progress(job_id=job.pk, message=message)

    with job_running(job.pk):
        summary: dict = {"levels": {}, "skipped": [], "notes": []}
        old = (timezone.now().date() - cutoff.date()).days
        if old > settings.STALE_DATA_DAYS:
            summary["notes"].append(f"the data ends on {cutoff.date()}, {old} days before today: the forecast starts "
                                    f"there, so its first {old} days are past already; import the newer orders")
        rows: list[ForecastValue] = []
        for measure in measures:
            if measure == "revenue" and not (shop_facts["revenue"] > 0).any():
                summary["skipped"].append(f"revenue: {NO_REVENUE}")
                continue
            shop_total: dict[str, np.ndarray] = {}
            for level in (SHOP_KEY, *[lv for lv in levels if lv != SHOP_KEY]):
                facts = facts_by_level.get(level)
                if facts is None or facts.empty:
                    why = f"{level}: no data for this level (it needs {LEVEL_NEEDS.get(level, 'data of its own')})"
                    if why not in summary["skipped"]:
                        summary["skipped"].append(why)
                    continue
                made = {}
                for freq in freqs:
                    h = bins_for(horizon_days, freq)
                    try:
                        panel = panel_from_facts(facts, measure=measure, freq=freq, cutoff=cutoff)
                    except SeriesError as error:
                        summary["skipped"].append(f"{level} {measure} per {freq}: {error}")
                        continue
                    if panel.values.shape[1] < MIN_BINS:
                        summary["skipped"].append(f"{level} {measure} per {freq}: only {panel.values.shape[1]} "
                                                  f"{freq}(s) of history, {MIN_BINS} needed")
                        continue
                    say(f"{level} {measure} per {freq}: {len(panel.keys)} series")
                    if level == SHOP_KEY:  # an outage of the shop is one of every level: said once per frequency
                        summary["notes"].extend(n for n in outage_notes(panel) if n not in summary["notes"])
                    result = forecast_champion(panel=panel, facts=facts, shop_facts=shop_facts, h=h,
                                               models=tuple(m for m in LEVEL_MODELS[level] if m in allowed) or
                                               ("naive",), country=country)
                    # Said once a run, of the first of the shop's series (the others' validation windows are the same).
                    season = season_note(panel, result.selection, h=h) if level == SHOP_KEY else None
                    if season and not any(SEASON_UNSEEN in n for n in summary["notes"]):
                        summary["notes"].append(f"{measure} per {freq}: {season}")
                    champion = result.champion
                    if freq == "day":  # nothing on the weekdays a series is closed (business days only)
                        champion = closed_weekdays_zeroed(champion, panel.values, history_end=panel.ends[-1])
                    if level != SHOP_KEY and freq in shop_total and (level == "country" or measure != "orders"):
                        share = 1.0
                        if level != "country":
                            shop_hist = panel_from_facts(shop_facts, measure=measure, freq=freq, cutoff=cutoff)
                            share = min(1.0, float(panel.values.sum() / max(shop_hist.values.sum(), 1e-9)))
                        champion = reconcile_to_total(champion, shop_total[freq], share=share)
                    made[freq] = (panel, result, champion)
                scaled_to = None
                if "week" in made and "day" in made:
                    (week_panel, week_result, weeks), (day_panel, day_result, days) = made["week"], made["day"]
                    made["day"] = (day_panel, day_result, days_to_weeks(
                        days, _aligned(weeks, week_panel.keys, day_panel.keys), history=day_panel.values))
                    scaled_to = week_result.selection.champion
                for freq, (panel, result, champion) in made.items():
                    if level == SHOP_KEY:
                        shop_total[freq] = champion.mean
                    rows.extend(_values(run, level, measure, freq, panel.keys,
                                        future_ends(panel, bins_for(horizon_days, freq)),
                                        result.selection.champion, champion))
                    rows.extend(_history(run, level, measure, freq, panel, HISTORY_BINS[freq]))
                    v = result.selection.validation.get(result.selection.champion)
                    entry = {
                        "champion": result.selection.champion,
                        "series": len(panel.keys),
                        "validation_wape_pct": None if v is None else num(v.wape_pct, 1),
                        "validation_origins": [o.date().isoformat() for o in result.selection.origins],
                        "validation_mase": {m: num(x.mase) for m, x in result.selection.validation.items()},
                        "best_baseline_mase": num(min((x.mase for m, x in result.selection.validation.items()
                                                       if m in BASELINES), default=float("nan"))),
                    }
                    if freq == "day" and scaled_to:
                        entry["scaled_to_weeks"] = scaled_to
                    summary["levels"].setdefault(level, {}).setdefault(measure, {})[freq] = entry
        with transaction.atomic():
            ForecastValue.objects.bulk_create(rows, batch_size=5000)
            run.status = ForecastRun.Status.DONE
            run.summary = summary
            run.save(update_fields=["status", "summary"])
    series = sum(entry["series"] for measures_ in summary["levels"].values() for freqs_ in measures_.values()
                 for entry in freqs_.values())
    job_finish(job_id=job.pk, result={"forecast_run": run.pk, "series": series, "skipped": len(summary["skipped"])},
               message=f"{series:,} series forecast for the {horizon_days} days after {run.cutoff:%d %b %Y}"
                       + (f"; {len(summary['skipped'])} left out (the Forecast page says why)"
                          if summary["skipped"] else ""))
    return run


def _aligned(weeks: Forecast, week_keys, day_keys) -> Forecast:
    """The weekly points in the daily panel's key order; NaN for a key only the days have (left as forecast)."""
    index = {key: i for i, key in enumerate(week_keys)}
    out = np.full((len(day_keys), weeks.mean.shape[1]), np.nan)
    for i, key in enumerate(day_keys):
        if key in index:
            out[i] = weeks.mean[index[key]]
    return Forecast(mean=out)


def _values(run, level, measure, freq, keys, ends: pd.DatetimeIndex, model: str, f) -> list[ForecastValue]:
    out = []
    for i, key in enumerate(keys):
        for j, end in enumerate(ends):
            def at(a, i=i, j=j):
                return None if a is None else float(a[i, j])

            out.append(ForecastValue(run=run, level=level, key=str(key)[:200], measure=measure, freq=freq,
                                     date=end.date(), model=model, point=float(f.mean[i, j]), lo80=at(f.lo80),
                                     hi80=at(f.hi80), lo95=at(f.lo95), hi95=at(f.hi95)))
    return out


def _history(run, level, measure, freq, panel, bins: int) -> list[ForecastValue]:
    values, ends = panel.values[:, -bins:], panel.ends[-bins:]
    return [ForecastValue(run=run, level=level, key=str(key)[:200], measure=measure, freq=freq, date=end.date(),
                          model="actual", point=float(values[i, j]), is_actual=True)
            for i, key in enumerate(panel.keys) for j, end in enumerate(ends)]


def forecast_run_fail(*, run: ForecastRun, message: str) -> None:
    """Mark a run failed with its reason."""
    run.status = ForecastRun.Status.FAILED
    run.message = message
    run.save(update_fields=["status", "message"])


__all__ = ["ForecastError", "forecast_run_create", "forecast_run_fail"]
