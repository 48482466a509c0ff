"""Tenants (shops), who may see them, API tokens, background jobs and the audit log."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

# Day counts a shop may set (ten years of horizon, a century of lookback or retention): far beyond any real use,
# far below what breaks date arithmetic (2147483647 days was accepted before).
MAX_HORIZON_DAYS = 3650
MAX_DAYS = 36_500


class Role(models.TextChoices):
    """A user's role *in one shop*, carried by their Membership of it (admin > analyst > marketer)."""

    MARKETER = "marketer", "Marketer"
    ANALYST = "analyst", "Analyst"
    ADMIN = "admin", "Admin"


class Shop(models.Model):
    """The tenant: every customer, product, order, event, model, score and segment belongs to one."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="EUR")
    # Prediction settings per shop, not constants (a grocery and a furniture store differ).
    horizon_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1),
                                                                       MaxValueValidator(MAX_HORIZON_DAYS)])
    churn_lookback_days = models.PositiveIntegerField(default=365, validators=[MinValueValidator(1),
                                                                               MaxValueValidator(MAX_DAYS)])
    # Whether products a customer already bought may be recommended again (global default;
    # per-category overrides live in catalog.Category.allow_rebuy).
    allow_rebuy = models.BooleanField(default=True)
    # Campaigns (segments, their exports and deliveries) hold customers who did not refuse marketing; with this on,
    # only those who opted in: unknown consent (a customers file without a consent column) counts as no consent.
    marketing_consent_required = models.BooleanField(
        default=False, help_text="Only customers who opted in to marketing are campaign members (unknown consent "
                                 "counts as no consent). Off: everyone who did not refuse.")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="shops",
                                     blank=True)
    # How long raw events are kept, in days (None: for ever); the nightly task deletes older ones.
    event_retention_days = models.PositiveIntegerField(null=True, blank=True,
                                                       validators=[MinValueValidator(1), MaxValueValidator(MAX_DAYS)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        # What roles may do; the roles migration grants them to the groups.
        permissions = [
            ("view_personal_data", "Can see customers' email and name"),
            ("export_segments", "Can export segments as CSV"),
            ("import_data", "Can import data"),
            ("manage_models", "Can train, promote and score models"),
            ("manage_users", "Can manage users, roles and tokens"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(horizon_days__gte=1), name="shop_horizon_positive"),
        ]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A user's membership of a shop, and their role in it: the one source of roles.

    A user may be an admin in one shop and a marketer in another; every permission check reads the
    membership of the shop in question (superusers act as admins everywhere)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shop", "user"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "user"], name="membership_one_per_user_and_shop"),
            models.CheckConstraint(condition=models.Q(role__in=["marketer", "analyst", "admin"]),
                                   name="membership_role_known"),
        ]
        indexes = [models.Index(fields=["user", "shop"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.shop}: {self.role}"


class Job(models.Model):
    """One row per background job (import, training, scoring, recommendations, export, forecast, the re-scoring
    of customers whose orders or events arrived).

    Pages and API calls poll it; workers update its progress."""

    class Kind(models.TextChoices):
        IMPORT = "import"
        TRAIN = "train"
        SCORE = "score"
        RECOMMEND = "recommend"
        EXPORT = "export"
        NIGHTLY = "nightly"
        FORECAST = "forecast"
        RESCORE = "rescore", "Re-scoring"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress_done = models.BigIntegerField(default=0)
    progress_total = models.BigIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When its progress last moved (job_progress, job_running, a resume): the stall sweep of scoring runs and
    # recommendation builds (recommendations/services/stalls.py) resumes those silent for RUN_STALL_SECONDS.
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["shop", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def progress(self) -> float:
        return (self.progress_done / self.progress_total) if self.progress_total else 0.0


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 hash of the secret is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters of the token, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditLog(models.Model):
    """Who did what: exports, model promotions, token changes, role changes."""

    shop = models.ForeignKey(Shop, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        # A shop's entries of one action: every import batch and API batch reads the shop's erasures
        # (accounts.selectors.erased_customer_hashes), among years of exports and logins.
        indexes = [models.Index(fields=["shop", "action"], name="auditlog_shop_action")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"
