"""Scheduled deliveries of a segment to a campaign tool's webhook or to an S3-compatible bucket, and their log."""

from django.conf import settings
from django.db import models

from accounts.models import Shop
from ecomsight.crypto import EncryptedTextField
from predictions.models import Segment, SegmentExport

WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]


class Delivery(models.Model):
    """A segment sent on a schedule: every night (daily) or once a week, as JSON batches to a webhook or as a
    CSV file to a bucket, in a column preset (predictions.services.export_presets)."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (JSON batches)"
        S3 = "s3", "S3-compatible bucket (CSV file)"

    class Frequency(models.TextChoices):
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Once a week"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(default=0, choices=WEEKDAYS, help_text="Weekly: the day it goes")
    preset = models.CharField(max_length=20, default="generic")
    pseudonymised = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    # Webhook: the address, and the key of the HMAC-SHA256 signature each batch carries (stored encrypted).
    url = models.CharField(max_length=2000, blank=True)
    secret = EncryptedTextField(blank=True)
    # S3-compatible bucket: endpoint (empty: AWS), region, bucket, key prefix and credentials (secret encrypted).
    endpoint_url = models.CharField(max_length=2000, blank=True)
    region = models.CharField(max_length=50, blank=True)
    bucket = models.CharField(max_length=255, blank=True)
    prefix = models.CharField(max_length=500, blank=True)
    access_key_id = models.CharField(max_length=200, blank=True)
    secret_access_key = EncryptedTextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(weekday__lte=6), name="delivery_weekday_0_6")]

    @property
    def target(self) -> str:
        """Where it goes, in words (no secrets)."""
        if self.kind == self.Kind.WEBHOOK:
            return self.url
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")


class DeliveryRun(models.Model):
    """One scheduled (or manual) sending of a delivery: the export it sent and how it went."""

    class Status(models.TextChoices):
        RUNNING = "running", "Sending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="runs")
    export = models.ForeignKey(SegmentExport, null=True, on_delete=models.SET_NULL, related_name="+")
    scoring_run_id = models.IntegerField(null=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    rows = models.PositiveIntegerField(default=0)  # customers sent (after consent was checked again at sending)
    batches = models.PositiveIntegerField(default=0)
    batches_sent = models.PositiveIntegerField(default=0)
    batches_failed = models.PositiveIntegerField(default=0)
    location = models.CharField(max_length=2000, blank=True)  # S3: the object's key
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)
    # Started with "Send now": does not stand for the day's scheduled run (deliveries_due).
    manual = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]


class DeliveryAttempt(models.Model):
    """One try at sending one batch (webhook) or the file (S3): the delivery log the shop reads."""

    run = models.ForeignKey(DeliveryRun, on_delete=models.CASCADE, related_name="attempts")
    batch = models.PositiveIntegerField(default=1)
    attempt = models.PositiveSmallIntegerField(default=1)
    ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField(null=True)
    rows = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=1000, blank=True)
    retry_in_seconds = models.PositiveIntegerField(null=True)  # the back-off before the next try; None: no more
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
