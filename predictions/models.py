"""Model registry, scoring runs, per-customer scores, saved segments and their exports."""

from django.conf import settings
from django.db import models

from accounts.models import Job, Shop
from behavior.models import Customer


class Task(models.TextChoices):
    PURCHASE = "purchase"
    CHURN = "churn"


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        CHAMPION = "champion"
        RETIRED = "retired"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="model_versions")
    task = models.CharField(max_length=16, choices=Task.choices)
    algorithm = models.CharField(max_length=32)
    horizon_days = models.PositiveIntegerField()
    as_of = models.DateField(help_text="Data up to this date was used.")
    train_cutoffs = models.JSONField(default=list)
    validation_cutoff = models.DateField(null=True, blank=True)
    features = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    # Metrics of every algorithm trained in the same run, on the same validation data.
    comparison = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one champion per shop, task and horizon.
            models.UniqueConstraint(
                fields=["shop", "task", "horizon_days"],
                condition=models.Q(status="champion"),
                name="one_champion_per_shop_task_horizon",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task}/{self.algorithm} v{self.pk} ({self.status})"


class ScoringRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="scoring_runs")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    as_of = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    model_versions = models.ManyToManyField(ModelVersion, blank=True, related_name="scoring_runs")
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    customers_total = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class CustomerScore(models.Model):
    """One customer's score for one task in one scoring run. A chunk that runs twice overwrites."""

    class Band(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    # No index of their own: the unique constraint (scoring_run, customer, task) leads with the run and
    # score_customer_history with the customer. Every index is written for each of a run's rows.
    scoring_run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="scores", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="scores", db_index=False)
    model_version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    task = models.CharField(max_length=16, choices=Task.choices)
    probability = models.FloatField()
    risk_band = models.CharField(max_length=8, choices=Band.choices)
    decile = models.PositiveSmallIntegerField(help_text="1 = the highest probabilities.")
    reasons = models.JSONField(default=list)
    expected_orders = models.FloatField(null=True, blank=True)
    p_alive = models.FloatField(null=True, blank=True)
    spend_12m = models.FloatField(default=0)
    revenue_at_risk = models.FloatField(null=True, blank=True)
    scored_at = models.DateTimeField()
    # The history the score saw ends here; None: at the run's as_of. Set on rows re-scored after new orders or
    # events arrived (predictions.services.rescoring), which see the history up to the newest of them.
    history_until = models.DateTimeField(null=True, blank=True)
    # Copied onto the churn row when the run finishes, so that the at-risk list sorts and filters on them
    # through an index instead of joining 200,000 purchase rows or orders per page (None on older runs,
    # which the list computes instead: see predictions.selectors.at_risk).
    purchase_probability_copy = models.FloatField(null=True, blank=True)
    last_order_placed_at = models.DateTimeField(null=True, blank=True, help_text="Up to the run's as_of.")
    # Already lapsed (a win-back customer rather than one to save): silent for more than 3 of their usual gaps
    # between orders (predictions.ml.reasons.lapsed_mask), computed with the score.
    lapsed = models.BooleanField(default=False, db_default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scoring_run", "customer", "task"], name="one_score_per_run_customer_task"),
        ]
        indexes = [
            models.Index(fields=["scoring_run", "task", "-probability"], name="score_run_task_prob"),
            # The at-risk list's default order (revenue at risk), read straight from the index.
            models.Index(models.F("scoring_run"), models.F("task"),
                         models.F("revenue_at_risk").desc(), models.F("probability").desc(),
                         models.F("id"), name="score_run_task_at_risk"),
            models.Index(fields=["customer", "task", "-scored_at"], name="score_customer_history"),
            # The at-risk list sorted by purchase probability / by last order, and the days-since filters,
            # use two indexes with NULLS LAST / NULLS FIRST that migration 0003 creates in SQL:
            # score_run_task_purchase, score_run_task_last_order.
            # Segment sizes and band filters count one band of a run from the index alone.
            models.Index(fields=["scoring_run", "task", "risk_band"], name="score_run_task_band"),
        ]


class CustomerInterest(models.Model):
    """One share of a customer's interest profile in one scoring run (predictions.ml.interests): their affinity for
    a category (the category and those below it) or for a brand, as a time-decayed share from 0 to 1 of what they
    bought and viewed. Written in bulk by each scoring chunk beside its scores; shares under 10 % are not stored, nor
    brands after a customer's fifth. Derived rows rewritten whole by each chunk, like VisualNeighbour: no database
    foreign keys (their checks at commit cost a third of the write, measured on the scoring bench); Django still
    cascades deletes of runs, customers, categories and shops to them."""

    class Kind(models.TextChoices):
        CATEGORY = "category"
        BRAND = "brand"

    # No index of its own: reads go through the run; the column lets per-shop deletes (bench/common.py) find rows.
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    scoring_run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="+", db_index=False,
                                    db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    category = models.ForeignKey("catalog.Category", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+", db_index=False, db_constraint=False)
    brand = models.CharField(max_length=200, blank=True, default="", db_default="")
    share = models.FloatField()

    class Meta:
        indexes = [
            # A customer's profile (customer page, API) and a chunk's rewrite.
            models.Index(fields=["scoring_run", "customer"], name="interest_run_customer"),
            # The at-risk filter "interest in category C at least N %": one index range per filter, index-only (the
            # customer ids are in it: the rows' heap pages, scattered, are not read).
            models.Index(fields=["scoring_run", "category", "share"], include=["customer"],
                         name="interest_run_category_share"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(share__gt=0, share__lte=1), name="interest_share_0_1"),
            models.CheckConstraint(condition=(models.Q(kind="category", category__isnull=False)
                                              | models.Q(kind="brand", category__isnull=True)),
                                   name="interest_kind_matches_key"),
        ]


class Segment(models.Model):
    """A saved filter of the at-risk list."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    filters = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["shop", "name"], name="segment_name_unique_per_shop")]

    def __str__(self) -> str:
        return self.name


class SegmentExport(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    segment = models.ForeignKey(Segment, null=True, on_delete=models.SET_NULL, related_name="exports")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    rows = models.PositiveIntegerField(default=0)
    pseudonymised = models.BooleanField(default=False)
    control_pct = models.PositiveSmallIntegerField(default=0)
    # Customers held back as the control group: recorded here, never written to the file.
    control_customer_ids = models.JSONField(default=list, blank=True)
    targeted_customer_ids = models.JSONField(default=list, blank=True)
    file_path = models.CharField(max_length=1000, blank=True)
    # The column preset of the file (predictions.services.export_presets: generic, klaviyo, mailchimp, braze).
    preset = models.CharField(max_length=20, default="generic", db_default="generic")
    horizon_days = models.PositiveIntegerField(default=90)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class RescorePending(models.Model):
    """A customer whose orders or events changed after their current score: re-scored by the worker after the
    debounce window (predictions.services.rescoring), then removed. One row per customer, whatever the changes."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shop", "customer"], name="rescore_pending_once")]
