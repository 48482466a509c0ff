"""Reads for forecasts: the shop's orders as facts for `forecasts.ml`, and stored forecasts for pages and API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from django.db import connection
from django.db.models import Case, Max, Value, When
from django.utils import timezone

from behavior.ingest.values import country_canonical
from behavior.models import Customer, Order
from catalog.models import Category, Product
from ecomsight.db import epoch_sql, read_frame
from ecomsight.errors import UserError
from predictions.selectors.frames import shop_frames

from .ml.series import SHOP_KEY, SeriesError, facts_frame
from .models import Alert, CustomerFlag, ForecastRun, ForecastValue, MonitorMute


class ForecastError(UserError):
    code = "forecast"


def shop_orders_frames(*, shop_id: int, until: datetime | None = None):
    """Orders and order lines of a shop (predictions' frames, events left out), guest checkouts' included."""
    return shop_frames(shop_id=shop_id, until=until, include_events=False, guests=True)


def order_status_moments_frame(*, shop_id: int) -> pd.DataFrame:
    """order_id, status_changed_at of the shop's refunded and cancelled orders whose status change has a moment (one
    bulk read): the refund and cancellation monitors count them on that day (forecasts.ml.anomalies)."""
    return read_frame(
        f"SELECT id, {epoch_sql('status_changed_at')} FROM behavior_order WHERE shop_id = %s"
        " AND status IN ('refunded', 'cancelled') AND status_changed_at IS NOT NULL",
        [shop_id], columns=["order_id", "status_changed_at"], epoch_columns=["status_changed_at"],
        dtypes={"order_id": "int64"})


def last_order_at(*, shop_id: int) -> datetime | None:
    """When the shop's latest order was placed (one probe of the shop-and-time index)."""
    return Order.objects.filter(shop_id=shop_id).aggregate(last=Max("placed_at"))["last"]


def orders_dated_only(*, shop_id: int, latest: int = 100) -> bool:
    """Whether the shop's `latest` orders all carry a date without a time (midnight UTC): an export of dates, whose
    last day is as complete as any other (not a day still running, as a last order before 23:00 otherwise says)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) > 0 AND bool_and((placed_at AT TIME ZONE 'UTC')::time = '00:00') FROM ("
                       " SELECT placed_at FROM behavior_order WHERE shop_id = %s ORDER BY placed_at DESC LIMIT %s) o",
                       [shop_id, latest])
        return bool(cursor.fetchone()[0])


def customer_country_map(*, shop_id: int) -> pd.Series:
    """customer id -> country (blank where unknown)."""
    rows = Customer.objects.filter(shop_id=shop_id).values_list("id", "country")
    return pd.Series(dict(rows), dtype="object")


def category_name_map(*, shop_id: int) -> dict[float, str]:
    """category id -> its path ("Home > Kitchen"), the key a category's series goes by."""
    return {float(pk): path for pk, path in Category.objects.filter(shop_id=shop_id).values_list("id", "path")}


def product_key_map(*, shop_id: int) -> dict[float, str]:
    """product id -> the shop's own product id, the key a product's series goes by."""
    return {float(pk): external for pk, external in
            Product.objects.filter(shop_id=shop_id).values_list("id", "external_id")}


def facts_for_levels_frame(*, shop_id: int, levels: list[str], until: datetime | None = None
                           ) -> dict[str, pd.DataFrame]:
    """Facts (forecasts.ml.series) per level; levels a shop cannot have (no lines: no categories) are left out.
    Always holds "shop". A ForecastError when the shop has no orders at all."""
    frames = shop_orders_frames(shop_id=shop_id, until=until)
    if frames.orders.empty:
        raise ForecastError("this shop has no orders yet: import some (import_data orders FILE) first")
    out = {SHOP_KEY: facts_frame(orders=frames.orders, level=SHOP_KEY, order_lines=frames.order_lines)}
    for level in levels:
        if level == SHOP_KEY:
            continue
        try:
            out[level] = facts_frame(
                orders=frames.orders, level=level, order_lines=frames.order_lines,
                customer_country=customer_country_map(shop_id=shop_id) if level == "country" else None,
                category_names=category_name_map(shop_id=shop_id) if level == "category" else None,
                product_names=product_key_map(shop_id=shop_id) if level == "product" else None,
            )
        except SeriesError:
            continue
    return out


def forecast_run_latest(*, shop_id: int) -> ForecastRun | None:
    """The shop's latest finished forecast run."""
    return ForecastRun.objects.filter(shop_id=shop_id, status=ForecastRun.Status.DONE).order_by("-created_at").first()


def forecast_run_in_progress(*, shop_id: int) -> ForecastRun | None:
    """The shop's forecast run being computed now: started within the forecast task's time limit and not
    finished (a run whose process died stays "running" and is ignored once that limit has passed)."""
    from .tasks import FORECAST_SOFT_LIMIT

    since = timezone.now() - timedelta(seconds=FORECAST_SOFT_LIMIT + 300)
    return (ForecastRun.objects.filter(shop_id=shop_id, status=ForecastRun.Status.RUNNING, created_at__gte=since)
            .order_by("-created_at").first())


def forecast_value_list(*, run: ForecastRun, level: str, measure: str, freq: str = "week",
                        key: str | None = None) -> list[ForecastValue]:
    """The stored forecast of one level and measure (one series when `key` is given), in key and date order."""
    qs = ForecastValue.objects.filter(run=run, level=level, measure=measure, freq=freq, is_actual=False)
    if key is not None:
        qs = qs.filter(key=key)
    return list(qs.order_by("key", "date"))


