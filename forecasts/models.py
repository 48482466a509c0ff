"""Forecast runs and their values per series; anomaly monitors' alerts."""

from django.conf import settings
from django.db import models

from accounts.models import Shop
from ecomsight.crypto import EncryptedTextField


class ForecastRun(models.Model):
    """One run of `forecast`: every level, measure and frequency from the data up to `cutoff`.

    `summary` keeps, per (level, measure, freq), the champion and the validation metrics of every model."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="forecast_runs")
    created_at = models.DateTimeField(auto_now_add=True)
    cutoff = models.DateField()
    horizon_days = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    summary = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["shop", "status", "-created_at"], name="forecast_run_latest")]


class ForecastValue(models.Model):
    """One bin of one series: `date` is the bin's last day (a week covers the 7 days ending on it). The forecast
    bins come after the run's cutoff; `is_actual` rows are the recent history up to it (what the page draws
    before the forecast), so pages never re-read the orders."""

    run = models.ForeignKey(ForecastRun, on_delete=models.CASCADE, related_name="values")
    level = models.CharField(max_length=16)
    key = models.CharField(max_length=200)
    measure = models.CharField(max_length=16)
    freq = models.CharField(max_length=8)
    date = models.DateField()
    model = models.CharField(max_length=32)
    point = models.FloatField()
    lo80 = models.FloatField(null=True)
    hi80 = models.FloatField(null=True)
    lo95 = models.FloatField(null=True)
    hi95 = models.FloatField(null=True)
    is_actual = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "level", "key", "measure", "freq", "date"],
                                    name="forecast_value_unique_per_run"),
        ]
        indexes = [models.Index(fields=["run", "level", "measure", "freq", "key"], name="forecast_value_series")]


class Alert(models.Model):
    """A group of consecutive anomalous days of one metric and segment (one outage is one alert). Each check makes
    the alerts starting on the days it judged agree with what it found (forecasts.services.alerts.alerts_reconcile):
    one the data no longer supports is withdrawn (kept, with `withdrawn_at`; never deleted), one whose figures
    changed is updated."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        WITHDRAWN = "withdrawn"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="alerts")
    metric = models.CharField(max_length=64)
    segment = models.CharField(max_length=200)
    direction = models.CharField(max_length=4)
    start = models.DateField()
    end = models.DateField()
    expected = models.FloatField()
    actual = models.FloatField()
    score = models.FloatField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start", "metric"]
        constraints = [
            # (a direction that flips is a new alert beside the withdrawn one: a drop, then a rise, of one day)
            models.UniqueConstraint(fields=["shop", "metric", "segment", "direction", "start"],
                                    name="alert_unique_direction_start"),
        ]


class MonitorMute(models.Model):
    """A muted monitor (metric, segment; an empty segment mutes the metric everywhere): no alerts are raised."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="monitor_mutes")
    metric = models.CharField(max_length=64)
    segment = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "metric", "segment"], name="monitor_mute_unique")]


class CustomerFlag(models.Model):
    """A customer flagged for refund abuse or bot-like sessions, with the reason in words."""

    class Kind(models.TextChoices):
        REFUND_ABUSE = "refund_abuse"
        BOT_SESSIONS = "bot_sessions"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customer_flags")
    customer = models.ForeignKey("behavior.Customer", on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["customer", "kind"], name="customer_flag_unique")]


class AlertWebhook(models.Model):
    """Where a shop's new alerts are also sent: a webhook, as signed JSON (the deliveries app's signature and
    sender), retried with its back-off. The last try's outcome is kept for the Alerts page."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="alert_webhook")
    url = models.CharField(max_length=2000)
    secret = EncryptedTextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
