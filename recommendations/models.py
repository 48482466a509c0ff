"""Recommender builds, per-customer recommendations and per-product similar products."""

from django.db import models

from accounts.models import Job, Shop
from behavior.models import Customer
from catalog.models import Product


class RecommenderVersion(models.Model):
    class Status(models.TextChoices):
        BUILDING = "building"
        ACTIVE = "active"
        FAILED = "failed"
        RETIRED = "retired"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="recommender_versions")
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BUILDING)
    k = models.PositiveIntegerField(default=20)
    params = models.JSONField(default=dict, blank=True)
    weights = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class Recommendation(models.Model):
    """Top-K products for a customer. A derived table that one service rebuilds whole (4 million rows
    for 200,000 customers), so it carries no foreign-key *constraints* and no single-column indexes:
    per-row FK checks cost several times the COPY itself. The build reads every id from the same
    database it writes to, and deletes of customers / products still cascade through Django."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    version = models.ForeignKey(RecommenderVersion, on_delete=models.CASCADE, related_name="recommendations",
                                db_index=False, db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="recommendations",
                                 db_index=False, db_constraint=False)  # (customer, version, rank) leads with it
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False,
                                db_constraint=False)
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    source = models.CharField(max_length=32, help_text="The recommender that contributed most.")
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["customer", "rank"]
        # Unique per build: a build that is still being written (its partitions one by one) keeps its rows beside
        # the active build's until it is activated. The customer leads (not the version): an erasure's cascade
        # (DELETE ... WHERE customer_id IN ...) and the customer page read by customer, with no other index.
        constraints = [
            models.UniqueConstraint(fields=["customer", "version", "rank"], name="recommendation_rank_unique"),
            models.UniqueConstraint(fields=["customer", "version", "product"], name="recommendation_product_unique"),
        ]


class SimilarProduct(models.Model):
    class Kind(models.TextChoices):
        ALSO_BOUGHT = "also_bought"
        CONTENT = "content"

    # Derived and rebuilt whole, like Recommendation: no FK constraints on shop and version.
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    version = models.ForeignKey(RecommenderVersion, on_delete=models.CASCADE, related_name="similar_products",
                                db_index=False, db_constraint=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="similar")
    similar = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()

    class Meta:
        ordering = ["product", "kind", "rank"]
        constraints = [  # per build, like Recommendation's
            models.UniqueConstraint(fields=["product", "version", "kind", "rank"], name="similar_rank_unique"),
        ]