def forecast_keys(*, run: ForecastRun, level: str, measure: str, freq: str = "week") -> list[str]:
    return list(ForecastValue.objects.filter(run=run, level=level, measure=measure, freq=freq, is_actual=False)
                .values_list("key", flat=True).distinct().order_by("key"))


def forecast_key_find(*, keys: list[str], wanted: str, level: str) -> str | None:
    """The key of `keys` (a level's series) that `wanted` names: itself, else the one key equal to it in any case
    ("de" is DE, as the at-risk list's country filter reads it), a country also by its name or three-letter code
    ("Germany", "DEU": behavior.ingest.values.country_canonical). None when no key, or several keys that differ
    only in case, match: the page says so and the API refuses it (a new user's `key=de` was an empty series)."""
    if wanted in keys:
        return wanted
    if level == "country":
        code = country_canonical(wanted)
        if code in keys:
            return code
    folded = wanted.strip().casefold()
    matches = [k for k in keys if k.casefold() == folded]
    return matches[0] if len(matches) == 1 else None


def forecast_key_at_other_level(*, run: ForecastRun, level: str, key: str) -> bool:
    """Whether `key` is a series of another level of the run (the page's form carries the key of the level it
    showed when the level is changed: a country's code to the category level)."""
    return ForecastValue.objects.filter(run=run, is_actual=False, key=key).exclude(level=level).exists()


@dataclass(frozen=True)
class SeriesChoice:
    """One series of the Forecast page's picker: its key (the URL's `key`) and what a person reads."""

    key: str
    label: str


def forecast_key_choices(*, shop_id: int, keys: list[str], level: str) -> list[SeriesChoice]:
    """The series of a level as the page offers them, in name order: products by title with their id ("Linen shirt
    (P0000141)"), countries by name ("Germany"), categories by path. One query for the products' titles."""
    from .alert_words import segment_words

    if level == "product":
        titles = dict(Product.objects.filter(shop_id=shop_id, external_id__in=keys)
                      .values_list("external_id", "title"))
        choices = [SeriesChoice(key=k, label=f"{titles[k]} ({k})" if titles.get(k) else k) for k in keys]
    elif level == "country":
        choices = [SeriesChoice(key=k, label=segment_words(f"country:{k}")) for k in keys]
    else:
        choices = [SeriesChoice(key=k, label=k) for k in keys]
    return sorted(choices, key=lambda c: c.label.casefold())


def history_series_frame(*, run: ForecastRun, level: str, measure: str, freq: str, key: str) -> pd.DataFrame:
    """The recent history of one series stored with the run (date, value), for the page's chart."""
    rows = ForecastValue.objects.filter(run=run, level=level, measure=measure, freq=freq, key=key, is_actual=True) \
        .order_by("date").values_list("date", "point")
    return pd.DataFrame(list(rows), columns=["date", "value"])


def forecast_series_list(*, run: ForecastRun, level: str, measure: str, freq: str = "week",
                         key: str | None = None) -> list[dict]:
    """Stored values grouped per series: [{"key", "model", "values": [{"date", "point", "lo80", ...}]}]."""
    out: list[dict] = []
    for v in forecast_value_list(run=run, level=level, measure=measure, freq=freq, key=key):
        if not out or out[-1]["key"] != v.key:
            out.append({"key": v.key, "model": v.model, "values": []})
        out[-1]["values"].append({"date": v.date.isoformat(), "point": round(v.point, 3),
                                  **{b: (None if getattr(v, b) is None else round(getattr(v, b), 3))
                                     for b in ("lo80", "hi80", "lo95", "hi95")}})
    return out


def flagged_customer_ids(shop_id: int) -> set[int]:
    """Ids of the shop's flagged customers (left out of segment exports by default)."""
    return set(CustomerFlag.objects.filter(shop_id=shop_id).values_list("customer_id", flat=True))


FLAG_LABELS = {CustomerFlag.Kind.REFUND_ABUSE: "Refund abuse", CustomerFlag.Kind.BOT_SESSIONS: "Bot-like sessions"}


def customer_flag_reasons(shop_id: int, customer_id: int) -> list[str]:
    """Why the customer is flagged, one sentence per flag ("Refund abuse: refunded 4 of 5 orders …"); [] if not."""
    return [f"{FLAG_LABELS.get(kind, kind)}: {reason}" for kind, reason in
            CustomerFlag.objects.filter(shop_id=shop_id, customer_id=customer_id).values_list("kind", "reason")]


@dataclass(frozen=True)
class AlertRow:
    """An alert as the Alerts page lists it: `muted` when its monitor (or its metric everywhere) is muted."""

    alert: Alert
    muted: bool


def alert_row_list(*, shop_id: int, limit: int = 200) -> list[AlertRow]:
    """Open alerts first, then acknowledged ones, then withdrawn ones, newest first within each (by their first
    day, then the latest stored), each with whether its monitor is muted."""
    muted = set(MonitorMute.objects.filter(shop_id=shop_id).values_list("metric", "segment"))
    rank = Case(When(status=Alert.Status.OPEN, then=Value(0)), When(status=Alert.Status.ACKNOWLEDGED, then=Value(1)),
                default=Value(2))
    alerts = Alert.objects.filter(shop_id=shop_id).order_by(rank, "-start", "-pk")[:limit]
    return [AlertRow(alert=a, muted=(a.metric, a.segment) in muted or (a.metric, "") in muted) for a in alerts]
