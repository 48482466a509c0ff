"""Offers, the policies that pick them, and every assignment logged with the probability it was chosen with."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.models import MAX_DAYS, Shop
from behavior.models import Customer


class OfferSettings(models.Model):
    """Per shop: the attribution window of outcomes, the exploration of the live policy and its random control."""

    shop = models.OneToOneField(Shop, on_delete=models.CASCADE, related_name="offer_settings")
    # Bounded like the shop's own day counts (2147483647 days overflowed every read of the window).
    attribution_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1),
                                                                           MaxValueValidator(MAX_DAYS)])
    # Share of assignments drawn uniformly at random over the eligible offers, whatever the policy says.
    control_share = models.FloatField(default=0.10)
    # ε of the ε-greedy exploration of the learned policy (on top of the control share).
    epsilon = models.FloatField(default=0.05)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(control_share__gte=0, control_share__lte=1),
                                   name="offer_settings_control_share_0_1"),
            models.CheckConstraint(condition=models.Q(epsilon__gte=0, epsilon__lte=1),
                                   name="offer_settings_epsilon_0_1"),
        ]


class Offer(models.Model):
    class Kind(models.TextChoices):
        NONE = "none", "No offer"
        DISCOUNT_PCT = "discount_pct", "Discount (%)"
        FREE_SHIPPING = "free_shipping", "Free shipping"
        GIFT = "gift", "Gift"
        RECOMMENDATION = "recommendation", "Recommendation"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="offers")
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # The discount in percent (discount_pct), the gift's worth; free for the other kinds.
    value = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # What one redemption costs the shop; charged once per converted assignment of this offer.
    cost_per_redemption = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    active = models.BooleanField(default=True)
    # Eligibility: minimum spend over the last 365 days; customers who bought in one of these categories
    # (paths, a category covers the ones below it); not for customers who ordered in the last N days.
    min_spend = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)
    exclude_ordered_within_days = models.PositiveIntegerField(null=True, blank=True,
                                                              validators=[MaxValueValidator(MAX_DAYS)])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="offer_external_id_unique_per_shop"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.kind})"


class PolicyVersion(models.Model):
    """A fitted policy: reward models per offer turned into a choice with exploration and a random control."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        CURRENT = "current"
        RETIRED = "retired"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="offer_policies")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    reward = models.CharField(max_length=20, default="conversion")
    algorithm = models.CharField(max_length=40)
    epsilon = models.FloatField()
    control_share = models.FloatField()
    # The features, their order and the offers the reward models know; the models themselves (JSON).
    features = models.JSONField(default=list)
    offers = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    # The off-policy evaluation on held-out assignments and the comparison with the current policy.
    metrics = models.JSONField(default=dict)
    trained_on = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop"], condition=models.Q(status="current"),
                                    name="offer_policy_one_current_per_shop"),
        ]


class Assignment(models.Model):
    """An offer given to a customer, with the probability the policy chose it with and the context it saw."""

    class Source(models.TextChoices):
        IMPORTED = "imported"
        POLICY = "policy"

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="offer_assignments", db_index=False)
    external_id = models.CharField(max_length=100)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="offer_assignments",
                                 db_index=False)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="assignments")
    assigned_at = models.DateTimeField()
    propensity = models.FloatField()
    context = models.JSONField(default=dict, blank=True)
    policy_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="assignments")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORTED)
    # Drawn by the random control share (uniform over the eligible offers).
    is_control = models.BooleanField(default=False)
    channel = models.CharField(max_length=20, blank=True)  # api, export, import

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="assignment_external_id_unique_per_shop"),
            models.CheckConstraint(condition=models.Q(propensity__gt=0, propensity__lte=1),
                                   name="assignment_propensity_0_1"),
        ]
        indexes = [
            models.Index(fields=["shop", "assigned_at"], name="assignment_shop_time"),
            models.Index(fields=["customer", "assigned_at"], name="assignment_customer_time"),
        ]
