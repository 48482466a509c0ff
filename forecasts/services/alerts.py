"""Anomaly detection for a shop, its alerts (grouped runs of anomalous days), acknowledging, muting and email."""

from __future__ import annotations

from datetime import date

import pandas as pd
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Shop
from behavior.models import Event
from ecomsight.db import epoch_sql, read_frame

from ..ml.anomalies import Anomaly, DetectorConfig, daily_metrics_frame, detect
from ..models import Alert, ForecastValue, MonitorMute
from ..selectors import ForecastError, category_name_map, customer_country_map, forecast_run_latest, shop_orders_frames
from .common import num

# The latest forecast's bands replace the baseline on the days they cover, for these (measure -> metric).
FORECAST_METRICS = {"orders": "orders", "revenue": "revenue"}


def _events_frame(*, shop_id: int, since: pd.Timestamp) -> pd.DataFrame:
    """Event types and times since `since` (one bulk read; the detector needs no more)."""
    return read_frame(
        f"SELECT type, {epoch_sql('occurred_at')} FROM behavior_event WHERE shop_id = %s AND occurred_at >= %s",
        [shop_id, connection.ops.adapt_datetimefield_value(since.tz_localize("UTC").to_pydatetime())],
        columns=["type", "occurred_at"], epoch_columns=["occurred_at"], dtypes={"type": "str"},
    )


def _forecast_bands(*, shop_id: int) -> pd.DataFrame | None:
    run = forecast_run_latest(shop_id=shop_id)
    if run is None:
        return None
    rows = ForecastValue.objects.filter(run=run, freq="day", level__in=["shop", "country"],
                                        measure__in=list(FORECAST_METRICS), lo95__isnull=False) \
        .values_list("measure", "level", "key", "date", "point", "lo95", "hi95")
    frame = pd.DataFrame(list(rows), columns=["measure", "level", "key", "day", "expected", "lo", "hi"])
    if frame.empty:
        return None
    frame["metric"] = frame["measure"].map(FORECAST_METRICS)
    frame["segment"] = frame.apply(lambda r: "shop" if r["level"] == "shop" else f"country:{r['key']}", axis=1)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame[["metric", "segment", "day", "expected", "lo", "hi"]]


def anomalies_detect(*, shop: Shop, start: date | None = None, end: date | None = None) -> list[Anomaly]:
    """Alerts of every monitor of the shop between `start` and `end` (default: the last 7 days of data), read in
    bulk; muted monitors are left out. ForecastError without orders."""
    frames = shop_orders_frames(shop_id=shop.pk)
    if frames.orders.empty:
        raise ForecastError("this shop has no orders yet: import some (import_data orders FILE) first")
    last = pd.to_datetime(frames.orders["placed_at"], utc=True).dt.tz_convert(None).dt.normalize().max()
    end_ts = pd.Timestamp(end) if end else last
    start_ts = pd.Timestamp(start) if start else end_ts - pd.Timedelta(days=6)
    if start_ts > end_ts:
        raise ForecastError(f"--from {start_ts.date()} is after --to {end_ts.date()}")
    # The baseline looks back 8 weeks at most: events (the biggest table) are read from a little before that only.
    since = start_ts - pd.Timedelta(days=7 * DetectorConfig().season_weeks + 14)
    events = _events_frame(shop_id=shop.pk, since=since) if Event.objects.filter(shop_id=shop.pk).exists() else None
    metrics = daily_metrics_frame(orders=frames.orders, events=events, order_lines=frames.order_lines,
                                  customer_country=customer_country_map(shop_id=shop.pk),
                                  category_names=category_name_map(shop_id=shop.pk))
    metrics = metrics[metrics["day"] <= end_ts]
    muted = set(MonitorMute.objects.filter(shop=shop).values_list("metric", "segment"))
    return detect(metrics, start=start_ts, end=end_ts, bands=_forecast_bands(shop_id=shop.pk), muted=muted)


def anomaly_dict(a: Anomaly) -> dict:
    """The JSON shape of detect_anomalies (plus the alert's last day and its group)."""
    return {"metric": a.metric, "segment": a.segment, "date": a.date.date().isoformat(), "direction": a.direction,
            "expected": num(a.expected, 3), "actual": num(a.actual, 3), "score": num(a.score, 2),
            "end": a.end.date().isoformat(), "group": a.group}


@transaction.atomic
def alerts_save(*, shop: Shop, anomalies: list[Anomaly]) -> list[Alert]:
    """Store anomalies as alerts: a run that continues an open alert (same metric and segment, starting at most a
    day after its end) extends it instead of opening another. Returns the alerts created."""
    created = []
    for a in anomalies:
        prior = Alert.objects.filter(shop=shop, metric=a.metric, segment=a.segment, direction=a.direction,
                                     end__gte=(a.date - pd.Timedelta(days=1)).date(),
                                     start__lte=a.date.date()).first()
        if prior is not None:
            prior.end = max(prior.end, a.end.date())
            if abs(a.score) > abs(prior.score):
                prior.score = a.score
            prior.save(update_fields=["end", "score"])
            continue
        alert, was_new = Alert.objects.get_or_create(
            shop=shop, metric=a.metric, segment=a.segment, start=a.date.date(),
            defaults={"end": a.end.date(), "direction": a.direction, "expected": a.expected, "actual": a.actual,
                      "score": a.score})
        if was_new:
            created.append(alert)
    return created


def alerts_notify(*, shop: Shop, alerts: list[Alert]) -> int:
    """One email for new alerts to the shop's admins and analysts (Django's email backend); marks them sent."""
    if not alerts:
        return 0
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(memberships__shop=shop, memberships__role__in=["admin", "analyst"],
                                            is_active=True)
    recipients = sorted({u.email for u in users if u.email})
    if not recipients:
        return 0
    lines = [f"- {a.metric} ({a.segment}) {a.direction} from {a.start}: {a.actual:,.1f} against {a.expected:,.1f} "
             f"expected" for a in alerts]
    send_mail(subject=f"[EcomSight] {len(alerts)} new alert(s) for {shop.name}", message="\n".join(lines),
              from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None), recipient_list=recipients)
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=timezone.now())
    return len(recipients)


def anomalies_detect_and_alert(*, shop: Shop) -> list[Alert]:
    """Nightly and after imports: detect over the last 7 days, store the alerts, email the new ones."""
    created = alerts_save(shop=shop, anomalies=anomalies_detect(shop=shop))
    alerts_notify(shop=shop, alerts=created)
    return created


@transaction.atomic
def alert_acknowledge(*, shop: Shop, alert_id: int) -> Alert:
    """Mark an alert as seen."""
    alert = Alert.objects.select_for_update().get(shop=shop, pk=alert_id)
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.save(update_fields=["status"])
    return alert


@transaction.atomic
def monitor_mute(*, shop: Shop, metric: str, segment: str = "") -> MonitorMute:
    """Mute a monitor (an empty segment mutes the metric everywhere)."""
    mute, _ = MonitorMute.objects.get_or_create(shop=shop, metric=metric, segment=segment)
    return mute


@transaction.atomic
def monitor_unmute(*, shop: Shop, metric: str, segment: str = "") -> None:
    MonitorMute.objects.filter(shop=shop, metric=metric, segment=segment).delete()
