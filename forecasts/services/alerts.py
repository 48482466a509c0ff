"""Anomaly detection for a shop, its alerts (grouped runs of anomalous days), acknowledging, muting, email and
the alert webhook.

When: nightly (forecasts.tasks.nightly_forecasts) and after new data arrives — an orders or events file import
that finished, an API batch (behavior.signals.data_arrived) — debounced as re-scoring is (ecomsight.debounce):
the first arrival of a window enqueues one check ANOMALY_DEBOUNCE_SECONDS later, later arrivals of the window
add nothing. Both check the last 7 complete days of the shop's data, orders or events (a day still running is
never judged: its few hours would look like an outage) and notify only alerts not stored before."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from accounts.models import Shop
from behavior.models import Event
from ecomsight.db import epoch_sql, read_frame
from ecomsight.debounce import debounce_release, debounced_enqueue
from ecomsight.errors import UserError

from ..alert_words import alert_line, alert_withdrawn_words
from ..ml.anomalies import STATUS_METRICS, Anomaly, DetectorConfig, daily_metrics_frame, detect
from ..models import Alert, ForecastValue, MonitorMute
from ..selectors import (
    ForecastError,
    category_name_map,
    customer_country_map,
    forecast_run_latest,
    order_status_moments_frame,
    orders_dated_only,
    shop_orders_frames,
)
from .common import num
from .webhooks import alert_webhook_enqueue

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


# A day whose data ends before this hour (UTC) is taken to be still running (an export taken mid-day, or today):
# it is not judged unless asked for (`end`), since its few hours would look like an outage.
COMPLETE_DAY_HOUR = 23
# The worker's check: a shop with data in the LIVE_DAYS days before yesterday is live, and every day up to
# yesterday is judged whatever data it holds (none is an outage); an older history (a file of past years) is judged
# up to its own last complete day.
LIVE_DAYS = 7


@dataclass(frozen=True)
class AnomalyWindow:
    """The days a check judged: `start` to `end`; `judged_from` is the first day with enough history before it
    (DetectorConfig.min_history_days of data): days before it cannot be judged. `data_end`: the latest order or
    event, or a later refund or cancellation. `status_end`: where refunds and cancellations dated after `end` were
    judged too (their monitors only, from `start` to that day), else None. `monitors`: each monitor judged (metric,
    segment; muted ones are not) with the first and last day it was judged on: the days whose stored alerts the
    check answers for (alerts_reconcile)."""

    start: pd.Timestamp
    end: pd.Timestamp
    judged_from: pd.Timestamp
    data_end: pd.Timestamp
    status_end: pd.Timestamp | None = None
    monitors: dict[tuple[str, str], tuple[date, date]] = field(default_factory=dict, compare=False)
    # Each judged day's value (metric, segment, day): an alert is withdrawn only when its first day's value changed.
    values: dict[tuple[str, str, date], float] = field(default_factory=dict, compare=False)


def anomalies_detect(*, shop: Shop, start: date | None = None, end: date | None = None,
                     complete_days_only: bool = False) -> list[Anomaly]:
    """Alerts of every monitor of the shop between `start` and `end`, read in bulk; muted monitors are left out.
    The default `end` is the last complete day of the shop's data, orders *or* events (orders that stop while
    events go on are an outage to flag, not the end of the data; a last day whose data ends before
    COMPLETE_DAY_HOUR is still running and left out), `start` 6 days before it; refunds and cancellations dated
    later are judged on to their last complete day as well (AnomalyWindow.status_end). `complete_days_only` (the
    worker's check): the last day checked is yesterday (UTC) at the latest, and for a live shop (data in the
    LIVE_DAYS before yesterday) yesterday itself, with or without data. ForecastError without orders or
    events (a shop with events only has its event monitors)."""
    return anomalies_check_window(shop=shop, start=start, end=end, complete_days_only=complete_days_only)[0]


def anomalies_check_window(*, shop: Shop, start: date | None = None, end: date | None = None,
                           complete_days_only: bool = False) -> tuple[list[Anomaly], AnomalyWindow]:
    """`anomalies_detect`, with the window it judged (what the command says when it finds nothing)."""
    frames = shop_orders_frames(shop_id=shop.pk)
    if not frames.orders.empty:
        placed = pd.to_datetime(frames.orders["placed_at"], utc=True).dt.tz_convert(None)
        first, latest = placed.min().normalize(), placed.max()
    else:
        # A shop that sends its tracking events before any order: the event monitors run on their own.
        span = Event.objects.filter(shop_id=shop.pk).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
        if span["first"] is None:
            raise ForecastError("this shop has no orders or events yet: import some (import_data orders FILE) "
                                "first")
        first, latest = (pd.Timestamp(span[k]).tz_convert(None) for k in ("first", "last"))
        first = first.normalize()
    # Events (the biggest table) are read from the detector's reach before the earliest day the window can start
    # (its outage pass starts 8 weeks before the window, each day's baseline looks 8 weeks back: 16 weeks and a
    # margin), and to their end, which may lie past the last order.
    reach = pd.Timedelta(days=14 * DetectorConfig().season_weeks + 14)
    earliest = min(d for d in (pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None,
                               latest.normalize()) if d is not None) - pd.Timedelta(days=6)
    events = (_events_frame(shop_id=shop.pk, since=earliest - reach)
              if Event.objects.filter(shop_id=shop.pk).exists() else None)
    data_end = latest
    if events is not None and len(events):
        data_end = max(data_end, pd.to_datetime(events["occurred_at"], utc=True).dt.tz_convert(None).max())
    last = data_end.normalize()
    moments = order_status_moments_frame(shop_id=shop.pk)  # (refunded and cancelled orders only)
    # Refunds and cancellations dated after the orders' and events' last day (statuses updated after the orders
    # came: a re-import, the API) are judged on their days too, in addition to the window of the shop's own data:
    # their monitors' days run to the last status change (daily_metrics_frame), the other monitors' end where their
    # data does. A moment in the future (a wrong clock, a typo) has not happened yet: it counts as now.
    if len(moments):
        moments["status_changed_at"] = pd.to_datetime(moments["status_changed_at"], utc=True).clip(
            upper=pd.Timestamp(timezone.now()))
    status_end = (moments["status_changed_at"].dt.tz_convert(None).max()
                  if len(moments) and not frames.orders.empty else None)
    status_end = status_end if status_end is not None and status_end.normalize() > last else None
    yesterday = pd.Timestamp(timezone.now().date()) - pd.Timedelta(days=1)
    live = complete_days_only and data_end >= yesterday - pd.Timedelta(days=LIVE_DAYS)
    if end:
        end_ts = pd.Timestamp(end)
    elif live:
        # A shop whose data arrives as it happens: the clock says which days are complete, and a day the data
        # stopped in (at 02:00, say) is judged like the silent days after it.
        end_ts, last = yesterday, max(last, yesterday)
    else:
        # (Orders dated without times end at midnight of a day as complete as any: their last day was not judged.)
        complete = data_end.hour >= COMPLETE_DAY_HOUR or (
            data_end == latest and not frames.orders.empty and last < pd.Timestamp(timezone.now().date())
            and orders_dated_only(shop_id=shop.pk))  # (today is never complete: dates exported at noon)
        end_ts = last if complete else last - pd.Timedelta(days=1)
    # The window (7 days by default) ends with the shop's own data, as every monitor's does; refunds and
    # cancellations dated later are judged on to their last complete day in addition (judging only those days moved
    # the whole window past the orders: a refund dated 20 days after them hid a revenue spike of their last week).
    status_to = end_ts
    if status_end is not None and not end and not live:  # (that last day complete by the same rule)
        status_to = max(end_ts, status_end.normalize() - pd.Timedelta(days=int(status_end.hour < COMPLETE_DAY_HOUR)))
    if complete_days_only:
        end_ts, status_to = min(end_ts, yesterday), min(status_to, yesterday)
    start_ts = pd.Timestamp(start) if start else end_ts - pd.Timedelta(days=6)
    if start_ts > status_to:
        to = f"--to {end_ts.date()}" if end else f"the last complete day of the shop's data ({status_to.date()})"
        raise ForecastError(f"--from {start_ts.date()} is after {to}")
    data_last = max(last, status_end.normalize()) if status_end is not None else last
    if start_ts > data_last or status_to < first:
        raise ForecastError(f"the shop's data runs from {first.date()} to {data_last.date()}: {start_ts.date()} to "
                            f"{status_to.date()} holds none of it")
    orders = frames.orders
    if len(moments) and not orders.empty:
        orders = orders.merge(moments, on="order_id", how="left")
    metrics = daily_metrics_frame(orders=orders, events=events, order_lines=frames.order_lines,
                                  customer_country=customer_country_map(shop_id=shop.pk),
                                  category_names=category_name_map(shop_id=shop.pk), until=last)
    metrics = metrics[(metrics["day"] <= end_ts) | (metrics["metric"].isin(STATUS_METRICS)
                                                    & (metrics["day"] <= status_to))]
    muted = set(MonitorMute.objects.filter(shop=shop).values_list("metric", "segment"))
    found = detect(metrics, start=start_ts, end=status_to, bands=_forecast_bands(shop_id=shop.pk), muted=muted)
    judged = metrics[metrics["day"] >= start_ts].groupby(["metric", "segment"], sort=False)["day"].agg(["min", "max"])
    monitors = {(m, s): (lo.date(), hi.date()) for (m, s), lo, hi in zip(judged.index, judged["min"], judged["max"],
                                                                          strict=True)
                if (m, s) not in muted and (m, "") not in muted}
    days = metrics[metrics["day"] >= start_ts]
    values = {(m, s, d.date()): float(v) for m, s, d, v in zip(days["metric"], days["segment"], days["day"],
                                                                days["value"], strict=True)}
    window = AnomalyWindow(start=start_ts, end=end_ts, data_end=max(data_end, status_end or data_end),
                           judged_from=first + pd.Timedelta(days=DetectorConfig().min_history_days),
                           status_end=status_to if status_to > end_ts else None, monitors=monitors,
                           values=values)
    return found, window


def anomaly_dict(a: Anomaly) -> dict:
    """The JSON shape of detect_anomalies (plus the alert's last day and its group)."""
    return {"metric": a.metric, "segment": a.segment, "date": a.date.date().isoformat(), "direction": a.direction,
            "expected": num(a.expected, 3), "actual": num(a.actual, 3), "score": num(a.score, 2),
            "end": a.end.date().isoformat(), "group": a.group}


@dataclass(frozen=True)
class AlertChanges:
    """What a check changed in the stored alerts: `news` (new alerts, a direction that flipped, an alert back after
    it was withdrawn: notified as new), `updated` (the same run with other figures or days: quietly) and
    `withdrawn` (alerts of the days judged that the data no longer supports)."""

    news: list[Alert]
    updated: list[Alert]
    withdrawn: list[Alert]


def _figures_differ(alert: Alert, a: Anomaly) -> bool:
    return any(round(float(getattr(alert, f)), 6) != round(float(getattr(a, f)), 6)
               for f in ("expected", "actual", "score"))


@transaction.atomic
def alerts_reconcile(*, shop: Shop, anomalies: list[Anomaly], window: AnomalyWindow | None = None) -> AlertChanges:
    """Make the stored alerts agree with what a check found. With the `window` it judged: the alerts of each
    judged monitor starting on a day it judged are answered for — one that a found run overlaps (same metric,
    segment and direction) takes that run's days and figures (an acknowledged one stays acknowledged), one back
    after a withdrawal is news again, and one no run supports is withdrawn (kept, `withdrawn_at`: it may have been
    emailed or acknowledged). A direction that flipped is a new alert beside the withdrawn one. Alerts of other
    days or monitors (muted ones, days outside the window, an alert reaching past its last day) are not touched,
    except that a run continuing an alert that began before the window extends it. Without a window (old callers),
    alerts are only added or extended."""
    monitors = window.monitors if window is not None else {}
    now = timezone.now()
    stored: dict[tuple[str, str], list[Alert]] = {}
    if monitors:
        first = min(lo for lo, _ in monitors.values())
        last = max(hi for _, hi in monitors.values())
        # (locked: the nightly check and one after an import may run at once)
        for alert in Alert.objects.select_for_update().filter(shop=shop, start__gte=first, start__lte=last) \
                .order_by("start", "pk"):
            span = monitors.get((alert.metric, alert.segment))
            if span is not None and span[0] <= alert.start <= span[1]:
                stored.setdefault((alert.metric, alert.segment), []).append(alert)
    matched: set[int] = set()
    news, updated = [], []
    for a in sorted(anomalies, key=lambda x: (x.date, x.metric, x.segment)):
        day, last_day = a.date.date(), a.end.date()
        span = monitors.get((a.metric, a.segment))
        mine = [x for x in stored.get((a.metric, a.segment), []) if x.direction == a.direction and x.pk not in matched]
        # The stored alert of this run: the one starting on its first day (also a withdrawn one), else one still
        # standing whose days overlap it (an outage whose first day got its data late starts a day later).
        alert = next((x for x in mine if x.start == day), None) or next(
            (x for x in mine if x.status != Alert.Status.WITHDRAWN and x.start <= last_day and x.end >= day), None)
        if alert is None:
            prior = Alert.objects.select_for_update().filter(
                shop=shop, metric=a.metric, segment=a.segment, direction=a.direction,
                end__gte=(a.date - pd.Timedelta(days=1)).date(), start__lte=day) \
                .exclude(status=Alert.Status.WITHDRAWN).order_by("start").first()
            if prior is not None and (span is None or prior.start < span[0]):
                # A run continuing an alert that began before the days judged (or any, without a window)
                prior.end = max(prior.end, last_day)
                if abs(a.score) > abs(prior.score):
                    prior.score = a.score
                prior.save(update_fields=["end", "score"])
                continue
            alert, was_new = Alert.objects.get_or_create(
                shop=shop, metric=a.metric, segment=a.segment, direction=a.direction, start=day,
                defaults={"end": last_day, "expected": a.expected, "actual": a.actual, "score": a.score})
            if was_new:
                news.append(alert)
                matched.add(alert.pk)
                continue
            if span is None:  # (no window: a stored alert is left as it is)
                continue
        matched.add(alert.pk)
        # Days after the last one judged (a check with an earlier --to) keep what was found there before.
        end = last_day if span is None or alert.end <= span[1] else max(alert.end, last_day)
        changed = (alert.start != day or alert.end != end or _figures_differ(alert, a))
        alert.start, alert.end = day, end
        alert.expected, alert.actual, alert.score = a.expected, a.actual, a.score
        if alert.status == Alert.Status.WITHDRAWN:
            alert.status, alert.withdrawn_at, alert.notified_at = Alert.Status.OPEN, None, None
            alert.save()
            news.append(alert)
        elif changed:
            alert.save(update_fields=["start", "end", "expected", "actual", "score"])
            updated.append(alert)
    withdrawn = []
    for (_metric, _segment), alerts in stored.items():
        span = monitors[(_metric, _segment)]
        for alert in alerts:
            if alert.pk in matched or alert.status == Alert.Status.WITHDRAWN or alert.end > span[1]:
                continue
            now_value = window.values.get((alert.metric, alert.segment, alert.start)) if window is not None else None
            if now_value is not None and round(now_value, 6) == round(float(alert.actual), 6):
                # The day's value is what it was: only the yardstick moved (the nightly forecast's cutoff passed the
                # day, whose band had judged it; the baseline judges it now). No later data: the alert stands.
                continue
            alert.status, alert.withdrawn_at = Alert.Status.WITHDRAWN, now
            alert.save(update_fields=["status", "withdrawn_at"])
            withdrawn.append(alert)
    return AlertChanges(news=news, updated=updated, withdrawn=withdrawn)


def alerts_save(*, shop: Shop, anomalies: list[Anomaly], window: AnomalyWindow | None = None) -> list[Alert]:
    """Store anomalies as alerts (alerts_reconcile): a run that continues an open alert (same metric and segment,
    starting at most a day after its end) extends it instead of opening another. Returns the alerts that are news
    (created, flipped, back after a withdrawal)."""
    return alerts_reconcile(shop=shop, anomalies=anomalies, window=window).news


def alerts_notify(*, shop: Shop, alerts: list[Alert], withdrawn: list[Alert] | tuple = ()) -> int:
    """New alerts to the shop's webhook, if it has one (after the commit: forecasts.services.webhooks), and one
    email to its admins and analysts (Django's email backend), marked sent; the email also lists the `withdrawn`
    alerts that had been emailed (the webhook is sent new alerts only). Returns the email's recipients."""
    withdrawn = [a for a in withdrawn if a.notified_at is not None]
    if not alerts and not withdrawn:
        return 0
    alert_webhook_enqueue(shop=shop, alerts=alerts)
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(memberships__shop=shop, memberships__role__in=["admin", "analyst"],
                                            is_active=True)
    recipients = sorted({u.email for u in users if u.email})
    if not recipients:
        return 0

    # The Alerts page's words (alert_words), not the monitors' codes: the email is read by the same people.
    def line(a: Alert) -> str:
        return "- " + alert_line(metric=a.metric, segment=a.segment, start=a.start, end=a.end,
                                 direction=a.direction, actual=a.actual, expected=a.expected, score=a.score,
                                 currency=shop.currency)

    lines = [line(a) for a in alerts]
    if withdrawn:
        lines += ([""] if lines else []) + ["Withdrawn, emailed before (later data no longer shows them):"]
        lines += [f"{line(a)} ({alert_withdrawn_words(direction=a.direction, start=a.start, end=a.end)})"
                  for a in withdrawn]
    lines += ["", "The Alerts page (/alerts/) shows them with their forecast; an analyst can acknowledge or mute them."]
    noun = "alert" if len(alerts) == 1 else "alerts"
    what = [f"{len(alerts)} new {noun}"] if alerts else []
    if withdrawn:
        what.append(f"{len(withdrawn)} withdrawn" if alerts else
                    f"{len(withdrawn)} alert{'s' if len(withdrawn) > 1 else ''} withdrawn")
    send_mail(subject=f"[EcomSight] {', '.join(what)} for {shop.name}", message="\n".join(lines),
              from_email=getattr(settings, "DEFAULT_FROM_EMAIL", None), recipient_list=recipients)
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(notified_at=timezone.now())
    return len(recipients)


def anomalies_detect_and_alert(*, shop: Shop) -> list[Alert]:
    """Nightly and after imports: detect over the last 7 complete days, make the stored alerts of those days agree
    (alerts_reconcile), notify the news."""
    found, window = anomalies_check_window(shop=shop, complete_days_only=True)
    changes = alerts_reconcile(shop=shop, anomalies=found, window=window)
    alerts_notify(shop=shop, alerts=changes.news, withdrawn=changes.withdrawn)
    return changes.news


def _check_key(shop_id: int) -> str:
    return f"anomalies:scheduled:{shop_id}"


def data_arrived_receive(*, shop_id: int, kind: str, **kwargs) -> bool:
    """Receives behavior.signals.data_arrived: orders or events stored (a finished import, an API batch)
    schedule the shop's anomaly check, once per ANOMALY_DEBOUNCE_SECONDS window, after the commit."""
    if kind not in ("orders", "events"):
        return False
    transaction.on_commit(lambda: anomalies_check_schedule(shop_id=shop_id), robust=True)
    return True


def anomalies_check_schedule(*, shop_id: int) -> bool:
    """Enqueue the shop's anomaly check ANOMALY_DEBOUNCE_SECONDS from now unless one already waits. Returns
    whether this call enqueued it."""
    from ..tasks import anomalies_check_task  # tasks import the services

    return debounced_enqueue(key=_check_key(shop_id), task=anomalies_check_task, args=(shop_id,),
                             seconds=settings.ANOMALY_DEBOUNCE_SECONDS)


def anomalies_check(*, shop_id: int) -> list[Alert]:
    """The debounced check after new data: detect, store, notify (nothing for a shop without orders yet)."""
    debounce_release(key=_check_key(shop_id))  # arrivals from now on schedule the next window's check
    shop = Shop.objects.filter(pk=shop_id).first()
    if shop is None:
        return []
    try:
        return anomalies_detect_and_alert(shop=shop)
    except UserError:  # no orders or events yet, nothing complete to check
        return []


@transaction.atomic
def alert_acknowledge(*, shop: Shop, alert_id: int) -> Alert:
    """Mark an open alert as seen (a withdrawn one stays withdrawn)."""
    alert = Alert.objects.select_for_update().get(shop=shop, pk=alert_id)
    if alert.status == Alert.Status.OPEN:
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
