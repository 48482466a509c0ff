"""What an analysis of a shop's reviews found: the method, its cross-validated metrics, the learned terms.

The reviews themselves are `behavior.Review` (data, imported like orders and events); their sentiment and
aspects are written onto them by `reviews.services.reviews_analyze`."""

from django.db import models

from accounts.models import Shop


class ReviewAnalysis(models.Model):
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=16)  # model, lexicon, none
    reviews = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    statement = models.TextField(blank=True)
    learned_terms = models.JSONField(default=dict, blank=True)
    themes = models.JSONField(default=list, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    # The trained sentiment model (method "model"), which scores reviews imported after the analysis
    # (reviews.services.reviews_score_new); empty for the lexicon, or once a newer analysis pruned it.
    artifact_path = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self) -> str:
        return f"review analysis #{self.pk} ({self.method})"
